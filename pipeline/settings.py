"""Project settings: ``params.yaml`` (validated), the profile, and where everything is written."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Literal, get_args

from pydantic import Field, PositiveFloat, PositiveInt, field_validator

from .rundir import RunDir
from .schema import CatalogError, Strict, read_yaml, validate_yaml

Profile = Literal["full", "smoke"]
PROFILES: tuple[str, ...] = get_args(Profile)


class FetchSettings(Strict):
    archive: str | None = None  # a pre-downloaded official archive (path relative to the project)
    mirrors: list[str] = []  # tried in order after the official URL
    imagefolder: str | None = None  # a user dataset: train/<class>/*, test/<class>/* (directory or archive)


class SmokeSettings(Strict):
    """The smoke profile: every configuration for a few steps on tiny generated data."""

    iterations: PositiveInt = 2  # optimiser steps per run
    batch_size: PositiveInt = 8
    eval_every: PositiveInt = 2  # steps between history rows (an "epoch" in the smoke profile)
    max_lr: PositiveFloat = 1e-4  # smoke runs test the plumbing, not learning: keep every model finite
    eval_images: PositiveInt = 32  # evaluate on the first N test (and validation) images
    threads: int = Field(1, ge=0)  # CPU threads (batch-8 steps run faster on one thread); 0 = torch's default


class TrainSettings(Strict):
    """Execution settings: they change speed, not the recipe."""

    device: str = Field("auto", pattern=r"^(auto|cpu|cuda(:\d+)?)$")  # auto | cpu | cuda | cuda:N
    deterministic: bool = True  # bitwise-repeatable on CPU; GPU kernels stay nondeterministic
    precision: Literal["auto", "fp32", "bf16"] = "auto"  # auto: bf16 autocast on CUDA, fp32 on CPU
    channels_last: Literal["auto", "on", "off"] = "auto"  # auto: on for CUDA
    compile: Literal["off", "default", "reduce-overhead", "max-autotune"] = "off"  # torch.compile mode (eager fallback)
    optimizer_impl: Literal["auto", "foreach", "fused", "loop"] = "auto"  # auto: fused on CUDA, torch's default on CPU
    threads: int = Field(0, ge=0)  # CPU threads for torch; 0 = torch's default (all cores)
    allow_cpu: bool = False  # the full profile trains on a CPU only when allowed (else `repro train` stops)
    log_every_seconds: float = Field(60.0, ge=0)  # outside a terminal: a progress line this often within an epoch

    @field_validator("compile", mode="before")
    @classmethod
    def _compile_bool(cls, value):  # old params files: true/false (YAML 1.1 also reads a bare off as false)
        return ("default" if value else "off") if isinstance(value, bool) else value


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


class RunEntry(Strict):
    config: str
    seed: int = Field(ge=0)
    source: str
    dataset: str
    code: list[str] = []  # this run's model modules (dvc.yaml's per-run code deps; see codedeps.py)


class Params(Strict):
    profile: Profile = "full"
    datasets: list[str] = []  # generated by `repro sync`
    fetch: dict[str, FetchSettings] = {}
    smoke: SmokeSettings = SmokeSettings()
    train: TrainSettings = TrainSettings()
    launch: LaunchSettings = LaunchSettings()  # `repro launch`: Slurm, Ray, this machine's GPUs
    # hand-edited: raise the runs (seeds) of configurations, {name or glob: N}; `repro sync` trains
    # max(catalog runs, N) seeds of each matching configuration (the catalog's count stays the source's)
    seeds: dict[str, PositiveInt] = {}
    runs: dict[str, RunEntry] = {}  # generated by `repro sync`


def load_params(path: Path) -> Params:
    if not path.is_file():
        raise CatalogError(f"{path} not found; run from the project root or pass --root")
    text, data = read_yaml(path)
    return validate_yaml(Params, data, text, path)


@dataclass
class Project:
    root: Path
    profile_override: str | None = None

    @cached_property
    def params(self) -> Params:
        return load_params(self.root / "params.yaml")

    @property
    def profile(self) -> str:
        return self.profile_override or self.params.profile

    @property
    def data_root(self) -> Path:
        return self.root / "data"

    def data_dir(self, dataset: str) -> Path:
        """The prepared form of ``dataset`` (``repro fetch`` writes it)."""
        return self.data_root / "prepared" / dataset

    @property
    def tables_dir(self) -> Path:
        return self.root / "paper_tables"

    @property
    def runs_dir(self) -> Path:
        return self.root / "runs"

    @property
    def summary_path(self) -> Path:
        """Mean ± std of the headline metrics per configuration (a plain output; DVC's metrics are
        each run's ``metrics.json``)."""
        return self.root / "metrics" / "summary.json"

    def run(self, config: str, seed: int) -> RunDir:
        return RunDir.of(self.runs_dir, config, seed)


def project_root(explicit: Path | None = None) -> Path:
    """``--root``, else the current folder. (Not ``DVC_ROOT``: queued DVC experiments run in a
    temporary copy, and their outputs belong to that copy; only tracking points at ``DVC_ROOT``.)"""
    return (explicit or Path.cwd()).resolve()
