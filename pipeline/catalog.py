"""The catalog: one YAML per source document in ``reproduce/``, validated on load.

Each file declares the source (citation), its default recipe, its configurations (dataset,
model + options, recipe overrides, number of runs, reported figures with their exact meaning)
and the layout of each table the source printed. Errors name the file, line and key.
"""

from __future__ import annotations

import hashlib
import json
from functools import cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, PositiveInt, ValidationError, model_validator

CATALOG_DIR = Path(__file__).resolve().parent.parent / "reproduce"


class CatalogError(ValueError):
    """A catalog file is malformed; the message names file, line and key."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Schedule(Strict):
    """Step decay: multiply the learning rate by ``gamma`` at each milestone."""

    kind: Literal["multistep", "constant"] = "multistep"
    unit: Literal["iteration", "epoch"] = "epoch"
    milestones: list[PositiveInt] = []
    gamma: PositiveFloat = 0.1


class Recipe(Strict):
    optimizer: Literal["sgd", "adam"] = "sgd"
    nesterov: bool = False
    lr: PositiveFloat = 0.1
    momentum: float = Field(0.9, ge=0, lt=1)
    weight_decay: float = Field(0.0, ge=0)
    batch_size: PositiveInt = 128
    iterations: PositiveInt | None = None  # stop after this many optimiser steps ...
    epochs: PositiveInt | None = None  # ... or after this many epochs
    schedule: Schedule = Schedule()
    crop_padding: int = Field(0, ge=0)  # zero-pad + random crop
    hflip: bool = False
    normalize: Literal["per_pixel_mean", "per_channel", "constants", "none"] = "none"
    norm_mean: tuple[float, float, float] | None = None
    norm_std: tuple[float, float, float] | None = None
    init: str = "model-default"  # which initialisation the model builder applies

    @model_validator(mode="after")
    def _length(self):
        if (self.iterations is None) == (self.epochs is None):
            raise ValueError("give exactly one of iterations or epochs")
        if self.normalize == "constants" and (self.norm_mean is None or self.norm_std is None):
            raise ValueError("normalize: constants needs norm_mean and norm_std")
        return self


class Reported(Strict):
    """One figure the source printed, and where it sits in the source's table."""

    metric: str  # key in the evaluate metrics, e.g. top1_error
    value: float
    unit: Literal["%", "s", "count"] = "%"
    meaning: str  # e.g. "top-1 test error of the final model"
    table: str
    row: str
    column: str


class Configuration(Strict):
    dataset: str
    model: str
    model_options: dict = {}
    recipe: dict = {}  # overrides of the source's default recipe
    runs: PositiveInt = 1  # runs (seeds) the source reports over
    reported: list[Reported] = []
    notes: str = ""  # assumptions and quirks, shown under the rendered table


class Table(Strict):
    caption: str
    rows: list[str]
    columns: list[str]


class Source(Strict):
    id: str
    title: str
    citation: str
    url: str = ""
    recipe: dict = {}
    configurations: dict[str, Configuration]  # keyed by the configuration's unique name
    tables: dict[str, Table] = {}

    @model_validator(mode="after")
    def _cells_exist(self):
        for name, cfg in self.configurations.items():
            for rep in cfg.reported:
                table = self.tables.get(rep.table)
                if table is None or rep.row not in table.rows or rep.column not in table.columns:
                    raise ValueError(f"{name}: reported cell {rep.table}/{rep.row}/{rep.column} is not in tables")
        return self


class Run(Strict):
    """A resolved configuration: the catalog entry with its recipe merged and checked."""

    name: str
    source: str
    dataset: str
    model: str
    model_options: dict
    recipe: Recipe
    runs: int
    reported: list[Reported]
    notes: str

    def config_hash(self) -> str:
        blob = json.dumps(self.model_dump(exclude={"reported", "notes", "runs"}), sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:12]


def _line_of(node: yaml.Node, loc: tuple) -> int:
    """Best line (1-based) for a pydantic error location inside a composed YAML node."""
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            nxt = next((v for k, v in node.value if k.value == key), None)
            if nxt is None:
                break
            node = nxt
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
        else:
            break
    return node.start_mark.line + 1


def _validate(model, data: dict, node: yaml.Node, path: Path):
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"]) or "(top level)"
        raise CatalogError(f"{path}:{_line_of(node, err['loc'])}: {key}: {err['msg']}") from None


def load_source(path: Path) -> Source:
    text = path.read_text()
    try:
        node, data = yaml.compose(text), yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else 0
        raise CatalogError(f"{path}:{line}: not valid YAML ({getattr(exc, 'problem', exc)})") from None
    if not isinstance(data, dict):
        raise CatalogError(f"{path}:1: expected a mapping with id, title, citation, configurations")
    source = _validate(Source, data, node, path)
    if source.id != path.stem:
        raise CatalogError(
            f"{path}:{_line_of(node, ('id',))}: id: {source.id!r} must equal the file name {path.stem!r}"
        )
    for name, cfg in source.configurations.items():
        try:
            Recipe.model_validate({**source.recipe, **cfg.recipe})
        except ValidationError as exc:
            err = exc.errors()[0]
            key = ".".join(str(p) for p in err["loc"]) or "recipe"
            where = ("configurations", name, "recipe", *err["loc"]) if key in cfg.recipe else ("recipe", *err["loc"])
            raise CatalogError(
                f"{path}:{_line_of(node, where)}: configurations.{name}.recipe.{key}: {err['msg']}"
            ) from None
    return source


def check_references(source: Source, path: Path) -> None:
    """Models and datasets named in the catalog must exist (imports kept local: they are heavy)."""
    from .data import DATASETS
    from .models import list_models

    models = set(list_models())
    node = yaml.compose(path.read_text())
    for name, cfg in source.configurations.items():
        if cfg.model not in models:
            import difflib

            close = difflib.get_close_matches(cfg.model, models, n=3)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            line = _line_of(node, ("configurations", name, "model"))
            raise CatalogError(f"{path}:{line}: configurations.{name}.model: unknown model {cfg.model!r}{hint}")
        if cfg.dataset not in DATASETS:
            line = _line_of(node, ("configurations", name, "dataset"))
            raise CatalogError(f"{path}:{line}: configurations.{name}.dataset: unknown dataset {cfg.dataset!r}")


@cache
def load_catalog(directory: Path = CATALOG_DIR, check: bool = True) -> dict[str, Source]:
    sources: dict[str, Source] = {}
    names: dict[str, str] = {}
    for path in sorted(directory.glob("*.yaml")):
        source = load_source(path)
        if check:
            check_references(source, path)
        for name in source.configurations:
            if name in names:
                raise CatalogError(f"{path}: configuration {name!r} also defined in {names[name]}")
            names[name] = path.name
        sources[source.id] = source
    return sources


def all_runs(directory: Path = CATALOG_DIR) -> dict[str, Run]:
    runs = {}
    for source in load_catalog(directory).values():
        for name, cfg in source.configurations.items():
            runs[name] = Run(
                name=name,
                source=source.id,
                dataset=cfg.dataset,
                model=cfg.model,
                model_options=cfg.model_options,
                recipe=Recipe.model_validate({**source.recipe, **cfg.recipe}),
                runs=cfg.runs,
                reported=cfg.reported,
                notes=cfg.notes,
            )
    return runs


def get_run(name: str, directory: Path = CATALOG_DIR) -> Run:
    runs = all_runs(directory)
    if name not in runs:
        import difflib

        close = difflib.get_close_matches(name, runs, n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise CatalogError(f"unknown configuration {name!r}.{hint} Run `repro list` for valid names.")
    return runs[name]
