"""``repro launch --doctor``: ``repro doctor`` as one job on the chosen backend before the runs are
submitted (a Slurm node sees its own GPUs, drivers and NCCL), and the launch stops when a check fails
(``--force`` submits anyway). The job writes its checks to ``.repro/doctor.json``."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from ..files import write_json
from .config import LaunchError
from .lineage import prepare_data
from .selection import RunRef
from .state import now, repro_dir

KEY = "doctor"


def report_path(root: Path) -> Path:
    return repro_dir(root) / "doctor.json"


def run_doctor_job(spec: dict, tags: dict) -> dict:
    """Inside the job: every check over the selection; the report (with the job's host and GPU) is
    written for the launcher. Raises when a check fails, so the backend sees a failed job too."""
    from ..bench.doctor import report, run_checks
    from ..settings import Project

    root = Path(spec["root"])
    os.chdir(root)
    project = Project(root, spec.get("profile"))
    checks = []
    for check in run_checks(project, [tuple(r) for r in spec["runs"]]):
        print(check.line(), flush=True)  # the job's log
        checks.append(check)
    result = report(checks) | tags | {"ended": now()}
    write_json(result, report_path(root))
    if not result["ok"]:
        raise RuntimeError("repro doctor: a check failed (see .repro/doctor.json)")
    return result


def doctor_first(launcher, backend, refs: list[RunRef], force: bool) -> dict:
    """Prepare the selection's data (doctor checks it), run the doctor job on ``backend``, wait for it,
    echo its lines; a failed check stops the launch unless ``force``."""
    root, echo = launcher.root, launcher.echo
    prepare_data(root, sorted({r.dataset for r in refs}))
    path = report_path(root)
    path.unlink(missing_ok=True)
    spec = {
        "kind": "doctor",
        "root": str(root),
        "profile": launcher.project.profile,
        "key": KEY,
        "backend": launcher.backend_name,
        "runs": [[r.config, r.dataset] for r in refs],
    }
    try:
        job = backend.submit([spec])[KEY]
        echo(f"doctor: running `repro doctor` as job {job} on {backend.name}")
        while backend.poll({KEY: job})[KEY] != "gone":
            time.sleep(launcher.settings.poll_s)
        log = backend.log_path(KEY, job)
    finally:
        backend.close()
    try:
        result = json.loads(path.read_text())
    except (OSError, ValueError):
        raise LaunchError(f"the doctor job {job} left no report; see its log {log}") from None
    for check in result["checks"]:
        echo(f"doctor: {check['status']:<4} {check['name']}: {check['detail']}")
    failed = [c for c in result["checks"] if c["status"] == "fail"]
    if failed and not force:
        c = failed[0]
        raise LaunchError(
            f"repro doctor failed on {result.get('host')} ({len(failed)} check(s)): {c['name']}: {c['detail']}"
            f"{'; ' + c['fix'] if c['fix'] else ''}; nothing submitted (fix it, or `repro launch --force`)"
        )
    if failed:
        echo(f"doctor: {len(failed)} check(s) failed; submitting anyway (--force)")
    return result
