"""Smoke on a cluster (issue 21, item 6).

`repro --profile smoke launch --backend slurm` in a full-profile git checkout launches in the smoke
copy (.demo/): it fetches the smoke stand-in data (offline), never the real CIFAR-10, and leaves the
checkout's dvc.lock and data alone. A launch whose data stage fails shows the stage's own error,
not only DVC's last line.
"""

from __future__ import annotations

import json
import subprocess

import pytest
import yaml

from pipeline.dev.demo import copy_project
from pipeline.sync import MARKER, sync_params
from tests._launch import CHEAP, repro
from tests.conftest import ROOT

pytestmark = [pytest.mark.launch]
SLURM = {"poll_s": 1, "slurm": {"cpus_per_task": 1, "mem": None, "time": "20", "max_running": 1}}


def full_checkout(dest, launch: dict | None = None, fetch: dict | None = None, git: bool = False):
    """A copy of the project in the full profile (as committed), ``launch:``/``fetch:`` merged in."""
    copy_project(ROOT, dest)
    params = dest / "params.yaml"
    sync_params(params, "full")
    head, tail = params.read_text().split(MARKER)
    data = yaml.safe_load(head)
    assert data["profile"] == "full"
    data["launch"] = {**data.get("launch", {}), **(launch or {})}
    data["fetch"] = {**(data.get("fetch") or {}), **(fetch or {})}
    params.write_text(f"{yaml.safe_dump(data, sort_keys=False)}\n{MARKER}{tail}")
    if git:
        cmd = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-C", str(dest)]
        for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "checkout"]):
            subprocess.run([*cmd, *args], check=True, capture_output=True, timeout=120)
    else:
        (dest / ".dvc" / "config.local").write_text("[core]\n    no_scm = true\n")
    return dest


@pytest.mark.slurm
def test_smoke_launch_on_slurm_from_a_full_checkout_uses_the_stand_in_data(slurm, tmp_path):
    checkout = full_checkout(tmp_path / "checkout", launch=SLURM, git=True)
    lock = checkout / "dvc.lock"
    before = lock.read_text() if lock.exists() else None  # the checkout's record (none committed yet)
    key = f"{CHEAP[0]}-s0"
    out = repro(checkout, "--profile", "smoke", "launch", "--backend", "slurm", CHEAP[0], timeout=600)
    copy = checkout / ".demo"
    assert f"smoke profile: in the smoke copy {copy}" in out.stderr, out.stderr
    assert "prepared data: fetch@cifar10" in out.stderr and f"done {key}" in out.stderr, out.stderr
    manifest = json.loads((copy / "smoke" / "data" / "prepared" / "cifar10" / "manifest.json").read_text())
    assert manifest["profile"] == "smoke", manifest
    raw = copy / "smoke" / "data" / "raw"
    assert (raw / "smoke" / manifest["archive"]).is_file()  # the stand-in, made offline
    assert not (raw / manifest["archive"]).exists()  # no real archive fetched
    assert not (checkout / "data").exists() and (lock.read_text() if lock.exists() else None) == before  # untouched
    rows = json.loads(repro(checkout, "--profile", "smoke", "status", "--json", CHEAP[0]).stdout)["runs"]
    assert [(r["key"], r["state"]) for r in rows] == [(key, "done")], rows


def test_a_failing_data_stage_shows_its_own_error(tmp_path):
    missing = "nowhere/cifar-10-python.tar.gz"
    checkout = full_checkout(tmp_path / "checkout", fetch={"cifar10": {"archive": missing}})
    out = repro(checkout, "launch", "--backend", "local", CHEAP[0], check=False, timeout=600)
    assert out.returncode != 0, out.stderr
    lines = [line for line in out.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, out.stderr
    own = f"error: archive {checkout / missing} not found; check the path given to --archive or fetch.cifar10.archive"
    assert own in lines[0], lines[0]  # the fetch stage's own message
    assert "(DVC: ERROR: failed to reproduce 'fetch@cifar10'" in lines[0], lines[0]
