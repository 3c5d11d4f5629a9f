"""What every command shares: the typer app, the consoles, the project, one-line errors."""

from __future__ import annotations

import json
import signal
import threading
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from ..errors import ReproError
from ..settings import PROFILES, Project, project_root

app = typer.Typer(
    no_args_is_help=True,
    help="Reproduce attention-network papers: fetch, train, evaluate, render.",
    pretty_exceptions_enable=False,
)
out = Console()
err = Console(stderr=True)


class State:
    project: Project


state = State()


def fail(message: str, code: int = 2) -> None:
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


@app.callback()
def main(
    profile: Annotated[
        str | None, typer.Option(help=f"Profile: {' | '.join(PROFILES)} (default: params.yaml).")
    ] = None,
    root: Annotated[Path | None, typer.Option(help="Project root (default: current folder).")] = None,
) -> None:
    if profile is not None and profile not in PROFILES:
        fail(f"unknown profile {profile!r}; use one of {', '.join(PROFILES)}")
    state.project = Project(project_root(root), profile)
    if threading.current_thread() is threading.main_thread():  # `kill`, `dvc queue kill`: stop like Ctrl-C
        signal.signal(signal.SIGTERM, _interrupt)


def _interrupt(signum, _frame) -> None:
    raise KeyboardInterrupt(f"signal {signum}")  # runs the same clean-up as Ctrl-C (MLflow run KILLED)


def guard(fn, *args, **kwargs):
    """Run ``fn``; turn the errors a user can fix into one-line messages."""
    try:
        return fn(*args, **kwargs)
    except ReproError as exc:
        fail(str(exc))
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM (see _interrupt): one line, exit 130 like a shell
        how = str(exc) or "Ctrl-C"
        err.print(
            f"interrupted ({how}); files written so far are complete: rerun the command to continue",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(130) from None
    except OSError as exc:  # e.g. a full disk while writing a checkpoint
        fail(f"{exc.strerror or exc}: {exc.filename or ''}; free space or fix permissions, then rerun (it resumes)")


def print_json(result: dict, out_path: Path | None) -> None:
    """``result`` as JSON on stdout and, with ``--out``, written atomically to ``out_path`` too."""
    from ..files import write_json

    if out_path is not None:
        out_path.parent.mkdir(parents=True, exist_ok=True)
        write_json(result, out_path)
    print(json.dumps(result, indent=2))


Config = Annotated[str, typer.Argument(help="Configuration name (see `repro list`).")]
