"""Issue 21, newcomer items 7, 11, 12 and 14: a plan that does not cover the catalog says so; listings
reuse cached counts; smoke runs have curves and a diverging loss does not flatten a figure; the rendered
tables speak to a reader and are not rewritten for a new commit alone; no empty file is a DVC dependency."""

from __future__ import annotations

import json
import re

import matplotlib
import pytest
import yaml
from typer.testing import CliRunner

from pipeline.bench.plan import describe as describe_plan
from pipeline.catalog import all_configurations, load_catalog
from pipeline.cli import app
from pipeline.inventory import Costs
from pipeline.planfile import coverage, coverage_note
from pipeline.report.published import public_text
from pipeline.report.results import Results
from pipeline.report.tables import render_all
from pipeline.settings import load_params
from pipeline.tracking import display_name
from tests.conftest import ROOT

matplotlib.use("Agg")
runner = CliRunner()
RUNNABLE = {n: c for n, c in all_configurations().items() if not c.requires}


def full_plan(skip: tuple[str, ...] = ()) -> dict:
    rows = [{"config": n, "runs": c.n_seeds, "seconds_per_run": 3600.0} for n, c in RUNNABLE.items() if n not in skip]
    return {"configs": rows, "device_name": "test", "gpu_hours": 1.0, "total_runs": sum(r["runs"] for r in rows),
            "total_hours": float(len(rows)), "threads": 1}  # fmt: skip


# --- item 7: plan coverage -----------------------------------------------------------------------
def test_a_plan_covering_the_catalog_says_nothing_and_a_stale_one_names_what_it_lacks():
    assert coverage(full_plan())["complete"] and coverage_note(full_plan()) is None
    missing = next(iter(RUNNABLE))
    stale = full_plan(skip=(missing,))
    c = coverage(stale)
    assert c["missing"] == [missing] and c["covered_configs"] == len(RUNNABLE) - 1
    note = coverage_note(stale, "benchmarks/plan-gpu.json")
    assert note.startswith(f"benchmarks/plan-gpu.json covers {len(RUNNABLE) - 1} of {len(RUNNABLE)} configurations")
    assert missing in note and "its totals undercount" in note
    assert describe_plan(stale | {"total_hours": 1.0}).splitlines()[1].startswith("note: this plan covers only")


def test_repro_seeds_warns_about_a_plan_that_does_not_cover_the_catalog(tmp_path):
    (tmp_path / "params.yaml").write_text("profile: full\n")
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps(full_plan(skip=(next(iter(RUNNABLE)),))))
    result = runner.invoke(app, ["--root", str(tmp_path), "seeds", "--plan", str(plan)])
    assert result.exit_code == 0, result.output
    warning = next(x for x in result.stderr.splitlines() if x.startswith("warning: "))
    assert f"covers {len(RUNNABLE) - 1} of {len(RUNNABLE)} configurations" in warning
    assert "covers" in json.loads(result.stdout)["plan_coverage"]


def test_the_gpu_preflight_says_when_the_committed_plan_lacks_part_of_the_catalog(tmp_path, monkeypatch):
    from pipeline.bench import preflight

    stale = full_plan(skip=(next(iter(RUNNABLE)),))
    monkeypatch.setattr(preflight, "read_plan", lambda path: stale)
    e = preflight.estimate(list(RUNNABLE)[1])
    assert e["coverage"] == (
        f"the plan covers {len(RUNNABLE) - 1} of today's {len(RUNNABLE)} configurations "
        f"({stale['total_runs']} of {sum(c.n_seeds for c in RUNNABLE.values())} runs): the catalog total undercounts"
    )
    monkeypatch.setattr(preflight, "read_plan", lambda path: full_plan())
    assert preflight.estimate(list(RUNNABLE)[1])["coverage"] is None


# --- item 11: cached counts ------------------------------------------------------------------------
def test_counts_are_cached_by_model_and_input_and_recounted_when_the_model_code_changes(tmp_path, monkeypatch):
    from pipeline import inventory

    path, calls = tmp_path / "costs.json", []
    wanted = [("resnet18", "{}", 100, 32), ("mobilenet", "{}", 100, 32)]
    first = Costs(path, lambda i, n, model: calls.append(model)).get_all(wanted)
    assert calls == ["resnet18", "mobilenet"] and json.loads(path.read_text())["code"] == inventory.models_digest()
    again = Costs(path, lambda i, n, model: calls.append(model)).get_all(wanted)
    assert again == first and len(calls) == 2  # read from the cache: nothing counted
    monkeypatch.setattr(inventory, "models_digest", lambda: "other model code")
    Costs(path, lambda i, n, model: calls.append(model)).get_all(wanted[:1])
    assert calls[2:] == ["resnet18"]  # the code changed: counted again


def test_repro_list_says_what_it_counts_on_a_cold_cache(tmp_path, monkeypatch):
    from pipeline import inventory

    (tmp_path / "params.yaml").write_text("profile: full\n")
    monkeypatch.setattr(inventory, "_cost", lambda *key: (1, 2))  # the counting itself is tested above
    cold = runner.invoke(app, ["--root", str(tmp_path), "list", "--json"])
    assert cold.exit_code == 0 and cold.stderr.startswith("counting parameters and MACs of ")
    assert (tmp_path / ".repro" / "costs.json").is_file()
    warm = runner.invoke(app, ["--root", str(tmp_path), "list", "--json"])
    assert warm.stderr == "" and json.loads(warm.stdout) == json.loads(cold.stdout)


# --- item 12: curves ---------------------------------------------------------------------------------
def test_the_smoke_profile_gives_every_run_a_few_history_rows():
    smoke = load_params(ROOT / "params.yaml").smoke
    assert smoke.iterations // smoke.eval_every >= 3


@pytest.mark.parametrize("values,log", [([2.3, 2.1, 1.9], False), ([2.3, 70_000.0, 2.2], True)])
def test_a_loss_axis_spanning_orders_of_magnitude_is_log_scaled_and_says_so(values, log):
    from matplotlib.figure import Figure

    from pipeline.report.figures import _loss_scale

    ax = Figure().subplots()
    note = _loss_scale(ax, values)
    assert ax.get_yscale() == ("log" if log else "linear")
    assert note == (" (log scale: values span 31,818×)" if log else "")


def test_mlflow_run_names_put_the_distinguishing_part_first():
    assert display_name("train@wang2017-resnet164-c10-s0", "wang2017") == "resnet164-c10-s0 · train"
    assert display_name("evaluate@jay4869-a56-arl-s3", "jay4869-keras") == "a56-arl-s3 · evaluate"
    assert display_name("fetch@cifar10", "data") == "cifar10 · fetch"
    assert display_name("render", "tables") == "render"


# --- item 14: what the tables and DVC show a reader --------------------------------------------------
def test_public_text_drops_internal_references_and_keeps_the_evidence():
    assert public_text("3 seeds (issue 17; was 1): the source") == "3 seeds (was 1): the source"
    assert public_text("each epoch (recipe drop_last, issue 17): Caffe") == "each epoch (recipe drop_last): Caffe"
    assert public_text("EPOCH CAP (issue 17): every") == "EPOCH CAP: every"
    assert public_text("from the authors' logs (spec §7.2), single") == "from the authors' logs, single"
    assert public_text("Attention-92 (does not match, spec §2.3).") == (
        "Attention-92 (does not match; counted on our build: `repro models`)."
    )


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    out = tmp_path_factory.mktemp("tables")
    render_all(load_catalog(), Results(out / "runs", {}), out, {"profile": "full", "commit": "aaaaaaa"})
    return out


def test_rendered_tables_cite_no_issue_or_spec_section(rendered):
    for path in [*rendered.glob("*.md"), *rendered.glob("*.csv")]:
        assert not re.search(r"issue \d+|spec §", path.read_text()), path.name


def test_a_new_commit_alone_does_not_rewrite_the_rendered_tables(rendered):
    before = {p: (p.read_text(), p.stat().st_mtime_ns) for p in rendered.glob("*.md")}
    assert any("aaaaaaa" in text for text, _ in before.values())
    render_all(load_catalog(), Results(rendered / "runs", {}), rendered, {"profile": "full", "commit": "bbbbbbb"})
    after = {p: (p.read_text(), p.stat().st_mtime_ns) for p in rendered.glob("*.md")}
    assert after == before  # same results: the files, and the commit that produced them, are left alone
    render_all(load_catalog(), Results(rendered / "runs", {}), rendered, {"profile": "smoke", "commit": "bbbbbbb"})
    assert "bbbbbbb" in (rendered / "README.md").read_text()  # something else changed: rewritten, stamped


def test_no_dvc_dependency_is_an_empty_file():
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    deps = {d for s in stages.values() for d in s.get("do", s).get("deps", []) if isinstance(d, str)}
    empty = [d for d in deps if "$" not in d and (ROOT / d).is_file() and (ROOT / d).stat().st_size == 0]
    assert deps and empty == []  # DVC warns "… is empty" for each, in every stage of `make demo`
