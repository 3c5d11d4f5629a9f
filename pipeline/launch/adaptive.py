"""``repro launch --adaptive --budget H``: rounds of seeds until every verdict is decided (issue 24).

Each round: run the seeds the targets ask for (round 1: the planned ones) → judge every item sequentially
(``report/adaptive_items.py``) → plan the next round's extra seeds (``planner.py``) → repeat. It stops when every
item is decided, the budget is spent, nothing left is worth its cost, or the user cancels. The same loop runs
with the real launcher (``adaptive_backend.py``) and with the simulator's draws (``benchmarks/adaptive_sim.py``).

State: ``.repro/adaptive.json`` (rounds, seed targets, the runs started and the decided items, a verdict kept
from the look that decided it). The budget counts the plan's hours of every run this campaign starts, each once;
runs finished before it are free. Ctrl-C keeps finished runs; rerunning resumes from the state and never
repeats a run (a backend skips the seeds it already has).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from ..errors import ReproError
from ..files import write_json
from ..report.adaptive_items import Item, judge_items, look_stats, spreads
from ..report.sequential import ALPHA, schedule
from .planner import plan_round
from .state import read_json

DECIDED = ("reproduced", "differs (below)", "differs (above)", "supported", "contradicted")


class Backend(Protocol):
    def counts(self) -> dict[str, int]: ...  # finished seeds per configuration
    def values(self) -> dict[str, dict[str, list[float]]]: ...  # {config: {metric: [value per seed]}}
    def run(self, targets: dict[str, int], round_no: int) -> None: ...  # runs seeds [0, target) not yet done


@dataclass
class Settings:
    budget: float  # hours of the plan
    max_seeds: int = 10
    share: float = 0.5  # a round spends at most this share of the budget left (at least one run)
    min_gain: float = 0.05  # expected items decided below which a run is not worth its cost
    worth: float = 0.5  # a run must decide ≥ worth × (items / budget) expected items per hour
    alpha: float = ALPHA
    seed: int = 0  # of the predictive draws
    looks: tuple[int, ...] | None = None  # the look schedule (default: every seed count 1..max_seeds)


def load(path: Path) -> dict | None:
    return read_json(path, "start the adaptive seeds afresh")


def round_line(r: dict) -> str:
    """The line printed for a round, and shown by ``repro status``."""
    head = (
        f"round {r['round']}: {r['decided']}/{r['items']} items decided; {r['spent']:.1f} h spent, "
        f"{r['left']:.1f} h left"
    )
    if r.get("stop"):
        return f"{head}; stopped: {r['stop']}"
    runs = "; ".join(f"{p['config']} s{','.join(map(str, p['seeds']))}: {p['why']}" for p in r["picks"])
    return f"{head}; next {sum(len(p['seeds']) for p in r['picks'])} run(s): {runs}"


def run_adaptive(
    items: list[Item],
    configs_of: dict[str, str],
    backend: Backend,
    hours: dict[str, float],
    planned: dict[str, int],
    settings: Settings,
    state_path: Path | None,
    echo: Callable[[str], None] = print,
) -> dict:
    """Run rounds until a stop; return the state (rounds, targets, decided verdicts, hours spent)."""
    looks = settings.looks or schedule(settings.max_seeds)
    rng = np.random.default_rng(settings.seed)
    state = (load(state_path) if state_path else None) or {
        "targets": dict(planned),
        "started": [],
        "rounds": [],
        "decided": {},
        "free": {c: n for c, n in backend.counts().items()},
    }
    state.update(budget=settings.budget, max_seeds=settings.max_seeds)
    missing = [c for c in configs_of if c not in hours]
    if missing:
        raise ReproError(f"the plan has no hours for {missing[0]}; write a plan covering it with `repro plan --out`")

    def start(targets: dict[str, int]) -> None:
        started = {tuple(x) for x in state["started"]}
        for c, t in targets.items():
            started |= {(c, s) for s in range(state["free"].get(c, 0), t)}
        state["started"] = sorted([list(x) for x in started])

    def spent() -> float:
        return sum(hours[c] for c, _ in state["started"])

    def save() -> None:
        if state_path is not None:
            state_path.parent.mkdir(parents=True, exist_ok=True)
            write_json(state, state_path)

    start(state["targets"])
    if spent() > settings.budget + 1e-9:
        raise ReproError(
            f"the planned seeds alone need {spent():.1f} h, over --budget {settings.budget:g}; raise --budget"
        )
    save()
    while True:
        round_no = len(state["rounds"]) + 1
        need = {c: t for c, t in state["targets"].items() if backend.counts().get(c, 0) < t}
        if need:
            backend.run(need, round_no)  # Ctrl-C propagates: finished runs stay, the state is saved
        values, counts = backend.values(), backend.counts()
        judged = judge_items(items, values, configs_of, looks, settings.alpha)
        for iid, row in judged.items():
            if iid not in state["decided"] and row["verdict"] in DECIDED:
                state["decided"][iid] = {k: row[k] for k in ("verdict", "n", "rule")}
        left = settings.budget - spent()
        rec = {"round": round_no, "items": len(items), "decided": len(state["decided"]), "spent": spent(),
               "left": left, "picks": []}  # fmt: skip
        open_items = _open(items, judged, values, configs_of, state["decided"], looks)
        if not open_items:
            rec["stop"] = "every item decided"
        else:
            share = max(left * settings.share, min((hours[c] for c in configs_of), default=0))
            targets, picks = plan_round(
                open_items, {c: counts.get(c, 0) for c in configs_of} | _max(state["targets"], counts),
                hours, settings.max_seeds, min(share, left), looks, rng, settings.min_gain,
                settings.worth * len(items) / max(settings.budget, 1e-9),
            )  # fmt: skip
            if not picks:
                cheapest = min((hours[c] for c in configs_of), default=0)
                rec["stop"] = "budget spent" if left < cheapest else "nothing left worth its cost (or --max-seeds)"
            rec["picks"] = [p.__dict__ | {"seeds": list(p.seeds)} for p in picks]
            state["targets"] = _max(state["targets"], targets)
            start(state["targets"])
        state["rounds"].append(rec)
        save()
        echo(round_line(rec))
        if rec.get("stop"):
            state["judged"] = judged
            return state


def _max(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
    return {c: max(a.get(c, 0), b.get(c, 0)) for c in set(a) | set(b)}


def _open(items, judged, values, configs_of, decided, looks) -> list:
    """Undecided items with a look to plan from: (item, look stats with the claim family size, spread)."""
    sp_all = spreads(items, values, configs_of)
    family: dict[str, int] = {}
    for it in items:
        if it.kind == "claim" and it.id not in decided:
            family[it.source] = family.get(it.source, 0) + 1
    out = []
    for it in items:
        if it.id in decided:
            continue
        sp = sp_all[it.id] or _guess(it)
        st = look_stats(it, values, sp, looks)
        if st is None:
            continue
        if it.kind == "claim":
            st["family"] = family[it.source]
        out.append((it, st, sp))
    return out


def _guess(it: Item):
    """A spread to plan with before any pool exists (planning only; verdicts wait for a real one)."""
    from ..report.adaptive_items import Spread

    if it.kind == "claim":
        return Spread(0.4 if it.metric.endswith(("_acc", "_error")) else 0.02, None)
    return Spread(max(it.floor, 0.02 * abs(it.reported) if it.kind in ("cell", "best") else 0.02, 1e-6), None)
