"""Reported curves (issue 17, part 4): the blog's data files, their schema, the curve comparison and its figure."""

import csv
import json
import textwrap

import pytest
from PIL import Image

from pipeline.catalog import CatalogError, load_catalog, load_source, read_curve
from pipeline.report import curves, figures
from pipeline.report.curves import compare, curve_stats, render_curves
from pipeline.report.results import Results
from pipeline.report.verdicts import default_delta
from tests.conftest import ROOT

BLOG = load_catalog()["reu-blog-2019"]
SHARED = ROOT.parent / "shared" / "data" / "reported-curves" / "reu-blog-2019"
FILES = {  # configuration -> (data file, epochs)
    "blog-resnet50-300ep": ("ResNet50", 300),
    "blog-preactresnet50": ("PreActResNet50", 150),
    "blog-bam-resnet50": ("BAMResNet50", 150),
    "blog-sresnet50": ("SResNet50", 150),
    "blog-sresnet50-skips": ("SResNet50WithSkipsFalse", 150),
    "blog-sresnet50-dilation": ("SResNet50WithDilationFalse", 150),
}


# --- the blog's data files ------------------------------------------------------------------------------


@pytest.mark.parametrize("config", FILES)
def test_blog_curve_files_parse_with_every_series(config):
    name, epochs = FILES[config]
    (curve,) = BLOG.configurations[config].reported_curves
    assert curve.file == f"curves/reu-blog-2019/{name}.tsv"
    lines = (ROOT / "reproduce" / curve.file).read_text().splitlines()
    assert len(lines) == 1 + 4 * epochs  # header + (test, train) × (accuracy, loss) per epoch
    assert set(curve.points) == {(s, m) for s in ("test", "train") for m in ("accuracy", "loss")}
    for got_epochs, _ in curve.points.values():
        assert got_epochs == list(range(1, epochs + 1))


def test_a_few_values_as_the_logs_print_them():
    bam = BLOG.configurations["blog-bam-resnet50"].reported_curves[0]
    assert bam.series("test", "accuracy")[1][:2] == [15.35, 25.38]  # log epochs 0 and 1
    assert bam.series("train", "loss")[1][0] == 3.945
    skips = BLOG.configurations["blog-sresnet50-skips"].reported_curves[0]
    assert skips.series("train", "accuracy")[1][:2] == [9.374, 19.46]  # the later epoch-0 line is kept
    assert skips.series("test", "accuracy")[1][137] == 78.14  # the blog's "approaches 78.1%" (log epoch 137)
    resnet = BLOG.configurations["blog-resnet50-300ep"].reported_curves[0]
    assert resnet.series("test", "accuracy")[1][-1] == 77.37


def _shared(name: str, split: str) -> dict[int, tuple[float, float]]:
    with open(SHARED / f"{name}_{split}.tsv", newline="") as fh:
        rows = list(csv.reader(fh, delimiter="\t"))
    assert rows[0] == ["epoch", "loss", "accuracy"]
    out = {}
    for epoch, loss, acc in rows[1:]:
        out[int(epoch) + 1] = (float(loss), float(acc))  # 0-based → 1-based; a repeated epoch: the later wins
    return out


@pytest.mark.skipif(not SHARED.is_dir(), reason="the shared copy of the blog's logs is not checked out here")
@pytest.mark.parametrize("config", FILES)
def test_blog_curve_files_match_the_shared_originals(config):
    name, epochs = FILES[config]
    curve = BLOG.configurations[config].reported_curves[0]
    for split in ("test", "train"):
        original = _shared(name, split)
        raw_lines = (SHARED / f"{name}_{split}.tsv").read_text().splitlines()
        assert len(raw_lines) - 1 == epochs + (1 if (name, split) == ("SResNet50WithSkipsFalse", "train") else 0)
        assert curve.series(split, "loss") == (list(original), [v[0] for v in original.values()])
        assert curve.series(split, "accuracy") == (list(original), [v[1] for v in original.values()])


# --- the schema -----------------------------------------------------------------------------------------

SOURCE = textwrap.dedent(
    """\
    id: demo
    title: t
    citation: c
    recipe:
      lr: 0.1
      epochs: 40
      schedule: {milestones: [10, 30]}
    configurations:
      demo-a:
        dataset: cifar100
        model: resnet18
        runs: 3
        reported_curves:
          - {file: curves/demo/a.tsv, meaning: the log}
        reported:
          - {metric: best_test_acc, value: 70.0, meaning: m, table: fig, row: A, column: best}
      demo-b:
        dataset: cifar100
        model: resnet18
        reported_curves:
          - {file: curves/demo/b.tsv, meaning: the log}
        reported:
          - {metric: best_test_acc, value: 60.0, meaning: m, table: fig, row: B, column: best}
    tables:
      fig:
        caption: "Figure 3: accuracy over training"
        rows: [A, B]
        columns: [best]
        figure: curves
        curve_figures:
          - {name: fig3, title: "Figure 3: Accuracy over Training"}
          - {name: fig3zoom, title: "Figure 3 (zoomed)", epochs: [5, 40], values: [40, 80]}
    """
)


def synthetic(epochs=40, jump_at=11, base=40.0, jump=20.0, slope=0.1, wiggle=0.0):
    """A curve rising by ``slope`` per epoch, with one step of ``jump`` points at 1-based epoch ``jump_at``."""
    return [base + slope * e + (jump if e >= jump_at else 0.0) + wiggle * (-1) ** e for e in range(1, epochs + 1)]


def write_curve(path, values, split="test"):
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["epoch\tsplit\tmetric\tvalue"]
    for e, v in enumerate(values, start=1):
        lines += [f"{e}\t{split}\taccuracy\t{v:.3f}", f"{e}\t{split}\tloss\t{4 - v / 25:.3f}"]
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture
def demo(tmp_path):
    write_curve(tmp_path / "curves" / "demo" / "a.tsv", synthetic(jump_at=11))
    write_curve(tmp_path / "curves" / "demo" / "b.tsv", synthetic(jump_at=11, base=30))
    (tmp_path / "demo.yaml").write_text(SOURCE)
    return tmp_path


def test_the_synthetic_source_loads(demo):
    source = load_source(demo / "demo.yaml")
    assert source.configurations["demo-a"].reported_curves[0].series("test", "accuracy")[0] == list(range(1, 41))


def test_a_missing_curve_file_names_the_yaml_line(demo):
    (demo / "curves" / "demo" / "b.tsv").unlink()
    with pytest.raises(CatalogError) as info:
        load_source(demo / "demo.yaml")
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{demo / 'demo.yaml'}:21: configurations.demo-b.reported_curves.0.file:")
    assert "no such curve file 'curves/demo/b.tsv'" in message


@pytest.mark.parametrize(
    "edit,line,match",
    [
        (lambda lines: ["epoch\tloss\taccuracy", *lines[1:]], 1, "header must be epoch split metric value"),
        (lambda lines: [*lines[:5], lines[3], *lines[5:]], 6, "test accuracy: epoch 2 after epoch 2: epochs must"),
        (lambda lines: [*lines[:3], "2\ttest\taccuracy", *lines[4:]], 4, "expected 4 tab-separated fields"),
        (lambda lines: [*lines[:3], "0\ttest\taccuracy\t1.0", *lines[4:]], 4, "epoch must be an integer >= 1"),
        (lambda lines: [*lines[:3], "2\tvalid\taccuracy\t1.0", *lines[4:]], 4, "split must be one of test, val"),
        (lambda lines: [*lines[:3], "2\ttest\ttop5\t1.0", *lines[4:]], 4, "metric must be one of accuracy, loss"),
        (lambda lines: [*lines[:3], "2\ttest\taccuracy\tnan", *lines[4:]], 4, "value must be a finite number"),
        (lambda lines: lines[:1], 1, "no data rows"),
    ],
)
def test_a_malformed_curve_file_is_one_line_with_file_and_line(demo, edit, line, match):
    path = demo / "curves" / "demo" / "a.tsv"
    path.write_text("\n".join(edit(path.read_text().splitlines())) + "\n")
    with pytest.raises(CatalogError) as info:
        load_source(demo / "demo.yaml")
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{path}:{line}: ") and match in message
    assert message.endswith(f"(in configurations.demo-a.reported_curves.0.file, {demo / 'demo.yaml'}:14)")


def test_figure_curves_needs_curve_figures(demo):
    text = SOURCE.replace("    figure: curves\n", "")
    assert text != SOURCE
    (demo / "demo.yaml").write_text(text)
    with pytest.raises(CatalogError, match=r"demo.yaml:\d+: tables.fig: Value error, figure: curves goes with"):
        load_source(demo / "demo.yaml")


def test_read_curve_returns_series_per_split_and_metric(tmp_path):
    path = tmp_path / "c.tsv"
    path.write_text("epoch\tsplit\tmetric\tvalue\n1\tval\tloss\t2.5\n3\tval\tloss\t1.5\n")
    assert read_curve(path) == {("val", "loss"): ([1, 3], [2.5, 1.5])}


# --- the comparison -------------------------------------------------------------------------------------


def test_curve_stats_best_final_and_jump_on_a_known_curve():
    values = synthetic(jump_at=11, wiggle=0.3)
    stats = curve_stats(list(range(1, 41)), values, drop=11)
    assert (stats.best, stats.best_epoch) == (max(values), 40)
    assert (stats.final, stats.final_epoch) == (values[-1], 40)
    assert stats.jump_epoch == 11 and stats.jump == pytest.approx(20 + 0.1 - 0.6)  # the wiggle: −0.3 at 11, +0.3 at 10
    flat = [60.0] * 40  # a tie: the first epoch at the maximum, and no jump larger than 0 → the window's first epoch
    assert curve_stats(list(range(1, 41)), flat, drop=11).best_epoch == 1
    # a larger step outside the window (epoch 30) is not the jump of the first drop
    late = [v + (25 if e >= 30 else 0) for e, v in enumerate(values, start=1)]
    assert curve_stats(list(range(1, 41)), late, drop=11).jump_epoch == 11
    # no drop in the schedule, or a curve that stops before the window: no jump epoch
    assert curve_stats(list(range(1, 41)), values, drop=None).jump_epoch is None
    assert curve_stats([1, 2, 3], values[:3], drop=11).jump_epoch is None


def test_first_drop_is_the_first_epoch_at_the_lowered_rate():
    recipe = curves.recipe_of(BLOG, "blog-bam-resnet50")
    assert curves.first_drop_epoch(recipe) == 31  # milestone 30: from 0-based epoch 30 on
    assert curves.first_drop_epoch(curves.recipe_of(BLOG, "blog-sresnet50-skips")) == 71


def write_run(runs_dir, config, seed, values):
    run = runs_dir / f"{config}-s{seed}"
    run.mkdir(parents=True)
    with open(run / "history.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["epoch", "train_acc", "train_loss", "test_loss", "test_acc"])
        for e, v in enumerate(values, start=1):
            writer.writerow([e, v + 5, 3 - v / 30, 4 - v / 25, round(v, 4)])
    (run / "train.json").write_text(json.dumps({"final_test_acc": values[-1], "best_test_acc": max(values)}))


@pytest.fixture
def runs(demo):
    """demo-a: three seeds on the reported curve ±0.05 with the jump at 11, 11, 12; demo-b: one seed, jump at 14."""
    runs_dir = demo / "runs"
    for seed, (shift, jump_at) in enumerate([(-0.05, 11), (0.0, 11), (0.05, 12)]):
        write_run(runs_dir, "demo-a", seed, [v + shift for v in synthetic(jump_at=jump_at)])
    write_run(runs_dir, "demo-b", 0, synthetic(jump_at=14, base=25))
    return Results(runs_dir, {"demo-a": [0, 1, 2], "demo-b": [0]})


def cells_by(cells):
    return {(c.row.config, c.quantity): c for c in cells}


def test_compare_verdicts_on_synthetic_runs(demo, runs):
    cells = cells_by(compare(load_source(demo / "demo.yaml"), "fig", runs, "full"))
    best = cells[("demo-a", "best")]
    assert best.reported == pytest.approx(64.0) and best.values == pytest.approx([63.95, 64.0, 64.05])
    assert best.verdict == "reproduced" and best.margin == pytest.approx(default_delta(64.0, 10_000))  # 0.96
    assert "binomial SE floor" in best.basis  # the seeds' sd 0.05 is below the test set's 0.48
    assert cells[("demo-a", "final")].verdict == "reproduced"
    jump = cells[("demo-a", "jump_epoch")]
    assert (jump.reported, jump.values, jump.verdict) == (11, [11, 11, 12], "within 1 epoch")
    b = cells[("demo-b", "jump_epoch")]
    assert (b.values, b.verdict) == ([14], "differs")
    # demo-b: one run, 5 points below; its spread is the pooled sd of demo-a's seeds, floored at the binomial SE
    best_b = cells[("demo-b", "best")]
    assert best_b.verdict == "differs" and "pooled" in best_b.basis


def test_compare_not_run_and_smoke(demo, runs):
    source = load_source(demo / "demo.yaml")
    empty = compare(source, "fig", Results(demo / "none", {}), "full")
    assert {c.verdict for c in empty} == {"not run"}
    assert {c.verdict for c in compare(source, "fig", runs, "smoke")} == {"smoke only"}


def test_render_curves_writes_markdown_csv_and_an_index_line(demo, runs):
    source = load_source(demo / "demo.yaml")
    out = demo / "tables"
    written, index = render_curves({"demo": source}, runs, out, {"profile": "full", "commit": "abc"})
    assert [p.name for p in written] == ["demo-fig-curves.md", "demo-fig-curves.csv"]
    md = (out / "demo-fig-curves.md").read_text()
    assert "| A | 64.00 (epoch 40) / 64.00 ± 0.05 (min–max 63.95–64.05), n=3 — reproduced (Δ +0.00 within ±0.96)" in md
    assert "epoch 11 (+20.10) / epochs 11, 11, 12 (mean +20.10), n=3 — within 1 epoch" in md
    assert "figures/demo-fig3-reported-vs-reproduced.png" in md
    rows = list(csv.DictReader(open(out / "demo-fig-curves.csv")))
    assert [(r["config"], r["quantity"]) for r in rows][:3] == [("demo-a", q) for q in curves.QUANTITIES]
    assert rows[2]["seed_values"] == "11 11 12" and rows[2]["reported_epoch"] == "11"
    assert index == ["| demo | [Figure 3: curves — best, final, jump at the first LR drop](demo-fig-curves.md) | "
                     "differs, reproduced, within 1 epoch |"]  # fmt: skip


# --- the figure -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("profile", ["full", "smoke"])
def test_figure_draws_reported_and_reproduced(demo, runs, monkeypatch, profile):
    drawn, save = [], figures._save
    monkeypatch.setattr(figures, "_save", lambda fig, path: drawn.append(fig) or save(fig, path))
    out = demo / "fig"
    written = figures.reported_vs_reproduced(load_source(demo / "demo.yaml"), runs, out, profile)
    assert [p.name for p in written] == [
        "demo-fig3-reported-vs-reproduced.png",
        "demo-fig3zoom-reported-vs-reproduced.png",
    ]
    for path in written:
        with Image.open(path) as img:
            assert img.format == "PNG" and img.width >= 600
    fig, zoom = drawn
    ax = fig.axes[0]
    dashed = [line for line in ax.lines if line.get_linestyle() == "--"]
    solid = [line for line in ax.lines if line.get_linestyle() == "-" and len(line.get_xdata())]
    assert len(dashed) == 2  # the two reported curves
    assert len(solid) == 2 and len(ax.collections) >= 1  # two reproduced means and a min–max band
    assert list(dashed[0].get_xdata()) == list(range(1, 41))
    assert zoom.axes[0].get_ylim() == (40, 80) and zoom.axes[0].get_xlim() == (4.5, 40.5)
    title = fig.get_suptitle()
    assert title.startswith("SMOKE TEST — not a reproduction\n") == (profile == "smoke")
    assert "Figure 3: Accuracy over Training" in title


def test_figure_with_only_reported_curves_is_written(demo):
    written = figures.reported_vs_reproduced(load_source(demo / "demo.yaml"), Results(demo / "x", {}), demo, "full")
    assert len(written) == 2


def test_render_figures_includes_the_curve_figures(demo, runs, monkeypatch):
    for other in ("training_curves", "arl_vs_nal", "label_noise", "zam_strip"):
        monkeypatch.setattr(figures, other, lambda *args: [])
    written = figures.render_figures({"demo": load_source(demo / "demo.yaml")}, runs, demo / "all", "full")
    assert [p.name for p in written] == [f"demo-{n}-reported-vs-reproduced.png" for n in ("fig3", "fig3zoom")]
