"""The launcher's settings (params.yaml's ``launch:``) and its user-facing error. The settings live here, not
in settings.py, so that their code is no dependency of the train stages (editing them never makes a run stale)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, PositiveInt

from ..errors import ReproError
from ..schema import Strict, validate_yaml

__all__ = ["LaunchError", "LaunchSettings", "launch_settings"]


class LaunchError(ReproError):
    """A launch, status or cancel request that cannot be carried out; the message names the fix."""


class LocalSettings(Strict):
    devices: Literal["auto"] | list[int] = "auto"  # auto = every visible GPU; or GPU indices, e.g. [0, 1]
    runs_per_gpu: PositiveInt = 1  # raise where `repro bench --processes` shows several runs per GPU pay
    cpu_workers: int = Field(0, ge=0)  # no GPU: runs at once (0 = one per 4 cores), threads split between them


class SlurmSettings(Strict):
    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    time: str = "24:00:00"  # per job: [D-]HH:MM:SS or minutes; a job reaching it is requeued and resumes
    cpus_per_task: PositiveInt = 8
    mem: str | None = "32G"  # per job, sbatch syntax (e.g. 32G); null = the partition's default
    max_running: PositiveInt = 16  # array tasks running at once (submitit's slurm_array_parallelism)
    signal_delay_s: int = Field(120, ge=10)  # USR2 this long before the time limit: checkpoint and requeue
    max_requeues: int = Field(5, ge=0)  # preemptions / time limits a job may be requeued for
    extra: dict[str, str | int | bool] = {}  # any other sbatch option, e.g. {constraint: a100}
    setup: list[str] = []  # shell lines run first in each job, e.g. "module load cuda/12.4"
    python: str | None = None  # the interpreter on the nodes (default: the launcher's)


class RayLaunchSettings(Strict):
    address: str | None = None  # an existing cluster (also --address / RAY_ADDRESS); null = a local instance
    cpus_per_run: float = Field(1, gt=0)
    gpus: int | None = Field(None, ge=0)  # GPUs of a local instance (null = the visible ones)


class LaunchSettings(Strict):
    gpus_per_run: PositiveInt = 1  # > 1: the job runs `torchrun --nproc_per_node=N` (DDP)
    logs: str = ".repro/logs"  # one log per job (relative to the project root)
    tracking_host: str = "127.0.0.1"  # where launch's own MLflow server listens (the jobs must reach it)
    poll_s: float = Field(5, gt=0)  # seconds between checks of the jobs
    local: LocalSettings = LocalSettings()
    slurm: SlurmSettings = SlurmSettings()
    ray: RayLaunchSettings = RayLaunchSettings()


class _Launch(Strict):
    launch: LaunchSettings = LaunchSettings()


def launch_settings(project) -> LaunchSettings:
    """params.yaml's ``launch:``, validated (an error names the file, line and key)."""
    raw = project.params.launch
    if isinstance(raw, LaunchSettings):
        return raw
    path = project.root / "params.yaml"
    text = path.read_text() if path.is_file() else ""
    return validate_yaml(_Launch, {"launch": raw or {}}, text, path).launch
