"""``repro seeds``: the seeds and GPU-hours that would decide every figure and claim (report/seeds.py)."""

from __future__ import annotations

from pathlib import Path

from ..catalog import load_catalog
from ..planfile import coverage_note, find_plan, read_plan
from ..report.results import Results
from ..report.seeds import seed_plan
from ..settings import Project


def seeds(project: Project, plan_path: Path | None = None) -> dict:
    """Read the runs params.yaml lists and a plan JSON (``plan_path``, else ``planfile.find_plan``)."""
    path = plan_path or find_plan(project.root)
    plan = read_plan(path) if path is not None else None
    result = seed_plan(load_catalog(), Results.of(project, warn=False), plan, path, project.profile)
    return result | {"plan_coverage": coverage_note(plan, path) if plan is not None else None}
