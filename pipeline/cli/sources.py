"""Commands for writing a new source: schema (the catalog's JSON Schema) and check-source."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from .base import app, err, fail, guard, state


def schema_text() -> str:
    from ..catalog import catalog_schema

    return json.dumps(catalog_schema(), indent=2, ensure_ascii=False) + "\n"


@app.command()
def schema(
    out: Annotated[Path | None, typer.Option(help="Where to write it (default: reproduce/schema.json).")] = None,
) -> None:
    """Write the JSON Schema of a catalog file (from the pydantic models) for editors and reviewers."""
    from ..catalog import CATALOG_DIR
    from ..files import write_text

    path = out or CATALOG_DIR / "schema.json"
    guard(write_text, path, schema_text())
    err.print(f"wrote {path}")


@app.command("check-source")
def check_source(
    path: Annotated[Path, typer.Argument(help="The catalog file, e.g. reproduce/<id>.yaml.")],
    config: Annotated[str | None, typer.Option(help="Configuration to smoke-run (default: the first).")] = None,
    scratch: Annotated[
        Path | None, typer.Option(help="Scratch folder, outside the checkout (default: a new temp one).")
    ] = None,
) -> None:
    """Check a new source in a scratch folder: validate, build and count every model, smoke-run one
    configuration end to end (sync, fetch, train, evaluate), render its tables. Never writes to the checkout."""
    from ..errors import ReproError
    from ..stages.check_source import check_source as check

    folder = scratch or Path(tempfile.mkdtemp(prefix=f"repro-check-{path.stem}-"))
    try:
        report = check(path, state.project.root, folder, config, lambda m: err.print(f"check-source: {m}"))
    except ReproError as exc:
        lines = str(exc).splitlines()
        for line in lines[1:]:
            err.print(line, highlight=False, soft_wrap=True)
        fail(lines[0], 1)
    for name, (params, macs) in report.counts.items():
        print(f"{name}: {params:,} parameters, {macs:,} MACs per image")
    print(f"smoke run {report.smoke}: {report.run_dir}")
    for table in report.tables:
        print(f"table: {table}")
    print(f"logs: {report.scratch / 'logs'}; scratch folder: {report.scratch} (remove it when done)")
