"""`repro status` judges runs from dvc.lock and the files, without DVC (so without DVC's lock): it agrees
with `dvc status`, says why a finished run is stale, works while another process holds DVC's lock,
and never cuts a run's name at 80 columns."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from pipeline.launch.lineage import stage_names
from pipeline.launch.staleness import CACHE, Pipeline, _paths, judge_stages
from tests._launch import CHEAP, dvc, env, repro, smoke_project

pytestmark = [pytest.mark.launch]
CONFIG = CHEAP[0]
KEY = f"{CONFIG}-s0"
STAGES = list(stage_names(KEY))


def _only(params, key):
    """The generated block as `repro sync` writes it for the smoke profile, restricted to run ``key``."""
    import yaml

    from pipeline.sync import MARKER, expected_block

    block = expected_block("smoke")
    block["runs"] = {key: block["runs"][key]}
    block["datasets"] = [block["runs"][key]["dataset"]]
    head = params.read_text().split(MARKER)[0]
    params.write_text(f"{head}{MARKER}\n{yaml.safe_dump(block, sort_keys=False)}")


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    project = smoke_project(tmp_path_factory.mktemp("staleness") / "project", (CONFIG,))
    _only(project / "params.yaml", KEY)
    dvc(project, "repro", *STAGES)
    return project


@pytest.fixture
def project(finished, tmp_path):
    """A copy of the finished project each test may change (DVC's cache stays shared: read only here)."""
    copy = tmp_path / "p"
    shutil.copytree(finished, copy, symlinks=True)
    return copy


def dvc_changed(project) -> set[str]:
    text = dvc(project, "status", "--json", *STAGES).stdout
    return set(json.loads(text[text.index("{") :]) if "{" in text else {})


def status(project, *args, **kw):
    return repro(project, "status", *args, **kw)


def test_a_finished_run_is_current_as_dvc_says(project):
    verdicts = judge_stages(project, STAGES)
    assert {s: v.state for s, v in verdicts.items()} == dict.fromkeys(STAGES, "current"), verdicts
    assert dvc_changed(project) == set()
    assert (project / CACHE).is_file()  # digests cached for the next call
    again = judge_stages(project, STAGES)
    assert all(v.state == "current" for v in again.values())
    rows = json.loads(status(project, "--json").stdout)["runs"]
    assert [(r["key"], r["state"]) for r in rows] == [(KEY, "done")]


def test_a_changed_code_dependency_makes_both_stages_stale_and_says_which(project):
    path = project / "pipeline" / "training.py"
    path.write_text(path.read_text() + "\n# changed\n")
    verdicts = judge_stages(project, STAGES)
    assert all("pipeline/training.py changed" in v.why for v in verdicts.values()), verdicts
    assert dvc_changed(project) == set(STAGES)
    (row,) = json.loads(status(project, "--json").stdout)["runs"]
    assert row["state"] == "stale" and "pipeline/training.py changed" in row["why"], row
    table = status(project, extra_env={"COLUMNS": "80"}).stdout
    print(table)
    assert KEY in table and "finished, stale" in table and "pipeline/training.py" in table


def test_a_changed_parameter_names_the_field_old_to_new(project):
    params = project / "params.yaml"
    params.write_text(params.read_text().replace("deterministic: true", "deterministic: false", 1))
    verdicts = judge_stages(project, STAGES)
    train, evaluate = (verdicts[s] for s in STAGES)
    assert train.why == ["params.yaml: train.deterministic changed (True → False)"], train
    assert evaluate.state == "current"  # evaluate does not read it
    assert dvc_changed(project) == {STAGES[0]}


def test_a_missing_output_and_a_run_never_recorded(project):
    (metrics,) = _paths(Pipeline(project).expected(STAGES[1])["metrics"])  # under the profile's runs root
    (project / metrics).unlink()
    verdicts = judge_stages(project, STAGES)
    assert verdicts[STAGES[1]].why == [f"output {metrics} is missing"]
    assert dvc_changed(project) == {STAGES[1]}
    (project / "dvc.lock").unlink()
    assert {v.state for v in judge_stages(project, STAGES).values()} == {"unrecorded"}


def test_status_reads_while_another_process_holds_dvcs_lock(project):
    hold = "from dvc.repo import Repo; import time\nwith Repo('.').lock:\n print('held', flush=True); time.sleep(60)"
    holder = subprocess.Popen([sys.executable, "-c", hold], cwd=project, env=env(), stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        locked = subprocess.run([sys.executable, "-m", "dvc", "status", *STAGES], cwd=project, env=env(),
                                capture_output=True, text=True)  # fmt: skip
        assert locked.returncode != 0  # what `repro status` used to meet
        out = status(project, "--json", timeout=120)
        assert json.loads(out.stdout)["totals"]["done"] == 1
    finally:
        holder.kill()
        holder.wait()


def test_at_80_columns_a_long_run_name_is_never_cut():
    from rich.console import Console

    from pipeline.cli.launch import status_grid

    keys = ["wang2017-attention92-imagenet-ish-local-c100-s0", "wang2017-attention92-imagenet-ish-local-c100-s1"]
    why = "pipeline/training.py changed; params.yaml: smoke changed"
    grid = status_grid([(key, "finished, stale", "slurm 1234", "node-a GPU 0", "", why) for key in keys])
    console = Console(width=80, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    console.print(grid)
    text = console.export_text()
    assert all(key in text for key in keys), text


def test_a_run_of_another_profile_is_refused_with_why(tmp_path):
    from types import SimpleNamespace

    from pipeline.launch.status import _other_profile

    (tmp_path / KEY).mkdir()
    (tmp_path / KEY / "train.json").write_text(json.dumps({"profile": "smoke"}))
    full = SimpleNamespace(runs_dir=tmp_path, profile="full")
    assert _other_profile(full, KEY) == "a smoke-profile run in the full profile's runs"
    assert _other_profile(SimpleNamespace(runs_dir=tmp_path, profile="smoke"), KEY) is None
    assert _other_profile(full, "no-such-run-s0") is None


def test_a_changed_command_names_the_configuration_hash():
    from pipeline.launch.staleness import _command_change

    old, new = (f"python -m pipeline train {KEY[:-3]} --seed 0 --config-hash {h}" for h in ("0123abcd", "4567ef01"))
    assert _command_change(old, new) == "configuration hash 0123abcd → 4567ef01"
    assert _command_change(old, old.replace("--seed 0", "--seed 1")).startswith("its command changed (")
