"""The catalog: one YAML per source document in ``reproduce/``, validated on load.

Each file declares the source (citation), its default recipe, its configurations (dataset,
model + options, recipe overrides, number of runs, reported figures with their exact meaning)
and the layout of each table the source printed. Errors name the file, line and key.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from functools import cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import Field, PositiveFloat, PositiveInt, PrivateAttr, ValidationError, field_validator, model_validator

from .catalog_fields import FIELDS
from .names import did_you_mean
from .schema import CatalogError, Strict, line_of, read_yaml, validate_yaml

# REPRO_CATALOG_DIR: another catalog folder (`repro check-source` runs a scratch project on one new file)
CATALOG_DIR = Path(os.environ.get("REPRO_CATALOG_DIR") or Path(__file__).resolve().parent.parent / "reproduce")


class Schedule(Strict):
    """Learning-rate schedule, evaluated before every optimiser step.

    ``multistep``: ×``gamma`` at each milestone (in ``unit``s; a milestone m means "from epoch or
    iteration m on", 0-based). ``plateau``: ×``gamma`` when the validation accuracy has not improved
    for ``patience`` epochs (ReduceLROnPlateau). ``constant``: no decay. On top of any kind:
    ``warmup_iterations`` of linear warm-up (lr·k/N before step k, 1-based) and Keras-style
    inverse-time decay lr/(1 + ``inverse_time_decay``·step).
    """

    kind: Literal["multistep", "constant", "plateau"] = "multistep"
    unit: Literal["iteration", "epoch"] = "epoch"
    milestones: list[PositiveInt] = []
    gamma: PositiveFloat = 0.1
    patience: PositiveInt = 5  # plateau only
    min_lr: float = Field(0.0, ge=0)  # plateau only
    warmup_iterations: int = Field(0, ge=0)
    inverse_time_decay: float = Field(0.0, ge=0)


class Augmentation(Strict):
    """On-device training augmentation, applied in this order."""

    crop_padding: int = Field(0, ge=0)  # zero-pad this many pixels per side, random crop back
    hflip: bool = False  # random horizontal flip, p = 0.5
    rotation: float = Field(0.0, ge=0, le=180)  # random rotation in [-deg, +deg]
    shift: float = Field(0.0, ge=0, lt=1)  # Keras width/height shift: fraction of the size
    zoom: float = Field(0.0, ge=0, lt=1)  # Keras zoom range: scale in [1-zoom, 1+zoom]
    fill: Literal["zeros", "nearest"] = "zeros"  # what rotation/shift/zoom fill with
    interpolation: Literal["nearest", "bilinear"] = "nearest"  # torchvision rotation: nearest; Keras: bilinear
    # rotation/zoom centre, in pixels past the true centre (n-1)/2 along both axes; Keras <= 2.2
    # (keras_preprocessing < 1.1, TF 1.x) used n/2 + 0.5, i.e. 1.0 (see pipeline/data/augment.py)
    center_offset: float = Field(0.0, ge=-1, le=1)


class Normalization(Strict):
    """``per_pixel_mean``: subtract the training mean image; ``per_channel``: per-channel mean/std
    of the training split (``fit: each_split`` = fitted on every split separately, a Keras quirk);
    ``constants``: a named constant set (see pipeline/data); ``none``: pixels in [0, 1]."""

    kind: Literal["per_pixel_mean", "per_channel", "constants", "none"] = "none"
    constants: str | None = None
    fit: Literal["train", "each_split"] = "train"
    scale: PositiveFloat = 1.0  # multiply the result (255: CS231N's raw 0-255 pixel scale)


class Validation(Strict):
    """Validation split carved out of the training set (the official test set is always held out).

    ``last``: the last ``size`` training images; ``fraction``: the last ``fraction`` of them (Keras
    fit(validation_split)); ``keras-subset``: the first ``fraction`` (ImageDataGenerator subsets);
    ``random``: a seeded stratified sample; ``leaked``: train on the first ``train_size`` images,
    validate on the last ``size`` of those same images (Jay4869's leak, kept as a named quirk).
    See pipeline/data/splits.py.
    """

    kind: Literal["none", "last", "fraction", "keras-subset", "random", "leaked"] = "none"
    size: PositiveInt | None = None
    fraction: float | None = Field(None, gt=0, lt=1)
    train_size: PositiveInt | None = None


class EarlyStopping(Strict):
    monitor: Literal["val_acc", "val_loss"] = "val_acc"
    patience: PositiveInt = 10


class Recipe(Strict):
    optimizer: Literal["sgd", "adam"] = "sgd"
    nesterov: bool = False
    lr: PositiveFloat = 0.1
    momentum: float = Field(0.9, ge=0, lt=1)
    weight_decay: float = Field(0.0, ge=0)
    weight_decay_scope: Literal["all", "classifier_weight"] = "all"  # Keras L2 on the Dense kernel only
    adam_epsilon: PositiveFloat = 1e-8  # torch's default; Keras Adam uses 1e-7
    batch_size: PositiveInt = 128
    drop_last: bool = False  # Keras fit: floor(n / batch) steps per epoch, the partial batch is dropped
    iterations: PositiveInt | None = None  # stop after this many optimiser steps ...
    epochs: PositiveInt | None = None  # ... or after this many epochs (the maximum, with early stopping)
    schedule: Schedule = Schedule()
    augment: Augmentation = Augmentation()
    normalize: Normalization = Normalization()
    validation: Validation = Validation()
    early_stopping: EarlyStopping | None = None
    label_noise: float = Field(0.0, ge=0, lt=1)  # symmetric noise level 1 - r (Wang et al. Table 5)
    best_window: tuple[PositiveInt, PositiveInt] | None = None  # epochs (1-based, inclusive) for best_window_test_acc

    @model_validator(mode="after")
    def _consistent(self):
        if (self.iterations is None) == (self.epochs is None):
            raise ValueError("give exactly one of iterations or epochs")
        if self.normalize.kind == "constants" and not self.normalize.constants:
            raise ValueError("normalize.kind constants needs normalize.constants (a named set)")
        if self.early_stopping is not None and self.validation.kind == "none":
            raise ValueError("early_stopping needs a validation split")
        if self.schedule.kind == "plateau" and self.validation.kind == "none":
            raise ValueError("a plateau schedule needs a validation split")
        return self


class Margin(Strict):
    """An equivalence margin δ declared in the catalog (a source, a table or one figure), with its reason.

    ``points``: ±δ in the figure's unit (percentage points for %); ``relative``: ±δ as a fraction of the
    reported value (e.g. 0.1 = ±10%). Exactly one of the two. Undeclared: see README "Verdicts"."""

    points: PositiveFloat | None = None
    relative: PositiveFloat | None = None
    reason: str = Field(min_length=1)

    @model_validator(mode="after")
    def _one(self):
        if (self.points is None) == (self.relative is None):
            raise ValueError("a margin gives exactly one of points or relative (with a reason)")
        return self

    def at(self, reported: float) -> float:
        """δ in the figure's unit at the reported value."""
        return self.points if self.points is not None else self.relative * abs(reported)


class Reported(Strict):
    """One figure the source printed, and where it sits in the source's table."""

    metric: str  # key in the run's metrics (eval.json ∪ train.json), e.g. top1_error
    value: float | str  # a string is a qualitative claim (e.g. "trains better")
    unit: Literal["%", "s", "count", "MACs", "-"] = "%"
    meaning: str  # e.g. "top-1 test error of the final model"
    table: str
    row: str
    column: str
    over_runs: Literal["mean", "max"] = "mean"  # "max": the source printed the best of its runs
    hardware: str | None = None  # where the source measured it (e.g. "Tesla T4"); None = comparable here
    delta: Margin | None = None  # this figure's equivalence margin (else the table's, the source's, the default)
    # the figure as the source printed it (e.g. "337 min"); filled from the YAML scalar ("3.90") when absent
    printed: str | None = None


CURVE_COLUMNS = ("epoch", "split", "metric", "value")
CURVE_SPLITS = ("test", "val", "train")
CURVE_METRICS = ("accuracy", "loss")


class ReportedCurve(Strict):
    """A per-epoch curve the source published (its training log), as a data file under reproduce/.

    The file (``file``, relative to reproduce/) is tab-separated with the header
    ``epoch split metric value``: ``epoch`` is 1-based (the number of epochs completed, as in a run's
    history.csv), ``split`` one of test/val/train, ``metric`` accuracy (top-1 %) or loss (mean
    cross-entropy); within each (split, metric) the epochs strictly increase. reproduce/curves/README.md
    describes the format; each source's folder there says where its curves come from."""

    file: str
    meaning: str  # e.g. "the author's log cifar_100_BAMResNet50 (test after each epoch, running train)"
    _points: dict = PrivateAttr(default_factory=dict)

    @property
    def points(self) -> dict[tuple[str, str], tuple[list[int], list[float]]]:
        """{(split, metric): (epochs, values)}, read and checked when the catalog was loaded."""
        return self._points

    def series(self, split: str, metric: str) -> tuple[list[int], list[float]] | None:
        return self._points.get((split, metric))


def read_curve(path: Path) -> dict[tuple[str, str], tuple[list[int], list[float]]]:
    """Parse a reported-curve file (see ``ReportedCurve``); a malformed one is a one-line CatalogError
    naming the file and line."""
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise CatalogError(f"{path}: cannot read the curve file ({exc.strerror or exc})") from None
    if not lines or tuple(lines[0].split("\t")) != CURVE_COLUMNS:
        got = lines[0].split("\t") if lines else []
        raise CatalogError(f"{path}:1: header must be {' '.join(CURVE_COLUMNS)} (tab-separated), got {got}")
    points: dict[tuple[str, str], tuple[list[int], list[float]]] = {}
    for number, line in enumerate(lines[1:], start=2):
        fields = line.split("\t")
        if len(fields) != len(CURVE_COLUMNS):
            raise CatalogError(f"{path}:{number}: expected 4 tab-separated fields, got {len(fields)}")
        epoch, split, metric, value = fields
        if not epoch.isdigit() or int(epoch) < 1:
            raise CatalogError(f"{path}:{number}: epoch must be an integer >= 1 (1-based), got {epoch!r}")
        if split not in CURVE_SPLITS:
            raise CatalogError(f"{path}:{number}: split must be one of {', '.join(CURVE_SPLITS)}, got {split!r}")
        if metric not in CURVE_METRICS:
            raise CatalogError(f"{path}:{number}: metric must be one of {', '.join(CURVE_METRICS)}, got {metric!r}")
        try:
            number_value = float(value)
        except ValueError:
            number_value = math.nan
        if not math.isfinite(number_value):
            raise CatalogError(f"{path}:{number}: value must be a finite number, got {value!r}")
        epochs, values = points.setdefault((split, metric), ([], []))
        if epochs and int(epoch) <= epochs[-1]:
            raise CatalogError(
                f"{path}:{number}: {split} {metric}: epoch {epoch} after epoch {epochs[-1]}: epochs must increase"
            )
        epochs.append(int(epoch))
        values.append(number_value)
    if not points:
        raise CatalogError(f"{path}:1: no data rows")
    return points


COST_METRICS = ("params", "non_trainable_params", "macs")


class Claim(Strict):
    """A comparison the source makes between arms.

    ``kind: trained`` (default): ``better`` against each of ``worse`` (one arm or several, e.g.
    "the lowest of all"), tested with Welch's t-test over seeds. ``kind: cost``: a count of the
    built models (``metric`` in COST_METRICS), no training: the ratio better/worse (or better /
    ``reference``, a figure the source printed for an arm not built here) is checked against the
    stated ``ratio`` within ``ratio_tolerance``. ``cited: true``: quoted without a verdict, with
    ``why`` (e.g. it needs ImageNet)."""

    text: str  # the source's claim in one sentence
    better: str | None = None  # configuration expected to win; None only for a cited claim on unbuilt networks
    worse: str | list[str] | None = None  # None only for cited claims and cost claims with a reference
    metric: str
    higher_is_better: bool = True
    kind: Literal["trained", "cost"] = "trained"
    cited: bool = False
    why: str = ""
    reference: float | None = None
    ratio: float | None = Field(None, gt=0)
    ratio_tolerance: float = Field(0.0, ge=0)
    # trained claims: the source's advantage of better over worse in metric units (> 0 agrees with the claim);
    # absent, it is taken from both arms' reported figures of ``metric`` when the catalog has them
    reported_effect: float | None = None

    @property
    def worse_arms(self) -> list[str]:
        return [] if self.worse is None else [self.worse] if isinstance(self.worse, str) else list(self.worse)

    def pairs(self) -> list[Claim]:
        """One two-arm claim per ``worse`` arm (what the Welch test compares)."""
        return [self.model_copy(update={"worse": w}) for w in self.worse_arms]

    @model_validator(mode="after")
    def _consistent(self):
        if self.cited:
            if not self.why:
                raise ValueError("a cited claim says why it has no verdict (why: ...)")
        elif self.better is None:
            raise ValueError("a trained or cost claim names the configuration expected to win (better: ...)")
        elif self.kind == "cost":
            if self.metric not in COST_METRICS:
                raise ValueError(f"a cost claim counts one of {', '.join(COST_METRICS)}, not {self.metric!r}")
            if self.ratio is None or (self.reference is None) == (not self.worse_arms):
                raise ValueError("a cost claim needs ratio and either worse (one arm) or reference")
            if len(self.worse_arms) > 1:
                raise ValueError("a cost claim compares one arm (worse) or a reference figure")
        elif not self.worse_arms:
            raise ValueError("a trained claim needs worse (one configuration or a list)")
        return self


class ConfigEntry(Strict):
    """One configuration as the catalog file writes it (recipe overrides not yet merged)."""

    dataset: str
    model: str
    model_options: dict = {}
    recipe: dict = {}  # overrides of the source's default recipe (merged one level deep)
    runs: PositiveInt = 1  # runs (seeds) the source reports over
    reported: list[Reported] = []
    notes: str = ""  # assumptions and quirks, shown under the rendered table
    requires: str | None = None  # e.g. "imagenet": listed, but not run by the default pipeline
    reported_curves: list[ReportedCurve] = []  # the source's per-epoch log of this configuration


class CurveFigure(Strict):
    """One figure of reported curves (``Table.figure: curves``): each configuration of the table drawn as
    the source's curve (``ReportedCurve``) beside our runs (mean over seeds, band = min–max)."""

    name: str  # file tag: paper_tables/figures/<source>-<name>-reported-vs-reproduced.png
    title: str  # the source's figure caption
    split: Literal["test", "val", "train"] = "test"
    metric: Literal["accuracy", "loss"] = "accuracy"
    epochs: tuple[PositiveInt, PositiveInt] | None = None  # x range drawn (1-based, inclusive); None: all
    values: tuple[float, float] | None = None  # y range drawn (a zoom); None: automatic
    notes: str = ""  # e.g. how a zoom range was chosen

    @model_validator(mode="after")
    def _ranges(self):
        for key in ("epochs", "values"):
            lo_hi = getattr(self, key)
            if lo_hi is not None and lo_hi[0] >= lo_hi[1]:
                raise ValueError(f"{key}: the first bound must be below the second")
        return self


class Ratio(Strict):
    """A derived figure: the ratio of two reported cells of one column (row ``numerator`` / row
    ``denominator``), compared as a ratio where the figures themselves are not comparable (times
    measured on other hardware). ``delta``: the margin on the ratio (default ±10% relative)."""

    numerator: str
    denominator: str
    column: str
    delta: Margin | None = None


FIGURE_ALIASES = {"arl-vs-nal": "two-arm", "label-noise": "sweep"}  # old, paper-specific names of figure kinds


class Table(Strict):
    caption: str
    rows: list[str]
    columns: list[str]
    # the figure this table gets; "curves": the figures in ``curve_figures``, plus a curve comparison table
    figure: Literal["two-arm", "sweep", "strip", "curves", "arl-vs-nal", "label-noise"] | None = None
    x_label: str = ""  # x axis of a two-arm or sweep figure
    curve_figures: list[CurveFigure] = []
    cited: dict[str, dict[str, float | str]] = {}  # printed cells that no configuration reproduces
    # cited cells as the source printed them (e.g. "224×224"); filled from the YAML scalar when absent
    printed: dict[str, dict[str, str]] = {}
    delta: Margin | None = None  # margin of every figure in this table (unless the figure declares one)
    ratios: list[Ratio] = []
    notes: str = ""

    @field_validator("figure")
    @classmethod
    def _generic_name(cls, figure):
        return FIGURE_ALIASES.get(figure, figure)

    @model_validator(mode="after")
    def _curves(self):
        if (self.figure == "curves") != bool(self.curve_figures):
            raise ValueError("figure: curves goes with curve_figures (a list), and curve_figures with figure: curves")
        return self


class Source(Strict):
    id: str
    title: str
    citation: str
    url: str = ""
    recipe: dict = {}
    configurations: dict[str, ConfigEntry]  # keyed by the configuration's unique name
    tables: dict[str, Table] = {}
    claims: list[Claim] = []
    delta: Margin | None = None  # margin of every figure of this source (unless a table or figure declares one)

    def reported_cells(self) -> dict[tuple[str, str, str], tuple[str, Reported]]:
        """(table, row, column) → (configuration, figure) of every reported figure."""
        return {(r.table, r.row, r.column): (n, r) for n, c in self.configurations.items() for r in c.reported}

    def configurations_in(self, table: str) -> dict[str, ConfigEntry]:
        """The configurations with a reported figure in ``table``."""
        return {n: c for n, c in self.configurations.items() if any(r.table == table for r in c.reported)}

    @model_validator(mode="after")
    def _cells_exist(self):
        for name, cfg in self.configurations.items():
            for rep in cfg.reported:
                table = self.tables.get(rep.table)
                if table is None or rep.row not in table.rows or rep.column not in table.columns:
                    raise ValueError(f"{name}: reported cell {rep.table}/{rep.row}/{rep.column} is not in tables")
        for key, table in self.tables.items():
            for row, cols in table.cited.items():
                if row not in table.rows or any(c not in table.columns for c in cols):
                    raise ValueError(f"table {key}: cited cell {row}/{list(cols)} is not in its rows/columns")
            for row, cols in table.printed.items():
                if any(c not in table.cited.get(row, {}) for c in cols):
                    raise ValueError(f"table {key}: printed form for {row}/{list(cols)}, which is not a cited cell")
        cells = self.reported_cells()
        for key, table in self.tables.items():
            for ratio in table.ratios:
                for row in (ratio.numerator, ratio.denominator):
                    _, rep = cells.get((key, row, ratio.column), (None, None))
                    if rep is None or isinstance(rep.value, str) or not rep.value:
                        raise ValueError(f"table {key}: ratio needs a reported number at {row}/{ratio.column}")
                if ratio.numerator == ratio.denominator:
                    raise ValueError(f"table {key}: a ratio divides two different rows")
        for claim in self.claims:
            for arm in (claim.better, *claim.worse_arms):
                if arm is not None and arm not in self.configurations:
                    raise ValueError(f"claim {claim.text!r}: unknown configuration {arm!r}")
        for key, table in self.tables.items():
            if table.figure == "curves" and not any(c.reported_curves for c in self.configurations_in(key).values()):
                raise ValueError(f"table {key}: figure curves, but none of its configurations has reported_curves")
        return self


CATALOG_MODELS = (
    Schedule,
    Augmentation,
    Normalization,
    Validation,
    EarlyStopping,
    Recipe,
    Margin,
    Reported,
    ReportedCurve,
    Claim,
    ConfigEntry,
    CurveFigure,
    Ratio,
    Table,
    Source,
)  # fmt: skip  (inner models first: the order they are rebuilt in)


def _describe() -> None:
    """Attach each field's description (pipeline/catalog_fields.py) for the JSON Schema and editors."""
    for model in CATALOG_MODELS:
        for name, field in model.model_fields.items():
            field.description = FIELDS.get(model.__name__, {}).get(name)
    for model in CATALOG_MODELS:
        model.model_rebuild(force=True)


_describe()


def catalog_schema() -> dict:
    """The JSON Schema of a catalog file (``repro schema`` writes it to reproduce/schema.json). A recipe in
    the file is a partial Recipe (the source's default, or a configuration's overrides): same keys."""
    schema = Source.model_json_schema()
    recipe = Recipe.model_json_schema()
    schema["$defs"] |= recipe.pop("$defs") | {"Recipe": recipe}
    for holder in (schema, schema["$defs"]["ConfigEntry"]):
        recipe = holder["properties"]["recipe"]
        holder["properties"]["recipe"] = {"$ref": "#/$defs/Recipe", "description": recipe["description"]}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        **schema,
        "title": "attention-repro catalog file (reproduce/<id>.yaml); guide: reproduce/README.md",
    }


class Configuration(Strict):
    """A resolved configuration: the catalog entry with its recipe merged and checked. One
    (configuration, seed) pair is a *run* (its folder: ``rundir.RunDir``); one stage execution
    logged to MLflow is a *stage run* (``tracking.StageRun``)."""

    name: str
    source: str
    dataset: str
    model: str
    model_options: dict
    recipe: Recipe
    n_seeds: int  # seeds trained: the number of runs the source reports over
    reported: list[Reported]
    notes: str
    requires: str | None = None

    def canonical(self) -> dict:
        """What a run of this configuration computes, with every field at its default left out: a new
        field whose default keeps today's behaviour leaves the canonical form (and the hash) unchanged."""
        return self.model_dump(exclude={"reported", "notes", "n_seeds", "requires"}, exclude_defaults=True)

    def config_hash(self) -> str:
        blob = json.dumps(self.canonical(), sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:12]


def changed_fields(old: dict, new: dict, prefix: str = "") -> list[str]:
    """``field: old → new`` for each dotted field that differs between two canonical forms."""
    out = []
    for key in sorted(set(old) | set(new), key=str):
        a, b = old.get(key, "(default)"), new.get(key, "(default)")
        name = f"{prefix}{key}"
        if isinstance(a, dict) and isinstance(b, dict):
            out += changed_fields(a, b, f"{name}.")
        elif a != b:
            out.append(f"{name}: {a} → {b}")
    return out


def merge_recipe(base: dict, override: dict) -> dict:
    """Override the source's default recipe; nested sections (schedule, augment, ...) merge by key."""
    merged = dict(base)
    for key, value in override.items():
        merged[key] = {**base[key], **value} if isinstance(value, dict) and isinstance(base.get(key), dict) else value
    return merged


def load_source(path: Path) -> Source:
    text, data = read_yaml(path)
    if not isinstance(data, dict):
        raise CatalogError(f"{path}:1: expected a mapping with id, title, citation, configurations")
    source = with_printed_forms(validate_yaml(Source, data, text, path), text)
    if source.id != path.stem:
        raise CatalogError(f"{path}:{line_of(text, ('id',))}: id: {source.id!r} must equal the file name {path.stem!r}")
    for name, cfg in source.configurations.items():
        try:
            Recipe.model_validate(merge_recipe(source.recipe, cfg.recipe))
        except ValidationError as exc:
            err = exc.errors()[0]
            loc = err["loc"]
            where = ("configurations", name, "recipe", *loc) if _overrides(cfg.recipe, loc) else ("recipe", *loc)
            key = ".".join(("configurations", name, "recipe", *map(str, loc)))
            raise CatalogError(f"{path}:{line_of(text, where)}: {key}: {err['msg']}") from None
    load_curves(source, path, text)
    return source


def _scalars(node, keys: tuple):
    """The YAML node under ``keys`` (mapping keys or sequence indices), or None."""
    for key in keys:
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if k.value == key), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
        else:
            return None
        if node is None:
            return None
    return node


def with_printed_forms(source: Source, text: str) -> Source:
    """Fill ``printed`` of every number the catalog transcribed with the YAML scalar as written ("3.90",
    "76.20": the source's decimals, which the float drops); declared printed forms are kept."""
    root = yaml.compose(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))

    def raw(*keys) -> str | None:
        node = _scalars(root, keys)
        return node.value if isinstance(node, yaml.ScalarNode) else None

    configs = {}
    for name, cfg in source.configurations.items():
        reported = [
            r if r.printed is not None or isinstance(r.value, str)
            else r.model_copy(update={"printed": raw("configurations", name, "reported", i, "value")})
            for i, r in enumerate(cfg.reported)
        ]  # fmt: skip
        configs[name] = cfg.model_copy(update={"reported": reported})
    tables = {}
    for key, table in source.tables.items():
        printed = {row: dict(cols) for row, cols in table.printed.items()}
        for row, cols in table.cited.items():
            for col, value in cols.items():
                if not isinstance(value, str) and col not in printed.get(row, {}):
                    form = raw("tables", key, "cited", row, col)
                    if form is not None:
                        printed.setdefault(row, {})[col] = form
        tables[key] = table.model_copy(update={"printed": printed})
    return source.model_copy(update={"configurations": configs, "tables": tables})


def load_curves(source: Source, path: Path, text: str) -> None:
    """Read every reported curve of ``source`` (files relative to the catalog file's folder) and attach
    its points; a missing or malformed file is a one-line error naming the file and line."""
    for name, cfg in source.configurations.items():
        for i, curve in enumerate(cfg.reported_curves):
            where = ("configurations", name, "reported_curves", i, "file")
            key = f"configurations.{name}.reported_curves.{i}.file"
            file = (path.parent / curve.file).resolve()
            if not file.is_file():
                raise CatalogError(f"{path}:{line_of(text, where)}: {key}: no such curve file {curve.file!r}")
            try:
                curve._points = read_curve(file)
            except CatalogError as exc:
                raise CatalogError(f"{exc} (in {key}, {path}:{line_of(text, where)})") from None


def _overrides(override: dict, loc: tuple) -> bool:
    """Whether the merged recipe's value at ``loc`` comes from the configuration's ``override``
    (as ``merge_recipe`` merges: sections by key, one level deep)."""
    if not loc or loc[0] not in override:
        return False
    value = override[loc[0]]
    return not isinstance(value, dict) or len(loc) < 2 or loc[1] in value


def check_references(source: Source, path: Path) -> None:
    """Models and datasets named in the catalog must exist (imports kept local: they are heavy)."""
    from .data import DATASETS
    from .models import list_models

    models = set(list_models())
    for name, cfg in source.configurations.items():
        if cfg.model not in models:
            hint = did_you_mean(cfg.model, models)
            line = line_of(path.read_text(), ("configurations", name, "model"))
            raise CatalogError(f"{path}:{line}: configurations.{name}.model: unknown model {cfg.model!r}.{hint}")
        if cfg.dataset not in DATASETS and not cfg.requires:  # e.g. ImageNet: listed, never fetched
            line = line_of(path.read_text(), ("configurations", name, "dataset"))
            raise CatalogError(f"{path}:{line}: configurations.{name}.dataset: unknown dataset {cfg.dataset!r}")


def load_catalog(directory: Path = CATALOG_DIR) -> dict[str, Source]:
    """Every source in ``directory``, validated and with its models and datasets checked (parsed once
    per process: ``load_catalog()`` and ``load_catalog(CATALOG_DIR)`` share the cache)."""
    return _load_catalog(Path(directory).resolve())


@cache
def _load_catalog(directory: Path) -> dict[str, Source]:
    sources: dict[str, Source] = {}
    names: dict[str, str] = {}
    for path in sorted(directory.glob("*.yaml")):
        source = load_source(path)
        check_references(source, path)
        for name in source.configurations:
            if name in names:
                raise CatalogError(f"{path}: configuration {name!r} also defined in {names[name]}")
            names[name] = path.name
        sources[source.id] = source
    return sources


def configurations_of(source: Source) -> dict[str, Configuration]:
    """The resolved configurations of one source (recipes merged)."""
    return {
        name: Configuration(
            name=name,
            source=source.id,
            dataset=cfg.dataset,
            model=cfg.model,
            model_options=cfg.model_options,
            recipe=Recipe.model_validate(merge_recipe(source.recipe, cfg.recipe)),
            n_seeds=cfg.runs,
            reported=cfg.reported,
            notes=cfg.notes,
            requires=cfg.requires,
        )
        for name, cfg in source.configurations.items()
    }


def all_configurations(directory: Path = CATALOG_DIR) -> dict[str, Configuration]:
    """Every configuration of the catalog, resolved (once per process, like ``load_catalog``)."""
    return dict(_all_configurations(Path(directory).resolve()))


@cache
def _all_configurations(directory: Path) -> dict[str, Configuration]:
    configs = {}
    for source in load_catalog(directory).values():
        configs |= configurations_of(source)
    return configs


def get_configuration(name: str, directory: Path = CATALOG_DIR) -> Configuration:
    configs = all_configurations(directory)
    if name not in configs:
        hint = did_you_mean(name, configs)
        raise CatalogError(f"unknown configuration {name!r}.{hint} Run `repro list` for valid names.")
    return configs[name]
