"""Reported curves (issue 17, part 4): a source's published per-epoch curves against our runs' histories.

For every table with ``figure: curves`` this module compares, per configuration, the test-accuracy curve the
source published (``ConfigEntry.reported_curves``, data files under reproduce/curves/) with each finished run's
``history.csv``, and writes ``<source>-<table>-curves.md`` and ``.csv``. The figures themselves are drawn by
``figures.reported_vs_reproduced``, which reads the same series from here.

Quantities (epochs 1-based, as in history.csv; a milestone m of the recipe means "from 0-based epoch m on", so
1-based epoch m + 1 is the first epoch trained at the lowered rate):

- **best**: the highest test accuracy over all epochs of the curve, and **final**: the last epoch's. Verdict:
  ``verdicts.cell_verdict`` on the seeds' values against the reported one, with δ = ``default_delta`` (max of
  0.5 points and 2 binomial SEs of the 10,000-image test set) and the binomial SE as the sd floor; a single
  run borrows the pooled seed-to-seed sd of the source's other configurations on the same dataset with n ≥ 2.
- **jump epoch** at the first learning-rate drop: the epoch with the largest one-epoch increase of test
  accuracy among the epochs within ``JUMP_WINDOW`` of m + 1 (m = the first milestone of the configuration's
  own schedule; epoch-unit multistep schedules only). Verdict: **exact** when every seed's jump epoch equals
  the reported one, **within 1 epoch** when every seed is at most ``JUMP_TOLERANCE`` epoch away, **differs**
  otherwise; a run too short to reach the window has no jump epoch.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..catalog import Recipe, Source, merge_recipe
from .results import Results
from .tables import RULE_NOTE, csv_text, markdown_table, r4, rule_of, write_table
from .verdicts import binomial_se, cell_verdict, default_delta, pooled_sd

TEST_IMAGES = 10_000  # the test set behind every reported curve so far (CIFAR-100); sets δ and the sd floor
JUMP_WINDOW = 5  # epochs either side of the first epoch trained at the lowered rate
JUMP_TOLERANCE = 1  # epochs: the jump verdict's "within" rule
HISTORY_COLUMNS = {("test", "accuracy"): "test_acc", ("test", "loss"): "test_loss", ("val", "accuracy"): "val_acc"}
HISTORY_COLUMNS |= {("val", "loss"): "val_loss", ("train", "accuracy"): "train_acc", ("train", "loss"): "train_loss"}
QUANTITIES = ("best", "final", "jump_epoch")


@dataclass(frozen=True)
class CurveStats:
    """Best and final value of one curve, and its jump at the first learning-rate drop."""

    best: float
    best_epoch: int
    final: float
    final_epoch: int
    jump_epoch: int | None  # None: no drop in the schedule, or the curve does not reach the window
    jump: float | None  # the increase at jump_epoch (points)


def first_drop_epoch(recipe: Recipe) -> int | None:
    """The first 1-based epoch trained at the lowered rate of the first milestone (epoch-unit multistep only)."""
    s = recipe.schedule
    if s.kind != "multistep" or s.unit != "epoch" or not s.milestones:
        return None
    return min(s.milestones) + 1


def curve_stats(epochs: Sequence[int], values: Sequence[float], drop: int | None) -> CurveStats | None:
    """``CurveStats`` of one curve (epochs increasing, 1-based); None for an empty curve."""
    if not values:
        return None
    best = max(range(len(values)), key=lambda i: values[i])  # the first epoch at the maximum
    jump_epoch = jump = None
    if drop is not None:
        window = [
            (values[i] - values[i - 1], epochs[i])
            for i in range(1, len(values))
            if abs(epochs[i] - drop) <= JUMP_WINDOW and epochs[i] - epochs[i - 1] == 1
        ]
        if window:
            jump, jump_epoch = max(window, key=lambda d: (d[0], -d[1]))  # ties: the earlier epoch
            jump = round(jump, 4)
    return CurveStats(values[best], epochs[best], values[-1], epochs[-1], jump_epoch, jump)


def reported_series(source: Source, config: str, split: str = "test", metric: str = "accuracy"):
    """(epochs, values) of the first reported curve of ``config`` that has (split, metric); None if none."""
    for curve in source.configurations[config].reported_curves:
        series = curve.series(split, metric)
        if series is not None:
            return series
    return None


def reproduced_series(
    results: Results, config: str, split: str = "test", metric: str = "accuracy"
) -> list[tuple[int, list[int], list[float]]]:
    """(seed, epochs, values) per finished run of ``config`` (training done: train.json written)."""
    column = HISTORY_COLUMNS[(split, metric)]
    out = []
    for run in results.runs(config):
        if "final_test_acc" not in results.metrics(run):
            continue
        rows = [r for r in results.history(run) if column in r]
        if rows:
            out.append((run.seed, [int(r["epoch"]) for r in rows], [r[column] for r in rows]))
    return out


def recipe_of(source: Source, config: str) -> Recipe:
    return Recipe.model_validate(merge_recipe(source.recipe, source.configurations[config].recipe))


@dataclass
class CurveRow:
    """One configuration of a curves table: the reported curve's stats and each finished seed's."""

    config: str
    label: str
    drop: int | None
    reported: CurveStats | None
    seeds: dict[int, CurveStats]

    def values(self, quantity: str) -> list[float]:
        return [getattr(s, quantity) for s in self.seeds.values() if getattr(s, quantity) is not None]


def table_rows(source: Source, key: str) -> dict[str, str]:
    """{configuration: its row label} of table ``key``, in the table's row order."""
    table = source.tables[key]
    label = {n: next(r.row for r in c.reported if r.table == key) for n, c in source.configurations_in(key).items()}
    return {n: label[n] for n in sorted(label, key=lambda n: table.rows.index(label[n]))}


def curve_rows(source: Source, key: str, results: Results) -> list[CurveRow]:
    """The configurations of table ``key`` that have a reported curve, in the table's row order."""
    rows = []
    for name, label in table_rows(source, key).items():
        series = reported_series(source, name)
        if series is None:
            continue
        drop = first_drop_epoch(recipe_of(source, name))
        seeds = {seed: curve_stats(e, v, drop) for seed, e, v in reproduced_series(results, name)}
        rows.append(CurveRow(name, label, drop, curve_stats(*series, drop), seeds))
    return rows


def _pooled(source: Source, results: Results, dataset: str, quantity: str):
    """Pooled seed-to-seed sd of ``quantity`` over this source's configurations on ``dataset`` with n ≥ 2."""
    groups = []
    for name, cfg in source.configurations.items():
        if cfg.dataset != dataset:
            continue
        drop = first_drop_epoch(recipe_of(source, name))
        stats_ = [curve_stats(e, v, drop) for _, e, v in reproduced_series(results, name)]
        groups.append([getattr(s, quantity) for s in stats_ if s is not None])
    return pooled_sd(groups)


@dataclass
class Comparison:
    """One cell: a quantity of one configuration, reported against reproduced."""

    row: CurveRow
    quantity: str
    reported: float | None
    values: list[float]
    verdict: str
    detail: str  # the rule's phrase (CellVerdict.text(), or the jump rule's)
    margin: float | None = None
    basis: str = ""

    @property
    def n(self) -> int:
        return len(self.values)


def _jump_verdict(reported: int, epochs: list[float]) -> tuple[str, str]:
    off = [abs(int(e) - reported) for e in epochs]
    if max(off) == 0:
        return "exact", f"every seed at epoch {reported}"
    if max(off) <= JUMP_TOLERANCE:
        return f"within {JUMP_TOLERANCE} epoch", f"every seed within {JUMP_TOLERANCE} epoch of {reported}"
    return "differs", f"seeds at epochs {', '.join(str(int(e)) for e in epochs)}; reported {reported}"


def compare(source: Source, key: str, results: Results, profile: str) -> list[Comparison]:
    """Every (configuration, quantity) cell of table ``key``'s curve comparison."""
    rows = curve_rows(source, key, results)
    out = []
    for row in rows:
        dataset = source.configurations[row.config].dataset
        for quantity in QUANTITIES:
            reported = None if row.reported is None else getattr(row.reported, quantity)
            values = row.values(quantity)
            cell = Comparison(row, quantity, reported, values, "", "")
            if reported is None:
                why = "no learning-rate drop in the schedule" if row.drop is None else "the curve ends before it"
                cell.verdict, cell.detail = "—", f"no jump: {why}"
            elif not row.seeds:
                cell.verdict = "not run"
            elif not values:
                lo, hi = row.drop - JUMP_WINDOW, row.drop + JUMP_WINDOW
                cell.verdict, cell.detail = "—", f"no jump: the runs end before epochs {lo}–{hi}"
            elif profile == "smoke":
                cell.verdict = "smoke only"
            elif quantity == "jump_epoch":
                cell.verdict, cell.detail = _jump_verdict(int(reported), values)
            else:
                margin = default_delta(reported, TEST_IMAGES)
                pooled = _pooled(source, results, dataset, quantity) if len(values) < 2 else None
                v = cell_verdict(values, reported, margin, pooled, binomial_se(reported, TEST_IMAGES))
                cell.verdict, cell.detail, cell.margin, cell.basis = v.verdict, v.text(), margin, v.basis
            out.append(cell)
    return out


# --- rendering ---------------------------------------------------------------------------------------------

LABELS = {"best": "best (%)", "final": "final (%)", "jump_epoch": "jump epoch at the first LR drop"}
CSV_FIELDS = [
    "table", "row", "config", "quantity", "reported", "reported_epoch", "reproduced_mean", "reproduced_sd",
    "reproduced_min", "reproduced_max", "n", "seed_values", "delta", "margin", "verdict", "rule", "detail", "basis",
    "profile",
]  # fmt: skip


def _num(value: float | None, quantity: str) -> str:
    if value is None:
        return "—"
    return f"{value:.0f}" if quantity == "jump_epoch" else f"{value:.2f}"


def _reported_text(cell: Comparison) -> str:
    r = cell.row.reported
    if cell.reported is None or r is None:
        return "—"
    if cell.quantity == "jump_epoch":
        return f"epoch {r.jump_epoch} (+{r.jump:.2f})"
    epoch = r.best_epoch if cell.quantity == "best" else r.final_epoch
    return f"{cell.reported:.2f} (epoch {epoch})"


def _reproduced_text(cell: Comparison) -> str:
    if not cell.values:
        return "not run" if cell.verdict == "not run" else "—"
    q, vals = cell.quantity, cell.values
    if q == "jump_epoch":
        jumps = [s.jump for s in cell.row.seeds.values() if s.jump is not None]
        text = f"epochs {', '.join(_num(v, q) for v in vals)} (mean +{statistics.fmean(jumps):.2f})"
    else:
        text = _num(statistics.fmean(vals), q)
        if len(vals) > 1:
            text += f" ± {statistics.stdev(vals):.2f} (min–max {min(vals):.2f}–{max(vals):.2f})"
    return f"{text}, n={len(vals)}"


def _cell_text(cell: Comparison) -> str:
    if cell.verdict == "not run":
        return f"{_reported_text(cell)} / not run"
    if cell.verdict == "—":
        return f"{_reported_text(cell)} / — ({cell.detail})"
    decided = cell.quantity != "jump_epoch" and cell.verdict in ("reproduced", "differs", "inconclusive")
    verdict = cell.detail if decided else cell.verdict
    return f"{_reported_text(cell)} / {_reproduced_text(cell)} — {verdict}"


def _record(key: str, cell: Comparison, profile: str) -> dict:
    vals = cell.values
    r = cell.row.reported
    epoch = None if r is None else {"best": r.best_epoch, "final": r.final_epoch, "jump_epoch": r.jump_epoch}
    mean = statistics.fmean(vals) if vals else None
    return {
        "table": key, "row": cell.row.label, "config": cell.row.config, "quantity": cell.quantity,
        "reported": r4(cell.reported), "reported_epoch": "" if epoch is None else epoch[cell.quantity] or "",
        "reproduced_mean": r4(mean), "reproduced_sd": r4(statistics.stdev(vals) if len(vals) > 1 else None),
        "reproduced_min": r4(min(vals) if vals else None), "reproduced_max": r4(max(vals) if vals else None),
        "n": len(vals), "seed_values": " ".join(str(round(v, 4)) for v in vals),
        "delta": r4(None if mean is None or cell.reported is None else mean - cell.reported),
        "margin": r4(cell.margin), "verdict": cell.verdict, "rule": rule_of(cell.verdict), "detail": cell.detail,
        "basis": cell.basis,
        "profile": profile,
    }  # fmt: skip


RULES = [
    "- Epochs are 1-based (epoch 1 = after the first pass over the data, as in history.csv); the source's "
    "0-based log index e is epoch e + 1 here.",
    "- best / final: the highest and the last test accuracy of the curve (over all its epochs). Reproduced: "
    "mean ± sd over seeds (min–max, n) of the same quantities of each finished run's history. Verdict "
    "(pipeline/report/verdicts.py `cell_verdict`): reproduced when the TOST at ±δ passes (α = 0.05), differs "
    "when the 95% interval excludes the reported value and |Δ| > δ, inconclusive otherwise; "
    f"δ = `default_delta` = max(0.5, 2 × the binomial SE of {TEST_IMAGES:,} test images at the reported "
    "value), that SE also the sd floor; a single run uses the pooled seed-to-seed sd of this source's "
    "configurations on the same dataset with n ≥ 2, else the floor.",
    f"- jump epoch: the epoch with the largest one-epoch increase of test accuracy within ±{JUMP_WINDOW} epochs "
    "of the first epoch trained at the lowered rate (milestone m of the configuration's schedule → epoch "
    "m + 1), with the size of that increase. Verdict: exact (every seed at the reported epoch), within "
    f"{JUMP_TOLERANCE} epoch (every seed at most {JUMP_TOLERANCE} away), differs otherwise.",
]


def render_curves_table(source: Source, key: str, cells: list[Comparison], context: dict) -> tuple[str, str]:
    """Markdown and CSV of one table's curve comparison."""
    profile = context["profile"]
    table = source.tables[key]
    title = f"{source.id} — curves of {table.caption.split(':')[0]}: best, final and the jump at the first LR drop"
    if profile == "smoke":
        title = f"SMOKE TEST, NOT A REPRODUCTION — {title}"
    rows = list(dict.fromkeys(c.row.config for c in cells))
    header = ["", *[f"{LABELS[q]} (reported / reproduced — verdict)" for q in QUANTITIES], "first LR drop"]
    lines = []
    for name in rows:
        mine = {c.quantity: c for c in cells if c.row.config == name}
        row = next(iter(mine.values())).row
        drop = f"epoch {row.drop}" if row.drop is not None else "—"
        lines.append([row.label, *[_cell_text(mine[q]) for q in QUANTITIES], drop])
    counts = sorted({len(c.row.seeds) for c in cells})
    md = [
        f"# {title}",
        "",
        f"- Source: {source.citation}",
        f"- Profile: **{profile}**"
        + (" — tiny generated data and a few steps: the numbers test the pipeline" if profile == "smoke" else ""),
        "- Metric: top-1 test accuracy (%) per epoch; reported = the source's published per-epoch log "
        f"(reproduce/curves/{source.id}/README.md), reproduced = each finished run's history.csv",
        f"- Runs per configuration: {', '.join(map(str, counts)) or '0'}",
        f"- Code version: {context['commit']}",
        *RULES,
        "",
        markdown_table(header, lines),
        "",
        RULE_NOTE,
        "",
        "Figures: "
        + ", ".join(
            f"[{f.title}](figures/{source.id}-{f.name}-reported-vs-reproduced.png)" for f in table.curve_figures
        )
        + " (written when a reported curve or a run exists).",
        "",
    ]
    return "\n".join(md), csv_text(CSV_FIELDS, (_record(key, c, profile) for c in cells))


def render_curves(
    sources: dict[str, Source], results: Results, out_dir: Path, context: dict
) -> tuple[list[Path], list[str]]:
    """The curve comparison of every ``figure: curves`` table: (files written, README index lines)."""
    written, index = [], []
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    for source in sources.values():
        for key, table in source.tables.items():
            if table.figure != "curves":
                continue
            cells = compare(source, key, results, context["profile"])
            stem = f"{source.id}-{key}-curves"
            written += write_table(out_dir, stem, *render_curves_table(source, key, cells, context))
            verdicts = sorted({c.verdict for c in cells if c.verdict != "—"})
            caption = f"{table.caption.split(':')[0]}: curves — best, final, jump at the first LR drop"
            index.append(f"| {source.id} | [{caption}]({stem}.md) | {', '.join(verdicts) or '—'} |")
    return written, index
