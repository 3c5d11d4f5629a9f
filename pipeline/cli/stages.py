"""The tracked stages (what dvc.yaml runs): fetch, train, evaluate, render; and sync."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Annotated

import typer

from .base import Config, app, err, fail, guard, state

ConfigHash = Annotated[
    str | None, typer.Option(help="Refuse unless the configuration's hash is this (dvc.yaml passes params.yaml's).")
]


def expect_hash(config: str, expected: str | None) -> None:
    """dvc.yaml's command carries the hash `repro sync` saw; a different one now means params.yaml is stale."""
    from ..catalog import get_configuration
    from ..errors import ReproError

    actual = get_configuration(config).config_hash()
    if expected is not None and expected != actual:
        raise ReproError(
            f"params.yaml lists {config} with configuration hash {expected}, the catalog gives {actual}; "
            "run `repro sync`"
        )


@app.command()
def fetch(
    dataset: Annotated[str, typer.Argument(help="Dataset name, e.g. cifar10.")],
    archive: Annotated[Path | None, typer.Option(help="A pre-downloaded official archive.")] = None,
) -> None:
    """Fetch a dataset (verify, extract safely, parse) into data/prepared/<dataset> (smoke profile: smoke/data/)."""
    from ..stages.fetch import fetch as stage

    path, manifest = guard(stage, state.project, dataset, archive)
    counts = ", ".join(f"{s} {c['images']:,}" for s, c in manifest["splits"].items())
    err.print(f"prepared {dataset} at {path}: {counts} images, {len(manifest['classes'])} classes")


@app.command()
def train(
    config: Config,
    seed: Annotated[int, typer.Option(help="Random seed of this run.")] = 0,
    resume: Annotated[bool, typer.Option(help="Resume from the last complete checkpoint.")] = True,
    retrain: Annotated[
        bool, typer.Option("--retrain", help="Train a finished run again (its result is moved aside).")
    ] = False,
    config_hash: ConfigHash = None,
) -> None:
    """Train one configuration with one seed into runs/<config>-s<seed>/ (smoke profile: smoke/runs/)."""
    from ..bench.preflight import preflight
    from ..stages.train import Finished
    from ..stages.train import train as stage

    guard(expect_hash, config, config_hash)
    gpu = functools.partial(preflight, state.project, config, seed)  # full profile without a GPU: the estimate
    done = guard(stage, state.project, config, seed, resume, retrain=retrain, before=gpu)
    if isinstance(done, Finished):
        err.print(done.message, highlight=False, soft_wrap=True, markup=False)
        return
    result = done
    m = result.metrics
    err.print(f"{config} seed {seed}: final test acc {m['final_test_acc']:.2f}% after {m['steps']} steps")


@app.command()
def evaluate(
    config: Config,
    seed: Annotated[int, typer.Option(help="Seed of the run to evaluate.")] = 0,
    config_hash: ConfigHash = None,
) -> None:
    """Evaluate a trained run on the held-out test split; write runs/<config>-s<seed>/eval.json (smoke: smoke/runs/)."""
    from ..stages.evaluate import evaluate as stage

    guard(expect_hash, config, config_hash)
    print(json.dumps(guard(stage, state.project, config, seed)))


@app.command()
def render() -> None:
    """Render every source table into paper_tables/ (smoke profile: smoke/paper_tables/): reported beside reproduced."""
    from ..stages.render import render as stage

    written = guard(stage, state.project)
    err.print(f"rendered {len(written)} files into {state.project.tables_dir}")


@app.command()
def sync(
    check: Annotated[bool, typer.Option("--check", help="Only report whether params.yaml is in sync.")] = False,
) -> None:
    """Write the catalog's runs (with code deps and configuration hash), datasets and roots into params.yaml."""
    from ..sync import sync_params

    project = state.project
    profile = guard(lambda: project.profile)  # from params.yaml unless --profile: a malformed file is one line
    changed = guard(sync_params, project.root / "params.yaml", profile, write=not check)
    if check and changed:
        fail("params.yaml runs/datasets are out of date with reproduce/*.yaml; run `repro sync`", 1)
    err.print("params.yaml " + ("updated" if changed and not check else "is in sync"))
