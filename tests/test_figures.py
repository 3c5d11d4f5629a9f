"""Figures: hand-made run folders in tmp_path; every figure is a real PNG, partial results are fine."""

import csv
import json
import textwrap
import zlib

import numpy as np
import pytest
from PIL import Image

from pipeline import evaluation
from pipeline.catalog import load_source
from pipeline.report import figures
from pipeline.report.results import Results

YAML = textwrap.dedent(
    """\
    id: demo
    title: t
    citation: c
    recipe:
      lr: 0.1
      epochs: 3
    configurations:
      demo-arl56:
        dataset: cifar10
        model: attention56
        runs: 2
        reported:
          - {metric: top1_error, value: 5.52, meaning: m, table: table3, row: Attention-56, column: ARL}
      demo-nal56:
        dataset: cifar10
        model: attention56
        model_options: {merge: nal}
        reported:
          - {metric: top1_error, value: 5.89, meaning: m, table: table3, row: Attention-56, column: NAL}
      demo-arl92:
        dataset: cifar10
        model: attention92
        reported:
          - {metric: top1_error, value: 4.99, meaning: m, table: table3, row: Attention-92, column: ARL}
          - {metric: top1_error, value: 5.15, meaning: m, table: table5, row: 10%, column: Attention-92}
      demo-r164-n10:
        dataset: cifar10
        model: preresnet-164
        recipe: {label_noise: 0.1}
        reported:
          - {metric: top1_error, value: 5.93, meaning: m, table: table5, row: 10%, column: ResNet-164}
      demo-resnet18:
        dataset: cifar100
        model: resnet18
        reported:
          - {metric: best_test_acc, value: 76.38, meaning: m, table: resnet18, row: ResNet18, column: Best Acc.}
          - {metric: best_test_acc, value: 76.22, meaning: m, table: resnet18, row: ResNet18, column: Avg Acc.}
          - {metric: best_test_acc, value: 75.94, meaning: m, table: resnet18, row: ResNet18, column: Acc2.}
      demo-zam18:
        dataset: cifar100
        model: resnet18
        reported:
          - {metric: best_test_acc, value: 76.89, meaning: m, table: resnet18, row: with ZAM(Avg), column: Best Acc.}
          - {metric: best_test_acc, value: 76.66, meaning: m, table: resnet18, row: with ZAM(Avg), column: Avg Acc.}
    tables:
      table3:
        caption: "Table 3: ARL vs NAL, CIFAR-10 error %"
        figure: arl-vs-nal
        rows: [Attention-56, Attention-92]
        columns: [ARL, NAL]
        cited: {Attention-92: {NAL: 5.35}}
      table5:
        caption: "Table 5: label noise, CIFAR-10 test error %"
        figure: label-noise
        rows: [10%, 30%]
        columns: [ResNet-164, Attention-92]
      resnet18:
        caption: ResNet18 on CIFAR-100
        figure: strip
        rows: [ResNet18, with ZAM(Avg)]
        columns: [Acc2., Best Acc., Avg Acc.]
    """
)
SEEDS = [0, 1]


@pytest.fixture
def source(tmp_path):
    path = tmp_path / "demo.yaml"
    path.write_text(YAML)
    return load_source(path)


def write_run(runs_dir, config, seed, epochs=4, extra=False):
    run = runs_dir / f"{config}-s{seed}"
    run.mkdir(parents=True)
    rng = np.random.default_rng([zlib.crc32(config.encode()), seed])
    fields = ["epoch", "step", "lr", "train_loss", "train_acc", "test_loss", "test_acc", "seconds"]
    fields += ["val_acc", "val_loss"] if extra else []
    with open(run / "history.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(fields)
        for e in range(1, epochs + 1):
            acc = 90 - 40 / e + rng.normal(0, 1)
            row = [e, 100 * e, 0.1, 2 / e, acc + 3, 2.2 / e, acc, 1.5 * e]
            writer.writerow(row + ([acc + 1, 2.1 / e] if extra else []))
    best = 76 + rng.normal(0, 0.3)
    (run / "train.json").write_text(json.dumps({"best_test_acc": best, "final_test_acc": best - 0.2}))
    (run / "eval.json").write_text(json.dumps({"top1_error": 5.5 + rng.normal(0, 0.2), "top1_acc": 94.5}))


@pytest.fixture
def runs(tmp_path, source):
    runs_dir = tmp_path / "runs"
    for i, config in enumerate(source.configurations):
        for seed in SEEDS:
            write_run(runs_dir, config, seed, extra=i == 0)
    return runs_dir, {name: list(SEEDS) for name in source.configurations}


def fake_masks(path, n=3, size=32):
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    np.savez(
        path,
        images=rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8),
        mask_00=rng.random((n, 32, 32), dtype=np.float32),
        mask_01=rng.random((n, 16, 16), dtype=np.float32),
        mask_02=rng.random((n, 8, 8), dtype=np.float32),
    )
    return path


def assert_png(path):
    assert path.is_file() and path.suffix == ".png"
    assert path.stat().st_size > 5_000
    with Image.open(path) as img:
        assert img.format == "PNG" and img.width >= 600 and img.height >= 300


def no_temp_files(folder):
    return not [p for p in folder.iterdir() if p.name.startswith(".")]


def test_training_curves_one_png_per_source(runs, source, tmp_path):
    runs_dir, seeds = runs
    out = tmp_path / "fig"
    written = figures.training_curves(source, Results(runs_dir, seeds), out, "full")
    assert written == [out / "demo-curves.png"]
    assert_png(written[0])
    assert no_temp_files(out)


def test_many_configurations_split_by_table(runs, source, tmp_path, monkeypatch):
    monkeypatch.setattr(figures, "MAX_LINES", 2)
    written = figures.training_curves(source, Results(*runs), tmp_path / "fig", "smoke")
    names = {p.name for p in written}
    assert {"demo-table3-1-curves.png", "demo-table3-2-curves.png", "demo-table5-curves.png"} <= names
    assert "demo-resnet18-curves.png" in names
    for path in written:
        assert_png(path)


@pytest.mark.parametrize("profile", ["smoke", "full"])
def test_smoke_titles_say_so(runs, source, tmp_path, monkeypatch, profile):
    titles, save = [], figures._save
    monkeypatch.setattr(figures, "_save", lambda fig, path: titles.append(fig.get_suptitle()) or save(fig, path))
    fake_masks(runs[0] / "demo-arl56-s0" / "analysis" / "masks.npz")
    assert len(figures.render_figures({"demo": source}, Results(*runs), tmp_path / "fig", profile)) == len(titles) == 5
    for title in titles:
        assert title.startswith("SMOKE TEST — not a reproduction\n") == (profile == "smoke")
        assert "demo" in title


def test_table_plots_arl_nal_noise_and_strip(runs, source, tmp_path):
    runs_dir, seeds = runs
    out = tmp_path / "fig"
    arl = figures.arl_vs_nal(source, Results(runs_dir, seeds), out, "full")
    noise = figures.label_noise(source, Results(runs_dir, seeds), out, "full")
    strip = figures.zam_strip(source, Results(runs_dir, seeds), out, "full")
    assert [p.name for p in arl] == ["demo-table3-two-arm.png"]
    assert [p.name for p in noise] == ["demo-table5-sweep.png"]
    assert [p.name for p in strip] == ["demo-resnet18-strip.png"]
    for path in arl + noise + strip:
        assert_png(path)


def test_table_cells_come_from_the_catalog(runs, source):
    runs_dir, seeds = runs
    cells = figures._cells(source, "table3", source.tables["table3"], Results(runs_dir, seeds))
    got = {(c["row"], c["column"]): (c["reported"], len(c["values"])) for c in cells}
    assert got == {
        ("Attention-56", "ARL"): (5.52, 2),
        ("Attention-56", "NAL"): (5.89, 2),
        ("Attention-92", "ARL"): (4.99, 2),
        ("Attention-92", "NAL"): (5.35, 0),  # cited
    }


def test_partial_results_do_not_crash(runs, source, tmp_path):
    runs_dir, seeds = runs
    for config in ("demo-nal56", "demo-r164-n10", "demo-zam18"):  # whole configurations missing
        for seed in SEEDS:
            for f in (runs_dir / f"{config}-s{seed}").iterdir():
                f.unlink()
    (runs_dir / "demo-arl56-s1" / "eval.json").unlink()  # one seed without eval
    (runs_dir / "demo-arl92-s0" / "history.csv").write_text("epoch,test_acc\n")  # header only
    seeds["demo-arl92"].append(7)  # a seed that never ran
    written = figures.render_figures({"demo": source}, Results(runs_dir, seeds), tmp_path / "fig", "full")
    assert {p.name for p in written} == {
        "demo-curves.png",
        "demo-table3-two-arm.png",
        "demo-table5-sweep.png",
        "demo-resnet18-strip.png",
    }
    for path in written:
        assert_png(path)


def test_nothing_run_writes_nothing(source, tmp_path):
    runs_dir, out = tmp_path / "runs", tmp_path / "fig"
    runs_dir.mkdir()
    seeds = {name: list(SEEDS) for name in source.configurations}
    assert figures.render_figures([source], Results(runs_dir, seeds), out, "full") == []
    assert figures.render_figures([source], Results(tmp_path / "absent", {}), out, "smoke") == []
    assert not out.exists() or not any(out.iterdir())


def test_attention_masks_renders_a_npz(tmp_path):
    written = figures.attention_masks(fake_masks(tmp_path / "m.npz"), tmp_path / "fig" / "m.png", "demo masks")
    assert written == [tmp_path / "fig" / "m.png"]
    assert_png(written[0])


def test_attention_masks_skips_missing_or_broken_files(tmp_path):
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    assert figures.attention_masks(tmp_path / "absent.npz", tmp_path / "a.png", "t") == []
    assert figures.attention_masks(tmp_path / "bad.npz", tmp_path / "b.png", "t") == []
    assert not list(tmp_path.glob("*.png"))


def test_render_figures_picks_up_masks(runs, source, tmp_path):
    runs_dir, seeds = runs
    fake_masks(runs_dir / "demo-arl56-s1" / "analysis" / "masks.npz")
    written = figures.render_figures({"demo": source}, Results(runs_dir, seeds), tmp_path / "fig", "smoke")
    assert tmp_path / "fig" / "demo-arl56-s1-masks.png" in written
    assert len(written) == 5


def test_save_masks_from_a_real_attention56(tmp_path):
    import torch

    from pipeline.models import create_model

    torch.manual_seed(0)
    model = create_model("attention56").train()
    images = torch.randint(0, 256, (2, 32, 32, 3), dtype=torch.uint8)
    batch = images.permute(0, 3, 1, 2).float() / 255 - 0.5
    path = evaluation.save_masks(model, images, batch, tmp_path / "run" / "masks.npz")
    assert model.training  # mode restored
    with np.load(path) as data:
        assert data["images"].shape == (2, 32, 32, 3) and data["images"].dtype == np.uint8
        shapes = [data[k].shape for k in sorted(data.files) if k.startswith("mask_")]
    assert shapes == [(2, 32, 32), (2, 16, 16), (2, 8, 8)]
    written = figures.attention_masks(path, tmp_path / "masks.png", "attention56 (untrained)")
    assert_png(written[0])


def test_save_masks_refuses_mismatched_images(tmp_path):
    import torch

    from pipeline.models import create_model

    model = create_model("attention56")
    with pytest.raises(ValueError, match="N×H×W×3"):
        evaluation.save_masks(model, np.zeros((3, 32, 32, 3), np.uint8), torch.zeros(2, 3, 32, 32), tmp_path / "m.npz")
