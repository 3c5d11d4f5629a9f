"""``repro seeds``: the seeds and GPU-hours that would decide every figure and claim (report/seeds.py)."""

from __future__ import annotations

import json
from pathlib import Path

from ..catalog import load_catalog
from ..errors import ReproError
from ..report.results import Results
from ..report.seeds import default_plan, seed_plan
from ..settings import Project


def seeds(project: Project, plan_path: Path | None = None) -> dict:
    """Read the runs params.yaml lists and a plan JSON (``plan_path``, else ``default_plan``); return the plan."""
    path = plan_path or default_plan(project.root)
    plan = None
    if path is not None:
        try:
            plan = json.loads(Path(path).read_text())
        except (OSError, ValueError) as exc:
            raise ReproError(
                f"{path}: not a readable plan JSON ({exc}); write one with `repro plan --out FILE`"
            ) from None
        if not isinstance(plan, dict) or not isinstance(plan.get("configs"), list):
            raise ReproError(f"{path}: no 'configs' list; write a plan with `repro plan --out FILE`")
    return seed_plan(load_catalog(), Results.of(project, warn=False), plan, path, project.profile)
