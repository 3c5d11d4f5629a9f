"""The training loop: schedule, determinism, resume, outputs."""

import csv
import json

import pytest
import torch

from pipeline.catalog import Configuration, Recipe, Schedule
from pipeline.evaluation import evaluate
from pipeline.execution import Execution
from pipeline.rundir import CHECKPOINT, HISTORY, MODEL, CheckpointError, RunDir
from pipeline.rundir import TRAIN_METRICS as METRICS
from pipeline.training import lr_at, train

CPU = Execution(device=torch.device("cpu"))


def make_run(model: str, **recipe) -> tuple[Configuration, Recipe]:
    base = dict(
        lr=0.05,
        batch_size=16,
        epochs=3,
        augment={"crop_padding": 4, "hflip": True},
        normalize={"kind": "per_pixel_mean"},
    )
    r = Recipe.model_validate({**base, **recipe})
    run = Configuration(
        name="t-run",
        source="test",
        dataset="cifar10",
        model=model,
        model_options={},
        recipe=r,
        n_seeds=1,
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
    a = train(run, recipe, 0, smoke_data, tmp_path / "a", CPU)
    b = train(run, recipe, 0, smoke_data, tmp_path / "b", CPU)
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
    a = train(run, recipe, 0, smoke_data, tmp_path / "a", CPU)
    b = train(run, recipe, 1, smoke_data, tmp_path / "b", CPU)
    assert a.history[0]["train_loss"] != b.history[0]["train_loss"]


def test_the_class_signal_is_learnable(tiny_model, smoke_data, tmp_path):
    run, recipe = make_run(tiny_model, epochs=15, lr=0.1, augment={})
    result = train(run, recipe, 0, smoke_data, tmp_path, CPU)
    assert result.metrics["best_test_acc"] > 40.0  # chance is 10%


def test_evaluate_reports_top1_top5_and_refuses_foreign_weights(tiny_model, smoke_data, tmp_path):
    run, recipe = make_run(tiny_model, epochs=1)
    train(run, recipe, 0, smoke_data, tmp_path, CPU)
    metrics = evaluate(run, recipe, RunDir(tmp_path, run.name, 0), smoke_data, CPU.device)
    assert metrics["top1_error"] == pytest.approx(100 - metrics["top1_acc"])
    assert metrics["top5_acc"] >= metrics["top1_acc"] and metrics["test_images"] == 100
    other = run.model_copy(update={"name": "another-run"})
    with pytest.raises(CheckpointError, match="holds weights of 't-run'"):
        evaluate(other, recipe, RunDir(tmp_path, other.name, 0), smoke_data, CPU.device)


def test_non_finite_loss_stops_with_epoch_and_step(tiny_model, smoke_data, tmp_path):
    run, recipe = make_run(tiny_model, lr=1e30, epochs=2)
    with pytest.raises(FloatingPointError, match=r"epoch 1 \(step \d+\)"):
        train(run, recipe, 0, smoke_data, tmp_path, CPU)


def test_warmup_and_inverse_time_decay():
    r = Recipe(lr=0.1, epochs=2, schedule=Schedule(kind="constant", warmup_iterations=4, inverse_time_decay=0.5))
    assert lr_at(r, 0, 0) == pytest.approx(0.1 * 1 / 4)
    assert lr_at(r, 3, 0) == pytest.approx(0.1 / (1 + 0.5 * 3))
    assert lr_at(r, 10, 0) == pytest.approx(0.1 / 6)


def test_validation_split_early_stopping_and_classifier_only_decay(tiny_model, smoke_data, tmp_path):
    run, recipe = make_run(
        tiny_model,
        epochs=30,
        lr=1e-6,  # nothing improves: early stopping must end the run
        validation={"kind": "fraction", "fraction": 0.2},
        early_stopping={"patience": 2},
        weight_decay=0.1,
        weight_decay_scope="classifier_weight",
        label_noise=0.5,
    )
    result = train(run, recipe, 0, smoke_data, tmp_path, CPU)
    assert result.metrics["stopped_early"] and result.metrics["epochs"] < 30
    assert result.metrics["val_images"] == 40 and result.metrics["train_images"] == 160
    assert 0.3 < result.metrics["label_noise_corrupted_fraction"] < 0.7
    assert "val_acc" in result.history[0] and "best_val_acc" in result.metrics


def test_best_window_metric(tiny_model, smoke_data, tmp_path):
    run, recipe = make_run(tiny_model, epochs=4, best_window=(3, 4))
    result = train(run, recipe, 0, smoke_data, tmp_path, CPU)
    assert result.metrics["best_window_test_acc"] == max(r["test_acc"] for r in result.history[2:])


def test_confusion_matrix_counts_predictions_outside_the_label_set():
    import numpy as np
    from torch import nn

    from pipeline.data import Split
    from pipeline.data.loader import DeviceLoader
    from pipeline.evaluation import confusion

    class Fixed(nn.Module):  # 5 outputs for 3 classes: predicts class (label + 1) % 5
        def forward(self, x):
            label = x[:, 0, 0, 0].round().long()
            return nn.functional.one_hot((label + 1) % 5, 5).float()

    labels = np.array([0, 1, 2, 2])
    images = np.zeros((4, 2, 2, 3), np.uint8)
    images[:, 0, 0, 0] = labels
    loader = DeviceLoader(Split(images, labels), 2, torch.device("cpu"), lambda x: x * 255)
    matrix = confusion(Fixed(), loader, 3)
    assert matrix.shape == (3, 4)  # one extra column: predictions outside the label set
    assert matrix[0, 1] == 1 and matrix[1, 2] == 1 and matrix[2, 3] == 2 and matrix.sum() == 4
