"""The architecture as tests: every DVC stage's code deps cover what its stage function imports,
the import contracts hold, and each run-folder file name and the run key are spelled once."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import grimp
import pytest
import yaml

from tests.conftest import ROOT

STAGE_FUNCTIONS = {name: f"pipeline.stages.{name}" for name in ("fetch", "train", "evaluate", "render")}


def module_file(module: str) -> str:
    """The repository path of a module: pipeline/x/y.py, or pipeline/x/__init__.py for a package."""
    path = Path(*module.split("."))
    return str(path / "__init__.py") if (ROOT / path).is_dir() else f"{path}.py"


def import_closure(graph, module: str) -> set[str]:
    """``module``, everything it imports (directly or not) and the packages whose __init__ runs first."""
    modules = {module} | graph.find_upstream_modules(module)
    parents = {".".join(m.split(".")[:i]) for m in modules for i in range(1, m.count(".") + 1)}
    return modules | parents


def code_deps(stage: dict) -> list[str]:
    spec = stage.get("do", stage)
    return [d for d in spec["deps"] if isinstance(d, str) and d.startswith("pipeline")]


INDEX = "pipeline/models/index.py"  # only locates a builder; the located module is each run's dep
# train/evaluate: what these do to a run is its configuration, whose hash the command carries (codedeps.IDENTITY)
IDENTITY = {"pipeline/catalog.py", "pipeline/catalog_fields.py", "pipeline/schema.py"}


def exempt(stage: str) -> set[str]:
    return {INDEX} | (IDENTITY if stage in ("train", "evaluate") else set())


def covered(path: str, deps: list[str]) -> bool:
    return any(path == d or path.startswith(d.rstrip("/") + "/") for d in deps)


@pytest.fixture(scope="module")
def graph():
    return grimp.build_graph("pipeline")


@pytest.fixture(scope="module")
def stages():
    return yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]


@pytest.mark.parametrize("stage", sorted(STAGE_FUNCTIONS))
def test_dvc_deps_cover_the_stage_import_closure(graph, stages, stage):
    deps = code_deps(stages[stage])
    missing = sorted(module_file(m) for m in import_closure(graph, STAGE_FUNCTIONS[stage]))
    missing = [p for p in missing if not covered(p, deps) and p not in exempt(stage)]
    assert not missing, f"dvc.yaml stage {stage!r} lacks deps for modules it imports: {missing}"
    stale = [d for d in deps if not (ROOT / d).exists()]
    assert not stale, f"dvc.yaml stage {stage!r} lists deps that do not exist: {stale}"


@pytest.mark.parametrize("stage", ["train", "evaluate"])
def test_each_run_depends_on_its_own_model_modules_only(graph, stages, stage):
    """Per run: the shared deps plus ``${item.code[i]}`` cover the stage's closure and the model module's,
    and name no other architecture (a new model file or another configuration's never makes it stale)."""
    from pipeline.catalog import all_configurations
    from pipeline.models.index import MODULES
    from pipeline.settings import load_params

    spec = stages[stage]["do"]
    slots = [d for d in spec["deps"] if isinstance(d, str) and d.startswith("${item.code[")]
    assert slots, f"dvc.yaml stage {stage!r} has no per-run code slots"
    configs = all_configurations()
    for key, run in load_params(ROOT / "params.yaml").runs.items():
        model = configs[run.config].model
        deps = code_deps(stages[stage]) + [run.code[int(d[len("${item.code[") : -2])] for d in slots]
        needed = import_closure(graph, STAGE_FUNCTIONS[stage])
        needed |= import_closure(graph, f"pipeline.models.{MODULES[model]}")
        missing = [p for p in sorted(module_file(m) for m in needed) if not covered(p, deps) and p not in exempt(stage)]
        assert not missing, f"{stage}@{key} lacks deps {missing}"
        own = {module_file(m) for m in needed}
        foreign = [d for d in deps if d.startswith("pipeline/models/") and d not in own]
        assert not foreign, f"{stage}@{key} depends on other models' modules {foreign}"
        assert run.hash == configs[run.config].config_hash() and "--config-hash ${item.hash}" in spec["cmd"]


def test_dvc_deps_check_fails_for_an_uncovered_module(graph, stages):
    """The check has teeth: dropping one dependency of train is caught."""
    deps = [d for d in code_deps(stages["train"]) if d != "pipeline/execution.py"]
    closure = {module_file(m) for m in import_closure(graph, STAGE_FUNCTIONS["train"])}
    assert [p for p in closure if not covered(p, deps) and p not in exempt("train")] == ["pipeline/execution.py"]


def test_import_contracts_hold():
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint)], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    "pattern",
    [
        r'"checkpoint\.pt"',
        r'"model\.pt"',
        r'"history\.csv"',
        r'"train\.json"',
        r'"eval\.json"',
        r'"masks\.npz"',
        r"-s\{(?:args\.)?seed\}",
    ],  # fmt: skip
)
def test_run_folder_names_and_run_key_are_defined_once(pattern):
    hits = [
        f"{path.relative_to(ROOT)}:{n}"
        for path in sorted((ROOT / "pipeline").rglob("*.py")) + sorted((ROOT / "benchmarks").rglob("*.py"))
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(pattern, line) and not line.lstrip().startswith("#")
    ]
    assert len(hits) == 1 and hits[0].startswith("pipeline/rundir.py"), hits
