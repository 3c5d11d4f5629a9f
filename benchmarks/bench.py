"""Benchmark several configurations into one JSON file, with the execution options as flags (how
benchmarks/results-*.json are made): ``PYTHONPATH=. python benchmarks/bench.py CONFIG... [--out F]``.
``repro bench`` does one configuration with params.yaml's ``train:`` options."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timezone
from pathlib import Path

from pipeline.bench.concurrency import concurrency
from pipeline.bench.machine import environment, load_average
from pipeline.bench.timing import bench, execution_dict
from pipeline.execution import Execution, resolve_device
from pipeline.files import write_json


def main(argv: list[str] | None = None) -> None:
    """Benchmark several configurations into one JSON file (how benchmarks/results-cpu.json is made)."""
    ap = argparse.ArgumentParser(prog="benchmarks/bench.py", description=main.__doc__)
    ap.add_argument("configs", nargs="+", help="catalog configuration names")
    ap.add_argument("--batch-size", type=int, default=None, help="default: each recipe's batch")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--bf16", action="store_true", help="fast path: bf16 autocast")
    ap.add_argument("--channels-last", action="store_true", help="fast path: channels_last")
    ap.add_argument(
        "--compile-mode", choices=["off", "default", "reduce-overhead", "max-autotune"], default="off",
        help="fast path: torch.compile mode",
    )  # fmt: skip
    ap.add_argument(
        "--compile", dest="compile_mode", action="store_const", const="default",
        help="fast path: torch.compile (= --compile-mode default)",
    )  # fmt: skip
    ap.add_argument(
        "--optimizer-impl", choices=["auto", "foreach", "fused", "loop"], default="auto",
        help="fast path: optimiser kernels (auto: fused on CUDA, torch's default on the CPU)",
    )  # fmt: skip
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    ap.add_argument(
        "--processes", default=None, help="e.g. 1,2,4: concurrent training processes instead of fast vs eager"
    )
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    device = resolve_device(args.device)
    exe = Execution(
        device=device,
        precision="bf16" if args.bf16 else "fp32",
        channels_last=args.channels_last,
        compile=None if args.compile_mode == "off" else args.compile_mode,
        optimizer_impl=args.optimizer_impl,
        threads=args.threads,
    )
    exe.apply()  # CPU threads
    processes = [int(n) for n in args.processes.split(",")] if args.processes else None
    load_start = load_average()
    results = []
    for name in args.configs:
        print(f"bench {name} ...", file=sys.stderr, flush=True)
        if processes:
            results.append(concurrency(name, processes, args.batch_size, steps=args.steps, warmup=args.warmup, exe=exe))
        else:
            results.append(bench(name, args.batch_size, steps=args.steps, warmup=args.warmup, exe_fast=exe))
    doc = {
        **environment(device),
        "date": datetime.now(timezone.utc).date().isoformat(),
        "command": "benchmarks/bench.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "fast_execution": execution_dict(exe),
        "load_average_1min": [load_start, load_average()],
        "results": results,
    }
    if args.out:
        write_json(doc, args.out)
    print(json.dumps(doc, indent=2))


if __name__ == "__main__":
    main()
