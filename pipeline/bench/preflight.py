"""The GPU preflight of ``repro train`` (and so of every DVC train stage): the full profile on a
machine without a CUDA GPU stops before training, with ``repro plan``'s estimate for this device and
the ways forward, unless the CPU is allowed explicitly (params.yaml ``train.allow_cpu: true`` or
``REPRO_ALLOW_CPU=1``). The smoke profile and CUDA devices pass untouched.

The estimate is ``repro plan``'s committed CPU plan (``benchmarks/plan-cpu.json``: every
configuration benchmarked on one CPU and extrapolated to its full recipe), looked up, not measured
again: it costs nothing, reads the same every time, and is the right order of magnitude on any CPU
(hours to weeks per run), which is all a refusal needs; a short benchmark at the start of a stage
is minutes on a loaded CPU and swings with the load. ``repro plan CONFIG`` measures this machine.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..catalog import get_configuration
from ..errors import ReproError
from ..execution import Execution
from ..planfile import coverage_note, read_plan, seconds_per_run
from ..settings import Project

ALLOW_ENV = "REPRO_ALLOW_CPU"
PLAN_CPU = Path(__file__).resolve().parents[2] / "benchmarks" / "plan-cpu.json"


class NoGPUError(ReproError, RuntimeError):
    pass


def cpu_allowed(project: Project) -> bool:
    return project.params.train.allow_cpu or os.environ.get(ALLOW_ENV, "").lower() in ("1", "true", "yes")


def estimate(config: str) -> dict | None:
    """The committed CPU plan's hours for one run of ``config`` and for the whole catalog, and the CPU
    it was measured on; None when the plan is missing or does not list ``config``."""
    try:
        committed = read_plan(PLAN_CPU)
        return {
            "run_hours": seconds_per_run(committed)[config] / 3600,
            "catalog_hours": committed["total_hours"],
            "catalog_runs": committed["total_runs"],
            "measured_on": f"{committed['device_name']}, {committed['threads']} threads",
            "coverage": coverage_note(committed, short=True),  # None: it covers today's catalog
        }
    except (ReproError, KeyError):
        return None


def preflight(project: Project, config: str, seed: int = 0) -> None:
    """Refuse to train ``config`` in the full profile without a CUDA GPU unless the CPU is allowed."""
    configuration = get_configuration(config)  # an unknown name: the did-you-mean error first
    if project.profile != "full":
        return
    exe = Execution.for_profile(project.params, project.profile)
    if exe.device.type == "cuda" or cpu_allowed(project):
        return
    e = estimate(configuration.name)
    if e is None:
        cost = f"{config} has no CPU estimate (`repro plan {config}` measures it here)"
    else:
        cost = (
            f"{config} seed {seed} in the full profile would train for about {e['run_hours']:,.0f} h on a CPU, "
            f"the whole catalog ({e['catalog_runs']} runs) {e['catalog_hours']:,.0f} h (`repro plan` on "
            f"{e['measured_on']}, benchmarks/plan-cpu.json; `repro plan {config}` measures this machine)"
        )
        if e["coverage"]:
            cost += f" ({e['coverage']})"
    raise NoGPUError(
        f"no CUDA GPU: {cost}; try the pipeline with `make demo` (smoke profile, minutes), train on a machine "
        f"with a GPU or on a cluster (`repro launch`), or allow the CPU: `train.allow_cpu: true` in params.yaml "
        f"or {ALLOW_ENV}=1; `repro doctor` checks a machine (GPUs, numerics, data, disk) before a long run"
    )
