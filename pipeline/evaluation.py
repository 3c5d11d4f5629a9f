"""Evaluate a trained run on the held-out test split from its saved weights.

Writes ``eval.json`` (top-1/top-5 accuracy and error, the source's own metric carried over from
training, test-time cost), ``metrics.json`` (the run's headline numbers, DVC's metrics file) and
``analysis/`` (per-class accuracy, confusion matrix and, for residual-attention models, the soft
masks of a few test images for the mask figures).
"""

from __future__ import annotations

import csv
import time
from pathlib import Path

import numpy as np
import torch

from .catalog import COST_METRICS, Configuration, Recipe
from .data import read_manifest
from .files import atomic_path
from .models import bn_running_stats, collect_masks, create_model, has_masks, macs_per_image, trainable_params
from .rundir import EVAL_METRICS, HEADLINE_METRICS, MODEL, TRAIN_METRICS, CheckpointError, RunDir
from .training import build_loaders, evaluate_split

MASK_IMAGES = 4  # test images whose attention masks are kept for the figures


def load_weights(config: Configuration, run: RunDir, num_classes: int, device: torch.device) -> torch.nn.Module:
    """Rebuild the model and load the run's final weights, refusing weights from another configuration."""
    state = run.load_weights(config.config_hash(), device)
    model = create_model(config.model, num_classes, **config.model_options).to(device)
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise CheckpointError(
            f"{run.file(MODEL)}: weights do not fit {config.model} ({str(exc).splitlines()[0]})"
        ) from None
    return model


@torch.no_grad()
def confusion(model: torch.nn.Module, loader, num_classes: int) -> np.ndarray:
    """Confusion matrix (rows = true class, columns = predicted), counted on the device. A model with
    more outputs than classes (the blog's 1000-way head on CIFAR-100) gets one extra column for
    predictions outside the label set."""
    model.eval()
    cols = num_classes + 1
    counts = torch.zeros(num_classes * cols, dtype=torch.int64, device=loader.y.device)
    outside = False
    for x, y in loader:
        logits = model(x)
        outside |= logits.shape[1] > num_classes
        pred = logits.argmax(1).clamp(max=num_classes)
        counts += torch.bincount(y * cols + pred, minlength=num_classes * cols)
    matrix = counts.view(num_classes, cols).cpu().numpy()
    return matrix if outside else matrix[:, :num_classes]


def per_class_accuracy(matrix: np.ndarray) -> np.ndarray:
    """Share of each true class predicted correctly (0 for a class without test images)."""
    return matrix.diagonal() / np.maximum(matrix.sum(1), 1)


def write_analysis(out: Path, classes: list[str], matrix: np.ndarray) -> None:
    out.mkdir(parents=True, exist_ok=True)
    per_class = per_class_accuracy(matrix)
    with open(out / "per_class.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["class", "accuracy", "images"])
        for name, acc, n in zip(classes, per_class, matrix.sum(1), strict=True):
            w.writerow([name, round(100.0 * float(acc), 4), int(n)])
    with open(out / "confusion.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        extra = ["(outside the label set)"] if matrix.shape[1] > len(classes) else []
        w.writerow(["true\\predicted", *classes, *extra])
        for name, row in zip(classes, matrix, strict=True):
            w.writerow([name, *row.tolist()])


def save_masks(model, images_uint8_nhwc, normalized_batch, path: Path) -> Path:
    """Run ``collect_masks`` on ``normalized_batch`` (eval mode) and save the images with the
    channel-mean mask of every attention module: ``images`` (N,H,W,3 uint8), ``mask_00``… (N,h,w)."""
    images = np.asarray(images_uint8_nhwc.cpu() if hasattr(images_uint8_nhwc, "cpu") else images_uint8_nhwc)
    if images.ndim != 4 or images.shape[-1] != 3 or images.shape[0] != normalized_batch.shape[0]:
        raise ValueError(
            f"images must be N×H×W×3 matching the batch of {normalized_batch.shape[0]}, got {images.shape}"
        )
    was_training = model.training
    model.eval()
    try:
        masks = collect_masks(model, normalized_batch)
    finally:
        model.train(was_training)
    if not masks:
        raise ValueError(f"{type(model).__name__} has no attention masks to save")
    arrays = {"images": images.astype(np.uint8)}
    for i, mask in enumerate(masks):
        arrays[f"mask_{i:02d}"] = mask.float().mean(1).cpu().numpy().astype(np.float32)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, **arrays)
    return path


def evaluate(
    config: Configuration,
    recipe: Recipe,
    run: RunDir,
    data_dir: Path,
    device: torch.device,
    eval_cap: int | None = None,
) -> dict:
    manifest = read_manifest(data_dir)
    data = build_loaders(recipe, data_dir, device, seed=0, eval_cap=eval_cap)
    model = load_weights(config, run, data.num_classes, device)
    t0 = time.perf_counter()
    scores = evaluate_split(model, data.test)  # fp32, NCHW; returns host numbers, so the device is done
    seconds = time.perf_counter() - t0
    matrix = confusion(model, data.test, data.num_classes)
    write_analysis(run.analysis, manifest["classes"], matrix)
    if has_masks(model):
        x, _ = next(iter(data.test))
        images = data.test.x[:MASK_IMAGES].permute(0, 2, 3, 1).cpu().numpy()
        save_masks(model, images, x[:MASK_IMAGES], run.masks)
    trained = run.read_metrics(TRAIN_METRICS)
    n = len(data.test.y)
    metrics = {
        "config": config.name,
        "top1_acc": round(scores["top1_acc"], 4),
        "top1_error": round(100.0 - scores["top1_acc"], 4),
        "top5_acc": round(scores["top5_acc"], 4),
        "top5_error": round(100.0 - scores["top5_acc"], 4),
        "test_loss": round(scores["loss"], 6),
        "test_images": n,
        "per_class_acc_min": round(100.0 * float(per_class_accuracy(matrix).min()), 4),
        "params": trainable_params(model),
        "non_trainable_params": bn_running_stats(model),  # BN moving mean + variance (Keras' "Non-trainable params")
        "macs": macs_per_image(model.cpu(), manifest["image_shape"][0]),
        "images_per_second": round(n / seconds, 1),
        # the source's own metrics, computed from the training history
        **{k: trained[k] for k in ("best_test_acc", "best_window_test_acc", "best_val_acc") if k in trained},
    }
    run.write_metrics(EVAL_METRICS, metrics)
    run.write_metrics(HEADLINE_METRICS, headline(config, trained, metrics))
    return metrics


def headline(config: Configuration, trained: dict, evaluated: dict) -> dict:
    """The run's dozen headline numbers (``metrics.json``, one row of ``dvc metrics show``): test
    errors, the source's own figure beside this run's value of it, length, time and size. Everything
    else stays in train.json and eval.json, which DVC does not read as metrics."""
    results = trained | evaluated
    out = {
        "seed": trained.get("seed"),
        "top1_error": evaluated["top1_error"],
        "top5_error": evaluated["top5_error"],
        "best_test_error": trained.get("best_test_error"),
        "test_loss": evaluated["test_loss"],
    }
    figure = next(
        (
            r
            for r in config.reported
            if isinstance(r.value, float) and r.metric not in COST_METRICS and r.metric in results
        ),
        None,
    )
    if figure is not None:  # the source's first trained figure, e.g. top1_error 5.46 (%)
        out |= {"source_metric": f"{figure.metric} ({figure.unit})", "reported": figure.value}
        out["reproduced"] = results[figure.metric]
    out |= {
        "epochs": trained.get("epochs"),
        "train_hours": round(trained["train_seconds"] / 3600, 4) if "train_seconds" in trained else None,
        "seconds_per_epoch": trained.get("seconds_per_epoch"),
        "params": evaluated["params"],
    }
    return {k: v for k, v in out.items() if v is not None}
