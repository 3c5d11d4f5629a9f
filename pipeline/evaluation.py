"""Evaluate a trained run on the held-out test split from its saved weights."""

from __future__ import annotations

import time
from pathlib import Path

import torch

from .catalog import Recipe, Run
from .data import load_split, read_manifest
from .data.loader import DeviceLoader, normalizer
from .models import create_model, macs_per_image, trainable_params
from .training import MODEL, evaluate_split, make_normalize, write_json

EVAL = "eval.json"


class CheckpointError(RuntimeError):
    pass


def load_weights(run: Run, path: Path, num_classes: int, device: torch.device) -> torch.nn.Module:
    """Rebuild the model and load weights, refusing weights from another configuration."""
    if not path.is_file():
        raise CheckpointError(f"no weights at {path}; run `repro train {run.name}` first")
    state = torch.load(path, map_location=device, weights_only=True)
    if state.get("config") != run.name or state.get("config_hash") != run.config_hash():
        raise CheckpointError(
            f"{path} holds weights of {state.get('config')!r} (hash {state.get('config_hash')}), "
            f"not of {run.name!r} (hash {run.config_hash()}); retrain with `repro train {run.name}`"
        )
    model = create_model(run.model, num_classes, **run.model_options).to(device)
    model.load_state_dict(state["state_dict"])
    return model


def evaluate(run: Run, recipe: Recipe, run_dir: Path, data_dir: Path, device: torch.device) -> dict:
    manifest = read_manifest(data_dir)
    model = load_weights(run, run_dir / MODEL, len(manifest["classes"]), device)
    norm = normalizer(make_normalize(recipe), load_split(data_dir, "train").x, device)
    loader = DeviceLoader(load_split(data_dir, "test"), 256, device, norm)
    t0 = time.perf_counter()
    scores = evaluate_split(model, loader)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - t0
    n = len(loader.y)
    metrics = {
        "config": run.name,
        "top1_acc": round(scores["top1_acc"], 4),
        "top1_error": round(100.0 - scores["top1_acc"], 4),
        "top5_acc": round(scores["top5_acc"], 4),
        "top5_error": round(100.0 - scores["top5_acc"], 4),
        "test_loss": round(scores["loss"], 6),
        "test_images": n,
        "params": trainable_params(model),
        "macs": macs_per_image(model.cpu(), manifest["image_shape"][0]),
        "images_per_second": round(n / seconds, 1),
    }
    write_json(metrics, run_dir / EVAL)
    return metrics
