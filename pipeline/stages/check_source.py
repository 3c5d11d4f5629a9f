"""``repro check-source``: a new catalog file, checked in one go in a scratch folder.

Validates the file (and that its configuration names are new to the catalog), builds and counts every
model, then runs one configuration of the smoke profile end to end — sync, fetch, train, evaluate,
render — as ``repro`` subprocesses rooted in the scratch folder, with a catalog of that one file
(``REPRO_CATALOG_DIR``) and MLflow in the scratch folder. Nothing is written to the checkout. Every
problem is a ``CheckError`` whose lines read ``file:line: what``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ..catalog import CATALOG_DIR, Source, check_references, configurations_of, load_catalog, load_source
from ..errors import ReproError
from ..rundir import RunDir
from ..schema import CatalogError, line_of
from ..settings import ROOTS
from ..sync import MARKER

STEPS = ("sync", "fetch", "train", "evaluate", "render")


class CheckError(ReproError):
    """One or more problems, each ``file:line: message`` (the first line is the summary)."""


@dataclass
class CheckReport:
    source: str
    scratch: Path
    counts: dict[str, tuple[int, int]] = field(default_factory=dict)  # configuration → (params, MACs)
    smoke: str = ""
    tables: list[Path] = field(default_factory=list)

    @property
    def run_dir(self) -> Path:
        """The smoke run's folder (the smoke profile's runs root in the scratch project)."""
        return RunDir.of(self.scratch / ROOTS["smoke"]["runs"], self.smoke, 0).path


def validate(path: Path) -> Source:
    """Load ``path`` as the catalog does; its names must not clash with the checkout's other sources."""
    source = load_source(path)
    check_references(source, path)
    text = path.read_text()
    if path.resolve().parent != CATALOG_DIR.resolve():
        for other in load_catalog().values():
            if other.id == source.id:
                raise CatalogError(
                    f"{path}:{line_of(text, ('id',))}: id {source.id!r} is already reproduce/{other.id}.yaml"
                )
            for name in source.configurations.keys() & other.configurations.keys():
                line = line_of(text, ("configurations", name))
                raise CatalogError(f"{path}:{line}: configuration {name!r} is already defined in {other.id}.yaml")
    return source


def count_models(path: Path, source: Source) -> dict[str, tuple[int, int]]:
    """Build every configuration's model (skipping none) and count its parameters and MACs per image."""
    from ..inventory import input_shape
    from ..models import model_cost

    text, counts, problems = path.read_text(), {}, []
    for name, config in configurations_of(source).items():
        try:
            counts[name] = model_cost(config.model, *input_shape(config), **config.model_options)
        except Exception as exc:  # any builder error is the user's to fix: report them all
            line = line_of(text, ("configurations", name, "model_options"))
            problems.append(f"{path}:{line}: {name}: model {config.model!r} does not build: {exc}")
    if problems:
        raise CheckError("\n".join([f"{len(problems)} model(s) do not build", *problems]))
    return counts


def smoke_configuration(path: Path, source: Source, chosen: str | None) -> str:
    runnable = [n for n, c in source.configurations.items() if not c.requires]
    if chosen is not None and chosen not in runnable:
        raise CheckError(f"{path}:1: --config {chosen!r} is not a runnable configuration of {source.id} ({runnable})")
    if not runnable:
        raise CheckError(f"{path}:1: every configuration has requires: nothing to run end to end")
    return chosen or runnable[0]


def prepare_scratch(path: Path, source: Source, scratch: Path, project_root: Path) -> Path:
    """The scratch project: its params.yaml (smoke profile) and a catalog of this one file (+ curves)."""
    catalog = scratch / "reproduce"
    catalog.mkdir(parents=True, exist_ok=True)
    shutil.copy2(path, catalog / path.name)
    for cfg in source.configurations.values():
        for curve in cfg.reported_curves:
            target = catalog / curve.file
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path.parent / curve.file, target)
    text = (project_root / "params.yaml").read_text().partition(MARKER)[0]
    params = yaml.safe_load(text) | {"profile": "smoke"}
    for settings in (params.get("fetch") or {}).values():  # the project's own files stay where they are
        for key in ("archive", "imagefolder"):
            if (settings or {}).get(key) and not Path(settings[key]).is_absolute():
                settings[key] = str((project_root / settings[key]).resolve())
    (scratch / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return catalog


def run_step(step: str, args: list[str], scratch: Path, catalog: Path, where: str) -> str:
    """``repro --root scratch <step> ...`` with the scratch catalog and tracking; its stderr on failure."""
    env = {k: v for k, v in os.environ.items() if k not in ("DVC_ROOT", "MLFLOW_TRACKING_URI")}
    env |= {
        "REPRO_CATALOG_DIR": str(catalog),
        "MLFLOW_TRACKING_URI": f"sqlite:///{scratch / 'mlflow.db'}",
        "REPRO_GIT_COMMIT": "check-source",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    cmd = [sys.executable, "-m", "pipeline", "--root", str(scratch), step, *args]
    done = subprocess.run(cmd, cwd=scratch, env=env, capture_output=True, text=True)
    (scratch / "logs").mkdir(exist_ok=True)
    (scratch / "logs" / f"{step}.log").write_text(done.stdout + done.stderr)
    if done.returncode != 0:
        last = next((ln for ln in reversed(done.stderr.splitlines()) if ln.strip()), "no output")
        raise CheckError(f"{where}: `repro {step}` failed: {last.strip()} (log: {scratch / 'logs' / (step + '.log')})")
    return done.stdout


def check_source(
    path: Path, project_root: Path, scratch: Path, config: str | None = None, progress=lambda _m: None
) -> CheckReport:
    """Validate, count, smoke-run and render ``path`` inside ``scratch`` (outside ``project_root``)."""
    path = Path(path)
    if not path.is_file():
        raise CheckError(f"{path}: no such catalog file; give reproduce/<id>.yaml")
    scratch = Path(scratch).resolve()
    if scratch.is_relative_to(project_root.resolve()):
        raise CheckError(f"{scratch}: the scratch folder must be outside the checkout {project_root}")
    progress("validating")
    source = validate(path)
    progress("building and counting every model")
    report = CheckReport(source.id, scratch, count_models(path, source))
    report.smoke = smoke_configuration(path, source, config)
    catalog = prepare_scratch(path, source, scratch, project_root)
    dataset = source.configurations[report.smoke].dataset
    where = f"{path}:{line_of(path.read_text(), ('configurations', report.smoke))}"
    for step, args in zip(
        STEPS, ([], [dataset], [report.smoke, "--seed", "0"], [report.smoke, "--seed", "0"], []), strict=True
    ):
        progress(f"{step} {' '.join(args)}".strip())
        run_step(step, args, scratch, catalog, where)
    report.tables = sorted((scratch / ROOTS["smoke"]["tables"]).glob(f"{source.id}-*.md"))
    if len(report.tables) < len(source.tables):
        raise CheckError(f"{path}:1: render wrote {len(report.tables)} tables of {len(source.tables)}")
    return report
