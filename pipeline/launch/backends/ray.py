"""Ray: one task per run with ``num_gpus=gpus_per_run``; Ray picks the node and the GPU and sets
``CUDA_VISIBLE_DEVICES`` for the task, which runs the job as a process (its output in the job's log).

The cluster is ``--address`` / ``RAY_ADDRESS`` / ``launch.ray.address``; without one, a local
instance with this machine's GPUs (``launch.ray.gpus`` or ``REPRO_LAUNCH_DEVICES`` to say how many).
Ray tasks belong to the driver that submitted them: stopping the launcher stops its Ray jobs, and the
next launch submits them again (training resumes from the checkpoints). To keep jobs running without
a terminal, run the launcher itself on the cluster: ``ray job submit -- repro launch --backend ray``.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..config import LaunchError, LaunchSettings
from ..state import read_record
from . import process
from .local import visible_gpus


def _task(spec: dict, log: str) -> int:
    """Runs on a Ray worker: the job as a process pinned to the GPU(s) Ray assigned."""
    import ray

    ctx = ray.get_runtime_context()
    env = {"REPRO_JOB_ID": f"ray-{ctx.get_task_id()}"}
    gpus = ray.get_gpu_ids()
    if gpus:
        env["CUDA_VISIBLE_DEVICES"] = ",".join(str(int(g)) for g in gpus)
    proc = process.start(spec, Path(log), env, detach=False)
    try:
        return proc.wait()
    finally:
        if proc.poll() is None:
            process.kill(proc.pid)


class RayBackend:
    name = "ray"
    outlives_launcher = False  # Ray stops a driver's tasks when the driver exits

    def __init__(self, root: Path, settings: LaunchSettings, address: str | None = None):
        try:
            import ray
        except ImportError as exc:
            raise LaunchError("Ray is not installed; pip install 'ray[default]'") from exc
        self.ray, self.root, self.settings = ray, root, settings
        self.logs = root / settings.logs / "ray"
        address = address or os.environ.get("RAY_ADDRESS") or settings.ray.address
        runtime_env = {"env_vars": {"PYTHONPATH": str(root)}}
        try:
            if address:
                ray.init(address=address, runtime_env=runtime_env, log_to_driver=False)
            else:
                gpus = settings.ray.gpus if settings.ray.gpus is not None else len(visible_gpus(settings))
                ray.init(
                    num_gpus=gpus,
                    num_cpus=max(os.cpu_count() or 1, gpus),
                    include_dashboard=False,
                    runtime_env=runtime_env,
                    log_to_driver=False,
                )
        except Exception as exc:
            raise LaunchError(f"cannot start or reach Ray ({str(exc).splitlines()[0]}); check --address") from exc
        total = int(ray.cluster_resources().get("GPU", 0))
        self.gpus = total
        if total < settings.gpus_per_run:
            raise LaunchError(
                f"the Ray cluster has {total} GPU(s), a run needs {settings.gpus_per_run}; "
                "lower launch.gpus_per_run or add GPU nodes (a local instance: REPRO_LAUNCH_DEVICES / launch.ray.gpus)"
            )
        self.remote = ray.remote(_task).options(
            num_gpus=settings.gpus_per_run, num_cpus=settings.ray.cpus_per_run, max_retries=0
        )
        self.refs: dict[str, tuple[object, str]] = {}  # key → (ObjectRef, job id)
        self.finished: dict[str, int | str] = {}

    def describe(self) -> str:
        return f"Ray tasks, {self.settings.gpus_per_run} GPU(s) each, on a cluster with {self.gpus} GPU(s)"

    def capacity(self) -> int:
        return max(1, self.gpus // self.settings.gpus_per_run)

    def log_path(self, key: str, job_id: str) -> Path:
        return self.logs / f"{key}.log"

    def submit(self, specs: list[dict]) -> dict[str, str]:
        ids = {}
        for spec in specs:
            log = self.log_path(spec["key"], "")
            ref = self.remote.remote(spec | {"log": str(log)}, str(log))
            job_id = f"ray-{ref.task_id().hex()}"
            self.refs[spec["key"]] = (ref, job_id)
            ids[spec["key"]] = job_id
        return ids

    def poll(self, jobs: dict[str, str]) -> dict[str, str]:
        states = {}
        for key, job_id in jobs.items():
            entry = self.refs.get(key)
            if entry is None or entry[1] != job_id:
                states[key] = "gone"  # submitted by an earlier launcher: Ray stopped it with that driver
                continue
            ref = entry[0]
            ready, _ = self.ray.wait([ref], timeout=0)
            if ready:
                try:
                    self.finished[key] = self.ray.get(ref)
                except Exception as exc:
                    self.finished[key] = str(exc).strip().splitlines()[-1] if str(exc).strip() else repr(exc)
                states[key] = "gone"
            else:
                record = read_record(self.root, key) or {}
                states[key] = (
                    "running" if record.get("job_id") == job_id and record.get("state") == "running" else "queued"
                )
        return states

    def cause(self, key: str, job_id: str) -> str | None:
        result = self.finished.get(key)
        if result is None:
            return "submitted by an earlier launcher; Ray stopped it when that launcher exited"
        if isinstance(result, int):
            return f"the job process exited {result}" if result else None
        return f"Ray task failed: {result}"

    def cancel(self, jobs: dict[str, str]) -> list[str]:
        cancelled = []
        for key, job_id in jobs.items():
            entry = self.refs.get(key)
            if entry is not None and entry[1] == job_id:
                self.ray.cancel(entry[0], force=True)
                cancelled.append(key)
        return cancelled

    def close(self) -> None:
        try:
            self.ray.shutdown()
        except Exception:
            pass
