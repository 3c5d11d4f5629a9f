"""Progress: a rich bar in a terminal; otherwise (DVC logs, queue and Slurm job logs, CI) one plain
line per epoch, and within a long epoch a line every ``every`` seconds: step k/n, images/s and the
time left in the epoch and the run. The check in the step loop reads the clock only (no host sync)."""

from __future__ import annotations

import math
import sys
import time
from datetime import timedelta

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

console = Console(stderr=True)


def duration(seconds: float) -> str:
    """h:mm:ss, or "?" while unknown."""
    return str(timedelta(seconds=round(seconds))) if math.isfinite(seconds) else "?"


class EpochReporter:
    def __init__(self, label: str, total: int, history: list[dict] = (), every: float = 60.0):
        """``history``: the rows of the epochs already done (a resumed run)."""
        self.label, self.total, self.every = label, total, every
        self.progress = None
        self.eval_times = [r.get("epoch_eval_seconds", 0.0) for r in history]  # epoch-end evaluation seconds
        self.t0 = time.perf_counter()
        self.next_at = math.inf
        if console.is_terminal:
            self.progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[status]}"),
                TimeElapsedColumn(),
                console=console,
                transient=True,
            )
            self.progress.start()
            self.task = self.progress.add_task(label, total=total, completed=len(history), status="")

    def begin_epoch(self) -> None:
        """The epoch's clock starts; its first plain line is due ``every`` seconds from now (not in a terminal)."""
        self.t0 = time.perf_counter()
        self.next_at = math.inf if self.progress is not None else self.t0 + self.every

    def due(self) -> bool:
        """Time for a line within the epoch (cheap: the clock only, called at every step)."""
        return time.perf_counter() >= self.next_at

    def within(
        self, epoch: int, k: int, n: int, step: int, total_steps: int, images: int, eval_seconds: float | None = None
    ) -> None:
        """One line: epoch ``epoch``, step ``k`` of its ``n`` (``step`` of ``total_steps`` in the run),
        ``images`` trained in this epoch so far; ``eval_seconds`` is the evaluation time of one epoch end
        (default: the mean of the epochs reported so far)."""
        if eval_seconds is None:
            eval_seconds = sum(self.eval_times) / len(self.eval_times) if self.eval_times else 0.0
        now = time.perf_counter()
        self.next_at = now + self.every
        spent = now - self.t0
        per_step = spent / k if k else math.inf
        epoch_left = (n - k) * per_step
        epochs_left = max(0, self.total - epoch)
        run_left = (total_steps - step) * per_step + (epochs_left + 1) * eval_seconds
        rate = images / spent if spent > 0 else 0.0
        print(
            f"{self.label}: epoch {epoch}/{self.total} step {k}/{n}, {rate:,.1f} img/s, "
            f"epoch left {duration(epoch_left)}, run left {duration(run_left)}",
            file=sys.stderr,
            flush=True,
        )

    def epoch(self, row: dict) -> None:
        self.eval_times.append(row.get("epoch_eval_seconds", 0.0))
        if self.progress is not None:
            self.progress.update(self.task, advance=1, status=f"test_acc {row['test_acc']:.2f}")
            return
        line = (
            f"epoch {row['epoch']} step {row['step']} lr {row['lr']:.4g} "
            f"train_loss {row['train_loss']:.4f} train_acc {row['train_acc']:.2f} "
            f"test_acc {row['test_acc']:.2f} time {row['seconds']:.1f}s"
        )
        print(f"{self.label}: {line}", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()
