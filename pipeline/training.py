"""The training loop: one configuration, one seed, the recipe as written in the catalog.

Reads like airbench: build data, model and optimiser from the recipe, step through the schedule,
evaluate on the test split at each epoch end (for the curves only; nothing is selected on it),
checkpoint atomically, and write the history, final weights and a metrics file.
"""

from __future__ import annotations

import csv
import json
import math
import os
import random
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .catalog import Recipe, Run
from .data import load_split, read_manifest
from .data.loader import Augment, DeviceLoader, Normalize, normalizer
from .models import create_model, trainable_params
from .progress import EpochReporter

CHECKPOINT, MODEL, HISTORY, METRICS = "checkpoint.pt", "model.pt", "history.csv", "train.json"


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def seed_everything(seed: int, deterministic: bool) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if deterministic:
        torch.use_deterministic_algorithms(
            True, warn_only=True
        )  # CUDA interpolate backward has no deterministic kernel
        torch.backends.cudnn.benchmark = False


def lr_at(recipe: Recipe, step: int, epoch: int) -> float:
    """Learning rate for optimiser step ``step`` (0-based) in ``epoch`` (0-based)."""
    s = recipe.schedule
    if s.kind == "constant":
        return recipe.lr
    position = step if s.unit == "iteration" else epoch
    return recipe.lr * s.gamma ** sum(position >= m for m in s.milestones)


def make_optimizer(model: nn.Module, recipe: Recipe) -> torch.optim.Optimizer:
    if recipe.optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    return torch.optim.SGD(
        model.parameters(),
        lr=recipe.lr,
        momentum=recipe.momentum,
        nesterov=recipe.nesterov,
        weight_decay=recipe.weight_decay,
    )


def make_normalize(recipe: Recipe) -> Normalize:
    return Normalize(recipe.normalize, recipe.norm_mean, recipe.norm_std)


@torch.no_grad()
def evaluate_split(model: nn.Module, loader: DeviceLoader, topk=(1, 5)) -> dict[str, float]:
    """Loss and top-k accuracy (%), accumulated on the device and read once."""
    model.eval()
    device = loader.y.device
    loss, hits, n = torch.zeros((), device=device), torch.zeros(len(topk), device=device), 0
    for x, y in loader:
        logits = model(x)
        loss += F.cross_entropy(logits, y, reduction="sum")
        top = logits.topk(max(topk), dim=1).indices
        hits += torch.stack([(top[:, :k] == y[:, None]).any(1).sum() for k in topk]).float()
        n += len(y)
    model.train()
    values = hits.tolist()
    return {"loss": loss.item() / n, **{f"top{k}_acc": 100.0 * v / n for k, v in zip(topk, values, strict=True)}}


def _atomic_save(obj, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _write_history(rows: list[dict], path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]) if rows else ["epoch"])
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, path)


def write_json(obj: dict, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)


@dataclass
class TrainResult:
    metrics: dict
    history: list[dict]
    model: nn.Module


def train(
    run: Run,
    recipe: Recipe,
    seed: int,
    data_dir: Path,
    out_dir: Path,
    device: torch.device,
    epoch_steps_cap: int | None = None,
    deterministic: bool = True,
    log_metrics=lambda metrics, step: None,
    resume: bool = True,
) -> TrainResult:
    """Train ``run`` with ``recipe`` and ``seed``; write checkpoint, model, history and metrics."""
    out_dir.mkdir(parents=True, exist_ok=True)
    seed_everything(seed, deterministic)
    manifest = read_manifest(data_dir)
    train_split, test_split = load_split(data_dir, "train"), load_split(data_dir, "test")
    norm = normalizer(make_normalize(recipe), train_split.x, device)
    augment = Augment(crop_padding=recipe.crop_padding, hflip=recipe.hflip)
    train_loader = DeviceLoader(train_split, recipe.batch_size, device, norm, augment, shuffle=True, seed=seed)
    test_loader = DeviceLoader(test_split, max(recipe.batch_size, 256), device, norm)

    model = create_model(run.model, len(manifest["classes"]), **run.model_options).to(device)
    optimizer = make_optimizer(model, recipe)
    epoch_steps = min(len(train_loader), epoch_steps_cap or len(train_loader))
    total_steps = recipe.iterations or recipe.epochs * epoch_steps
    total_epochs = math.ceil(total_steps / epoch_steps)

    step, epoch, history, elapsed = 0, 0, [], 0.0
    ckpt_path = out_dir / CHECKPOINT
    if resume and ckpt_path.is_file():
        state = torch.load(ckpt_path, map_location=device, weights_only=True)
        if state["config_hash"] == run.config_hash() and state["seed"] == seed:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            train_loader.load_state_dict({"generator": state["generator"]})
            torch.set_rng_state(state["torch_rng"])
            step, epoch, history, elapsed = state["step"], state["epoch"], state["history"], state["elapsed"]

    reporter = EpochReporter(f"{run.name} seed {seed}", total_epochs, start=epoch)
    model.train()
    while step < total_steps:
        t0 = time.perf_counter()
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), device=device)
        seen = 0
        for i, (x, y) in enumerate(train_loader):
            if i == epoch_steps or step == total_steps:
                break
            for group in optimizer.param_groups:
                group["lr"] = lr_at(recipe, step, epoch)
            logits = model(x)
            loss = F.cross_entropy(logits, y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss_sum += loss.detach() * len(y)
            correct += (logits.detach().argmax(1) == y).sum()
            seen += len(y)
            step += 1
        train_loss = loss_sum.item() / seen
        if not math.isfinite(train_loss):
            raise FloatingPointError(f"{run.name} seed {seed}: loss is {train_loss} in epoch {epoch + 1} (step {step})")
        test = evaluate_split(model, test_loader)
        elapsed += time.perf_counter() - t0
        epoch += 1
        row = {
            "epoch": epoch,
            "step": step,
            "lr": lr_at(recipe, step - 1, epoch - 1),
            "train_loss": round(train_loss, 6),
            "train_acc": round(100.0 * correct.item() / seen, 4),
            "test_loss": round(test["loss"], 6),
            "test_acc": round(test["top1_acc"], 4),
            "seconds": round(elapsed, 3),
        }
        history.append(row)
        log_metrics({k: v for k, v in row.items() if k not in ("epoch", "step")}, epoch)
        reporter.epoch(row)
        _atomic_save(
            {
                "config_hash": run.config_hash(),
                "seed": seed,
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "generator": train_loader.state_dict()["generator"],
                "torch_rng": torch.get_rng_state(),
                "step": step,
                "epoch": epoch,
                "history": history,
                "elapsed": elapsed,
            },
            ckpt_path,
        )
    reporter.close()

    _atomic_save(
        {"config": run.name, "model": run.model, "config_hash": run.config_hash(), "state_dict": model.state_dict()},
        out_dir / MODEL,
    )
    _write_history(history, out_dir / HISTORY)
    best = max(history, key=lambda r: r["test_acc"])
    metrics = {
        "config": run.name,
        "seed": seed,
        "steps": step,
        "epochs": epoch,
        "final_test_acc": history[-1]["test_acc"],
        "best_test_acc": best["test_acc"],
        "best_epoch": best["epoch"],
        "train_seconds": round(elapsed, 3),
        "params": trainable_params(model),
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
    }
    write_json(metrics, out_dir / METRICS)
    ckpt_path.unlink(missing_ok=True)  # finished: nothing left to resume
    return TrainResult(metrics, history, model)
