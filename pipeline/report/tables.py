"""Render the sources' tables: the number the source printed beside the reproduced one, and a verdict.

Reads only metrics files (``runs/<config>-s<seed>/train.json`` and ``eval.json``), never
checkpoints, and renders whatever exists: a configuration with no results shows "not run".
Verdicts come from ``judging.py`` (which margin, which spread, which rule) and ``verdicts.py`` (the
statistics: TOST equivalence, best-of-runs, ratios, Welch claims), the claims page's lines from
``claim_kinds.py``; the rules are in README "Verdicts".
"""

from __future__ import annotations

import csv
import io
import math
import statistics
from dataclasses import dataclass
from pathlib import Path

from ..catalog import Configuration, Source, Table, configurations_of
from ..files import write_json
from .claim_kinds import CostClaimResult, evaluate_claims
from .judging import Judged, JudgedRatio, Pool, fmt, judge_figure, judge_ratio
from .published import write_rendered
from .results import Results
from .verdicts import ALPHA

VERDICT_RULE = (
    "reproduced = the 90% interval of (reproduced − reported) lies inside ±δ (TOST, α = 0.05); "
    "differs = the 95% interval excludes the reported value and |Δ| > δ; inconclusive otherwise"
)
# The rule behind every verdict rendered here; ``sequential.rule_label`` gives the same text for one look.
RENDER_RULE = "fixed n"
NO_TEST = ("not run", "smoke only", "cited", "not comparable", "—")  # verdicts no rule produced
RULE_WHY = (
    '`repro launch --adaptive` decides with a group-sequential rule instead ("sequential, look k of K"); '
    "its verdicts are in `repro status` and `.repro/adaptive.json`, not here, because this render is a DVC stage "
    "that reads only tracked run metrics. After an adaptive campaign a fixed-n verdict ignores the repeated looks, "
    "so its error rates are not guaranteed; the sequential ones are (README, Adaptive seeds)."
)
RULE_NOTE = (
    f"- Rule: every verdict here is **{RENDER_RULE}**: the test at the runs' count, as if it had been fixed in "
    f"advance. {RULE_WHY}"
)


def rule_of(verdict: str) -> str:
    """The rule that produced ``verdict`` in this render: "fixed n", or "" where no test did."""
    return "" if verdict.startswith(NO_TEST) else RENDER_RULE


def finished_runs(sources: dict[str, Source], results: Results) -> tuple[dict[str, dict[str, list[dict]]], Pool]:
    """({source: {configuration: metrics of its finished runs}}, the pool of every configuration's runs);
    runs without eval.json are unfinished."""
    all_runs = {s.id: {name: results.finished(name) for name in s.configurations} for s in sources.values()}
    configs: dict[str, Configuration] = {n: c for s in sources.values() for n, c in configurations_of(s).items()}
    return all_runs, Pool({n: r for runs in all_runs.values() for n, r in runs.items()}, configs)


@dataclass
class Cell:
    """One reported figure of a table, judged."""

    config: str
    rep: object  # catalog.Reported
    judged: Judged

    @property
    def verdict(self) -> str:
        return self.judged.verdict

    @property
    def printed(self) -> str:
        rep = self.rep
        return f'"{rep.value}"' if isinstance(rep.value, str) else rep.printed or f"{rep.value:g}"

    def ours(self) -> str | None:
        j, rep = self.judged, self.rep
        if j.mean is None:
            return None
        if rep.unit == "-" and isinstance(rep.value, str):
            return f"{j.mean:.4g}"
        like = rep.printed if isinstance(rep.value, float) else None
        if rep.over_runs == "max":
            s = j.stats
            typical = f"best of {s.best_of} ≈ {fmt(s.value, rep.unit, like)}, " if s is not None and s.best_of else ""
            return f"{typical}max of ours {fmt(max(j.values), rep.unit, like)}"
        spread = f" ± {fmt(j.std, rep.unit, like)}" if j.std is not None and rep.unit not in ("count", "MACs") else ""
        return f"{fmt(j.mean, rep.unit, like)}{spread}"

    def text(self) -> str:
        ours = self.ours()
        if ours is None:
            return f"{self.printed} / not run"
        j = self.judged
        delta = ""
        if j.stats is not None:
            delta = f"Δ {j.stats.delta:+.2f}, "
        note = f"; {j.note}" if j.note else ""
        return f"{self.printed} / {ours} ({delta}n={j.n}): {j.phrase()}{note}"


def collect(
    source: Source, runs: dict[str, list[dict]], profile: str, pool: Pool | None = None, configs: dict | None = None
) -> dict[tuple[str, str, str], Cell]:
    configs = configs or configurations_of(source)
    pool = pool or Pool(runs, configs)
    return {
        (rep.table, rep.row, rep.column): Cell(
            name, rep, judge_figure(source, name, rep, runs.get(name, []), pool, profile, configs)
        )
        for name, cfg in source.configurations.items()
        for rep in cfg.reported
    }


# ---- rendering ---------------------------------------------------------------------------------------------


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def csv_text(fields: list[str], records) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(records)
    return buf.getvalue()


def write_table(out_dir: Path, stem: str, md: str, csv_: str) -> list[Path]:
    """``<stem>.md`` and ``<stem>.csv`` under ``out_dir``; returns both paths."""
    paths = [Path(out_dir) / f"{stem}.md", Path(out_dir) / f"{stem}.csv"]
    for path, text in zip(paths, (md, csv_), strict=True):
        write_rendered(path, text)  # reader-facing wording; untouched when only the code version changed
    return paths


CSV_FIELDS = [
    "table", "row", "column", "kind", "reported", "reported_value", "unit", "reproduced", "reproduced_std", "n",
    "delta", "margin", "margin_rule", "ci90_low", "ci90_high", "ci95_low", "ci95_high", "p_tost", "spread",
    "verdict", "rule", "seeds_to_decide", "meaning", "profile",
]  # fmt: skip


def r4(v):
    return "" if v is None else round(v, 4)


def _record(key: str, row: str, col: str, cell: Cell, profile: str) -> dict:
    j, rep = cell.judged, cell.rep
    s = j.stats
    value = s.value if s is not None and rep.over_runs == "max" else j.mean
    numeric = j.mean is not None and not isinstance(rep.value, str)
    delta = s.delta if s is not None else (j.mean - rep.value if numeric else None)
    return {
        "table": key, "row": row, "column": col, "kind": "compared", "reported": cell.printed.strip('"'),
        "reported_value": "" if isinstance(rep.value, str) else rep.value, "unit": rep.unit,
        "reproduced": r4(value), "reproduced_std": r4(j.std), "n": j.n,
        "delta": r4(delta),
        "margin": r4(j.margin.value if j.margin else None), "margin_rule": j.margin.source if j.margin else "",
        "ci90_low": r4(s and s.ci90 and s.ci90[0]), "ci90_high": r4(s and s.ci90 and s.ci90[1]),
        "ci95_low": r4(s and s.ci95 and s.ci95[0]), "ci95_high": r4(s and s.ci95 and s.ci95[1]),
        "p_tost": r4(s and s.p_tost), "spread": j.note or (s.basis if s is not None else ""),
        "verdict": j.phrase(), "rule": rule_of(j.verdict), "seeds_to_decide": j.seeds_to_decide or "",
        "meaning": rep.meaning, "profile": profile,
    }  # fmt: skip


def _cited_record(key: str, row: str, col: str, value, printed: str | None, profile: str) -> dict:
    record = dict.fromkeys(CSV_FIELDS, "")
    text = printed if printed is not None else str(value)
    record |= {
        "table": key, "row": row, "column": col, "kind": "cited", "reported": text,
        "reported_value": "" if isinstance(value, str) else value, "verdict": "cited, not reproduced here",
        "profile": profile,
    }  # fmt: skip
    return record


def _ratio_text(jr: JudgedRatio) -> tuple[str, str]:
    """(reproduced ratio with its 95% interval, verdict phrase)."""
    j = jr.judged
    if j.stats is None:
        return ("not run" if j.verdict == "not run" else f"{j.values[0]:.3f}" if j.values else "—"), j.phrase()
    s = j.stats
    lo, hi = (math.exp(s.ci95[0]) * jr.reported, math.exp(s.ci95[1]) * jr.reported) if s.ci95 else (None, None)
    ci = f" [95% CI {lo:.3f}, {hi:.3f}]" if lo is not None else ""
    return f"{math.exp(s.value):.3f}{ci} (n={s.n})", j.phrase()  # n: the smaller arm's runs


def _ratio_record(key: str, jr: JudgedRatio, profile: str) -> dict:
    j, r = jr.judged, jr.ratio
    s = j.stats
    record = dict.fromkeys(CSV_FIELDS, "")
    ex = lambda v: round(math.exp(v) * jr.reported, 4)  # noqa: E731
    record |= {
        "table": key, "row": f"{r.numerator} / {r.denominator}", "column": r.column, "kind": "ratio",
        "reported": f"{jr.reported:.3f}", "reported_value": round(jr.reported, 6), "unit": "ratio",
        "reproduced": r4(jr.value), "n": s.n if s is not None else 0,
        "delta": r4(jr.value - jr.reported if jr.value is not None else None),
        "margin": r4(j.margin.value), "margin_rule": j.margin.source,
        "ci90_low": ex(s.ci90[0]) if s and s.ci90 else "", "ci90_high": ex(s.ci90[1]) if s and s.ci90 else "",
        "ci95_low": ex(s.ci95[0]) if s and s.ci95 else "", "ci95_high": ex(s.ci95[1]) if s and s.ci95 else "",
        "p_tost": r4(s and s.p_tost), "spread": j.note, "verdict": j.phrase(), "rule": rule_of(j.verdict),
        "seeds_to_decide": j.seeds_to_decide or "",
        "meaning": f"ratio of the two rows' figures: {r.numerator} / {r.denominator}", "profile": profile,
    }  # fmt: skip
    return record


def metric_line(source: Source, key: str, table: Table) -> str:
    """The table's single "Metric:" line: the run metric behind each column."""
    per_col: dict[str, list[str]] = {}
    for _, rep in source.reported_cells().values():
        if rep.table == key:
            label = f"`{rep.metric}` ({rep.unit})"
            if label not in per_col.setdefault(rep.column, []):
                per_col[rep.column].append(label)
    if not per_col:
        return "Metric: none — every cell is cited as printed (nothing here reproduces it)"
    labels = {" or ".join(v) for v in per_col.values()}
    if len(labels) == 1:
        return f"Metric: {labels.pop()} of each row's configuration (per-figure meanings under Figures)"
    return "Metric: " + "; ".join(f"{col}: {' or '.join(per_col[col])}" for col in table.columns if col in per_col)


def header_lines(source: Source, configs: dict, runs: dict[str, list[dict]], context: dict) -> list[str]:
    """The provenance lines above a table whose cells come from ``configs``."""
    profile = context["profile"]
    done = [r for n in configs for r in runs.get(n, [])]
    devices = sorted({r.get("device_name", "?") for r in done}) or ["none yet"]
    datasets = sorted({r.get("dataset_title") or c.dataset for n, c in configs.items() for r in runs.get(n, [])})
    datasets = datasets or sorted({c.dataset for c in configs.values()})
    synthetic = any(r.get("synthetic") for r in done)
    counts = sorted({len(runs.get(n, [])) for n in configs})
    return [
        f"- Source: {source.citation}",
        f"- Profile: **{profile}**"
        + (
            " — tiny generated data and a few steps: the numbers test the pipeline, not the paper"
            if profile == "smoke"
            else ""
        ),
        f"- Dataset: {', '.join(datasets)}" + (" (synthetic smoke fixture, not the real data)" if synthetic else ""),
        f"- Runs per configuration: {', '.join(map(str, counts)) if counts else '0'}"
        f" (seeds 0..n-1; the source's own run counts are in reproduce/{source.id}.yaml)",
        f"- Hardware: {', '.join(devices)}",
        f"- Code version: {context['commit']}",
        "- Cells: reported (as the source printed it) / reproduced mean ± sd over seeds (Δ = reproduced − "
        f"reported, n = runs): verdict. {VERDICT_RULE}. Margins δ are listed under the table; rules in the "
        "project README, section Verdicts.",
    ]


def _margin_notes(cells: list[tuple[str, str, Cell]], ratios: list[JudgedRatio]) -> list[str]:
    """δ of every compared figure, grouped by the rule that set it."""
    rules: dict[str, list[str]] = {}
    for row, col, cell in cells:
        m = cell.judged.margin
        if m is None:
            continue
        unit = cell.rep.unit
        amount = (
            "—" if cell.rep.hardware else "exact" if m.value == 0 else f"±{m.value:.2f} points" if unit == "%"
            else f"±{m.value:.4g}" + ("" if unit == "-" else f" {unit}")
        )  # fmt: skip
        rules.setdefault(m.source, []).append(f"{row} / {col}: {amount}")
    for jr in ratios:
        m = jr.judged.margin
        rules.setdefault(m.source, []).append(f"ratio {jr.ratio.numerator} / {jr.ratio.denominator}: ±{m.value:.0%}")
    return [f"- δ {rule} — {'; '.join(items)}" for rule, items in rules.items()]


def render_table(
    source: Source, key: str, table: Table, cells: dict, runs: dict, context: dict, pool: Pool | None = None
) -> tuple[str, str]:
    """Markdown and CSV of one table in the source's layout."""
    profile = context["profile"]
    title = f"{source.id} — {table.caption}"
    if profile == "smoke":
        title = f"SMOKE TEST, NOT A REPRODUCTION — {title}"
    header = ["", *[f"{c} (reported / reproduced)" for c in table.columns], "verdict"]
    rows, records, compared = [], [], []
    for row in table.rows:
        line, verdicts = [row], []
        for col in table.columns:
            cell = cells.get((key, row, col))
            cited = table.cited.get(row, {}).get(col)
            if cell is not None:
                line.append(cell.text())
                verdicts.append(cell.verdict)
                records.append(_record(key, row, col, cell, profile))
                compared.append((row, col, cell))
            elif cited is not None:
                printed = table.printed.get(row, {}).get(col)
                line.append(f"{printed if printed is not None else cited} (cited, not reproduced here)")
                records.append(_cited_record(key, row, col, cited, printed, profile))
            else:
                line.append("—")
        line.append(", ".join(sorted(set(verdicts))) or "—")
        rows.append(line)
    pool = pool or Pool(runs, configurations_of(source))
    ratios = [judge_ratio(source, key, r, runs, pool, profile) for r in table.ratios]
    ratio_lines = []
    if ratios:
        ratio_rows = []
        for jr in ratios:
            ours, verdict = _ratio_text(jr)
            ratio_rows.append([f"{jr.ratio.numerator} / {jr.ratio.denominator}", f"{jr.reported:.3f}", ours, verdict])
            records.append(_ratio_record(key, jr, profile))
        ratio_lines = [
            "Ratios (figures measured on other hardware are compared as ratios of arms timed on the same machine;"
            " log-ratio TOST, 95% interval by the delta method):",
            "",
            markdown_table([f"{table.columns[0] if len(table.columns) == 1 else jr.ratio.column} ratio",
                             "reported", "reproduced", "verdict"], ratio_rows),
            "",
        ]  # fmt: skip
    configs = source.configurations_in(key)
    notes = [f"- **{n}**: {c.notes.strip()}" for n, c in configs.items() if c.notes]
    figures = [f"- **{row} / {col}** (`{c.rep.metric}`, {c.rep.unit}): {c.rep.meaning}" for row, col, c in compared]
    margins = _margin_notes(compared, ratios)
    md = "\n".join(
        [
            f"# {title}",
            "",
            metric_line(source, key, table),
            "",
            *header_lines(source, configs, runs, context),
            "",
            markdown_table(header, rows),
            "",
            *ratio_lines,
            RULE_NOTE,
            "",
            *([table.notes.strip(), ""] if table.notes else []),
            *(["Margins (δ):", "", *margins, ""] if margins else []),
            *(["Figures:", "", *figures, ""] if figures else []),
            *(["Notes:", "", *notes, ""] if notes else []),
        ]
    )
    return md, csv_text(CSV_FIELDS, records)


def gpu_hours(all_results: dict[str, dict[str, list[dict]]]) -> tuple[float, float]:
    """(GPU-hours, CPU-hours) of training from the runs' train_seconds and devices."""
    gpu = cpu = 0.0
    for runs in all_results.values():
        for rs in runs.values():
            for r in rs:
                hours = float(r.get("train_seconds", 0)) / 3600
                if str(r.get("device", "cpu")).startswith("cuda"):
                    gpu += hours
                else:
                    cpu += hours
    return gpu, cpu


SUMMARY_KEYS = ("top1_acc", "top1_error", "top5_acc", "best_test_acc", "best_window_test_acc", "seconds_per_epoch")


def summary(all_results: dict[str, dict[str, list[dict]]]) -> dict:
    """Per configuration: its source, the number of finished runs and the mean (and, over several
    runs, the sample standard deviation ``<metric>_std``) of each headline metric. A plain output
    (metrics/summary.json), not a DVC metrics file: flattened, it would be hundreds of columns."""
    out = {}
    for source, runs in all_results.items():
        for name, rs in runs.items():
            if rs:
                keys = [k for k in SUMMARY_KEYS if all(isinstance(r.get(k), (int, float)) for r in rs)]
                out[name] = {"source": source, "n": len(rs)}
                for k in keys:
                    out[name][k] = round(statistics.fmean(r[k] for r in rs), 4)
                    if len(rs) > 1:
                        out[name][f"{k}_std"] = round(statistics.stdev(r[k] for r in rs), 4)
    return out


def render_all(
    sources: dict[str, Source],
    results: Results,
    out_dir: Path,
    context: dict,
    summary_path: Path | None = None,
    more_tables: list[str] | None = None,  # README index lines of tables rendered elsewhere (report/curves.py)
) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    profile = context["profile"]
    written, index, claim_lines = [], [], []
    all_results, pool = finished_runs(sources, results)
    for source in sources.values():
        runs = all_results[source.id]
        cells = collect(source, runs, profile, pool, pool.configs)
        for key, table in source.tables.items():
            stem = f"{source.id}-{key}"
            written += write_table(out_dir, stem, *render_table(source, key, table, cells, runs, context, pool))
            verdicts = sorted({c.verdict for (t, _, _), c in cells.items() if t == key})
            index.append(f"| {source.id} | [{table.caption}]({stem}.md) | {', '.join(verdicts) or '—'} |")
        for result in evaluate_claims(source, runs, profile, pool):
            rule = "counted" if isinstance(result, CostClaimResult) else rule_of(result.verdict) or "—"
            claim_lines.append(f"| {source.id} | {result.verdict} | {rule} | {result.sentence()} |")
    gpu, cpu = gpu_hours(all_results)
    title = "Paper tables" + (" — SMOKE TEST, NOT A REPRODUCTION" if profile == "smoke" else "")
    readme = "\n".join(
        [
            f"# {title}",
            "",
            f"Profile: **{profile}**; code version {context['commit']}. "
            f"Compute spent on the runs shown: {gpu:.2f} GPU-hours, {cpu:.2f} CPU-hours"
            " (training time from run metadata).",
            "",
            "## Verdicts",
            "",
            f"Each compared figure: {VERDICT_RULE}. δ: declared in the catalog with a reason, else max(0.5 points, "
            "2 × the binomial SE of the evaluated set at the reported value) for %, ±5% for seconds and losses, "
            "exact for counts. A single run borrows the pooled seed-to-seed sd of configurations of the same "
            "dataset and model family with n ≥ 2, else the binomial SE (the cell says which). Best-of-runs "
            "figures are tested against the distribution of the maximum of the source's n runs. Times measured "
            "on other hardware are not comparable; ratios of arms are (±10% unless declared). Full rules: the "
            "project README, section Verdicts.",
            "",
            "## Tables",
            "",
            "| source | table | verdicts |",
            "|---|---|---|",
            *index,
            *(more_tables or []),
            "",
            "## Claims",
            "",
            f"Each claim compares two arms over seeds with Welch's t-test (one-sided, α = {ALPHA}): supported, "
            "contradicted or inconclusive, with the difference and its 95% CI, Hedges' g with its CI and the "
            "seeds per arm for 80% power at the reported effect (the difference of the two arms' reported "
            "figures; the observed one where the source gives none). Arms with a single run use the pooled "
            "seed-to-seed sd. A claim against several arms is one line per arm; cost claims are counted on the "
            "built models (no training); cited claims have no verdict.",
            "",
            f"Rule: which rule produced each verdict: {RENDER_RULE} (the test at the runs' count), counted (a cost "
            f"claim, no seeds), — (no verdict). {RULE_WHY}",
            "",
            "| source | verdict | rule | claim |",
            "|---|---|---|---|",
            *claim_lines,
            "",
        ]
    )
    write_rendered(out_dir / "README.md", readme)
    written.append(out_dir / "README.md")
    if summary_path is not None:
        summary_path.parent.mkdir(parents=True, exist_ok=True)
        write_json(summary(all_results), summary_path)
    return written
