"""Profiles never mix, and finished means finished (real CLI in a git copy of the checkout):
- the smoke profile run by hand in the checkout writes only under smoke/ (git-ignored): `git status` stays
  clean, paper_tables/ and data/prepared are untouched, and the full render still says "not run";
- the full profile refuses smoke data and smoke runs with one line naming the file, writing nothing;
- `repro train` on a finished, current run changes no file; `--retrain` moves the old result aside."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest

from pipeline.dev.demo import copy_project
from tests._launch import repro
from tests.conftest import ROOT

CONFIG = "columbia-a56-c10-spatial-arl"  # one of the cheapest smoke runs
KEY = f"{CONFIG}-s0"
OFF = {"REPRO_TRACKING": "off"}


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout


def tree(root: Path) -> dict[str, str]:
    """Every file under ``root`` (but .git): its digest and mtime."""
    return {
        str(p.relative_to(root)): f"{hashlib.md5(p.read_bytes()).hexdigest()} {p.stat().st_mtime_ns}"
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".git" not in p.relative_to(root).parts
    }


@pytest.fixture(scope="module")
def checkout(tmp_path_factory):
    """A git copy of the checkout with a smoke run of CONFIG made by hand: fetch, train, evaluate, render."""
    root = tmp_path_factory.mktemp("checkout")
    copy_project(ROOT, root)
    shutil.copytree(ROOT / "paper_tables", root / "paper_tables", ignore=shutil.ignore_patterns("smoke"))
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "checkout")
    for args in (("fetch", "cifar10"), ("train", CONFIG), ("evaluate", CONFIG), ("render",)):
        repro(root, "--profile", "smoke", *args, extra_env=OFF, timeout=600)
    return root


def test_the_smoke_profile_by_hand_writes_only_under_smoke(checkout):
    assert git(checkout, "status", "--porcelain") == ""  # paper_tables/*.md/.csv untouched; smoke/ is ignored
    assert (checkout / "smoke" / "runs" / KEY / "model.pt").is_file()
    assert (checkout / "smoke" / "data" / "prepared" / "cifar10" / "manifest.json").is_file()
    assert (checkout / "smoke" / "paper_tables" / "README.md").read_text().startswith("# Paper tables — SMOKE TEST")
    assert not (checkout / "data" / "prepared").exists() and not (checkout / "runs").exists()
    table = (checkout / "paper_tables" / "columbia-e4040-evaluate.md").read_text()  # as committed: git says so
    assert "SMOKE" not in table and "not run" in table


def test_train_on_a_finished_run_changes_nothing_and_retrain_moves_it_aside(checkout):
    before = tree(checkout)
    out = repro(checkout, "--profile", "smoke", "train", CONFIG, extra_env=OFF)
    assert out.stderr.strip().splitlines() == [
        f"{KEY} is finished and current ({checkout / 'smoke' / 'runs' / KEY / 'train.json'}): nothing to do; "
        "`--retrain` trains it again (the previous result is moved aside)"
    ]
    assert tree(checkout) == before  # byte for byte, and not even touched
    model = (checkout / "smoke" / "runs" / KEY / "model.pt").read_bytes()
    repro(checkout, "--profile", "smoke", "train", CONFIG, "--retrain", extra_env=OFF)
    (aside,) = (checkout / ".repro" / "aside" / "smoke").iterdir()
    assert aside.name.startswith(KEY) and (aside / "model.pt").read_bytes() == model
    assert (aside / "eval.json").is_file() and (checkout / "smoke" / "runs" / KEY / "model.pt").is_file()


@pytest.mark.parametrize("command", ["train", "evaluate"])
def test_the_full_profile_refuses_smoke_data(checkout, command):
    full_data = checkout / "data" / "prepared" / "cifar10"
    shutil.copytree(checkout / "smoke" / "data" / "prepared" / "cifar10", full_data)
    try:
        out = repro(checkout, command, CONFIG, extra_env=OFF, check=False)
    finally:
        shutil.rmtree(checkout / "data")
    assert out.returncode != 0
    assert out.stderr.strip().splitlines() == [
        f"error: {full_data / 'manifest.json'} is synthetic smoke-profile data: the full profile refuses it; "
        f"move {full_data} away and run `repro fetch cifar10`"
    ]
    assert not (checkout / "runs").exists()


def test_the_full_render_refuses_a_smoke_run_and_writes_nothing(checkout):
    shutil.copytree(checkout / "smoke" / "runs" / KEY, checkout / "runs" / KEY)
    before = tree(checkout / "paper_tables")
    try:
        out = repro(checkout, "render", extra_env=OFF, check=False)
    finally:
        shutil.rmtree(checkout / "runs")
    assert out.returncode != 0
    (line,) = out.stderr.strip().splitlines()
    assert f"{checkout / 'runs' / KEY / 'train.json'} is a smoke-profile run, refused by the full render" in line
    assert tree(checkout / "paper_tables") == before
