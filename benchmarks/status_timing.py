"""`repro status` on a demo-sized copy: every smoke run of the catalog finished and recorded in dvc.lock.

Builds the copy once (``--dest``): the smoke profile's generated ``runs``, real smoke data from
``repro fetch``, placeholder outputs for every run (status reads digests, not their contents) recorded by
``dvc commit``. Then it times what status used to run (one ``dvc status --json`` over every train and
evaluate stage) and ``repro status --json`` now, cold (no digest cache) and warm. Prints JSON; ``--out``
writes it. Usage: ``PYTHONPATH=. python benchmarks/status_timing.py --dest /tmp/status-demo --out X.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.dev.demo import copy_project, dvc_env  # noqa: E402
from pipeline.launch.staleness import CACHE, Pipeline, _paths  # noqa: E402
from pipeline.sync import sync_params  # noqa: E402


def run(dest: Path, *args: str) -> tuple[float, subprocess.CompletedProcess]:
    env = dvc_env(ROOT) | {"REPRO_TRACKING": "off", "PYTHONPATH": str(ROOT)}
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, *args], cwd=dest, env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed: {out.stderr[-2000:]}")
    return time.perf_counter() - t0, out


def build(dest: Path) -> list[str]:
    if not (dest / "dvc.lock").is_file():
        copy_project(ROOT, dest)
        (dest / ".dvc").mkdir(exist_ok=True)
        (dest / ".dvc" / "config.local").write_text("[core]\n    no_scm = true\n")
        sync_params(dest / "params.yaml", "smoke")
    pipeline = Pipeline(dest)
    stages = [f"{s}@{key}" for key in pipeline.params["runs"] for s in ("train", "evaluate")]
    if (dest / "dvc.lock").is_file():
        return stages
    for dataset in pipeline.params["datasets"]:
        run(dest, "-m", "pipeline", "fetch", dataset)
    for stage in stages:
        spec = pipeline.expected(stage)
        for path in _paths(spec.get("outs")) + _paths(spec.get("metrics")) + _paths(spec.get("plots")):
            target = dest / path
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.suffix:
                target.write_text(json.dumps({"placeholder": path}) + "\n")
            else:
                target.mkdir(exist_ok=True)
                (target / "placeholder.json").write_text("{}\n")
    run(dest, "-m", "dvc", "commit", "--force", "--quiet", *stages)
    return stages


def recorded_only(dest: Path) -> list[str]:
    """Restrict params.yaml's runs to those whose train and evaluate stages dvc.lock records."""
    import yaml

    from pipeline.sync import MARKER

    locked = set(Pipeline(dest).lock)
    head, block = (dest / "params.yaml").read_text().split(MARKER)
    data = yaml.safe_load(block)
    data["runs"] = {k: v for k, v in data["runs"].items() if {f"train@{k}", f"evaluate@{k}"} <= locked}
    (dest / "params.yaml").write_text(f"{head}{MARKER}\n{yaml.safe_dump(data, sort_keys=False)}")
    return [f"{s}@{key}" for key in data["runs"] for s in ("train", "evaluate")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dest", type=Path, required=True)
    parser.add_argument("--out", type=Path)
    parser.add_argument(
        "--recorded-only",
        action="store_true",
        help="keep only the runs whose two stages dvc.lock records (an interrupted build)",
    )
    args = parser.parse_args()
    dest = args.dest.resolve()
    stages = build(dest)
    if args.recorded_only:
        stages = recorded_only(dest)
    before, out = run(dest, "-m", "dvc", "status", "--json", *stages)
    assert "{}" in out.stdout, out.stdout[:500]
    (dest / CACHE).unlink(missing_ok=True)
    cold, out = run(dest, "-m", "pipeline", "status", "--json")
    warm, out = run(dest, "-m", "pipeline", "status", "--json")
    totals = json.loads(out.stdout)["totals"]
    result = {
        "runs": len(stages) // 2,
        "stages": len(stages),
        "totals": {k: v for k, v in totals.items() if v},
        "before_dvc_status_targets_s": round(before, 1),
        "after_repro_status_cold_s": round(cold, 1),
        "after_repro_status_warm_s": round(warm, 1),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores (shared)",
    }
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
