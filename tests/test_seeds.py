"""Seed planning (issue 17): params.yaml `seeds:` raises the runs `repro sync` generates, and `repro seeds`
lists the seeds and hours that would decide every figure and claim from a plan's per-run cost."""

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipeline.catalog import all_configurations
from pipeline.cli import app
from pipeline.schema import CatalogError
from pipeline.settings import load_params
from pipeline.sync import MARKER, expected_block, sync_params

ROOT = Path(__file__).resolve().parent.parent
runner = CliRunner()


def seeds_of(block: dict, config: str) -> list[int]:
    return sorted(r["seed"] for r in block["runs"].values() if r["config"] == config)


def test_params_seeds_raise_runs_by_name_or_glob_and_never_lower_them():
    catalog = all_configurations()
    block = expected_block("full", raised={"jay4869-a56-arl": 4, "zam-mobilenet*": 7, "zam-resnet18": 2})
    assert seeds_of(block, "jay4869-a56-arl") == [0, 1, 2, 3]  # catalog 1 → 4
    assert all(seeds_of(block, n) == list(range(7)) for n in catalog if n.startswith("zam-mobilenet"))
    assert seeds_of(block, "zam-resnet18") == list(range(catalog["zam-resnet18"].n_seeds))  # max(5, 2) = 5
    assert seeds_of(expected_block("smoke", raised={"zam-*": 9}), "zam-resnet18") == [0]  # smoke: seed 0 only
    with pytest.raises(CatalogError, match=r"'nothing-\*' matches no configuration"):
        expected_block("full", raised={"nothing-*": 3})


def test_raised_seeds_reach_the_generated_runs_of_params_yaml(tmp_path):
    params = tmp_path / "params.yaml"
    text = (ROOT / "params.yaml").read_text()
    head, _ = text.split(MARKER)
    params.write_text(head.rstrip("\n") + "\n\nseeds:\n  jay4869-a56-nal: 3\n\n" + MARKER + "\n")
    assert sync_params(params, "full")
    runs = load_params(params).runs
    assert {k for k in runs if k.startswith("jay4869-a56-nal-s")} == {f"jay4869-a56-nal-s{i}" for i in range(3)}
    assert "seeds:\n  jay4869-a56-nal: 3" in params.read_text()  # the hand-edited part is kept
    assert not sync_params(params, "full", write=False)  # in sync now


def test_params_seeds_must_be_positive(tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text("seeds:\n  zam-resnet18: 0\n")
    with pytest.raises(CatalogError, match="seeds.zam-resnet18"):
        load_params(params)


@pytest.fixture
def project(tmp_path):
    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    (tmp_path / "benchmarks").mkdir()
    plan = {
        "device_name": "Test GPU",
        "gpu_hours": 1.0,
        "configs": [
            {"config": "zam-mobilenet-zamr", "seconds_per_run": 3600.0},
            {"config": "zam-mobilenet", "seconds_per_run": 1800.0},
        ],
    }
    (tmp_path / "benchmarks" / "plan-gpu.json").write_text(json.dumps(plan))
    return tmp_path


def test_repro_seeds_json_and_table_from_a_small_plan(project):
    result = runner.invoke(app, ["--root", str(project), "seeds"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["plan"].endswith("benchmarks/plan-gpu.json") and out["hours_are"] == "GPU-hours"
    fig = next(f for f in out["figures"] if f["config"] == "zam-mobilenet-zamr" and f["column"] == "Avg Acc")
    assert fig["verdict"] == "not run" and fig["seeds_needed"] >= 2 and fig["basis"].startswith("planned")
    assert fig["hours"] == pytest.approx(fig["seeds_needed"] * 1.0)  # 3600 s per run
    untimed = next(f for f in out["figures"] if f["config"] == "zam-resnet18")
    assert untimed["hours"] is None and untimed["untimed"] == ["zam-resnet18"]  # not in the plan
    assert fig["untimed"] == []
    line = next(ln for ln in result.stderr.splitlines() if ln.strip().startswith("zam-resnet18 Best Acc"))
    assert line.endswith("no time in the plan: run `repro plan`") and "— h" not in line
    claim = next(c for c in out["claims"] if c["better"] == "zam-mobilenet-zamr" and c["worse"] == "zam-mobilenet")
    assert "reported effect +0.55" in claim["basis"]  # Avg 73.50 vs 72.95
    assert claim["hours"] == pytest.approx(claim["seeds_per_arm"] * 1.5)  # 1 h + 0.5 h per seed pair
    assert "claims (seeds per arm for 80% power):" in result.stderr
    assert "zam-mobilenet-zamr > zam-mobilenet: not run" in result.stderr


def test_repro_seeds_refuses_a_file_that_is_not_a_plan(project):
    bad = project / "bad.json"
    bad.write_text("[]")
    result = runner.invoke(app, ["--root", str(project), "seeds", "--plan", str(bad)])
    assert result.exit_code == 2 and "no 'configs' list" in result.stderr
