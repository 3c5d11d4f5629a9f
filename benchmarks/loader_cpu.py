"""Micro-benchmark (not a test): DeviceLoader throughput on CPU, CIFAR-sized batches.

    .venv/bin/python benchmarks/loader_cpu.py [--images 10000] [--batch 128] [--threads 1]

Prints images/s for each augmentation preset (normalisation: per-channel), best of ``--repeats``
passes over ``--images`` random 32×32 uint8 images. Only the loader is timed (no model).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from pipeline.data.augment import AUGMENTATIONS
from pipeline.data.loader import DeviceLoader, Normalize, normalizer
from pipeline.data.prepared import Split


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=10_000)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    split = Split(
        rng.integers(0, 256, (args.images, args.size, args.size, 3), dtype=np.uint8), np.arange(args.images) % 10
    )
    device = torch.device("cpu")
    norm = normalizer(Normalize("per_channel"), split.x, device)
    threads = torch.get_num_threads()
    shape = f"{args.images} images {args.size}×{args.size}, batch {args.batch}"
    print(f"torch {torch.__version__}, {threads} thread(s), {shape}")
    for name in ("none", "crop-flip", "zam", "keras-jay4869"):
        loader = DeviceLoader(split, args.batch, device, norm, AUGMENTATIONS[name], shuffle=True, seed=0)
        best = float("inf")
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            for _batch in loader:
                pass
            best = min(best, time.perf_counter() - t0)
        print(f"{name:>14}: {args.images / best:>10,.0f} images/s  ({best * 1e3 / len(loader):.2f} ms/batch)")


if __name__ == "__main__":
    main()
