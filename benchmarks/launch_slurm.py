"""8 smoke runs on the 2-GPU test Slurm cluster (`repro launch --backend slurm`) beside the same 8 run
serially by `dvc repro` in another copy, on the same machine; writes benchmarks/launch-slurm-cpu.json.

    PYTHONPATH=. .venv/bin/python benchmarks/launch_slurm.py   # as root, with slurm-wlm and munge installed

Both copies fetch their data first (untimed); both track to MLflow (launch through its own server,
dvc repro into SQLite). The launch figure includes everything the user waits for: dvc status, the
MLflow server, sbatch, the jobs, and recording each run with dvc commit.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests._launch import CHEAP, dvc, records, repro, smoke_project  # noqa: E402
from tests._slurm import slurm_cluster  # noqa: E402

SLURM = {"poll_s": 1, "slurm": {"cpus_per_task": 1, "mem": None, "time": "30", "max_running": 2}}


def main() -> None:
    base = Path(tempfile.mkdtemp(prefix="launch-bench-"))
    launched = smoke_project(base / "launch", CHEAP, launch=SLURM)
    serial = smoke_project(base / "serial", CHEAP)
    for project in (launched, serial):
        dvc(project, "repro", "fetch@cifar10")
    stages = [f"{s}@{c}-s0" for c in CHEAP for s in ("train", "evaluate")]
    t0 = time.monotonic()
    dvc(serial, "repro", *stages, timeout=3600)
    serial_s = time.monotonic() - t0
    with slurm_cluster() as cluster:
        os.environ.update(cluster.env)
        t0 = time.time()
        out = repro(launched, "launch", "--backend", "slurm", timeout=3600)
        launch_s = out.seconds
    state = json.loads((launched / ".repro" / "launch.json").read_text())
    recs = records(launched)
    jobs = [(state["jobs"][k], recs[k]) for k in recs]
    durations = [r["ended"] - r["started"] for _, r in jobs]
    latency = [r["started"] - e["submitted"] for e, r in jobs]
    record_s = [e["record_seconds"] for e, _ in jobs]
    submitted = min(e["submitted"] for e, _ in jobs)
    slots = SLURM["slurm"]["max_running"]
    result = {
        "runs": len(CHEAP),
        "machine": f"{os.cpu_count()} CPU cores, load average at the end {os.getloadavg()[0]:.1f}",
        "serial_dvc_repro_seconds": round(serial_s, 1),
        "launch_slurm_seconds": round(launch_s, 1),
        "speedup": round(serial_s / launch_s, 2),
        "before_first_submission_seconds": round(submitted - t0, 1),
        "job_seconds_median": round(statistics.median(durations), 1),
        "queue_to_start_seconds_median": round(statistics.median(latency), 1),
        "record_seconds_median": round(statistics.median(record_s), 2),
        "overhead_seconds_per_job": round((launch_s * slots - sum(durations)) / len(CHEAP), 1),
        "serial_seconds_per_run": round(serial_s / len(CHEAP), 1),
        "note": "overhead per job = (launch wall time x GPUs - time spent inside the jobs) / jobs",
    }
    print(json.dumps(result, indent=2))
    (ROOT / "benchmarks" / "launch-slurm-cpu.json").write_text(json.dumps(result, indent=2) + "\n")
    assert len(recs) == len(CHEAP)  # repro() checked the exit status


if __name__ == "__main__":
    main()
