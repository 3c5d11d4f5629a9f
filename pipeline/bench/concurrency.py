"""``repro bench --processes``: aggregate training throughput of N processes sharing one device.

N spawned processes (N = 1, 2, 4, ...: several seeds at once) run the benchmark's timed training loop;
a barrier lines up their timed windows, and the aggregate images/s is compared with N = 1.
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Callable

import torch

from ..catalog import Configuration, get_configuration
from ..execution import Execution
from ..inventory import input_shape
from .machine import environment, load_average
from .timing import BenchError, execution_dict, execution_on, facts, measure, measuring, rounded


def _concurrent_worker(index, run, exe, batch, steps, warmup, setup, barrier, queue) -> None:
    """One of N processes: the bench training loop; all timed windows start together (the barrier)."""
    try:
        if setup is not None:
            setup()
        exe.apply()  # CPU threads of this process
        with measuring(exe):
            r = measure(run, run.recipe, exe, batch, 0, steps, warmup, ready=lambda: barrier.wait(timeout=3600))
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
    config: Configuration | str,
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
    run = get_configuration(config) if isinstance(config, str) else config
    exe = execution_on(exe, device)
    device = exe.device
    batch = batch_size or run.recipe.batch_size
    counts = list(dict.fromkeys(processes))
    if not counts or min(counts) < 1 or steps < 1 or warmup < 0 or batch < 1:
        raise ValueError(
            f"need processes >= 1, steps >= 1, warmup >= 0, batch >= 1"
            f" (got processes {processes}, steps {steps}, warmup {warmup}, batch {batch})"
        )
    load = [load_average()]
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
    load.append(load_average())
    classes, size = input_shape(run)
    env = environment(device)
    env.pop("threads")  # the parent's; each process's count is in the rows
    return rounded(
        {
            **facts(run, classes, size, batch, steps, warmup),
            "processes": counts,
            **env,
            "execution": execution_dict(exe),
            "results": rows,
            "best_processes": best["processes"],
            "load_average_1min": load,  # before and after: other work on the device skews every figure
        }
    )


def describe(result: dict) -> str:
    """One line for the terminal."""
    rows = ", ".join(
        f"N={r['processes']} {r['aggregate_images_per_s']:,.1f}"
        + (f" (×{r['ratio_to_one']:.2f})" if r["ratio_to_one"] is not None else "")
        for r in result["results"]
    )
    return f"{result['config']} on {result['device_name']}: aggregate img/s train {rows}"
