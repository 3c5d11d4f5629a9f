"""What the train and evaluate stages share: the configuration as this profile runs it."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from ..catalog import Configuration, Recipe, get_configuration, load_catalog
from ..codedeps import PACKAGE, model_deps, shared_deps
from ..data import DATASETS, archive_digest, prepared_share, read_manifest
from ..errors import ReproError
from ..execution import Execution
from ..rundir import MODEL, TRAIN_METRICS, CheckpointError, RunDir
from ..settings import Project
from .notes import dataset_name, source_note

MAX_SEED = 2**32 - 1


@dataclass
class Resolved:
    config: Configuration
    recipe: Recipe  # as this profile runs it
    exe: Execution
    run: RunDir
    tags: dict  # MLflow tags of the run's stage runs
    note: str  # the description of the source's MLflow experiment


def resolve(project: Project, config: str, seed: int, tags: dict | None = None) -> Resolved:
    configuration = get_configuration(config)
    if not 0 <= seed <= MAX_SEED:  # numpy's seeding takes 32 bits: refuse before anything is written
        raise ReproError(f"--seed must be between 0 and {MAX_SEED} (2**32 - 1), got {seed}")
    share = 1.0
    v = configuration.recipe.validation
    if project.profile == "smoke" and (v.size or v.train_size):  # absolute sizes → the same share of the fixture
        share = prepared_share(project.data_dir(configuration.dataset), configuration.dataset)
    recipe = profile_recipe(project, configuration.recipe, share)
    run = project.run(configuration.name, seed)
    base = {
        "run_key": run.key,  # groups a run's train and evaluate stage runs in the MLflow UI
        "config": configuration.name,
        "source": configuration.source,
        "config_hash": configuration.config_hash(),
        "seed": str(seed),
        "dataset": configuration.dataset,
        "model": configuration.model,
    }
    exe = Execution.for_profile(project.params, project.profile)
    note = source_note(load_catalog()[configuration.source])
    return Resolved(configuration, recipe, exe, run, base | (tags or {}), note)


def check_ready(project: Project, r: Resolved, weights: bool = False) -> None:
    """Refuse before a tracked run opens (no FAILED run in the UI for a refused command): the prepared
    data must exist and, to evaluate, the trained weights."""
    read_manifest(project.data_dir(r.config.dataset))  # DataError naming `repro fetch <dataset>`
    if weights and not r.run.file(MODEL).is_file():
        raise CheckpointError(f"no weights at {r.run.file(MODEL)}; run `{r.run.train_command}` first")


def provenance(project: Project, r: Resolved) -> dict:
    """What a run records about how it was made, and what makes a finished run stale when it changes:
    profile, configuration hash, the recipe as this profile runs it (the smoke profile's shrinking
    included), determinism, the data's digest and the digest of the code its training executes (the
    train stage's shared modules and its model's own, as dvc.yaml lists them)."""
    _, digest = archive_digest(read_manifest(project.data_dir(r.config.dataset)))
    files = sorted(set(shared_deps("train")) | set(model_deps(r.config.model)))
    code = hashlib.sha256()
    for rel in files:
        code.update(rel.encode() + b"\0" + (PACKAGE.parent / rel).read_bytes())
    recipe = hashlib.sha256(json.dumps(r.recipe.model_dump(), sort_keys=True).encode()).hexdigest()[:12]
    return {
        "profile": project.profile,
        "config_hash": r.config.config_hash(),
        "recipe_digest": recipe,
        "deterministic": r.exe.deterministic,
        "data_digest": digest,
        "code_digest": code.hexdigest()[:12],
    }


def check_inputs(project: Project, run: RunDir, dataset: str, trained: bool = False) -> None:
    """The full profile refuses smoke or synthetic inputs: prepared data made by the smoke profile, and
    (``trained``) a run recorded under another profile. The message names the file and the fix. Data
    not fetched yet passes here (``check_ready`` names its `repro fetch`, after the GPU preflight)."""
    data = project.data_dir(dataset)
    manifest = read_manifest(data) if (data / "manifest.json").is_file() else {}
    if project.profile == "full" and (manifest.get("synthetic") or manifest.get("profile", "full") != "full"):
        raise ReproError(
            f"{data / 'manifest.json'} is synthetic smoke-profile data: the full profile refuses it; "
            f"move {data} away and run `repro fetch {dataset}`"
        )
    recorded = run.read_metrics(TRAIN_METRICS).get("profile") if trained else None
    if recorded is not None and recorded != project.profile:
        raise ReproError(
            f"{run.file(TRAIN_METRICS)} is a {recorded}-profile run, refused in the {project.profile} profile; "
            f"retrain it with `repro train {run.config} --seed {run.seed} --retrain` (the old one is moved aside)"
        )


def dataset_input(project: Project, config: Configuration, counts: dict) -> dict:
    """``StageRun.log_dataset``'s arguments for the data a run of ``config`` used: name, digest of the
    archive it was prepared from, where it came from, and a profile of split counts (from ``counts``,
    a run's metrics) and the pipeline's profile."""
    manifest = read_manifest(project.data_dir(config.dataset))
    _, digest = archive_digest(manifest)
    source = DATASETS.get(config.dataset)
    official = project.profile == "full" and source is not None and source.url
    profile = {"profile": project.profile, "classes": len(manifest["classes"]), "archive_digest": digest}
    profile |= {k: counts[k] for k in ("train_images", "val_images", "test_images") if k in counts}
    return {
        "name": dataset_name(config.dataset, project.profile),
        "digest": digest[:10],
        "source": source.url if official else str(project.data_dir(config.dataset)),
        "profile": profile,
    }


def profile_recipe(project: Project, recipe: Recipe, validation_share: float = 1.0) -> Recipe:
    """The recipe as this profile runs it; ``smoke`` shrinks length and batch, keeps the shape
    (milestones and warm-up move to the same fraction of the shortened run; the learning rate
    scales linearly with the batch and is capped at ``smoke.max_lr``; absolute validation sizes
    are multiplied by ``validation_share``, the prepared training images over the official count)."""
    if project.profile != "smoke":
        return recipe
    s = project.params.smoke
    total = recipe.iterations or recipe.epochs
    scale = s.iterations / total
    milestones = sorted({max(1, round(m * scale)) for m in recipe.schedule.milestones})
    warmup = recipe.schedule.warmup_iterations and max(1, round(recipe.schedule.warmup_iterations * scale))
    schedule = recipe.schedule.model_copy(
        update={"unit": "iteration", "milestones": milestones, "warmup_iterations": warmup}
    )
    window = recipe.best_window and (1, 1 + s.iterations // s.eval_every)
    v = recipe.validation

    def scaled(n):
        return n and max(1, round(n * validation_share))

    validation = v.model_copy(update={"size": scaled(v.size), "train_size": scaled(v.train_size)})
    return recipe.model_copy(
        update={
            "iterations": s.iterations,
            "epochs": None,
            "batch_size": s.batch_size,
            "lr": min(s.max_lr, recipe.lr * s.batch_size / recipe.batch_size),
            "schedule": schedule,
            "best_window": window,
            "validation": validation,
        }
    )
