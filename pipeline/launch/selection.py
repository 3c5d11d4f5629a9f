"""Which (configuration, seed) runs a launch, status or cancel is about.

The universe is params.yaml's generated ``runs`` (what DVC expands: ``train@<key>``, ``evaluate@<key>``).
A selection narrows it by configuration names or shell globs, ``--source``, ``--table`` and ``--seeds``;
every filter must match something, else the error names the closest valid values.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass

from ..catalog import load_catalog
from ..names import did_you_mean
from .config import LaunchError


@dataclass(frozen=True)
class RunRef:
    key: str  # <config>-s<seed>, the DVC stage instance
    config: str
    seed: int
    source: str
    dataset: str


def parse_seeds(text: str | None) -> set[int] | None:
    """``0,2,5-7`` → {0, 2, 5, 6, 7}; None → every seed."""
    if text is None:
        return None
    seeds: set[int] = set()
    try:
        for part in text.split(","):
            lo, _, hi = part.strip().partition("-")
            seeds |= set(range(int(lo), int(hi or lo) + 1))
    except ValueError:
        raise LaunchError(f"--seeds {text!r}: use seeds and ranges separated by commas, e.g. 0,1 or 0-4") from None
    if not seeds:
        raise LaunchError(f"--seeds {text!r} selects no seed; e.g. 0-4")
    return seeds


def table_configs(table: str) -> set[str]:
    """The configurations reported in a source table: ``<source>/<table>`` or ``<source>-<table>``
    (the rendered file's name), or a table key that only one source uses."""
    catalog = load_catalog()
    names = {f"{sid}/{key}": (sid, key) for sid, src in catalog.items() for key in src.tables}
    by_file = {f"{sid}-{key}": name for name, (sid, key) in names.items()}
    by_key: dict[str, list[str]] = {}
    for name, (_, key) in names.items():
        by_key.setdefault(key, []).append(name)
    name = table if table in names else by_file.get(table)
    if name is None and len(by_key.get(table, [])) == 1:
        name = by_key[table][0]
    if name is None:
        if len(by_key.get(table, [])) > 1:
            raise LaunchError(f"--table {table!r} is in several sources; name one: {', '.join(by_key[table])}")
        raise LaunchError(
            f"unknown table {table!r}.{did_you_mean(table, list(names) + list(by_file))} Use <source>/<table>"
        )
    sid, key = names[name]
    return set(catalog[sid].configurations_in(key))


def select(
    runs: dict,
    patterns: list[str] | None = None,
    source: str | None = None,
    table: str | None = None,
    seeds: str | None = None,
) -> list[RunRef]:
    """``runs`` is params.yaml's generated block ({key: RunEntry}); returns the selected runs in its order."""
    if not runs:
        raise LaunchError("params.yaml lists no runs; run `repro sync` first")
    refs = [RunRef(key, e.config, e.seed, e.source, e.dataset) for key, e in runs.items()]
    configs = sorted({r.config for r in refs})
    if patterns:
        for pattern in patterns:
            if not any(fnmatch.fnmatchcase(c, pattern) for c in configs):
                raise LaunchError(
                    f"{pattern!r} matches no configuration in params.yaml's runs.{did_you_mean(pattern, configs)}"
                    " See `repro list` (and `repro sync` after a catalog change)"
                )
        refs = [r for r in refs if any(fnmatch.fnmatchcase(r.config, p) for p in patterns)]
    if source is not None:
        sources = sorted({r.source for r in refs})
        if source not in sources:
            raise LaunchError(f"--source {source!r} has no run in this selection.{did_you_mean(source, sources)}")
        refs = [r for r in refs if r.source == source]
    if table is not None:
        wanted = table_configs(table)
        refs = [r for r in refs if r.config in wanted]
        if not refs:
            raise LaunchError(f"--table {table!r} has no run in this selection (its configurations: {sorted(wanted)})")
    wanted_seeds = parse_seeds(seeds)
    if wanted_seeds is not None:
        available = sorted({r.seed for r in refs})
        refs = [r for r in refs if r.seed in wanted_seeds]
        if not refs:
            raise LaunchError(
                f"--seeds {seeds} selects no run; params.yaml has seeds {available} for this selection"
                " (the smoke profile runs seed 0 only)"
            )
    return refs
