"""The training loop: schedule, determinism, resume, outputs."""

import csv
import json

import pytest
import torch

from pipeline.catalog import Recipe, Run, Schedule
from pipeline.evaluation import CheckpointError, evaluate
from pipeline.training import CHECKPOINT, HISTORY, METRICS, MODEL, lr_at, train


def make_run(model: str, **recipe) -> tuple[Run, Recipe]:
    base = dict(lr=0.05, batch_size=16, epochs=3, crop_padding=4, hflip=True, normalize="per_pixel_mean")
    r = Recipe(**{**base, **recipe})
    run = Run(
        name="t-run",
        source="test",
        dataset="cifar10",
        model=model,
        model_options={},
        recipe=r,
        runs=1,
        reported=[],
        notes="",
    )
    return run, r


def test_iteration_schedule_hits_its_milestones():
    r = Recipe(lr=0.1, iterations=160_000, schedule=Schedule(unit="iteration", milestones=[64_000, 96_000]))
    assert lr_at(r, 63_999, 0) == pytest.approx(0.1)
    assert lr_at(r, 64_000, 0) == pytest.approx(0.01)
    assert lr_at(r, 95_999, 0) == pytest.approx(0.01)
    assert lr_at(r, 96_000, 0) == pytest.approx(0.001)


def test_epoch_schedule_uses_the_epoch_index():
    r = Recipe(lr=0.1, epochs=199, schedule=Schedule(unit="epoch", milestones=[60, 120, 160], gamma=0.2))
    assert [round(lr_at(r, 0, e), 6) for e in (59, 60, 120, 160)] == [0.1, 0.02, 0.004, 0.0008]


def test_training_writes_outputs_and_is_bitwise_repeatable(tiny_model, smoke_data, tmp_path):
    run, recipe = make_run(tiny_model)
    a = train(run, recipe, 0, smoke_data, tmp_path / "a", torch.device("cpu"))
    b = train(run, recipe, 0, smoke_data, tmp_path / "b", torch.device("cpu"))
    for f in (MODEL, HISTORY, METRICS):
        assert (tmp_path / "a" / f).is_file()
    assert not (tmp_path / "a" / CHECKPOINT).exists()  # finished runs leave nothing to resume
    assert [r["train_loss"] for r in a.history] == [r["train_loss"] for r in b.history]
    sa, sb = a.model.state_dict(), b.model.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    rows = list(csv.DictReader(open(tmp_path / "a" / HISTORY)))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    assert json.loads((tmp_path / "a" / METRICS).read_text())["final_test_acc"] == a.history[-1]["test_acc"]


def test_a_different_seed_gives_a_different_run(tiny_model, smoke_data, tmp_path):
    run, recipe = make_run(tiny_model, epochs=1)
    a = train(run, recipe, 0, smoke_data, tmp_path / "a", torch.device("cpu"))
    b = train(run, recipe, 1, smoke_data, tmp_path / "b", torch.device("cpu"))
    assert a.history[0]["train_loss"] != b.history[0]["train_loss"]


def test_the_class_signal_is_learnable(tiny_model, smoke_data, tmp_path):
    run, recipe = make_run(tiny_model, epochs=15, lr=0.1, crop_padding=0, hflip=False)
    result = train(run, recipe, 0, smoke_data, tmp_path, torch.device("cpu"))
    assert result.metrics["best_test_acc"] > 40.0  # chance is 10%


def test_evaluate_reports_top1_top5_and_refuses_foreign_weights(tiny_model, smoke_data, tmp_path):
    run, recipe = make_run(tiny_model, epochs=1)
    train(run, recipe, 0, smoke_data, tmp_path, torch.device("cpu"))
    metrics = evaluate(run, recipe, tmp_path, smoke_data, torch.device("cpu"))
    assert metrics["top1_error"] == pytest.approx(100 - metrics["top1_acc"])
    assert metrics["top5_acc"] >= metrics["top1_acc"] and metrics["test_images"] == 100
    other = run.model_copy(update={"name": "another-run"})
    with pytest.raises(CheckpointError, match="holds weights of 't-run'"):
        evaluate(other, recipe, tmp_path, smoke_data, torch.device("cpu"))


def test_non_finite_loss_stops_with_epoch_and_step(tiny_model, smoke_data, tmp_path):
    run, recipe = make_run(tiny_model, lr=1e30, epochs=2)
    with pytest.raises(FloatingPointError, match=r"epoch 1 \(step \d+\)"):
        train(run, recipe, 0, smoke_data, tmp_path, torch.device("cpu"))
