"""Speed benchmarks and a cost plan for the catalog, on synthetic tensors (no data files needed).

``bench`` times one catalog configuration twice in the same process: the fast path (the given
:class:`~pipeline.training.Execution`: bf16 autocast, channels_last, torch.compile mode, optimiser
kernels as configured) and a plain eager fp32 loop of the same model (torch's default optimiser
kernels), each for training and then eval-mode inference. A timed step is the training loop's own
:func:`~pipeline.training.train_step` with the recipe's optimiser (``make_optimizer``): forward,
cross-entropy on float logits, backward, optimiser step. Timing starts after ``warmup`` steps
(compilation, cuDNN autotuning, allocator growth happen there); steps are marked with CUDA events
on the GPU (one synchronisation when the times are read), ``perf_counter`` on the CPU. The
execution's determinism setting applies while measuring, as in training.

FLOPs come from ``torch.utils.flop_counter.FlopCounterMode`` around one eager fwd+bwd at batch 2
(meta device, CPU as a fallback), divided by 2: 2 FLOPs per MAC, convolutions and matrix products
only (BN, activations, pooling and the attention masks' element-wise products count zero), so the
achieved TFLOP/s is a lower bound on the arithmetic the device really does. The convolution
backward uses a corrected formula: torch's own ignores ``groups`` and overcounts depthwise convs.

``plan`` turns short benchmarks into an estimate of the whole catalog's wall time on this device:
steps in the full recipe × the measured step time, plus one evaluation pass (validation + test
images at the measured inference speed) per epoch, × runs (seeds).

``concurrency`` runs the same timed training loop in N independent processes at once (N = 1, 2, 4,
...: several seeds sharing one device; ``Execution.threads`` CPU threads each) and reports the
aggregate training images/s against N = 1. All three return plain JSON-able dicts; ``repro bench``
and ``repro plan`` run them with ``params.yaml``'s ``train:`` options, ``python -m pipeline.bench``
(:func:`main`) with options from flags, for several configurations into one file.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, replace

import torch
import torch.nn.functional as F

from .catalog import Recipe, Run, all_runs, get_run
from .training import Execution, autocast, make_optimizer, maybe_compile, to_format, train_step

# Dense BF16 tensor-core peak (FLOP/s), by a substring of torch.cuda.get_device_name().
PEAK_BF16 = {"H200": 989e12, "H100": 989e12, "A100": 312e12}
# Official test-set sizes (DatasetSource records only the training-set size).
TEST_IMAGES = {"cifar10": 10_000, "cifar100": 10_000, "tinyimagenet": 10_000, "cifar10-jpeg": 10_000}


class BenchError(RuntimeError):
    """A benchmark process failed or died."""


# --------------------------------------------------------------------------- facts about the machine
def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "cpu":
        return cpu_name()
    return str(device)


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "cpu"


def peak_flops(name: str) -> float | None:
    """The device's dense BF16 peak, when its name is in :data:`PEAK_BF16`; None otherwise (CPUs)."""
    return next((peak for key, peak in PEAK_BF16.items() if key in name), None)


def environment(device: torch.device) -> dict:
    name = device_name(device)
    env = {
        "device": str(device),
        "device_name": name,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "peak_bf16_flops": peak_flops(name) if device.type == "cuda" else None,
    }
    if device.type == "cuda":
        env |= {
            "cuda": torch.version.cuda,
            "cudnn": torch.backends.cudnn.version(),
            "tf32_conv": torch.backends.cudnn.allow_tf32,
            "tf32_matmul": torch.backends.cuda.matmul.allow_tf32,
        }
    return env


def _load_average() -> float | None:
    """The 1-minute load average (other work on the machine skews every figure); None where unknown."""
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else None


# --------------------------------------------------------------------------- helpers
def _execution_on(exe: Execution | None, device: torch.device | str | None) -> Execution:
    """``exe`` (default: plain execution) on ``device`` (default: ``exe``'s device, else the CPU)."""
    if device is None:
        device = exe.device if exe is not None else "cpu"
    return replace(exe or Execution(), device=torch.device(device))


def shape_of(run: Run) -> tuple[int, int]:
    """(classes, image size) of the run's dataset; the model's own defaults where it is not registered."""
    from .data import DATASETS
    from .models import model_info

    if run.dataset in DATASETS:
        src = DATASETS[run.dataset]
        return src.num_classes, src.image_size
    info = model_info(run.model)
    return info.default_classes, info.input_size


def _conv_backward_flop(
    grad_out_shape, x_shape, w_shape, _bias, _stride, _padding, _dilation, transposed, _out_pad, _groups, mask, **_
) -> int:
    """Conv backward = the forward count per requested gradient (input, weight). torch's own formula
    ignores ``groups`` and so overcounts depthwise convolutions by the group count (64× and more)."""
    from torch.utils.flop_counter import conv_flop_count

    return conv_flop_count(x_shape, w_shape, grad_out_shape, transposed=transposed) * (int(mask[0]) + int(mask[1]))


def train_flops_per_image(run: Run) -> tuple[float, float]:
    """(forward, forward+backward) FLOPs per image, counted on one eager train-mode step at batch 2."""
    from torch.utils.flop_counter import FlopCounterMode

    from .models import create_model

    classes, size = shape_of(run)
    for where in ("meta", "cpu"):  # meta: shapes only, instant; CPU if some op has no meta kernel
        try:
            with torch.device(where):
                model = create_model(run.model, classes, **run.model_options).train()
                x = torch.randn(2, 3, size, size)
                y = torch.randint(0, classes, (2,))
            mapping = {torch.ops.aten.convolution_backward: _conv_backward_flop}
            with FlopCounterMode(display=False, custom_mapping=mapping) as counter:
                loss = F.cross_entropy(model(x).float(), y)
                forward = counter.get_total_flops()
                loss.backward()
            return forward / 2, counter.get_total_flops() / 2
        except Exception:
            if where == "cpu":
                raise
    raise AssertionError("unreachable")


@contextlib.contextmanager
def _measuring(exe: Execution):
    """The training loop's determinism setting for the benchmark's duration (restored afterwards), with
    ``exe``'s CUDA device current (events, streams)."""
    saved = (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
        torch.backends.cudnn.benchmark,
    )
    if exe.deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
    on_device = torch.cuda.device(exe.device) if exe.device.type == "cuda" else contextlib.nullcontext()
    try:
        with on_device:
            yield
    finally:
        torch.use_deterministic_algorithms(saved[0], warn_only=saved[1])
        torch.backends.cudnn.benchmark = saved[2]


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


def _measure(
    run: Run,
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
    from .models import create_model

    device = exe.device
    classes, size = shape_of(run)
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
    step_model = maybe_compile(model, exe.compile)
    x = to_format(torch.randn(batch, 3, size, size, device=device), exe)
    y = torch.randint(0, classes, (batch,), device=device)

    model.train()
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(warmup):
        train_step(step_model, optimizer, x, y, exe)
    _sync(device)
    warmup_s = time.perf_counter() - t0
    if ready is not None:
        ready()
    window_start = time.time()  # wall clock: comparable between processes
    clock = _Clock(device)
    clock.mark()
    for _ in range(steps):
        loss, _ = train_step(step_model, optimizer, x, y, exe)
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


def _execution_dict(exe: Execution) -> dict:
    d = asdict(exe)
    d["device"] = str(exe.device)
    return d


# --------------------------------------------------------------------------- bench
def bench(
    run: Run | str,
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
    run = get_run(run) if isinstance(run, str) else run
    exe_fast = _execution_on(exe_fast, device)
    device = exe_fast.device
    exe_eager = Execution(device=device, deterministic=exe_fast.deterministic, optimizer_impl=None)  # torch defaults
    batch = batch_size or run.recipe.batch_size
    infer_batch = batch if infer_batch is None else infer_batch
    if steps < 1 or warmup < 0 or batch < 1:
        raise ValueError(f"need steps >= 1, warmup >= 0, batch >= 1 (got {steps}, {warmup}, {batch})")
    classes, size = shape_of(run)
    fwd_flops, train_flops = train_flops_per_image(run)
    env = environment(device)
    peak = env["peak_bf16_flops"]

    modes = {"fast": exe_fast, "eager": exe_eager} if eager else {"fast": exe_fast}
    results = {}
    with _measuring(exe_fast):
        for mode, exe in modes.items():
            r = _measure(run, run.recipe, exe, batch, infer_batch, steps, warmup)
            r["train_tflops"] = train_flops * r["train_images_per_s"] / 1e12
            if "inference_images_per_s" in r:
                r["inference_tflops"] = fwd_flops * r["inference_images_per_s"] / 1e12
            r["percent_of_peak_bf16"] = None if peak is None else 100 * r["train_tflops"] * 1e12 / peak
            r["execution"] = _execution_dict(exe)
            results[mode] = r
    out = {
        **_facts(run, classes, size, batch, steps, warmup),
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
    return _rounded(out)


def _facts(run: Run, classes: int, size: int, batch: int, steps: int, warmup: int) -> dict:
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


def _rounded(obj, digits: int = 6):
    """Floats to ``digits`` significant figures, recursively (readable JSON, stable diffs)."""
    if isinstance(obj, float):
        return float(f"{obj:.{digits}g}") if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _rounded(v, digits) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_rounded(v, digits) for v in obj]
    return obj


# --------------------------------------------------------------------------- concurrency
def _concurrent_worker(index, run, exe, batch, steps, warmup, setup, barrier, queue) -> None:
    """One of N processes: the bench training loop; all timed windows start together (the barrier)."""
    try:
        if setup is not None:
            setup()
        exe.apply()  # CPU threads of this process
        with _measuring(exe):
            r = _measure(run, run.recipe, exe, batch, 0, steps, warmup, ready=lambda: barrier.wait(timeout=3600))
        queue.put((index, r | {"threads": torch.get_num_threads(), "pid": os.getpid()}))
    except BaseException as exc:  # report it; a broken barrier releases the others
        barrier.abort()
        queue.put((index, f"{type(exc).__name__}: {exc}"))


def _run_processes(n, run, exe, batch, steps, warmup, setup) -> list[dict]:
    """Start ``n`` spawned processes, collect one result each (raises if any fails or dies)."""
    import multiprocessing as mp
    import queue as queue_module

    ctx = mp.get_context("spawn")  # a fresh interpreter each: no forked CUDA or thread-pool state
    barrier, results = ctx.Barrier(n), ctx.Queue()
    procs = [
        ctx.Process(target=_concurrent_worker, args=(i, run, exe, batch, steps, warmup, setup, barrier, results))
        for i in range(n)
    ]
    for p in procs:
        p.start()
    got: dict[int, dict | str] = {}
    try:
        while len(got) < n:
            try:
                index, r = results.get(timeout=1.0)
                got[index] = r
            except queue_module.Empty:
                dead = [p for i, p in enumerate(procs) if i not in got and p.exitcode not in (None, 0)]  # crashed
                if dead:
                    barrier.abort()
                    code = dead[0].exitcode
                    raise BenchError(f"a benchmark process exited with code {code} before reporting") from None
    finally:
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.terminate()
                p.join()
    errors = [r for r in got.values() if isinstance(r, str)]
    if errors:
        raise BenchError(f"a benchmark process failed: {errors[0]}")
    return [got[i] for i in range(n)]


def concurrency(
    config: Run | str,
    processes: list[int],
    batch_size: int | None = None,
    steps: int = 20,
    warmup: int = 5,
    exe: Execution | None = None,
    device: torch.device | str | None = None,
    setup: Callable[[], object] | None = None,
) -> dict:
    """Aggregate training images/s when N independent processes train ``config`` at once on one device.

    For each N in ``processes``, N spawned processes run ``bench``'s timed loop (synthetic data, the
    recipe's optimiser, the execution options of ``exe``: its device, precision, compile mode, optimiser
    kernels and ``threads`` per process); a barrier lines up their timed windows. ``setup`` (a picklable function)
    runs first in every process, e.g. to register a model. ``ratio_to_one`` needs 1 in ``processes``.
    """
    run = get_run(config) if isinstance(config, str) else config
    exe = _execution_on(exe, device)
    device = exe.device
    batch = batch_size or run.recipe.batch_size
    counts = list(dict.fromkeys(processes))
    if not counts or min(counts) < 1 or steps < 1 or warmup < 0 or batch < 1:
        raise ValueError(
            f"need processes >= 1, steps >= 1, warmup >= 0, batch >= 1"
            f" (got processes {processes}, steps {steps}, warmup {warmup}, batch {batch})"
        )
    load = [_load_average()]
    rows = []
    for n in counts:
        per = _run_processes(n, run, exe, batch, steps, warmup, setup)
        starts, ends = [r["window"][0] for r in per], [r["window"][1] for r in per]
        span = max(ends) - min(starts)
        rates = [r["train_images_per_s"] for r in per]
        rows.append(
            {
                "processes": n,
                "aggregate_images_per_s": n * batch * steps / span,  # all timed images ÷ the union of the windows
                "sum_of_process_images_per_s": sum(rates),
                "per_process_images_per_s": rates,
                "mean_process_images_per_s": statistics.mean(rates),
                "step_ms_median": [r["step_ms_median"] for r in per],
                "window_overlap": max(0.0, min(ends) - max(starts)) / span,  # share of the span all N ran
                "threads_per_process": per[0]["threads"],
                "loss_finite": all(r["loss_finite"] for r in per),
            }
        )
    base = next((r["aggregate_images_per_s"] for r in rows if r["processes"] == 1), None)
    for r in rows:
        r["ratio_to_one"] = None if base is None else r["aggregate_images_per_s"] / base
        r["efficiency"] = None if base is None else r["ratio_to_one"] / r["processes"]
    best = max(rows, key=lambda r: r["aggregate_images_per_s"])
    load.append(_load_average())
    classes, size = shape_of(run)
    env = environment(device)
    env.pop("threads")  # the parent's; each process's count is in the rows
    return _rounded(
        {
            **_facts(run, classes, size, batch, steps, warmup),
            "processes": counts,
            **env,
            "execution": _execution_dict(exe),
            "results": rows,
            "best_processes": best["processes"],
            "load_average_1min": load,  # before and after: other work on the device skews every figure
        }
    )


# --------------------------------------------------------------------------- plan
def schedule_of(run: Run, recipe: Recipe | None = None) -> dict:
    """Steps, epochs and images evaluated per epoch of one run of the full recipe."""
    from .data import DATASETS

    recipe = recipe or run.recipe
    official = DATASETS[run.dataset].train_images if run.dataset in DATASETS else 50_000
    v = recipe.validation
    if v.kind == "last":
        train, val = official - (v.size or 0), v.size or 0
    elif v.kind in ("fraction", "keras-subset"):
        val = round(official * (v.fraction or 0))
        train = official - val
    elif v.kind == "leaked":
        train, val = v.train_size or official, v.size or 0
    elif v.kind == "random":
        val = v.size or round(official * (v.fraction or 0))
        train = official - val
    else:
        train, val = official, 0
    epoch_steps = (train // recipe.batch_size) if recipe.drop_last else math.ceil(train / recipe.batch_size)
    steps = recipe.iterations or recipe.epochs * epoch_steps
    epochs = math.ceil(steps / epoch_steps)
    test = TEST_IMAGES.get(run.dataset, 10_000)
    return {
        "train_images": train,
        "val_images": val,
        "test_images": test,
        "epoch_steps": epoch_steps,
        "steps": steps,
        "epochs": epochs,
        "eval_images_per_epoch": val + test,
    }


def plan(
    runs: list[str] | None = None,
    device: torch.device | str | None = None,
    exe: Execution | None = None,
    steps: int = 10,
    warmup: int = 3,
    limit: int | None = None,
    batch_size: int | None = None,
    progress=None,
) -> dict:
    """Estimated wall time of training ``runs`` (default: every configuration without ``requires``).

    Each distinct (model, options, batch, classes, image size) is benchmarked once on the fast path
    (``exe``) with ``steps`` timed steps. ``batch_size`` overrides the benchmark batch (cheap CPU
    plans); the recipe's batch is then extrapolated from the measured time per image. ``limit``
    keeps the first ``limit`` selected configurations. ``progress(message)`` is called per benchmark.
    """
    catalog = all_runs()
    names = list(catalog) if runs is None else list(runs)
    unknown = [n for n in names if n not in catalog]
    if unknown:
        get_run(unknown[0])  # raises CatalogError with a did-you-mean hint
    selected = [catalog[n] for n in names if not catalog[n].requires]
    skipped = [n for n in names if catalog[n].requires]
    if limit is not None:
        selected = selected[:limit]
    exe = _execution_on(exe, device)
    device = exe.device

    measured: dict[str, dict] = {}
    rows = []
    for run in selected:
        classes, size = shape_of(run)
        batch = batch_size or run.recipe.batch_size
        key = json.dumps([run.model, run.model_options, batch, classes, size], sort_keys=True)
        if key not in measured:
            if progress is not None:
                progress(f"bench {run.name} ({run.model}, batch {batch})")
            measured[key] = bench(run, batch, steps=steps, warmup=warmup, exe_fast=exe, eager=False) | {
                "first_config": run.name
            }
        m = measured[key]
        sched = schedule_of(run)
        fast = m["fast"]
        step_s = run.recipe.batch_size / fast["train_images_per_s"]  # = measured step time at the recipe batch
        train_s = sched["steps"] * step_s
        eval_s = sched["epochs"] * sched["eval_images_per_epoch"] / fast["inference_images_per_s"]
        per_run = train_s + eval_s
        rows.append(
            {
                "config": run.name,
                "model": run.model,
                "dataset": run.dataset,
                "batch_size": run.recipe.batch_size,
                "bench_batch_size": batch,
                "extrapolated": batch != run.recipe.batch_size,
                **sched,
                "runs": run.runs,
                "step_ms": 1e3 * step_s,
                "train_images_per_s": fast["train_images_per_s"],
                "inference_images_per_s": fast["inference_images_per_s"],
                "train_seconds_per_run": train_s,
                "eval_seconds_per_run": eval_s,
                "seconds_per_run": per_run,
                "seconds": per_run * run.runs,
                "train_pflop": run.runs * sched["steps"] * run.recipe.batch_size * m["train_flops_per_image"] / 1e15,
            }
        )
    total_s = sum(r["seconds"] for r in rows)
    hours = total_s / 3600
    return _rounded(
        {
            **environment(device),
            "execution": _execution_dict(exe),
            "steps": steps,
            "warmup": warmup,
            "batch_size_override": batch_size,
            "configs": rows,
            "skipped_requires": skipped,
            "benchmarks": len(measured),
            "total_runs": sum(r["runs"] for r in rows),
            "total_seconds": total_s,
            "total_hours": hours,
            "gpu_hours": hours if device.type == "cuda" else None,
            "total_train_pflop": sum(r["train_pflop"] for r in rows),
        }
    )


# --------------------------------------------------------------------------- python -m pipeline.bench
def main(argv: list[str] | None = None) -> None:
    """Benchmark several configurations into one JSON file (how benchmarks/results-cpu.json is made)."""
    import argparse
    import sys
    from datetime import datetime, timezone
    from pathlib import Path

    from .files import write_json
    from .training import resolve_device

    ap = argparse.ArgumentParser(prog="python -m pipeline.bench", description=main.__doc__)
    ap.add_argument("configs", nargs="+", help="catalog configuration names")
    ap.add_argument("--batch-size", type=int, default=None, help="default: each recipe's batch")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--bf16", action="store_true", help="fast path: bf16 autocast")
    ap.add_argument("--channels-last", action="store_true", help="fast path: channels_last")
    ap.add_argument(
        "--compile-mode", choices=["off", "default", "reduce-overhead", "max-autotune"], default="off",
        help="fast path: torch.compile mode",
    )  # fmt: skip
    ap.add_argument(
        "--compile", dest="compile_mode", action="store_const", const="default",
        help="fast path: torch.compile (= --compile-mode default)",
    )  # fmt: skip
    ap.add_argument(
        "--optimizer-impl", choices=["auto", "foreach", "fused", "loop"], default="auto",
        help="fast path: optimiser kernels (auto: fused on CUDA, torch's default on the CPU)",
    )  # fmt: skip
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    ap.add_argument(
        "--processes", default=None, help="e.g. 1,2,4: concurrent training processes instead of fast vs eager"
    )
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    device = resolve_device(args.device)
    exe = Execution(
        device=device,
        bf16=args.bf16,
        channels_last=args.channels_last,
        compile=None if args.compile_mode == "off" else args.compile_mode,
        optimizer_impl=args.optimizer_impl,
        threads=args.threads,
    )
    exe.apply()  # CPU threads
    processes = [int(n) for n in args.processes.split(",")] if args.processes else None
    load_start = _load_average()
    results = []
    for name in args.configs:
        print(f"bench {name} ...", file=sys.stderr, flush=True)
        if processes:
            results.append(concurrency(name, processes, args.batch_size, steps=args.steps, warmup=args.warmup, exe=exe))
        else:
            results.append(bench(name, args.batch_size, steps=args.steps, warmup=args.warmup, exe_fast=exe))
    doc = {
        **environment(device),
        "date": datetime.now(timezone.utc).date().isoformat(),
        "command": "python -m pipeline.bench " + " ".join(argv if argv is not None else sys.argv[1:]),
        "fast_execution": _execution_dict(exe),
        "load_average_1min": [load_start, _load_average()],
        "results": results,
    }
    if args.out:
        write_json(doc, args.out)
    print(json.dumps(doc, indent=2))


if __name__ == "__main__":
    main()
