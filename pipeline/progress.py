"""Progress: a rich bar in a terminal; one plain log line per epoch otherwise (DVC logs, CI)."""

from __future__ import annotations

import sys

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

console = Console(stderr=True)


class EpochReporter:
    def __init__(self, label: str, total: int, start: int = 0):
        self.label = label
        self.progress = None
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
            self.task = self.progress.add_task(label, total=total, completed=start, status="")

    def epoch(self, row: dict) -> None:
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
