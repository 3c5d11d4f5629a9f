"""The code a run's train and evaluate stages execute, as file paths: the stage's import closure without
the architectures (shared by every run, listed in dvc.yaml), plus each run's own model module and what it
imports (``repro sync`` writes these into params.yaml's ``runs`` as ``code``; dvc.yaml reads them as
``${item.code[i]}``). So a new model file, or another configuration's, never makes a run stale.

Imports are read from the source (ast), statically: function-level imports count too."""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

from .errors import ReproError

PACKAGE = Path(__file__).resolve().parent
MODELS = "pipeline.models"
SHARED_MODELS = {MODELS, f"{MODELS}.registry", f"{MODELS}.masks", f"{MODELS}.cost"}
INDEX = f"{MODELS}.index"  # locates a builder; the located module is the dep (see models/index.py)
CODE_SLOTS = 6  # ${item.code[0]} … ${item.code[5]} in dvc.yaml
# What these modules do to a run is its configuration (the recipe merged and validated): the stage's command
# carries the configuration hash (--config-hash ${item.hash}), so they need not be file deps. A schema field
# added with a default keeps every hash, hence every run current; any change to the effective configuration
# changes the hash, the command, and makes the run stale.
IDENTITY = {"pipeline.catalog", "pipeline.catalog_fields", "pipeline.schema"}  # catalog_fields: descriptions only


def module_file(module: str) -> Path:
    path = PACKAGE.parent / Path(*module.split("."))
    return path / "__init__.py" if path.is_dir() else path.with_suffix(".py")


def relpath(module: str) -> str:
    return module_file(module).relative_to(PACKAGE.parent).as_posix()


@cache
def _imports(module: str) -> frozenset[str]:
    """The ``pipeline`` modules ``module`` imports (``from .x import y``: ``x.y`` when that is a module)."""
    path = module_file(module)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "pipeline"}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            if base.split(".")[0] != "pipeline":
                continue
            found.add(base)
            found |= {f"{base}.{a.name}" for a in node.names if module_file(f"{base}.{a.name}").exists()}
    return frozenset(m for m in found if module_file(m).exists())


def closure(module: str) -> set[str]:
    """``module``, every ``pipeline`` module it imports (directly or not) and their parent packages."""
    seen, todo = set(), [module]
    while todo:
        m = todo.pop()
        if m in seen:
            continue
        seen.add(m)
        parents = {".".join(m.split(".")[:i]) for i in range(1, m.count(".") + 1)}
        todo += [*_imports(m), *parents]
    return seen


def _is_architecture(module: str) -> bool:
    return module.startswith(f"{MODELS}.") and module not in SHARED_MODELS


def shared_deps(stage: str) -> list[str]:
    """Files every run's ``stage`` (train or evaluate) executes: its closure without the architectures."""
    skip = IDENTITY | {INDEX}
    return sorted(relpath(m) for m in closure(f"pipeline.stages.{stage}") if not _is_architecture(m) and m not in skip)


def model_deps(model: str) -> list[str]:
    """The architecture files building ``model`` executes, padded to ``CODE_SLOTS`` entries."""
    from .models.index import MODULES

    if model not in MODULES:
        raise ReproError(f"model {model!r} is not in pipeline/models/index.py; add its module there")
    files = sorted(relpath(m) for m in closure(f"{MODELS}.{MODULES[model]}") if _is_architecture(m) and m != INDEX)
    if len(files) > CODE_SLOTS:
        raise ReproError(f"model {model!r} imports {len(files)} model modules; dvc.yaml has {CODE_SLOTS} code slots")
    return files + [files[0]] * (CODE_SLOTS - len(files))
