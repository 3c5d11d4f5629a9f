"""Speed: ``repro bench`` (timing), ``repro bench --processes`` (concurrency), ``repro plan`` (the
catalog's cost on this device). Machine facts in ``machine``; FLOPs counted in ``models/cost.py``."""
