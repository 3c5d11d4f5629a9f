"""One real training run of a catalog configuration on the team's CIFAR-10 JPEG copy (not a test).

    PYTHONPATH=. python3 benchmarks/real_run.py wang2017-attention92-c10 \
        --archive downloads/cifar10-jpeg.tar.xz --out $OUT/real-run.json [--iterations N] [--compile MODE]

Fetches ``cifar10-jpeg`` (sha256-checked) into ``--data``, trains the configuration's full recipe
(or its first ``--iterations`` steps, to try the command on a CPU) with the fast-path defaults of
params.yaml's ``train:`` section on the best device, and writes wall time, seconds per epoch and the
final test error as JSON. No MLflow and no DVC, so it runs where only torch is installed.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch

from pipeline.catalog import get_configuration
from pipeline.data import fetch
from pipeline.execution import Execution
from pipeline.files import write_json
from pipeline.rundir import run_key
from pipeline.settings import load_params
from pipeline.training import train


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("config", help="catalog configuration trained on CIFAR-10, e.g. wang2017-attention92-c10")
    ap.add_argument("--archive", type=Path, required=True, help="cifar10-jpeg.tar.xz")
    ap.add_argument("--data", type=Path, default=Path("/tmp/repro-real-run/data"))
    ap.add_argument("--runs", type=Path, default=Path("/tmp/repro-real-run/runs"))
    ap.add_argument("--iterations", type=int, default=None, help="stop after N steps (a CPU try-out)")
    ap.add_argument("--compile", default=None, help="override train.compile (off/default/reduce-overhead/...)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()

    run = get_configuration(args.config)
    if run.dataset != "cifar10":
        raise SystemExit(f"error: {run.name} trains on {run.dataset}; the JPEG copy stands in for cifar10 only")
    t0 = time.perf_counter()
    data_dir, manifest = fetch("cifar10-jpeg", args.data, archive=args.archive)
    fetch_s = time.perf_counter() - t0

    settings = load_params(Path("params.yaml")).train
    if args.compile is not None:
        settings = settings.model_copy(update={"compile": args.compile})
    exe = Execution.from_settings(settings)
    recipe = run.recipe
    if args.iterations:
        recipe = recipe.model_copy(update={"iterations": args.iterations, "epochs": None})
    out_dir = args.runs / f"{run_key(run.name, args.seed)}-jpeg"
    t0 = time.perf_counter()
    result = train(run, recipe, args.seed, data_dir, out_dir, exe, resume=False)
    wall_s = time.perf_counter() - t0

    m = result.metrics
    doc = {
        "config": run.name,
        "data": "cifar10-jpeg",
        "archive_sha256": manifest.get("archive_sha256"),
        "train_images": m["train_images"],
        "test_images": m["test_images"],
        "recipe": recipe.model_dump(),
        "full_recipe": not args.iterations,
        "execution": {k: str(v) for k, v in vars(exe).items()},
        "device": m["device_name"],
        "torch": torch.__version__,
        "python": platform.python_version(),
        "fetch_seconds": round(fetch_s, 1),
        "wall_seconds": round(wall_s, 1),
        "seconds_per_epoch": m["seconds_per_epoch"],
        "steps": m["steps"],
        "epochs": m["epochs"],
        "final_test_error": m["final_test_error"],
        "best_test_error": m["best_test_error"],
        "reported": [r.model_dump() for r in run.reported],
    }
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        write_json(doc, args.out)
    print(json.dumps(doc, indent=2))


if __name__ == "__main__":
    main()
