"""Atomic file writes: a temporary file beside the target, renamed over it once complete.

A crash, Ctrl-C or a full disk never leaves a torn file, and the previous version survives until
the new one is whole. (No torch import: tables, stages and figures use these too.)
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` to write; rename it over ``path`` once the block
    succeeds, remove it if the block fails."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json(obj: dict, path: Path) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")
