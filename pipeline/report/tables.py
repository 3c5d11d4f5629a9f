"""Render the sources' tables: reported number beside reproduced number, spread and verdict.

Reads only metrics files (``runs/<config>-s<seed>/train.json`` and ``eval.json``), never
checkpoints, and renders whatever exists: a configuration with no results shows "not run".
Statistics: mean and sample std over seeds; a 95% interval (Student t for n ≥ 5, a percentile
bootstrap for 2 ≤ n < 5); claims between two arms use Welch's t-test (scipy.stats).
"""

from __future__ import annotations

import csv
import io
import statistics
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import stats

from ..catalog import Claim, Source, Table
from ..files import write_json, write_text
from .claim_kinds import evaluate_other
from .results import Results

TOLERANCE = 0.5  # points (of the reported unit): |delta| within this counts as reproduced
ALPHA = 0.05  # significance level of the claim tests


def interval95(values: list[float]) -> tuple[float, float] | None:
    n = len(values)
    if n < 2:
        return None
    mean = statistics.fmean(values)
    if len(set(values)) == 1:
        return mean, mean
    if n >= 5:
        low, high = stats.t.interval(0.95, n - 1, loc=mean, scale=stats.sem(values))
        return float(low), float(high)
    res = stats.bootstrap((np.asarray(values),), np.mean, confidence_level=0.95, method="percentile", random_state=0)
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


@dataclass
class Cell:
    reported: float | str
    values: list[float]
    meaning: str
    profile: str
    unit: str = "%"
    over_runs: str = "mean"  # "max": compare the best run with the source's best-of-runs figure

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float | None:
        """The reproduced value: the mean over seeds (or their maximum for best-of-runs figures)."""
        if not self.values:
            return None
        return max(self.values) if self.over_runs == "max" else statistics.fmean(self.values)

    @property
    def std(self) -> float | None:
        return statistics.stdev(self.values) if self.n > 1 else None

    @property
    def interval(self) -> tuple[float, float] | None:
        return None if self.over_runs == "max" else interval95(self.values)

    @property
    def delta(self) -> float | None:
        if self.mean is None or isinstance(self.reported, str):
            return None
        return self.mean - self.reported

    @property
    def verdict(self) -> str:
        if not self.values:
            return "not run"
        if self.profile == "smoke":
            return "smoke only"
        if isinstance(self.reported, str):
            return "qualitative: see claims"
        lo_hi = self.interval
        inside = lo_hi is not None and lo_hi[0] <= self.reported <= lo_hi[1]
        return "reproduced" if inside or abs(self.delta) <= TOLERANCE else "not reproduced"

    def text(self) -> str:
        reported = f'"{self.reported}"' if isinstance(self.reported, str) else fmt(self.reported, self.unit)
        if self.mean is None:
            return f"{reported} / not run"
        spread = f" ± {self.std:.2f}" if self.std is not None and self.over_runs == "mean" else ""
        best = "best of " if self.over_runs == "max" else ""
        delta = f"Δ {self.delta:+.2f}, " if self.delta is not None else ""
        return f"{reported} / {fmt(self.mean, self.unit)}{spread} ({delta}{best}n={self.n})"


def fmt(value: float | str, unit: str) -> str:
    if isinstance(value, str):
        return value
    if unit in ("count", "MACs"):
        return f"{value:,.0f}" if abs(value) < 1e6 else f"{value / 1e6:,.2f}M"
    return f"{value:.2f}" if value != int(value) or unit != "%" else f"{value:g}"


def metric_values(runs: dict[str, list[dict]], name: str, metric: str) -> list[float]:
    """The numeric values of ``metric`` over the finished runs of configuration ``name``."""
    return [float(r[metric]) for r in runs.get(name, []) if isinstance(r.get(metric), (int, float))]


def collect_runs(source: Source, results: Results) -> dict[str, list[dict]]:
    """Metrics of every finished run per configuration (runs without eval.json are unfinished)."""
    return {name: results.finished(name) for name in source.configurations}


def collect(source: Source, runs: dict[str, list[dict]], profile: str) -> dict[tuple[str, str, str], Cell]:
    cells = {}
    for name, cfg in source.configurations.items():
        for rep in cfg.reported:
            values = metric_values(runs, name, rep.metric)
            cells[(rep.table, rep.row, rep.column)] = Cell(
                rep.value, values, rep.meaning, profile, rep.unit, rep.over_runs
            )
    return cells


@dataclass
class ClaimResult:
    claim: Claim
    better: list[float]
    worse: list[float]
    profile: str

    @property
    def verdict(self) -> str:
        if not self.better or not self.worse:
            return "not run"
        if self.profile == "smoke":
            return "smoke only"
        if len(self.better) < 2 or len(self.worse) < 2:
            return (
                "same direction (single runs, untested)"
                if self._diff() > 0
                else "opposite direction (single runs, untested)"
            )
        if self.p_value < ALPHA:
            return "supported"
        if self.p_value_reverse < ALPHA:
            return "contradicted"
        return "no significant difference"

    def _diff(self) -> float:
        d = statistics.fmean(self.better) - statistics.fmean(self.worse)
        return d if self.claim.higher_is_better else -d

    def _welch(self, alternative: str) -> float:
        alt = alternative if self.claim.higher_is_better else {"greater": "less", "less": "greater"}[alternative]
        if statistics.pstdev(self.better) == 0 and statistics.pstdev(self.worse) == 0:
            diff = self._diff() if alternative == "greater" else -self._diff()
            return 0.0 if diff > 0 else 1.0
        return float(stats.ttest_ind(self.better, self.worse, equal_var=False, alternative=alt).pvalue)

    @property
    def p_value(self) -> float:
        return self._welch("greater")

    @property
    def p_value_reverse(self) -> float:
        return self._welch("less")

    def sentence(self) -> str:
        c = self.claim
        nb, nw = len(self.better), len(self.worse)
        if not self.better or not self.worse:
            return f"{c.text} — not run yet ({c.better}: n={nb}, {c.worse}: n={nw})."
        mb, mw = statistics.fmean(self.better), statistics.fmean(self.worse)
        test = ""
        if nb >= 2 and nw >= 2:
            test = f", Welch t-test one-sided p = {self.p_value:.3g}"
        return (
            f"{c.text} — {self.verdict}: {c.metric} {mb:.2f} ({c.better}, n={nb}) vs {mw:.2f} "
            f"({c.worse}, n={nw}){test}."
        )


def evaluate_claims(source: Source, runs: dict[str, list[dict]], profile: str) -> list[ClaimResult]:
    """One result per (better, worse) pair of a trained claim; cited and cost claims in claim_kinds."""

    return [
        ClaimResult(p, metric_values(runs, p.better, p.metric), metric_values(runs, p.worse, p.metric), profile)
        if c.kind == "trained" and not c.cited
        else evaluate_other(source, c)
        for c in source.claims
        for p in (c.pairs() if c.kind == "trained" and not c.cited else [c])
    ]


def _markdown_table(header: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


CSV_FIELDS = [
    "table", "row", "column", "reported", "unit", "reproduced_mean", "reproduced_std", "ci95_low", "ci95_high",
    "n", "delta", "verdict", "meaning", "profile",
]  # fmt: skip


def _record(key: str, row: str, col: str, cell: Cell) -> dict:
    interval = cell.interval

    def r4(v):
        return "" if v is None else round(v, 4)

    return {
        "table": key,
        "row": row,
        "column": col,
        "reported": cell.reported,
        "unit": cell.unit,
        "reproduced_mean": r4(cell.mean),
        "reproduced_std": r4(cell.std),
        "ci95_low": r4(interval and interval[0]),
        "ci95_high": r4(interval and interval[1]),
        "n": cell.n,
        "delta": r4(cell.delta),
        "verdict": cell.verdict,
        "meaning": cell.meaning,
        "profile": cell.profile,
    }


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
        "- Cells: reported / reproduced mean ± std over seeds (Δ = reproduced − reported, n = runs). Verdict: "
        f"reproduced when the reported value lies in the 95% interval of the runs or within {TOLERANCE} points.",
    ]


def render_table(source: Source, key: str, table: Table, cells: dict, runs: dict, context: dict) -> tuple[str, str]:
    """Markdown and CSV of one table in the source's layout."""
    profile = context["profile"]
    title = f"{source.id} — {table.caption}"
    if profile == "smoke":
        title = f"SMOKE TEST, NOT A REPRODUCTION — {title}"
    header = ["", *[f"{c} (reported / reproduced)" for c in table.columns], "verdict"]
    rows, records = [], []
    for row in table.rows:
        line, verdicts = [row], []
        for col in table.columns:
            cell = cells.get((key, row, col))
            cited = table.cited.get(row, {}).get(col)
            if cell is not None:
                line.append(cell.text())
                verdicts.append(cell.verdict)
                records.append(_record(key, row, col, cell))
            elif cited is not None:
                line.append(f"{cited} (cited, not reproduced here)")
            else:
                line.append("—")
        line.append(", ".join(sorted(set(verdicts))) or "—")
        rows.append(line)
    configs = source.configurations_in(key)
    notes = [f"- **{n}**: {c.notes.strip()}" for n, c in configs.items() if c.notes]
    meanings = sorted({c.meaning for (t, _, _), c in cells.items() if t == key})
    md = "\n".join(
        [
            f"# {title}",
            "",
            *header_lines(source, configs, runs, context),
            *(f"- Metric: {m}" for m in meanings),
            "",
            _markdown_table(header, rows),
            "",
            *([table.notes.strip(), ""] if table.notes else []),
            *(["Notes:", "", *notes, ""] if notes else []),
        ]
    )
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(records)
    return md, buf.getvalue()


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
) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    profile = context["profile"]
    written, index, claim_lines, all_results = [], [], [], {}
    for source in sources.values():
        runs = collect_runs(source, results)
        all_results[source.id] = runs
        cells = collect(source, runs, profile)
        for key, table in source.tables.items():
            md, csv_text = render_table(source, key, table, cells, runs, context)
            stem = f"{source.id}-{key}"
            for suffix, text in ((".md", md), (".csv", csv_text)):
                write_text(out_dir / f"{stem}{suffix}", text)
                written.append(out_dir / f"{stem}{suffix}")
            verdicts = sorted({c.verdict for (t, _, _), c in cells.items() if t == key})
            index.append(f"| {source.id} | [{table.caption}]({stem}.md) | {', '.join(verdicts) or '—'} |")
        for result in evaluate_claims(source, runs, profile):
            claim_lines.append(f"| {source.id} | {result.verdict} | {result.sentence()} |")
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
            "## Tables",
            "",
            "| source | table | verdicts |",
            "|---|---|---|",
            *index,
            "",
            "## Claims",
            "",
            f"Each claim compares two arms over seeds with Welch's t-test (one-sided, α = {ALPHA}); "
            "with single runs only the direction is reported. A claim against several arms is one line per "
            "arm; cost claims are counted on the built models (no training); cited claims have no verdict.",
            "",
            "| source | verdict | claim |",
            "|---|---|---|",
            *claim_lines,
            "",
        ]
    )
    write_text(out_dir / "README.md", readme)
    written.append(out_dir / "README.md")
    if summary_path is not None:
        summary_path.parent.mkdir(parents=True, exist_ok=True)
        write_json(summary(all_results), summary_path)
    return written
