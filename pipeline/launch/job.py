"""What runs inside one job, on whichever machine the backend picked: train, then evaluate, one run.

The stages run through the stage functions (the same code as ``repro train`` / ``repro evaluate``),
each logging one MLflow run tagged with the backend, the job id, the host and the GPU. The job keeps
its own record in ``.repro/jobs/<key>.json`` (attempts, host, GPU, epoch k/n, its end and error),
which ``repro status`` and the launcher read. Training resumes from ``runs/<key>/checkpoint.pt``,
so a requeued or retried job continues where the last one stopped.

``python -m pipeline.launch.job run SPEC_JSON`` runs a job as a process (local and Ray backends);
``... train SPEC_JSON`` is one rank of a multi-GPU job under ``torchrun`` (``gpus_per_run`` > 1).
"""

from __future__ import annotations

import json
import math
import os
import signal
import socket
import subprocess
import sys
import threading
import traceback
from pathlib import Path

from ..rundir import CHECKPOINT, EVAL_METRICS
from .lineage import finished_on_disk
from .state import now, read_record, write_record

PROGRESS_S = float(os.environ.get("REPRO_LAUNCH_PROGRESS_S", "10"))  # how often a job notes its epoch


def job_id(backend: str) -> str:
    if os.environ.get("REPRO_JOB_ID"):
        return os.environ["REPRO_JOB_ID"]
    if os.environ.get("SLURM_ARRAY_JOB_ID"):
        return f"{os.environ['SLURM_ARRAY_JOB_ID']}_{os.environ['SLURM_ARRAY_TASK_ID']}"
    return os.environ.get("SLURM_JOB_ID", f"{backend}-{os.getpid()}")


def visible_gpu() -> str:
    """The GPU(s) this job was given: CUDA_VISIBLE_DEVICES as Slurm, Ray or the local backend set it."""
    return os.environ.get("CUDA_VISIBLE_DEVICES", "") or "none"


def tags_of(spec: dict) -> dict:
    return {
        "backend": spec["backend"],
        "job_id": job_id(spec["backend"]),
        "host": socket.gethostname(),
        "gpu": visible_gpu(),
        **({"adaptive_round": str(spec["adaptive_round"])} if "adaptive_round" in spec else {}),
    }


def _project(spec: dict):
    from ..settings import Project

    return Project(Path(spec["root"]), spec.get("profile"))


def _stages():
    """The stage functions: the same code as ``repro train`` / ``repro evaluate``."""
    from ..stages.evaluate import evaluate
    from ..stages.train import train

    return train, evaluate


def epochs_total(project, config: str) -> int | None:
    """How many epochs (history rows) the run has in this profile; None where it cannot be told cheaply."""
    try:
        from ..stages.common import resolve

        r = resolve(project, config, 0)
        if project.profile == "smoke":  # an "epoch" is smoke.eval_every steps
            return math.ceil(r.recipe.iterations / project.params.smoke.eval_every)
        from ..bench.plan import schedule_of  # the full recipe's schedule, as `repro plan` counts it

        return schedule_of(r.config, r.recipe)["epochs"]
    except Exception:
        return None


def checkpoint_epoch(run_dir: Path) -> int | None:
    path = run_dir / CHECKPOINT
    if not path.is_file():
        return None
    try:
        import torch

        return int(torch.load(path, map_location="cpu", weights_only=True)["epoch"])
    except Exception:  # being replaced right now, or torn by a kill: the next look will do
        return None


class Progress(threading.Thread):
    """Notes the last checkpointed epoch in the job's record while training runs."""

    def __init__(self, root: Path, key: str, run_dir: Path, record: dict):
        super().__init__(daemon=True)
        self.root, self.key, self.run_dir, self.record = root, key, run_dir, record
        self.stop, self.mtime = threading.Event(), None

    def run(self) -> None:
        while not self.stop.wait(PROGRESS_S):
            path = self.run_dir / CHECKPOINT
            mtime = path.stat().st_mtime if path.exists() else None
            if mtime is None or mtime == self.mtime:
                continue
            self.mtime = mtime
            epoch = checkpoint_epoch(self.run_dir)
            if epoch is not None:
                self.record["epoch"] = epoch
                write_record(self.root, self.key, self.record)


def run_job(spec: dict) -> dict:
    """Train then evaluate one run; returns the evaluation metrics. Raises on failure (after recording it).
    A ``kind: doctor`` spec runs ``repro doctor`` instead (``launch --doctor``)."""
    if spec.get("kind") == "doctor":
        from .checkup import run_doctor_job

        return run_doctor_job(spec, tags_of(spec))
    root, key, config, seed = Path(spec["root"]), spec["key"], spec["config"], int(spec["seed"])
    os.chdir(root)
    if spec.get("artifact_location"):
        os.environ["REPRO_ARTIFACT_LOCATION"] = spec["artifact_location"]
    if spec.get("tracking_uri"):
        os.environ["MLFLOW_TRACKING_URI"] = spec["tracking_uri"]
        if spec.get("tracking_wait"):  # launch's own server, started alongside the jobs
            _wait_for_server(spec["tracking_uri"])
    if spec.get("threads"):
        import torch

        torch.set_num_threads(int(spec["threads"]))
    project = _project(spec)
    tags = tags_of(spec)
    run_dir = project.run(config, seed).path
    previous = read_record(root, key) or {}
    if previous.get("job_id") == tags["job_id"]:  # this job ran before (requeued, or restarted by its backend)
        if previous.get("state") == "done" and finished_on_disk(run_dir):
            print(f"{key}: this job finished the run already ({previous.get('ended')}); nothing to do", flush=True)
            return json.loads((run_dir / EVAL_METRICS).read_text())
        _close_killed_attempts(root, tags)
    resumed = checkpoint_epoch(run_dir)
    attempts = previous.get("attempts", 0) + 1 if previous.get("job_id") == tags["job_id"] else 1
    record = {
        "key": key,
        **tags,
        "pid": os.getpid(),
        "state": "running",
        "attempts": attempts,
        "restarts": int(os.environ.get("SLURM_RESTART_COUNT", "0")),
        "started": now(),
        "resumed_from_epoch": resumed,
        "epoch": resumed or 0,
        "epochs": epochs_total(project, config),
        "log": spec.get("log"),
    }
    write_record(root, key, record)
    progress = Progress(root, key, run_dir, record)
    progress.start()
    train, evaluate = _stages()
    try:
        if int(spec.get("gpus_per_run", 1)) > 1:
            _train_ddp(spec, int(spec["gpus_per_run"]))
            record["ranks"] = int(spec["gpus_per_run"])  # torchrun finished with that many processes
        else:
            train(project, config, seed, resume=True, tags=tags)
        record["epoch"] = record["epochs"] or record["epoch"]
        metrics = evaluate(project, config, seed, tags=tags)
    except (KeyboardInterrupt, SystemExit) as exc:  # preempted, requeued, cancelled: may come back
        progress.stop.set()
        record.update(state="interrupted", ended=now(), error=f"interrupted ({type(exc).__name__} {exc})".strip())
        write_record(root, key, record)
        raise
    except BaseException as exc:
        progress.stop.set()
        lines = [line for line in str(exc).strip().splitlines() if line.strip()] or [type(exc).__name__]
        record.update(state="failed", ended=now(), error=f"{type(exc).__name__}: {lines[-1]}")
        record["traceback"] = traceback.format_exc()[-4000:]
        write_record(root, key, record)
        raise
    progress.stop.set()
    record.update(state="done", ended=now(), error=None)
    write_record(root, key, record)
    return metrics if isinstance(metrics, dict) else {}


def _close_killed_attempts(root: Path, tags: dict) -> None:
    """An earlier attempt of this job was killed outright (SIGKILL, lost node): its MLflow runs still
    read RUNNING; mark them KILLED."""
    if os.environ.get("REPRO_TRACKING", "on") == "off":
        return
    from ..tracking import tracking_uri
    from ..trackstore import mark_killed

    closed = mark_killed(tracking_uri(root), {"job_id": tags["job_id"], "backend": tags["backend"]})
    if closed:
        print(f"marked {closed} MLflow run(s) of an earlier attempt of job {tags['job_id']} KILLED", flush=True)


def _wait_for_server(uri: str, timeout: float = 180) -> None:
    """Until launch's MLflow server answers (it starts while the jobs queue); then tracking takes over
    (a server that never comes up only turns tracking off, with a warning)."""
    import time

    from .server import healthy

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not healthy(uri):
        time.sleep(1)


def _train_ddp(spec: dict, n: int) -> None:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={n}"]
    cmd += ["-m", "pipeline.launch.job", "train", json.dumps(spec)]
    code = subprocess.call(cmd, cwd=spec["root"])
    if code != 0:
        raise RuntimeError(f"torchrun --nproc_per_node={n} (DDP training) exited {code}; see the job log")


def _train_rank(spec: dict) -> None:
    """One torchrun rank: train only (rank 0 writes files and tracks)."""
    train, _ = _stages()
    train(_project(spec), spec["config"], int(spec["seed"]), resume=True, tags=tags_of(spec))


def _terminate(signum, _frame) -> None:
    raise KeyboardInterrupt(f"signal {signum}")  # the stages' Ctrl-C clean-up: MLflow run KILLED


def handle_sigterm() -> None:
    """SIGTERM (scancel, scontrol requeue, a node drained) stops the job at once, the run marked KILLED
    and the job's record "interrupted", instead of waiting for the SIGKILL that follows."""
    signal.signal(signal.SIGTERM, _terminate)


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("run", "train"):
        print("usage: python -m pipeline.launch.job run|train SPEC_JSON", file=sys.stderr)
        return 2
    handle_sigterm()
    spec = json.loads(argv[1])
    try:
        if argv[0] == "train":
            _train_rank(spec)
        else:
            run_job(spec)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        print(f"error: {spec['key']}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
