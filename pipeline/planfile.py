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


def coverage(plan: dict) -> dict:
    """How much of today's catalog ``plan`` covers: configurations (those needing no extra data) and runs.
    A plan measured before configurations were added, or for a selection, undercounts the catalog."""
    from .catalog import all_configurations

    catalog = {name: c.n_seeds for name, c in all_configurations().items() if not c.requires}
    planned = {row["config"]: row.get("runs") for row in plan["configs"]}
    missing = [name for name in catalog if name not in planned]
    runs_differ = [name for name, n in catalog.items() if name in planned and planned[name] != n]
    return {
        "configs": len(catalog),
        "covered_configs": len(catalog) - len(missing),
        "runs": sum(catalog.values()),
        "planned_runs": sum(n or 0 for n in planned.values()),
        "missing": missing,
        "runs_differ": runs_differ,
        "complete": not missing and not runs_differ,
    }


def coverage_note(plan: dict, path: Path | str | None = None, short: bool = False) -> str | None:
    """One line saying what ``plan`` leaves out of today's catalog; None when it covers all of it."""
    c = coverage(plan)
    if c["complete"]:
        return None
    if short:
        return (
            f"the plan covers {c['covered_configs']} of today's {c['configs']} configurations "
            f"({c['planned_runs']} of {c['runs']} runs): the catalog total undercounts"
        )
    parts = []
    if c["missing"]:
        shown = ", ".join(c["missing"][:3]) + (f" and {len(c['missing']) - 3} more" if len(c["missing"]) > 3 else "")
        parts.append(f"no estimate for {len(c['missing'])} ({shown})")
    if c["runs_differ"]:
        parts.append(f"other seed counts for {len(c['runs_differ'])} ({', '.join(c['runs_differ'][:3])})")
    where = f"{path} covers" if path else "this plan covers only"
    return (
        f"{where} {c['covered_configs']} of {c['configs']} configurations and {c['planned_runs']} runs against "
        f"{c['runs']} in the catalog now ({'; '.join(parts)}): its totals undercount; "
        f"`repro plan --out {path or 'FILE'}` measures the catalog again"
    )
