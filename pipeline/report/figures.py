"""Render the sources' figures: training curves, reported-vs-reproduced plots (tables and published
curves) and attention masks.

Reads only metrics files (``runs/<config>-s<seed>/history.csv``, ``eval.json``, ``train.json``)
and ``masks.npz`` (written by ``save_masks`` at evaluation), never checkpoints. Missing runs are
skipped; a figure with nothing to show is not written. Every function returns the paths it wrote.
"""

from __future__ import annotations

import re
import textwrap
import zipfile
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402
from PIL import Image  # noqa: E402

from ..catalog import CurveFigure, Source, Table  # noqa: E402
from ..files import atomic_path  # noqa: E402
from ..rundir import number  # noqa: E402
from .curves import reported_series, reproduced_series, table_rows  # noqa: E402
from .results import Results  # noqa: E402

DPI = 120
SIZE = (8, 5)
MAX_LINES = 8  # curves per panel; a source with more configurations gets one figure per table
MAX_IMAGES = 4  # rows of a mask figure
PALETTE = "colorblind"
SMOKE = "SMOKE TEST — not a reproduction"
SPLIT_STYLE = {"test": "-", "val": "--", "train": ":"}
METRIC_LABELS = {
    "top1_error": "test top-1 error (%)",
    "top1_acc": "test top-1 accuracy (%)",
    "top5_error": "test top-5 error (%)",
    "top5_acc": "test top-5 accuracy (%)",
    "final_test_acc": "final test accuracy (%)",
    "best_test_acc": "best test accuracy over epochs (%)",
}


# --- writing -----------------------------------------------------------------------------------


def _title(text: str, profile: str, width: int = 90) -> str:
    text = "\n".join(textwrap.wrap(text, width))
    return f"{SMOKE}\n{text}" if profile == "smoke" else text


def _figure(size=SIZE, **kwargs) -> Figure:
    return Figure(figsize=size, dpi=DPI, layout="constrained", **kwargs)


def _save(fig: Figure, path: Path) -> Path:
    """Write the PNG atomically (pipeline/files.py)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=DPI, bbox_inches="tight", facecolor="white")
    return path


def _style():
    return sns.axes_style("whitegrid")


def _label(metric: str, unit: str = "%") -> str:
    return METRIC_LABELS.get(metric, f"{metric} ({unit})" if unit != "-" else metric)


def _short(source: Source, name: str) -> str:
    return name.removeprefix(f"{source.id}-")


# --- 1. training curves ------------------------------------------------------------------------


def _curve_frame(source: Source, results: Results) -> pd.DataFrame:
    """Long table: config, seed, epoch, quantity (accuracy/loss), split (test/val/train), value."""
    records = []
    for name in source.configurations:
        for run in results.runs(name):
            seed = run.seed
            for row in results.history(run):
                for split in SPLIT_STYLE:
                    for quantity, column in (("accuracy", f"{split}_acc"), ("loss", f"{split}_loss")):
                        if column in row and not (quantity == "accuracy" and split == "train"):
                            records.append((name, seed, row["epoch"], quantity, split, row[column]))
    return pd.DataFrame(records, columns=["config", "seed", "epoch", "quantity", "split", "value"])


def _curve_groups(source: Source, names: list[str]) -> list[tuple[str, str, list[str]]]:
    """(file tag, caption, configurations): one group when few, else one per table (chunked)."""
    if len(names) <= MAX_LINES:
        return [("", "", names)]
    groups, placed = [], set()
    for key, table in source.tables.items():
        reporting = source.configurations_in(key)
        members = [n for n in names if n in reporting]
        placed.update(members)
        groups.append((key, table.caption, members))
    groups.append(("other", "configurations in no table", [n for n in names if n not in placed]))
    out = []
    for key, caption, members in groups:
        chunks = [members[i : i + MAX_LINES] for i in range(0, len(members), MAX_LINES)]
        for i, chunk in enumerate(chunks):
            tag = key if len(chunks) == 1 else f"{key}-{i + 1}"
            out.append((tag, caption if len(chunks) == 1 else f"{caption} (part {i + 1}/{len(chunks)})", chunk))
    return out


def _curve_figure(source: Source, frame: pd.DataFrame, names: list[str], caption: str, profile: str) -> Figure:
    quantities = [q for q in ("accuracy", "loss") if (frame["quantity"] == q).any()]
    fig = _figure((12, 5) if len(quantities) == 2 else SIZE)
    colours = dict(zip(names, sns.color_palette(PALETTE, len(names)), strict=True))
    axes = fig.subplots(1, len(quantities), squeeze=False)[0]
    splits = []
    for ax, quantity in zip(axes, quantities, strict=True):
        data = frame[frame["quantity"] == quantity]
        # mean over seeds, band = min..max over seeds
        sns.lineplot(
            data=data, x="epoch", y="value", hue="config", style="split", hue_order=names, palette=colours,
            style_order=[s for s in SPLIT_STYLE if s in set(data["split"])],
            dashes={s: (1, 0) if d == "-" else ((4, 2) if d == "--" else (1, 2)) for s, d in SPLIT_STYLE.items()},
            errorbar=("pi", 100), legend=False, ax=ax,
        )  # fmt: skip
        splits += [s for s in SPLIT_STYLE if s in set(data["split"]) and s not in splits]
        what = "accuracy (%)" if quantity == "accuracy" else "cross-entropy loss" + _loss_scale(ax, data["value"])
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set(xlabel="epoch", ylabel=what, title=f"{what.split(' (')[0]}: mean over seeds, band = min–max")
    counts = frame.groupby("config")["seed"].nunique()
    handles = [Line2D([], [], color=colours[n], lw=2) for n in names]
    labels = [f"{_short(source, n)} (n={counts.get(n, 0)})" for n in names]
    handles += [Line2D([], [], color="0.3", ls=SPLIT_STYLE[s]) for s in splits]
    labels += [f"{s} split" for s in splits]
    fig.legend(handles, labels, loc="outside right center", fontsize="small", frameon=False)
    fig.suptitle(_title(f"{source.id} — training curves" + (f" — {caption}" if caption else ""), profile))
    return fig


LOG_SPAN = 50.0  # a loss axis spanning more than this factor is drawn on a log scale


def _loss_scale(ax, values) -> str:
    """Log-scale a loss axis whose values span more than ``LOG_SPAN``× (one diverging step would otherwise
    flatten every curve against the floor); returns the label's note saying so, or ""."""
    finite = [float(v) for v in values if np.isfinite(v) and v > 0]
    if not finite or max(finite) / min(finite) <= LOG_SPAN:
        return ""
    ax.set_yscale("log")
    return f" (log scale: values span {max(finite) / min(finite):,.0f}×)"


def training_curves(source: Source, results: Results, out_dir: Path, profile: str) -> list[Path]:
    """Test accuracy (and train/test loss) per epoch per configuration, mean over seeds with a band."""
    frame = _curve_frame(source, results)
    if frame.empty:
        return []
    names = [n for n in source.configurations if n in set(frame["config"])]
    written = []
    with _style():
        for tag, caption, members in _curve_groups(source, names):
            if not members:
                continue
            fig = _curve_figure(source, frame[frame["config"].isin(members)], members, caption, profile)
            stem = f"{source.id}-{tag}-curves" if tag else f"{source.id}-curves"
            written.append(_save(fig, Path(out_dir) / f"{stem}.png"))
    return written


# --- 2 and 4. a table as reproduced-vs-reported points ---------------------------------------------


def _cells(source: Source, key: str, table: Table, results: Results) -> list[dict]:
    """Numeric cells of one table: row, column, metric, unit, reported value, reproduced values."""
    cells = []
    for name, cfg in source.configurations.items():
        for rep in cfg.reported:
            if rep.table == key and not isinstance(rep.value, str):
                values = results.values(name, rep.metric)
                cells.append(
                    {"row": rep.row, "column": rep.column, "metric": rep.metric, "unit": rep.unit,
                     "reported": float(rep.value), "values": values, "config": name}
                )  # fmt: skip
    for row, columns in table.cited.items():
        for column, value in columns.items():
            if row in table.rows and column in table.columns and number(value) is not None:
                cells.append(
                    {"row": row, "column": column, "metric": None, "unit": None,
                     "reported": float(value), "values": [], "config": None}
                )  # fmt: skip
    return cells


def _table_figure(source: Source, key: str, table: Table, cells: list[dict], xlabel: str, profile: str) -> Figure:
    metrics = Counter(c["metric"] for c in cells if c["metric"] is not None)
    ordered = [m for m, _ in metrics.most_common()]
    for cell in cells:  # cited cells go with the table's main metric
        cell["metric"] = cell["metric"] or ordered[0]
    metrics = [m for m in ordered if any(c["values"] for c in cells if c["metric"] == m)]
    columns = [c for c in table.columns if any(cell["column"] == c for cell in cells)]
    rows = [r for r in table.rows if any(cell["row"] == r for cell in cells)]
    colours = dict(zip(columns, sns.color_palette(PALETTE, len(columns)), strict=True))
    offset = {c: (j - (len(columns) - 1) / 2) * 0.12 for j, c in enumerate(columns)}
    fig = _figure((SIZE[0] * (1 + 0.6 * (len(metrics) - 1)), SIZE[1]))
    axes = fig.subplots(1, len(metrics), squeeze=False)[0]
    for ax, metric in zip(axes, metrics, strict=True):
        mine = [c for c in cells if c["metric"] == metric]
        seeds = pd.DataFrame(
            [(rows.index(c["row"]) + offset[c["column"]], v, c["column"]) for c in mine for v in c["values"]],
            columns=["x", "value", "column"],
        )
        sns.lineplot(
            data=seeds, x="x", y="value", hue="column", palette=colours, hue_order=columns, errorbar="sd",
            err_style="bars", marker="o", markersize=8, err_kws={"capsize": 4, "elinewidth": 1.5}, legend=False, ax=ax,
        )  # fmt: skip
        sns.scatterplot(
            data=seeds, x="x", y="value", hue="column", palette=colours, hue_order=columns, s=14, alpha=0.45,
            legend=False, ax=ax,
        )  # fmt: skip
        for c in mine:
            ax.scatter(
                rows.index(c["row"]) + offset[c["column"]], c["reported"], marker="D", s=70, zorder=5,
                facecolor="white", edgecolor=colours[c["column"]], linewidth=2,
            )  # fmt: skip
        ax.set_xticks(range(len(rows)), rows)
        ax.set_xlim(-0.5, len(rows) - 0.5)
        unit = next((c["unit"] for c in mine if c["unit"]), "%")
        ax.set(xlabel=xlabel, ylabel=_label(metric, unit))
    handles = [Line2D([], [], color=colours[c], lw=2) for c in columns]
    handles += [
        Line2D([], [], color="0.3", marker="o", lw=1.5),
        Line2D([], [], color="0.3", marker="o", ls="", markersize=3, alpha=0.5),
        Line2D([], [], color="0.3", marker="D", ls="", markerfacecolor="white", markeredgewidth=2),
    ]
    labels = [*columns, "reproduced: mean ± sd over seeds", "reproduced: one seed", "reported (paper)"]
    fig.legend(handles, labels, loc="outside right center", fontsize="small", frameon=False)
    fig.suptitle(_title(f"{source.id} — {table.caption}", profile))
    return fig


def _table_plots(
    source: Source, keys: list[str], results: Results, out_dir: Path, profile: str, xlabel: str, tag: str
) -> list[Path]:
    written = []
    with _style():
        for key in keys:
            table = source.tables[key]
            cells = _cells(source, key, table, results)
            if not any(c["values"] for c in cells):
                continue
            fig = _table_figure(source, key, table, cells, table.x_label or xlabel, profile)
            written.append(_save(fig, Path(out_dir) / f"{source.id}-{key}-{tag}.png"))
    return written


def arl_vs_nal(source: Source, results: Results, out_dir: Path, profile: str) -> list[Path]:
    """Tables with `figure: two-arm` (old name arl-vs-nal; wang2017 Table 3): one line per column (arm) across
    the rows, reproduced vs reported."""
    keys = [k for k, t in source.tables.items() if t.figure == "two-arm"]
    return _table_plots(source, keys, results, out_dir, profile, "row", "two-arm")


def label_noise(source: Source, results: Results, out_dir: Path, profile: str) -> list[Path]:
    """Tables with `figure: sweep` (old name label-noise; wang2017 Table 5): the same over a setting swept in
    the rows (e.g. the noise level), one line per column."""
    keys = [k for k, t in source.tables.items() if t.figure == "sweep"]
    return _table_plots(source, keys, results, out_dir, profile, "row", "sweep")


# --- 3. per-seed strip plots (ZAM) ---------------------------------------------------------------

BEST, MEAN = r"best|max", r"avg|average|mean"


def _strip_figure(source: Source, table: Table, cells: list[dict], profile: str) -> Figure:
    configs = list(dict.fromkeys(c["config"] for c in cells))
    labels = {c["config"]: c["row"] for c in cells}
    # y = the metric of the "average" column (compared with the seeds' mean), else the commonest one
    means = [c["metric"] for c in cells if re.search(MEAN, c["column"], re.IGNORECASE)]
    metric = Counter(means or [c["metric"] for c in cells]).most_common(1)[0][0]
    unit = next(c["unit"] for c in cells if c["metric"] == metric)
    values = {n: next((c["values"] for c in cells if c["config"] == n and c["metric"] == metric), []) for n in configs}
    frame = pd.DataFrame([(labels[n], v) for n in configs for v in values[n]], columns=["row", "value"])
    order = [labels[n] for n in configs]
    fig = _figure((max(SIZE[0], 1.3 * len(configs) + 3), SIZE[1]))
    ax = fig.subplots()
    colours = sns.color_palette(PALETTE, 4)
    state = np.random.get_state()  # seaborn jitters with NumPy's global generator: seed it so that
    np.random.seed(0)  # re-rendering the same runs writes the same PNG bytes (paper_tables/ is committed)
    try:
        sns.stripplot(data=frame, x="row", y="value", order=order, color=colours[0], size=7, jitter=0.12, ax=ax)
    finally:
        np.random.set_state(state)
    for i, n in enumerate(configs):
        if values[n]:
            ax.scatter(i, float(np.mean(values[n])), marker="_", s=900, color="0.15", linewidth=2, zorder=4)
        for c in cells:
            if c["config"] != n or c["unit"] != unit:
                continue
            if re.search(BEST, c["column"], re.IGNORECASE):
                ax.scatter(i + 0.25, c["reported"], marker="*", s=180, color=colours[1], edgecolor="0.15", zorder=5)
            elif re.search(MEAN, c["column"], re.IGNORECASE):
                ax.scatter(i + 0.25, c["reported"], marker="D", s=60, facecolor="white", edgecolor=colours[2],
                           linewidth=2, zorder=5)  # fmt: skip
            else:
                ax.scatter(i + 0.25, c["reported"], marker="o", s=18, color="0.55", zorder=3)
    ax.set_xlim(-0.5, len(configs) - 0.5)
    ax.set(xlabel="", ylabel=_label(metric, unit))
    ax.tick_params(axis="x", labelrotation=20 if max(map(len, order)) > 10 else 0)
    handles = [
        Line2D([], [], color=colours[0], marker="o", ls=""),
        Line2D([], [], color="0.15", marker="_", ls="", markersize=18, markeredgewidth=2),
        Line2D([], [], color=colours[1], marker="*", ls="", markersize=12, markeredgecolor="0.15"),
        Line2D([], [], color=colours[2], marker="D", ls="", markerfacecolor="white", markeredgewidth=2),
        Line2D([], [], color="0.55", marker="o", ls="", markersize=4),
    ]
    names = ["reproduced: one seed", "reproduced: mean", "reported: best run", "reported: average", "reported: one run"]
    fig.legend(handles, names, loc="outside right center", fontsize="small", frameon=False)
    fig.suptitle(_title(f"{source.id} — {table.caption}", profile))
    return fig


def zam_strip(source: Source, results: Results, out_dir: Path, profile: str) -> list[Path]:
    """Tables with `figure: strip` (ZAM): one point per seed per configuration, reported overlaid."""
    written = []
    with _style():
        for key, table in source.tables.items():
            if table.figure != "strip":
                continue
            cells = [c for c in _cells(source, key, table, results) if c["config"]]
            if not any(c["values"] for c in cells):
                continue
            fig = _strip_figure(source, table, cells, profile)
            written.append(_save(fig, Path(out_dir) / f"{source.id}-{key}-strip.png"))
    return written


# --- 4b. reported curves beside reproduced ones -------------------------------------------------

REPORTED_DASH = (5, 2)


def _reported_vs_reproduced_figure(source: Source, key: str, spec: CurveFigure, results: Results, profile: str):
    """One of the source's curve figures: its published curves (dashed) and our runs (solid: mean over seeds,
    band = min–max), one colour per configuration of table ``key``; None when there is nothing to draw."""
    label = table_rows(source, key)
    names = list(label)
    lo, hi = spec.epochs or (1, None)

    def clip(epochs, values):
        keep = [(e, v) for e, v in zip(epochs, values, strict=True) if e >= lo and (hi is None or e <= hi)]
        return [e for e, _ in keep], [v for _, v in keep]

    reported = {n: clip(*s) for n in names if (s := reported_series(source, n, spec.split, spec.metric))}
    runs = {n: reproduced_series(results, n, spec.split, spec.metric) for n in names}
    frame = pd.DataFrame(
        [(n, seed, e, v) for n in names for seed, es, vs in runs[n] for e, v in zip(*clip(es, vs), strict=True)],
        columns=["config", "seed", "epoch", "value"],
    )
    names = [n for n in names if n in reported or n in set(frame["config"])]
    if not names:
        return None
    colours = dict(zip(names, sns.color_palette(PALETTE, len(names)), strict=True))
    fig = _figure((11, 6))
    ax = fig.subplots()
    marker = "o" if frame["epoch"].nunique() <= 30 else None  # markers: a run of one epoch still shows
    if not frame.empty:  # mean over seeds, band = min..max over seeds
        sns.lineplot(
            data=frame, x="epoch", y="value", hue="config", hue_order=[n for n in names if n in set(frame["config"])],
            palette=colours, errorbar=("pi", 100), marker=marker, markersize=3, markeredgewidth=0, lw=1.6,
            legend=False, ax=ax,
        )  # fmt: skip
    for n, (epochs, values) in reported.items():
        ax.plot(epochs, values, color=colours[n], lw=1.1, dashes=REPORTED_DASH, zorder=4)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlim(lo - 0.5 if spec.epochs else None, hi + 0.5 if hi is not None else None)
    if spec.values:
        ax.set_ylim(*spec.values)
    what = f"{spec.split} {'accuracy (%)' if spec.metric == 'accuracy' else 'cross-entropy loss'}"
    if spec.metric != "accuracy" and not spec.values:
        what += _loss_scale(ax, list(frame["value"]) + [v for _, vs in reported.values() for v in vs])
    ax.set(xlabel="epoch (1-based)", ylabel=what)
    counts = frame.groupby("config")["seed"].nunique()
    handles = [Line2D([], [], color=colours[n], lw=2) for n in names]
    labels = [
        f"{label[n]} [{_short(source, n)}]: " + ("reported" if n in reported else "no reported curve")
        + f", n={counts.get(n, 0)} run{'s' if counts.get(n, 0) != 1 else ''}"
        for n in names
    ]  # fmt: skip
    handles += [
        Line2D([], [], color="0.3", lw=1.1, dashes=REPORTED_DASH),
        Line2D([], [], color="0.3", lw=1.6, marker=marker, markersize=3),
    ]
    labels += ["reported: the source's per-epoch log", "reproduced: mean over seeds"]
    if frame.empty:
        labels[-1] += " (nothing run yet)"
    else:
        handles.append(Patch(facecolor="0.3", alpha=0.25))
        labels.append("reproduced: band = min–max over seeds")
    fig.legend(handles, labels, loc="outside lower center", ncol=2, fontsize="small", frameon=False)
    fig.suptitle(_title(f"{source.id} — {spec.title}", profile, width=110))
    return fig


def reported_vs_reproduced(source: Source, results: Results, out_dir: Path, profile: str) -> list[Path]:
    """Tables with `figure: curves` (the blog's Figures 1-2): each of their ``curve_figures``, the source's
    published curves beside ours. Written whenever a reported curve or a run exists (so the full profile
    draws the source's figure before anything has run)."""
    written = []
    with _style():
        for key, table in source.tables.items():
            if table.figure != "curves":
                continue
            for spec in table.curve_figures:
                fig = _reported_vs_reproduced_figure(source, key, spec, results, profile)
                if fig is not None:
                    stem = f"{source.id}-{spec.name}-reported-vs-reproduced"
                    written.append(_save(fig, Path(out_dir) / f"{stem}.png"))
    return written


# --- 5. attention masks --------------------------------------------------------------------------


def _load_masks(path: Path) -> tuple[np.ndarray, list[np.ndarray]] | None:
    try:
        with np.load(path, allow_pickle=False) as data:
            images = data["images"]
            masks = [data[k] for k in sorted(k for k in data.files if k.startswith("mask_"))]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None
    n = len(images)
    if n == 0 or not masks or images.ndim != 4 or any(m.ndim != 3 or len(m) != n for m in masks):
        return None
    return images, masks


def _upsample(mask: np.ndarray, height: int, width: int) -> np.ndarray:
    return np.asarray(Image.fromarray(mask.astype(np.float32)).resize((width, height), Image.Resampling.BILINEAR))


def attention_masks(masks_npz: Path, out_png: Path, title: str) -> list[Path]:
    """Paper Fig. 1 style: each input image, then each module's channel-mean soft mask as a heat map."""
    loaded = _load_masks(Path(masks_npz))
    if loaded is None:
        return []
    images, masks = loaded
    images = images[:MAX_IMAGES]
    masks = [m[:MAX_IMAGES] for m in masks]
    n, height, width = images.shape[:3]
    stage, sizes, heads = 0, [], ["input"]
    for i, m in enumerate(masks):  # a new resolution = a new stage
        if m.shape[1:] not in sizes:
            sizes.append(m.shape[1:])
            stage = len(sizes)
        heads.append(f"stage {stage}, module {i + 1}\n{m.shape[2]}×{m.shape[1]} mask")
    cols = len(masks) + 1
    side = min(1.6, 11 / cols)
    fig = _figure((max(SIZE[0], side * cols), side * n + 1.1))
    axes = fig.subplots(n, cols, squeeze=False)
    for j, m in enumerate(masks, start=1):
        lo, hi = float(m.min()), float(m.max())  # one colour scale per module, shared by the images
        for i in range(n):
            axes[i][j].imshow(_upsample(m[i], height, width), cmap="viridis", vmin=lo, vmax=hi if hi > lo else lo + 1)
    for i in range(n):
        axes[i][0].imshow(images[i])
        for j in range(cols):
            axes[i][j].set_xticks([])
            axes[i][j].set_yticks([])
            if i == 0:
                axes[i][j].set_title(heads[j], fontsize="small")
    fig.suptitle(title, fontsize="medium")
    fig.supxlabel(
        "heat map: channel mean of the soft mask M, bilinearly upsampled to the image; "
        "colour scale per module (dark = low, yellow = high)",
        fontsize="x-small",
    )
    return [_save(fig, Path(out_png))]


# --- 6. everything -------------------------------------------------------------------------------


def render_figures(
    sources: dict[str, Source] | Iterable[Source],
    results: Results,
    out_dir: Path,
    profile: str,
) -> list[Path]:
    """All figures of all sources into ``out_dir``; returns the written paths."""
    out_dir = Path(out_dir)
    written: list[Path] = []
    for source in sources.values() if isinstance(sources, dict) else sources:
        for plot in (training_curves, arl_vs_nal, label_noise, zam_strip, reported_vs_reproduced):
            written += plot(source, results, out_dir, profile)
        for name in source.configurations:
            for run in results.runs(name):  # one mask figure per configuration: its first seed with masks
                title = f"{source.id} — {_short(source, name)} (seed {run.seed}): soft attention masks"
                done = attention_masks(run.masks, out_dir / f"{run.key}-masks.png", _title(title, profile))
                written += done
                if done:
                    break
    return written
