"""The plan file ``repro plan --out FILE`` writes (JSON): where one is found, reading it, and each
configuration's seconds per run. ``repro seeds``, ``repro status`` and the GPU preflight read it."""

from __future__ import annotations

import json
from pathlib import Path

from .errors import ReproError

PROJECT_PLAN = Path(".repro") / "plan.json"  # this project's own: `repro plan --out .repro/plan.json`
COMMITTED = "benchmarks/plan-*.json"  # plans measured by the team and committed


def find_plan(root: Path) -> Path | None:
    """The plan used when none is named: the project's ``.repro/plan.json``, else a committed
    ``benchmarks/plan-*.json`` (a GPU plan before a CPU one, then the most recently modified)."""
    if (root / PROJECT_PLAN).is_file():
        return root / PROJECT_PLAN

    def key(path: Path):
        try:
            gpu = json.loads(path.read_text()).get("gpu_hours") is not None
        except (OSError, ValueError, AttributeError):
            gpu = False
        return gpu, path.stat().st_mtime

    plans = sorted(root.glob(COMMITTED), key=key)
    return plans[-1] if plans else None


def read_plan(path: Path) -> dict:
    """A plan JSON, checked; one-line errors naming the file and the fix."""
    try:
        plan = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ReproError(f"{path}: no such plan; write one with `repro plan --out {path}`") from None
    except (OSError, ValueError) as exc:
        raise ReproError(f"{path}: not a readable plan JSON ({exc}); write one with `repro plan --out FILE`") from None
    if not isinstance(plan, dict) or not isinstance(plan.get("configs"), list):
        raise ReproError(f"{path}: no 'configs' list; write a plan with `repro plan --out FILE`")
    return plan


def seconds_per_run(plan: dict) -> dict[str, float]:
    """{configuration: seconds of one full-recipe run on the plan's device}."""
    return {row["config"]: row["seconds_per_run"] for row in plan["configs"]}
