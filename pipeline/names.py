"""Suggestions for unknown names (models, datasets, configurations, attention types)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """`` Did you mean a, b?`` for the closest valid names, or ``""`` when none is close."""
    close = difflib.get_close_matches(name, list(choices), n=3)
    return f" Did you mean {', '.join(close)}?" if close else ""
