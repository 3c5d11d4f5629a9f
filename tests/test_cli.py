"""The `repro` command line: help, listing, one-line errors."""

import json

import pytest
from rich.console import Console
from typer.testing import CliRunner

from pipeline import listing
from pipeline.cli import app
from pipeline.cli import base as cli_base

runner = CliRunner()


def test_help_lists_every_command():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("list", "models", "fetch", "train", "evaluate", "render", "ui", "demo", "sync", "bench", "plan"):
        assert command in result.output


def test_no_arguments_prints_help():
    result = runner.invoke(app, [])
    assert "Usage" in result.output


def test_list_json_schema_and_resnet164_count():
    result = runner.invoke(app, ["list", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    by_name = {r["name"]: r for r in rows}
    row = by_name["wang2017-resnet164-c10"]
    assert {"name", "source", "dataset", "model", "params", "macs", "reported", "seeds"} <= set(row)
    assert row["params"] == 1_703_290
    assert row["source"] == "wang2017" and row["dataset"] == "cifar10"
    assert abs(row["macs"] - 0.248e9) / 0.248e9 < 0.01  # residual_attention.md §3.3
    assert row["reported"][0]["value"] == 5.46


def test_models_json_lists_preresnet_counts():
    result = runner.invoke(app, ["models", "--json", "--classes", "10"])
    assert result.exit_code == 0, result.output
    rows = {r["name"]: r for r in json.loads(result.stdout)}
    assert rows["preresnet-164"]["params"] == 1_703_290
    assert rows["preresnet-1001"]["params"] == 10_327_738


def test_unknown_configuration_is_a_one_line_error():
    result = runner.invoke(app, ["train", "no-such-config"])
    assert result.exit_code != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1
    assert "unknown configuration 'no-such-config'" in lines[0] and "repro list" in lines[0]


def test_unknown_dataset_suggests_the_closest_name():
    result = runner.invoke(app, ["fetch", "cifar1O"])
    assert result.exit_code != 0
    assert "unknown dataset 'cifar1O'" in result.stderr and "cifar10" in result.stderr


def test_fetch_of_a_corrupted_archive_names_both_md5s(cifar_fixture, tmp_path):
    archive, _ = cifar_fixture
    (tmp_path / "params.yaml").write_text("profile: full\n")
    result = runner.invoke(app, ["--root", str(tmp_path), "fetch", "cifar10", "--archive", str(archive)])
    assert result.exit_code != 0
    assert "expected c58f30108f718f92721af3b95e74349a" in result.stderr
    assert not (tmp_path / "data" / "prepared").exists()


def test_unknown_profile_is_refused():
    result = runner.invoke(app, ["--profile", "quick", "list"])
    assert result.exit_code != 0 and "unknown profile 'quick'" in result.stderr


@pytest.fixture(scope="module")
def listings():
    """`repro list --json` and `repro models --json` rows (the cost of every model, computed once)."""
    configs = json.loads(runner.invoke(app, ["list", "--json"]).stdout)
    models = json.loads(runner.invoke(app, ["models", "--json"]).stdout)
    return {"list": configs, "models": models}


@pytest.mark.parametrize("command", ["list", "models"])
@pytest.mark.parametrize("width", [80, 120, 240])
def test_listing_fits_the_terminal_and_never_cuts_a_name(monkeypatch, listings, command, width):
    monkeypatch.setattr(cli_base, "out", Console(width=width))
    result = runner.invoke(app, [command])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert max(len(line.rstrip()) for line in lines) <= width
    tokens = set(result.stdout.split())
    for row in listings[command]:
        assert row["name"] in tokens, f"{row['name']} cut or missing at width {width}"
        if command == "list":
            assert row["model"] in tokens, f"model {row['model']} cut or missing at width {width}"
    if width == 80:
        assert "not shown at this width" in result.stdout and f"repro {command} --wide" in result.stdout
    if width == 240:
        assert "not shown at this width" not in result.stdout


@pytest.mark.parametrize("command", ["list", "models"])
def test_listing_wide_shows_every_column_whole(monkeypatch, listings, command):
    monkeypatch.setattr(cli_base, "out", Console(width=80))
    result = runner.invoke(app, [command, "--wide"])
    assert result.exit_code == 0, result.output
    header = result.stdout.splitlines()[0].split()
    expected = ["name", "source", "dataset", "model", "params", "MACs", "reported"]
    assert header == (expected if command == "list" else ["name", "family", "classes", "input", "params", "MACs"])
    text = " ".join(result.stdout.split())
    for row in listings[command]:
        assert f"{row['params']:,}" in text
        if command == "list":
            assert listing.reported_text(row["reported"]) in text  # the reported figures, never folded
        else:
            assert row["family"] in text
