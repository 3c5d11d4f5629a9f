"""Slurm through submitit: one job array per launch, ``max_running`` tasks at once, ``gpus_per_run`` GPUs each.

Each task runs ``job.run_job`` (train, then evaluate) in the project checkout, which must be on a
filesystem the nodes share. A task that is preempted or reaches its time limit gets ``USR2``
``signal_delay_s`` before the end; submitit then checkpoints the job (``SlurmRun.checkpoint``: the
same call again, training resumes from runs/<key>/checkpoint.pt) and requeues it. A job requeued
from outside (``scontrol requeue``) simply starts again and resumes the same way.

States come from ``squeue`` (no accounting database needed); a job that left the queue without
finishing is explained by ``scontrol show job`` (while Slurm remembers it) and submitit's result file.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import submitit

from ..config import LaunchError, LaunchSettings
from ..job import handle_sigterm, run_job

RUNNING = {"RUNNING", "COMPLETING", "CONFIGURING", "STAGE_OUT", "SIGNALING", "RESIZING"}
QUEUED = {"PENDING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "SUSPENDED", "PREEMPTED", "RESV_DEL_HOLD"}


class SlurmRun(submitit.helpers.Checkpointable):
    """The pickled callable of each array task; its default ``checkpoint`` resubmits the same call.
    submitit ignores SIGTERM ("Bypassing signal SIGTERM"): the job takes it back, so ``scancel`` and
    ``scontrol requeue`` stop it at once (its MLflow run KILLED) rather than after Slurm's KillWait."""

    def __call__(self, spec: dict) -> dict:
        handle_sigterm()
        return run_job(spec)


def minutes(text: str) -> int:
    """sbatch's time formats (M, M:S, H:M:S, D-H, D-H:M, D-H:M:S) → whole minutes (submitit's unit)."""
    try:
        days, _, rest = text.strip().rpartition("-")
        parts = [int(p) for p in rest.split(":")]
        if days:
            h, m, s = (parts + [0, 0])[:3]
        else:
            h, m, s = [0] * (3 - len(parts)) + parts if len(parts) == 3 else (0, *(parts + [0])[:2])
        total = int(days or 0) * 86400 + h * 3600 + m * 60 + s
    except ValueError:
        total = -1
    if total <= 0 or len(parts) > 3:
        raise LaunchError(f"launch.slurm.time {text!r}: use minutes, HH:MM:SS or D-HH:MM:SS (sbatch --time)")
    return -(-total // 60)


def _scontrol(*args: str) -> str:
    out = subprocess.run(["scontrol", *args], capture_output=True, text=True, timeout=60)
    return out.stdout if out.returncode == 0 else ""


def queue_states(job_ids) -> dict[str, str]:
    """{job id: "running" | "queued" | "gone"} from ``squeue`` (one call)."""
    try:
        out = subprocess.run(["squeue", "--me", "-h", "-r", "-o", "%i|%T"], capture_output=True, text=True, timeout=60)
    except OSError as exc:
        raise LaunchError(f"squeue failed: {exc}; is Slurm reachable from here?") from exc
    if out.returncode != 0:
        raise LaunchError(f"squeue failed: {out.stderr.strip()[-300:]}; is Slurm reachable from here?")
    states = dict(line.split("|", 1) for line in out.stdout.split() if "|" in line)
    return {
        j: "running" if states.get(j) in RUNNING else "queued" if states.get(j) in QUEUED else "gone" for j in job_ids
    }


def job_cause(folder: Path, job_id: str) -> str | None:
    """Why the job left the queue: Slurm's verdict (cancelled, timeout, node failure...) while Slurm
    remembers the job (MinJobAge), else the error submitit stored in ``folder``."""
    info = _scontrol("show", "job", "-o", job_id)
    state = re.search(r"JobState=(\S+)", info)
    reason = re.search(r"Reason=(\S+)", info)
    if state and state.group(1) not in ("COMPLETED", "FAILED", "RUNNING", "PENDING", "COMPLETING"):
        why = f" ({reason.group(1)})" if reason and reason.group(1) != "None" else ""
        return f"Slurm job {state.group(1)}{why}"
    job = submitit.SlurmJob(folder=folder, job_id=job_id)
    if job.paths.result_pickle.exists():
        try:
            outcome, value = submitit.core.utils.pickle_load(job.paths.result_pickle)
        except Exception:
            outcome, value = "error", "unreadable result file"
        if outcome == "error":
            return str(value).strip().splitlines()[-1]
    return f"Slurm job {state.group(1)}" if state else None


def log_folder(root: Path, settings: LaunchSettings) -> Path:
    """submitit's folder: the jobs' pickles, results and logs."""
    return root / settings.logs / "slurm"


def scancel(job_ids) -> None:
    """Cancel the jobs; a refusal is a warning (the caller reports each job's end)."""
    job_ids = list(job_ids)
    if not job_ids:
        return
    out = subprocess.run(["scancel", *job_ids], capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        print(f"warning: scancel: {out.stderr.strip()}", file=sys.stderr)


class SlurmBackend:
    name = "slurm"
    outlives_launcher = True  # jobs keep running (and are re-attached) after the launcher stops

    def __init__(self, root: Path, settings: LaunchSettings):
        self.root, self.settings = root, settings
        self.folder = log_folder(root, settings)
        self._pending: dict[tuple[str, str], tuple[str, bool]] = {}
        s = settings.slurm
        try:
            self.executor = submitit.SlurmExecutor(folder=self.folder, max_num_timeout=s.max_requeues, python=s.python)
        except RuntimeError as exc:  # no sbatch on this machine
            raise LaunchError(
                f"cannot use Slurm here ({exc}); run on a login node or pick --backend local|ray"
            ) from exc
        params = {
            "job_name": "repro",
            "time": minutes(s.time),
            "nodes": 1,
            "ntasks_per_node": 1,
            "cpus_per_task": s.cpus_per_task,
            "gres": f"gpu:{settings.gpus_per_run}",
            "array_parallelism": s.max_running,
            "signal_delay_s": s.signal_delay_s,
            "stderr_to_stdout": True,
            "setup": [
                f"cd {root}",
                f"export PYTHONPATH={root}${{PYTHONPATH:+:$PYTHONPATH}}",
                *s.setup,
            ],
            "additional_parameters": dict(s.extra),
        }
        for name in ("partition", "account", "qos", "mem"):
            if getattr(s, name) is not None:
                params[name] = getattr(s, name)
        self.executor.update_parameters(**params)

    def describe(self) -> str:
        s = self.settings.slurm
        where = f"partition {s.partition}" if s.partition else "the default partition"
        return f"Slurm job array on {where}, up to {s.max_running} at once, {self.settings.gpus_per_run} GPU(s) each"

    def capacity(self) -> int:
        return self.settings.slurm.max_running

    def log_path(self, key: str, job_id: str) -> Path:
        return submitit.SlurmJob(folder=self.folder, job_id=job_id).paths.stdout

    def submit(self, specs: list[dict]) -> dict[str, str]:
        jobs = []
        try:
            with self.executor.batch():
                for spec in specs:
                    jobs.append(self.executor.submit(SlurmRun(), spec))
        except Exception as exc:  # sbatch refused (partition, account, limits): its message is the cause
            raise LaunchError(f"sbatch refused the jobs: {str(exc).strip().splitlines()[-1]}") from exc
        return {spec["key"]: job.job_id for spec, job in zip(specs, jobs, strict=True)}

    def poll(self, jobs: dict[str, str]) -> dict[str, str]:
        states = queue_states(jobs.values())
        return {key: states[job_id] for key, job_id in jobs.items()}

    def cause(self, key: str, job_id: str) -> str | None:
        return job_cause(self.folder, job_id)

    def pending_reasons(self, jobs: dict[str, str]) -> dict[str, tuple[str, bool]]:
        """{key: (Slurm's pending reason as a line, can never start)} for the queued ``jobs``."""
        from . import pending

        out = {}
        for job_id, reason in pending.reasons(jobs.values()).items():
            if reason and reason != "None":
                if (job_id, reason) not in self._pending:
                    self._pending[job_id, reason] = pending.describe(job_id, reason)
                out[next(k for k, j in jobs.items() if j == job_id)] = self._pending[job_id, reason]
        return out

    def cancel(self, jobs: dict[str, str]) -> list[str]:
        scancel(jobs.values())
        return list(jobs)

    def close(self) -> None:
        pass
