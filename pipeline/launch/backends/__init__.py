"""Backends: where jobs run. Each submits job specs, tells whether a job is queued, running or gone,
explains a job that vanished, and cancels. None of them schedules across machines itself: Slurm and
Ray do; the local backend only hands this machine's GPUs out one run per GPU at a time."""

from __future__ import annotations

from pathlib import Path

from ..config import LaunchError, LaunchSettings

BACKENDS = ("local", "slurm", "ray")


def make_backend(name: str, root: Path, settings: LaunchSettings, address: str | None = None):
    if name == "local":
        from .local import LocalBackend

        return LocalBackend(root, settings)
    if name == "slurm":
        from .slurm import SlurmBackend

        return SlurmBackend(root, settings)
    if name == "ray":
        from .ray import RayBackend

        return RayBackend(root, settings, address)
    raise LaunchError(f"unknown backend {name!r}; use one of {', '.join(BACKENDS)}")
