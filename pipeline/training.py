"""The training loop: one configuration, one seed, the recipe as written in the catalog.

Reads like airbench: build data, model and optimiser from the recipe, step through the schedule,
evaluate at each epoch end (validation for selection and early stopping where the source had a
validation split; the test split only for the curves), checkpoint atomically, and write the
history, final weights and a metrics file into the run folder (``rundir.py``). Execution options
(``execution.py``) change speed, never the recipe.
"""

from __future__ import annotations

import contextlib
import math
import os
import statistics
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from .catalog import Configuration, Recipe, changed_fields
from .data import corrupt_labels, load_split, read_manifest, split_validation
from .data.augment import Augment
from .data.loader import DeviceLoader, Normalize, normalizer
from .errors import TrainingDiverged
from .execution import (
    Execution,
    autocast,
    distributed,
    grad_scaler,
    maybe_compile,
    record_nondeterminism,
    seed_everything,
    to_format,
)
from .models import create_model, trainable_params
from .progress import EpochReporter
from .rundir import CHECKPOINT, TRAIN_METRICS, Checkpoint, RunDir


# --------------------------------------------------------------------------- data
@dataclass
class Loaders:
    train: DeviceLoader
    val: DeviceLoader | None
    test: DeviceLoader
    num_classes: int
    info: dict = field(default_factory=dict)  # dataset facts recorded with the run


def augment_of(recipe: Recipe) -> Augment:
    return Augment(**recipe.augment.model_dump())


def build_loaders(
    recipe: Recipe,
    data_dir: Path,
    device: torch.device,
    seed: int,
    shard: tuple[int, int] = (0, 1),
    eval_cap: int | None = None,
) -> Loaders:
    """Train/validation/test loaders exactly as the recipe describes (split, noise, normalisation).
    Under DistributedDataParallel each rank takes its ``shard`` of every global batch."""
    manifest = read_manifest(data_dir)
    num_classes = len(manifest["classes"])
    v = recipe.validation
    train, val = split_validation(
        load_split(data_dir, "train"), v.kind, size=v.size, fraction=v.fraction, train_size=v.train_size, seed=seed
    )
    test = load_split(data_dir, "test")
    if eval_cap is not None:
        test = test.take(slice(0, eval_cap))
        val = None if val is None else val.take(slice(0, eval_cap))
    info = {
        "dataset": manifest["dataset"],
        "dataset_title": manifest.get("title", manifest["dataset"]),
        "synthetic": bool(manifest.get("synthetic")),
        "train_images": len(train.y),
        "val_images": 0 if val is None else len(val.y),
        "test_images": len(test.y),
    }
    if recipe.label_noise:
        noisy, fraction = corrupt_labels(train.y, recipe.label_noise, num_classes, seed)
        train = type(train)(train.x, noisy)
        info["label_noise_corrupted_fraction"] = round(fraction, 6)
    n = recipe.normalize
    norm = Normalize(n.kind, constants=n.constants, scale=n.scale)
    fit_train = normalizer(norm, train.x, device)

    def norm_for(split):  # Keras quirk: statistics fitted on each split separately
        return normalizer(norm, split.x, device) if n.fit == "each_split" else fit_train

    eval_batch = max(recipe.batch_size, 256)
    drop_last = recipe.drop_last and len(train.y) >= recipe.batch_size  # Keras: floor(n / batch) steps
    return Loaders(
        train=DeviceLoader(
            train,
            recipe.batch_size,
            device,
            fit_train,
            augment_of(recipe),
            shuffle=True,
            seed=seed,
            drop_last=drop_last,
            shard=shard,
        ),
        val=None if val is None else DeviceLoader(val, eval_batch, device, norm_for(val)),
        test=DeviceLoader(test, eval_batch, device, norm_for(test)),
        num_classes=num_classes,
        info=info,
    )


# --------------------------------------------------------------------------- optimisation
def make_optimizer(model: nn.Module, recipe: Recipe, impl: str | None = None) -> torch.optim.Optimizer:
    """SGD or Adam; weight decay on every parameter, or (Keras Dense L2) on the classifier weight only.

    ``impl`` picks the kernel, never the update rule: "foreach" (multi-tensor), "fused" (one kernel),
    "loop" (per parameter), "auto" (fused on CUDA, torch's default elsewhere), None (torch's default)."""
    if recipe.weight_decay_scope == "classifier_weight":
        classifier = [m for m in model.modules() if isinstance(m, nn.Linear)][-1]
        decayed = {id(classifier.weight)}
        groups = [
            {"params": [p for p in model.parameters() if id(p) in decayed], "weight_decay": recipe.weight_decay},
            {"params": [p for p in model.parameters() if id(p) not in decayed], "weight_decay": 0.0},
        ]
    else:
        groups = [{"params": list(model.parameters()), "weight_decay": recipe.weight_decay}]
    if recipe.optimizer == "adam":
        cls, options = torch.optim.Adam, {"lr": recipe.lr, "eps": recipe.adam_epsilon}
    else:
        cls, options = torch.optim.SGD, {"lr": recipe.lr, "momentum": recipe.momentum, "nesterov": recipe.nesterov}
    cuda = next(model.parameters()).device.type == "cuda"
    kernel = {"foreach": {"foreach": True}, "fused": {"fused": True}, "loop": {"foreach": False}}.get(impl, {})
    if impl == "auto" and cuda:
        kernel = {"fused": True}
    try:
        return cls(groups, **options, **kernel)
    except (RuntimeError, ValueError, TypeError) as exc:  # fused needs a supported device and floating-point parameters
        if "fused" not in kernel:
            raise
        if impl == "fused":  # asked for explicitly: say so; "auto" falls back silently
            print(f"warning: fused {cls.__name__} unavailable ({exc}); using foreach", file=sys.stderr, flush=True)
        return cls(groups, **options, foreach=True)


def load_optimizer_state(optimizer: torch.optim.Optimizer, state: dict) -> None:
    """Load a checkpointed optimiser state, keeping this run's kernel choice (torch would restore the
    saved foreach/fused flags, so a changed ``optimizer_impl`` would be ignored on resume)."""
    groups = [
        {**saved, **{k: live[k] for k in ("foreach", "fused") if k in live}}
        for saved, live in zip(state["param_groups"], optimizer.param_groups, strict=True)
    ]
    optimizer.load_state_dict({**state, "param_groups": groups})


def lr_at(recipe: Recipe, step: int, epoch: int, plateau_factor: float = 1.0) -> float:
    """Learning rate for optimiser step ``step`` (0-based) in ``epoch`` (0-based)."""
    s = recipe.schedule
    lr = recipe.lr
    if s.kind == "multistep":
        position = step if s.unit == "iteration" else epoch
        lr *= s.gamma ** sum(position >= m for m in s.milestones)
    elif s.kind == "plateau":
        lr = max(lr * plateau_factor, s.min_lr)
    if s.inverse_time_decay:
        lr /= 1.0 + s.inverse_time_decay * step  # Keras SGD(decay=...)
    if step < s.warmup_iterations:
        lr *= (step + 1) / s.warmup_iterations  # linear warm-up, before step k: lr·k/N
    return lr


@dataclass
class Monitor:
    """Plateau schedule and early stopping state, driven by the validation metric once per epoch."""

    mode_max: bool = True
    best: float | None = None
    bad_epochs: int = 0
    plateau_bad: int = 0
    plateau_factor: float = 1.0

    def update(self, value: float, recipe: Recipe) -> bool:
        """Record this epoch's value; return True when early stopping says stop."""
        improved = self.best is None or (value > self.best if self.mode_max else value < self.best)
        if improved:
            self.best, self.bad_epochs, self.plateau_bad = value, 0, 0
        else:
            self.bad_epochs += 1
            self.plateau_bad += 1
        if recipe.schedule.kind == "plateau" and self.plateau_bad > recipe.schedule.patience:
            self.plateau_factor *= recipe.schedule.gamma
            self.plateau_bad = 0
        es = recipe.early_stopping
        return es is not None and self.bad_epochs >= es.patience


def train_step(step_model: nn.Module, optimizer: torch.optim.Optimizer, x, y, exe: Execution, scaler):
    """One optimiser step: forward (autocast), cross-entropy on float logits, backward, update (through
    ``scaler``, ``execution.grad_scaler(exe)``: a GradScaler for fp16, else None). Returns the loss and
    logits, detached and still on the device (no host sync)."""
    if exe.cuda_graphs:  # reduce-overhead: a new step, the previous step's graph outputs may be reused
        torch.compiler.cudagraph_mark_step_begin()
    with autocast(exe):
        logits = step_model(to_format(x, exe))
        loss = F.cross_entropy(logits.float(), y)
    optimizer.zero_grad(set_to_none=True)
    if scaler is None:
        loss.backward()
        optimizer.step()
    else:  # fp16: scale the loss against underflow; a step with inf/nan gradients is skipped
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
    return loss.detach(), logits.detach()


# --------------------------------------------------------------------------- evaluation
@torch.no_grad()
def evaluate_split(model: nn.Module, loader: DeviceLoader, topk=(1, 5), exe: Execution | None = None) -> dict:
    """Loss and top-k accuracy (%), accumulated on the device and read once."""
    model.eval()
    device = loader.y.device
    loss, hits, n = torch.zeros((), device=device), torch.zeros(len(topk), device=device), 0
    for x, y in loader:
        if exe is not None and exe.cuda_graphs:
            torch.compiler.cudagraph_mark_step_begin()
        with autocast(exe):
            logits = model(to_format(x, exe)).float()
        loss += F.cross_entropy(logits, y, reduction="sum")
        top = logits.topk(min(max(topk), logits.shape[1]), dim=1).indices
        hits += torch.stack([(top[:, :k] == y[:, None]).any(1).sum() for k in topk]).float()
        n += len(y)
    model.train()
    values = hits.tolist()
    return {"loss": loss.item() / n, **{f"top{k}_acc": 100.0 * v / n for k, v in zip(topk, values, strict=True)}}


# --------------------------------------------------------------------------- the loop
@dataclass
class TrainResult:
    metrics: dict
    history: list[dict]
    model: nn.Module


def train(
    config: Configuration,
    recipe: Recipe,
    seed: int,
    data_dir: Path,
    out_dir: Path,
    exe: Execution = Execution(),
    log_metrics=lambda metrics, step: None,
    resume: bool = True,
    log_every: float = 60.0,
    lock: bool = True,
    provenance: dict | None = None,
) -> TrainResult:
    """Train ``config`` with ``recipe`` and ``seed`` into ``out_dir``: checkpoint, model, history, metrics.
    Outside a terminal a progress line is printed every ``log_every`` seconds within an epoch. ``lock=False``:
    the caller holds the run's lock already. ``provenance`` (profile, config hash, data digest) is recorded in
    train.json."""
    run = RunDir(out_dir, config.name, seed)
    rank = int(os.environ.get("RANK", "0"))
    with run.lock() if rank == 0 and lock else contextlib.nullcontext(), record_nondeterminism() as warned:
        return _train(config, recipe, run, data_dir, exe, log_metrics, resume, log_every, provenance or {}, warned)


def _train(
    config, recipe, run: RunDir, data_dir, exe, log_metrics, resume, log_every, provenance, warned
) -> TrainResult:
    exe.apply()
    rank, world, device = distributed(exe.device)
    if world > 1 and recipe.batch_size % world:
        raise ValueError(f"batch {recipe.batch_size} does not split over {world} processes; use a divisor")
    lead = rank == 0  # only the first rank writes files, logs and checkpoints
    run.path.mkdir(parents=True, exist_ok=True)
    seed_everything(run.seed, replace(exe, device=device))
    data = build_loaders(recipe, data_dir, device, run.seed, shard=(rank, world), eval_cap=exe.eval_cap)

    model = create_model(config.model, data.num_classes, **config.model_options).to(device)  # holds the weights
    if exe.channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = make_optimizer(model, recipe, exe.optimizer_impl)
    scaler = grad_scaler(exe)
    if world > 1:  # gradients are averaged over ranks: the global batch is the recipe's
        net = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    else:
        net = model
    net = maybe_compile(net, exe.compile)  # runs every forward, training and evaluation
    epoch_steps = min(len(data.train), exe.epoch_steps_cap or len(data.train))
    total_steps = recipe.iterations or recipe.epochs * epoch_steps
    total_epochs = math.ceil(total_steps / epoch_steps)
    monitor = Monitor(mode_max=recipe.early_stopping is None or recipe.early_stopping.monitor == "val_acc")

    step, epoch, history, elapsed, stopped_early = 0, 0, [], 0.0, False
    config_hash = config.config_hash()
    ckpt = run.load_checkpoint(device) if resume else None
    if ckpt is not None and (ckpt.config_hash != config_hash or ckpt.seed != run.seed):
        if lead:
            _set_aside(run, ckpt, config, config_hash)
        ckpt = None
    if ckpt is not None:
        model.load_state_dict(ckpt.model)
        load_optimizer_state(optimizer, ckpt.optimizer)
        data.train.load_state_dict({"generator": ckpt.generator})
        torch.set_rng_state(ckpt.torch_rng)
        step, epoch, history, elapsed = ckpt.step, ckpt.epoch, ckpt.history, ckpt.elapsed
        monitor = Monitor(**ckpt.monitor)
        if scaler is not None and ckpt.scaler:
            scaler.load_state_dict(ckpt.scaler)

    label = f"{config.name} seed {run.seed}"
    reporter = EpochReporter(label, total_epochs, history, every=log_every) if lead else None
    model.train()
    while step < total_steps and not stopped_early:
        t0 = time.perf_counter()
        if reporter is not None:
            reporter.begin_epoch()
        loss_sum, correct, seen = torch.zeros((), device=device), torch.zeros((), device=device), 0
        for i, (x, y) in enumerate(data.train):
            if i == epoch_steps or step == total_steps:
                break
            lr = lr_at(recipe, step, epoch, monitor.plateau_factor)
            for group in optimizer.param_groups:
                group["lr"] = lr
            loss, logits = train_step(net, optimizer, x, y, exe, scaler)
            loss_sum += loss * len(y)
            correct += (logits.argmax(1) == y).sum()
            seen += len(y)
            step += 1
            if reporter is not None and reporter.due():  # the clock only: no host sync in the step loop
                reporter.within(epoch + 1, i + 1, epoch_steps, step, total_steps, seen * world)
        totals = torch.stack([loss_sum, correct.float(), torch.tensor(float(seen), device=device)])
        if world > 1:
            dist.all_reduce(totals)
        loss_total, correct_total, seen = totals.tolist()  # the one host sync of the epoch
        train_time = time.perf_counter() - t0  # training steps only (the sync above ends them)
        train_loss = loss_total / seen
        if not math.isfinite(train_loss):
            raise TrainingDiverged(
                f"{config.name} seed {run.seed}: loss is {train_loss} in epoch {epoch + 1} (step {step}); "
                "lower the learning rate or check the data"
            )
        row = {"epoch": epoch + 1, "step": step, "lr": lr, "train_loss": round(train_loss, 6)}
        row["train_acc"] = round(100.0 * correct_total / seen, 4)
        if data.val is not None:
            val = evaluate_split(net, data.val, exe=exe)
            row |= {"val_loss": round(val["loss"], 6), "val_acc": round(val["top1_acc"], 4)}
        test = evaluate_split(net, data.test, exe=exe)
        row |= {"test_loss": round(test["loss"], 6), "test_acc": round(test["top1_acc"], 4)}
        epoch_time = time.perf_counter() - t0
        elapsed += epoch_time
        row["seconds"] = round(elapsed, 3)  # cumulative wall time, evaluation included
        row["epoch_train_seconds"] = round(train_time, 3)  # this epoch's training steps only
        row["epoch_eval_seconds"] = round(epoch_time - train_time, 3)  # this epoch's validation + test passes
        epoch += 1
        history.append(row)
        if data.val is not None:
            monitored = row["val_acc"] if monitor.mode_max else row["val_loss"]
            stopped_early = monitor.update(monitored, recipe)
        if not lead:
            continue
        log_metrics({k: v for k, v in row.items() if k not in ("epoch", "step")}, epoch)
        reporter.epoch(row)
        run.save_checkpoint(
            Checkpoint(
                config_hash=config_hash,
                seed=run.seed,
                model=model.state_dict(),
                optimizer=optimizer.state_dict(),
                generator=data.train.state_dict()["generator"],
                torch_rng=torch.get_rng_state(),
                step=step,
                epoch=epoch,
                history=history,
                elapsed=elapsed,
                monitor=monitor.__dict__,
                scaler=None if scaler is None else scaler.state_dict(),
                config=config.canonical(),
            )
        )
    if not lead:
        return TrainResult({}, history, model)
    reporter.close()

    run.save_weights(config.name, config.model, config_hash, model.state_dict())
    run.write_history(history)
    metrics = summarize(config, recipe, run.seed, history, data.info, model, device, stopped_early) | provenance
    # the execution as resolved, and the kernels that warned they stay nondeterministic
    metrics["execution"] = replace(exe, device=device).record() | {"nondeterministic_kernels": list(warned)}
    run.write_metrics(TRAIN_METRICS, metrics)
    run.remove_checkpoint()  # finished: nothing left to resume
    return TrainResult(metrics, history, model)


def _set_aside(run: RunDir, ckpt: Checkpoint, config, config_hash: str) -> None:
    """A checkpoint of another configuration or seed: say which fields changed (old → new), keep it
    as ``checkpoint.pt.<old hash>`` and start over."""
    if ckpt.seed != run.seed:
        why = f"seed: {ckpt.seed} → {run.seed}"
    elif ckpt.config:
        why = "; ".join(changed_fields(ckpt.config, config.canonical())) or "no field differs"
    else:
        why = "written before checkpoints named their fields"
    aside = run.file(CHECKPOINT).with_name(f"{CHECKPOINT}.{ckpt.config_hash}")
    run.file(CHECKPOINT).replace(aside)
    print(
        f"warning: {run.file(CHECKPOINT)} is of configuration hash {ckpt.config_hash}, now {config_hash} ({why}); "
        f"kept it as {aside.name} and starting the run over",
        file=sys.stderr,
        flush=True,
    )


def epoch_time_metrics(history: list[dict]) -> dict:
    """Training and evaluation time per epoch, kept apart (rows of checkpoints written before these
    keys existed have neither: then nothing is returned)."""
    train = [r["epoch_train_seconds"] for r in history if "epoch_train_seconds" in r]
    evals = [r["epoch_eval_seconds"] for r in history if "epoch_eval_seconds" in r]
    if len(train) != len(history) or not train:
        return {}
    later = train[1:] or train  # Columbia's "average time to run one epoch (excluding first epoch)"
    return {
        "train_seconds_per_epoch": round(statistics.fmean(train), 3),  # mean, training steps only
        "train_seconds_per_epoch_excl_first": round(statistics.fmean(later), 3),
        "eval_seconds_per_epoch": round(statistics.fmean(evals), 3),
        "training_only_seconds": round(sum(train), 3),  # all epochs, evaluation excluded
    }


def summarize(run, recipe, seed, history, info, model, device, stopped_early) -> dict:
    """The run's metrics: final and best-over-epochs accuracies, the source's window, cost, data facts."""
    best = max(history, key=lambda r: r["test_acc"])
    epoch_times = [b["seconds"] - a["seconds"] for a, b in zip([{"seconds": 0.0}, *history], history, strict=False)]
    metrics = {
        "config": run.name,
        "seed": seed,
        "steps": history[-1]["step"],
        "epochs": len(history),
        "stopped_early": stopped_early,
        "final_test_acc": history[-1]["test_acc"],
        "final_test_error": round(100 - history[-1]["test_acc"], 4),
        "best_test_acc": best["test_acc"],  # selected on the test set: only where the source did so
        "best_test_error": round(100 - best["test_acc"], 4),
        "best_epoch": best["epoch"],
        "final_train_acc": history[-1]["train_acc"],
        "final_train_error": round(100 - history[-1]["train_acc"], 4),
        "min_test_loss": min(r["test_loss"] for r in history),
        "train_seconds": round(history[-1]["seconds"], 3),
        "seconds_per_epoch": round(statistics.median(epoch_times), 3),  # median over epochs, evaluation included
        **epoch_time_metrics(history),
        "params": trainable_params(model),
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        **info,
    }
    if "val_acc" in history[-1]:
        best_val = max(history, key=lambda r: r["val_acc"])
        metrics |= {
            "final_val_acc": history[-1]["val_acc"],
            "final_val_error": round(100 - history[-1]["val_acc"], 4),
            "best_val_acc": best_val["val_acc"],
        }
    if recipe.best_window:
        lo, hi = recipe.best_window
        window = [r["test_acc"] for r in history if lo <= r["epoch"] <= hi]
        if window:
            metrics["best_window_test_acc"] = max(window)
    return metrics
