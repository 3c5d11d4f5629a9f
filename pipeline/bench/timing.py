"""``repro bench``: training and inference throughput of one configuration on synthetic tensors.

``bench`` times one catalog configuration twice in the same process: the fast path (the given
:class:`~pipeline.execution.Execution`: bf16 autocast, channels_last, torch.compile mode, optimiser
kernels as configured) and a plain eager fp32 loop of the same model (torch's default optimiser
kernels), each for training and then eval-mode inference. A timed step is the training loop's own
:func:`~pipeline.training.train_step` with the recipe's optimiser (``make_optimizer``). Timing starts
after ``warmup`` steps (compilation, cuDNN autotuning, allocator growth happen there); steps are
marked with CUDA events on the GPU (one synchronisation when the times are read), ``perf_counter``
on the CPU. The training loop's determinism setting applies while measuring.

FLOPs per image come from ``models.cost.train_flops_per_image`` (2 FLOPs per MAC, convolutions and
matrix products only), so the achieved TFLOP/s is a lower bound on the arithmetic the device does.
"""

from __future__ import annotations

import contextlib
import math
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, replace

import torch

from ..catalog import Configuration, Recipe, get_configuration
from ..errors import ReproError
from ..execution import Execution, autocast, determinism, grad_scaler, maybe_compile, to_format
from ..inventory import input_shape
from ..models import train_flops_per_image
from ..training import make_optimizer, train_step
from .machine import environment


class BenchError(ReproError, RuntimeError):
    """A benchmark process failed or died."""


def execution_on(exe: Execution | None, device: torch.device | str | None) -> Execution:
    """``exe`` (default: plain execution) on ``device`` (default: ``exe``'s device, else the CPU)."""
    if device is None:
        device = exe.device if exe is not None else "cpu"
    return replace(exe or Execution(), device=torch.device(device))


@contextlib.contextmanager
def measuring(exe: Execution):
    """The training loop's determinism setting (``execution.determinism``, restored afterwards), with
    ``exe``'s CUDA device current (events, streams)."""
    on_device = torch.cuda.device(exe.device) if exe.device.type == "cuda" else contextlib.nullcontext()
    with determinism(exe), on_device:
        yield


class _Clock:
    """Marks between steps: CUDA events on the GPU (no host sync inside the timed region), else perf_counter."""

    def __init__(self, device: torch.device):
        self.cuda = device.type == "cuda"
        self.marks: list = []

    def mark(self) -> None:
        if self.cuda:
            event = torch.cuda.Event(enable_timing=True)
            event.record()
            self.marks.append(event)
        else:
            self.marks.append(time.perf_counter())

    def intervals(self) -> list[float]:
        """Seconds between consecutive marks (synchronises the device first)."""
        if self.cuda:
            torch.cuda.synchronize()
            return [a.elapsed_time(b) / 1e3 for a, b in zip(self.marks, self.marks[1:], strict=False)]
        return [b - a for a, b in zip(self.marks, self.marks[1:], strict=False)]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _rss() -> int | None:
    try:
        import psutil

        return psutil.Process().memory_info().rss
    except Exception:  # psutil missing or unsupported platform
        return None


def _frames() -> tuple[int, int]:
    """(frames dynamo compiled, frames it tried) so far in this process."""
    from torch._dynamo.utils import counters

    return counters["frames"]["ok"], counters["frames"]["total"]


def measure(
    run: Configuration,
    recipe: Recipe,
    exe: Execution,
    batch: int,
    infer_batch: int,
    steps: int,
    warmup: int,
    ready: Callable[[], object] | None = None,
) -> dict:
    """Train and inference throughput of one execution mode. ``ready`` is called between the warm-up
    and the timed steps (``concurrency``: a barrier); the timed window's wall-clock bounds are then recorded."""
    from ..models import create_model

    device = exe.device
    classes, size = input_shape(run)
    torch.manual_seed(0)
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    rss0 = _rss()
    frames0 = _frames() if exe.compile else None
    model = create_model(run.model, classes, **run.model_options).to(device)
    if exe.channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = make_optimizer(model, recipe, exe.optimizer_impl)
    scaler = grad_scaler(exe)  # fp16: timed with its loss scaling, as training runs it
    step_model = maybe_compile(model, exe.compile)
    x = to_format(torch.randn(batch, 3, size, size, device=device), exe)
    y = torch.randint(0, classes, (batch,), device=device)

    model.train()
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(warmup):
        train_step(step_model, optimizer, x, y, exe, scaler)
    _sync(device)
    warmup_s = time.perf_counter() - t0
    if ready is not None:
        ready()
    window_start = time.time()  # wall clock: comparable between processes
    clock = _Clock(device)
    clock.mark()
    for _ in range(steps):
        loss, _ = train_step(step_model, optimizer, x, y, exe, scaler)
        clock.mark()
    times = clock.intervals()
    window_end = time.time()
    final_loss = float(loss)
    result = {
        "train_images_per_s": batch * len(times) / sum(times),
        "step_ms_median": 1e3 * statistics.median(times),
        "step_ms_min": 1e3 * min(times),
        "warmup_s": warmup_s,
        "loss_finite": math.isfinite(final_loss),
    }
    if ready is not None:
        result["window"] = [window_start, window_end]
    if infer_batch:
        xi = to_format(torch.randn(infer_batch, 3, size, size, device=device), exe)

        def infer_step():
            if exe.cuda_graphs:
                torch.compiler.cudagraph_mark_step_begin()
            with autocast(exe):
                step_model(xi)

        model.eval()
        with torch.no_grad():
            for _ in range(max(1, warmup)):
                infer_step()
            clock = _Clock(device)
            clock.mark()
            for _ in range(steps):
                infer_step()
                clock.mark()
        times = clock.intervals()
        result["inference_images_per_s"] = infer_batch * len(times) / sum(times)
        result["inference_batch"] = infer_batch
    if device.type == "cuda":
        result["peak_memory_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
        result["memory_kind"] = "cuda max_memory_allocated"
    else:
        rss1 = _rss()
        result["peak_memory_mb"] = None if rss0 is None or rss1 is None else max(0, rss1 - rss0) / 2**20
        result["memory_kind"] = "resident-set growth (psutil)"
    if frames0 is not None:  # compile errors fall back to eager silently (suppress_errors): count them
        (ok1, total1), (ok0, total0) = _frames(), frames0
        result["compiled_frames"], result["eager_fallback_frames"] = ok1 - ok0, (total1 - total0) - (ok1 - ok0)
    return result


def execution_dict(exe: Execution) -> dict:
    d = asdict(exe)
    d["device"] = str(exe.device)
    return d


def bench(
    run: Configuration | str,
    batch_size: int | None = None,
    steps: int = 20,
    warmup: int = 5,
    exe_fast: Execution | None = None,
    device: torch.device | str | None = None,
    infer_batch: int | None = None,
    eager: bool = True,
) -> dict:
    """Throughput of one catalog configuration on synthetic data: the fast path and plain eager fp32.

    ``exe_fast`` defaults to plain execution on ``device`` (default: ``exe_fast.device``, else CPU);
    ``batch_size`` to the recipe's; ``infer_batch`` (0: skip inference) to ``batch_size``.
    ``eager=False`` skips the eager fp32 comparison (``plan`` uses it to halve its cost).
    """
    run = get_configuration(run) if isinstance(run, str) else run
    exe_fast = execution_on(exe_fast, device)
    device = exe_fast.device
    exe_eager = exe_fast.eager()  # fp32, torch's default optimiser
    batch = batch_size or run.recipe.batch_size
    infer_batch = batch if infer_batch is None else infer_batch
    if steps < 1 or warmup < 0 or batch < 1:
        raise ValueError(f"need steps >= 1, warmup >= 0, batch >= 1 (got {steps}, {warmup}, {batch})")
    classes, size = input_shape(run)
    fwd_flops, train_flops = train_flops_per_image(run.model, classes, size, **run.model_options)
    env = environment(device)
    peak = env["peak_bf16_flops"]

    modes = {"fast": exe_fast, "eager": exe_eager} if eager else {"fast": exe_fast}
    results = {}
    with measuring(exe_fast):
        for mode, exe in modes.items():
            r = measure(run, run.recipe, exe, batch, infer_batch, steps, warmup)
            r["train_tflops"] = train_flops * r["train_images_per_s"] / 1e12
            if "inference_images_per_s" in r:
                r["inference_tflops"] = fwd_flops * r["inference_images_per_s"] / 1e12
            r["percent_of_peak_bf16"] = None if peak is None else 100 * r["train_tflops"] * 1e12 / peak
            r["execution"] = execution_dict(exe)
            results[mode] = r
    out = {
        **facts(run, classes, size, batch, steps, warmup),
        "recipe_batch_size": run.recipe.batch_size,
        "forward_flops_per_image": fwd_flops,
        "train_flops_per_image": train_flops,
        **env,
        **results,
    }
    if eager:
        out["speedup_fast_over_eager"] = results["fast"]["train_images_per_s"] / results["eager"]["train_images_per_s"]
        if "inference_images_per_s" in results["fast"]:
            out["inference_speedup_fast_over_eager"] = (
                results["fast"]["inference_images_per_s"] / results["eager"]["inference_images_per_s"]
            )
    return rounded(out)


def facts(run: Configuration, classes: int, size: int, batch: int, steps: int, warmup: int) -> dict:
    """What was benchmarked: the configuration, its model and data shape, and the timing setup."""
    return {
        "config": run.name,
        "source": run.source,
        "model": run.model,
        "model_options": run.model_options,
        "dataset": run.dataset,
        "classes": classes,
        "image_size": size,
        "batch_size": batch,
        "optimizer": run.recipe.optimizer,
        "steps": steps,
        "warmup": warmup,
    }


def rounded(obj, digits: int = 6):
    """Floats to ``digits`` significant figures, recursively (readable JSON, stable diffs)."""
    if isinstance(obj, float):
        return float(f"{obj:.{digits}g}") if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: rounded(v, digits) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [rounded(v, digits) for v in obj]
    return obj


def describe(result: dict) -> str:
    """One line for the terminal."""
    fast, eager = result["fast"]["train_images_per_s"], result["eager"]["train_images_per_s"]
    return (
        f"{result['config']} on {result['device_name']}: {fast:,.0f} img/s train (fast), {eager:,.0f} (eager fp32),"
        f" ×{result['speedup_fast_over_eager']:.2f}"
    )
