"""What the MLflow UI shows: each source's experiment described (citation, its rendered tables), the
data each train/evaluate run used (the Dataset column), and a run's stage runs tied by `run_key`."""

import json
import os
import shutil
from pathlib import Path

import pytest

from pipeline.catalog import load_catalog
from pipeline.rundir import run_key
from pipeline.settings import Project
from pipeline.stages.evaluate import evaluate
from pipeline.stages.render import render
from pipeline.stages.train import train
from pipeline.tracking import NOTE, display_name
from tests import mlflow_browser

CONFIG, SOURCE = "jay4869-a56-arl", "jay4869-keras"


@pytest.fixture
def tracked_project(tmp_path, smoke_data, monkeypatch):
    monkeypatch.delenv("REPRO_TRACKING", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("DVC_ROOT", raising=False)
    key = run_key(CONFIG, 0)
    runs = {key: {"config": CONFIG, "seed": 0, "source": SOURCE, "dataset": "cifar10"}}
    (tmp_path / "params.yaml").write_text(f"profile: smoke\nruns: {json.dumps(runs)}\n")
    shutil.copytree(smoke_data, tmp_path / "smoke" / "data" / "prepared" / "cifar10")
    project = Project(tmp_path)
    train(project, CONFIG, 0)
    evaluate(project, CONFIG, 0)
    from mlflow.tracking import MlflowClient

    return project, MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")


def runs_by_name(client, experiment_id: str) -> dict:
    return {r.data.tags["stage"]: r for r in client.search_runs([experiment_id])}


def test_experiment_description_dataset_column_and_run_key(tracked_project):
    project, client = tracked_project
    source = load_catalog()[SOURCE]
    exp = client.get_experiment_by_name(SOURCE)
    note = exp.tags[NOTE]
    assert source.citation in note and source.title in note
    assert all(f"paper_tables/{SOURCE}-{key}.md" in note for key in source.tables)

    key = run_key(CONFIG, 0)
    runs = runs_by_name(client, exp.experiment_id)
    trained, evaluated = runs[f"train@{key}"], runs[f"evaluate@{key}"]
    assert trained.data.tags["run_key"] == evaluated.data.tags["run_key"] == key
    for run, context in ((trained, "training"), (evaluated, "evaluation")):
        (entry,) = run.inputs.dataset_inputs
        assert entry.dataset.name == "cifar10-smoke" and len(entry.dataset.digest) == 10
        assert {t.key: t.value for t in entry.tags}["mlflow.data.context"] == context
        profile = json.loads(entry.dataset.profile)
        assert profile["profile"] == "smoke" and profile["classes"] == 10
        assert profile["train_images"] > 0 and profile["test_images"] > 0
        assert entry.dataset.digest == profile["archive_digest"][:10]


def test_render_links_each_experiment_to_its_tables(tracked_project):
    project, client = tracked_project
    render(project)
    tables = client.get_experiment_by_name("tables")
    (run,) = client.search_runs([tables.experiment_id])
    note = client.get_experiment_by_name(SOURCE).tags[NOTE]
    base = f"#/experiments/{tables.experiment_id}/runs/{run.info.run_id}/artifactPath/paper_tables"
    for key in load_catalog()[SOURCE].tables:
        assert f"(paper_tables/{SOURCE}-{key}.md)" not in note
        assert f"]({base}/{SOURCE}-{key}.md)" in note
    assert "paper_tables" in {a.path for a in client.list_artifacts(run.info.run_id)}


@pytest.mark.skipif(mlflow_browser.chromium() is None, reason="needs chromium (apt-get install chromium)")
def test_the_ui_in_a_browser_shows_the_dataset_column_and_the_description(tracked_project, tmp_path):
    project, client = tracked_project
    out = Path(os.environ.get("REPRO_SHOTS", tmp_path / "shots"))
    doms = mlflow_browser.look(project.root / "mlflow.db", out)
    title = load_catalog()[SOURCE].title
    assert title in doms["experiments"]  # the Description column
    runs = doms[f"runs-{SOURCE}"]
    for stage in (f"train@{run_key(CONFIG, 0)}", f"evaluate@{run_key(CONFIG, 0)}"):  # distinguishing part first
        assert display_name(stage, SOURCE) in runs and display_name(stage, SOURCE).startswith("a56-arl-s0")
    assert runs.count("cifar10-smoke") >= 2  # the Dataset column, filled for both stage runs
    assert title in runs  # the experiment's description above its runs
    assert (out / f"runs-{SOURCE}.png").stat().st_size > 10_000
