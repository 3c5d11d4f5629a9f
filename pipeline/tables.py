"""Render the sources' tables: reported number beside reproduced number, spread and verdict.

Reads only metrics files (``runs/<config>-s<seed>/eval.json`` and ``train.json``), never
checkpoints, and renders whatever exists: a configuration with no results shows "not run".
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import statistics
from dataclasses import dataclass
from pathlib import Path

from scipy import stats

from .catalog import Source, Table
from .evaluation import EVAL
from .training import METRICS

TOLERANCE = 0.5  # percentage points: |delta| within this counts as reproduced when n = 1


@dataclass
class Cell:
    reported: float
    values: list[float]
    meaning: str
    profile: str

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float | None:
        return statistics.fmean(self.values) if self.values else None

    @property
    def std(self) -> float | None:
        return statistics.stdev(self.values) if self.n > 1 else None

    @property
    def interval(self) -> tuple[float, float] | None:
        if self.n < 2:
            return None
        half = stats.t.ppf(0.975, self.n - 1) * self.std / math.sqrt(self.n)
        return self.mean - half, self.mean + half

    @property
    def delta(self) -> float | None:
        return None if self.mean is None else self.mean - self.reported

    @property
    def verdict(self) -> str:
        if not self.values:
            return "not run"
        if self.profile == "smoke":
            return "smoke only"
        lo_hi = self.interval
        inside = lo_hi is not None and lo_hi[0] <= self.reported <= lo_hi[1]
        return "reproduced" if inside or abs(self.delta) <= TOLERANCE else "not reproduced"

    def text(self) -> str:
        if self.mean is None:
            return f"{self.reported:g} / not run"
        spread = f" ± {self.std:.2f}" if self.std is not None else ""
        return f"{self.reported:g} / {self.mean:.2f}{spread} (Δ {self.delta:+.2f}, n={self.n})"


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def collect(source: Source, runs_dir: Path, seeds: dict[str, list[int]], profile: str) -> tuple[dict, dict]:
    """Cells keyed by (table, row, column), and run metadata (devices, seconds) per config."""
    cells, meta = {}, {}
    for name, cfg in source.configurations.items():
        evals, trains = [], []
        for seed in seeds.get(name, []):
            run_dir = runs_dir / f"{name}-s{seed}"
            if (e := _read_json(run_dir / EVAL)) is not None:
                evals.append(e)
            if (t := _read_json(run_dir / METRICS)) is not None:
                trains.append(t)
        meta[name] = trains
        for rep in cfg.reported:
            values = [float(e[rep.metric]) for e in evals if rep.metric in e]
            cells[(rep.table, rep.row, rep.column)] = Cell(rep.value, values, rep.meaning, profile)
    return cells, meta


def _markdown_table(header: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def render_table(source: Source, key: str, table: Table, cells: dict, meta: dict, context: dict) -> tuple[str, str]:
    """Markdown and CSV of one table in the source's layout."""
    profile = context["profile"]
    devices = sorted({t.get("device_name", "?") for runs in meta.values() for t in runs}) or ["none yet"]
    title = f"{source.id} — {table.caption}"
    if profile == "smoke":
        title = f"SMOKE TEST, NOT A REPRODUCTION — {title}"
    header = ["", *[f"{c} (reported / reproduced)" for c in table.columns], "verdict"]
    rows, records = [], []
    for row in table.rows:
        line, verdicts = [row], []
        for col in table.columns:
            cell = cells.get((key, row, col))
            if cell is None:
                line.append("—")
                continue
            line.append(cell.text())
            verdicts.append(cell.verdict)
            interval = cell.interval
            records.append(
                {
                    "table": key,
                    "row": row,
                    "column": col,
                    "reported": cell.reported,
                    "reproduced_mean": "" if cell.mean is None else round(cell.mean, 4),
                    "reproduced_std": "" if cell.std is None else round(cell.std, 4),
                    "ci95_low": "" if interval is None else round(interval[0], 4),
                    "ci95_high": "" if interval is None else round(interval[1], 4),
                    "n": cell.n,
                    "delta": "" if cell.delta is None else round(cell.delta, 4),
                    "verdict": cell.verdict,
                    "meaning": cell.meaning,
                    "profile": profile,
                }
            )
        line.append(", ".join(sorted(set(verdicts))) or "—")
        rows.append(line)
    notes = [
        f"- **{name}**: {cfg.notes.strip()}"
        for name, cfg in source.configurations.items()
        if cfg.notes and any(r.table == key for r in cfg.reported)
    ]
    meanings = sorted({c.meaning for (t, _, _), c in cells.items() if t == key})
    md = "\n".join(
        [
            f"# {title}",
            "",
            f"- Source: {source.citation}",
            f"- Profile: **{profile}**"
            + (
                " (tiny generated data, a few steps: numbers test the pipeline, not the paper)"
                if profile == "smoke"
                else ""
            ),
            f"- Dataset: {context['datasets']}",
            f"- Hardware: {', '.join(devices)}",
            f"- Code version: {context['commit']}",
            f"- Cells: reported / reproduced mean ± std over seeds (Δ = reproduced − reported, n = runs); "
            f"verdict: reproduced when the reported value lies in the 95% t-interval or within {TOLERANCE} points.",
            *(f"- Metric: {m}" for m in meanings),
            "",
            _markdown_table(header, rows),
            "",
            *(["Notes:", "", *notes, ""] if notes else []),
        ]
    )
    buf = io.StringIO()
    fields = [
        "table",
        "row",
        "column",
        "reported",
        "reproduced_mean",
        "reproduced_std",
        "ci95_low",
        "ci95_high",
        "n",
        "delta",
        "verdict",
        "meaning",
        "profile",
    ]
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(records)
    return md, buf.getvalue()


def write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def render_all(
    sources: dict[str, Source], runs_dir: Path, out_dir: Path, seeds: dict[str, list[int]], context: dict
) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written, index = [], []
    for source in sources.values():
        cells, meta = collect(source, runs_dir, seeds, context["profile"])
        datasets = sorted({c.dataset for c in source.configurations.values()})
        for key, table in source.tables.items():
            md, csv_text = render_table(source, key, table, cells, meta, {**context, "datasets": ", ".join(datasets)})
            stem = f"{source.id}-{key}"
            for suffix, text in ((".md", md), (".csv", csv_text)):
                write_text(out_dir / f"{stem}{suffix}", text)
                written.append(out_dir / f"{stem}{suffix}")
            verdicts = sorted({c.verdict for (t, _, _), c in cells.items() if t == key})
            index.append(f"| {source.id} | [{table.caption}]({stem}.md) | {', '.join(verdicts) or '—'} |")
    title = "Paper tables" + (" — SMOKE TEST, NOT A REPRODUCTION" if context["profile"] == "smoke" else "")
    readme = "\n".join(
        [
            f"# {title}",
            "",
            f"Profile: **{context['profile']}**; code version {context['commit']}.",
            "",
            "| source | table | verdicts |",
            "|---|---|---|",
            *index,
            "",
        ]
    )
    write_text(out_dir / "README.md", readme)
    written.append(out_dir / "README.md")
    return written
