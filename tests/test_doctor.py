"""`repro doctor` on this CPU machine: its JSON has every check, a failing check exits 1 with the fix in
its line; the numerics comparison, the compile fallback, the all-reduce, tracking and disk checks,
each on the CPU (no GPU here: the CUDA parts are faked or exercised with CPU stand-ins)."""

from __future__ import annotations

import json
import socket
from types import SimpleNamespace

import pytest
import torch
import yaml
from typer.testing import CliRunner

from pipeline.bench import doctor as doc
from pipeline.catalog import get_configuration
from pipeline.cli import app
from pipeline.execution import Execution
from pipeline.rundir import run_key
from pipeline.settings import Project

runner = CliRunner()
CPU = torch.device("cpu")
CONFIGS = ("zam-mobilenet", "zam-resnet18")  # CIFAR-100, two families
CHECKS = {"devices", "numerics", "torch.compile", "nccl", "data cifar100", "tracking", "disk", "estimate"}


def make_project(root, profile="smoke", train=None) -> Project:
    runs = {
        run_key(c, 0): {"config": c, "seed": 0, "source": "zam", "dataset": "cifar100"} for c in CONFIGS
    }  # fmt: skip
    params = {"profile": profile, "train": {"device": "cpu", **(train or {})}, "datasets": ["cifar100"], "runs": runs}
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return Project(root)


def doctor_json(root, *args):
    result = runner.invoke(app, ["--root", str(root), "doctor", "--json", *args])
    return result, json.loads(result.stdout)


def test_cpu_doctor_reports_every_check_and_fails_on_missing_data(tmp_path):
    make_project(tmp_path)
    result, report = doctor_json(tmp_path)
    assert result.exit_code == 1
    by_name = {c["name"]: c for c in report["checks"]}
    assert set(by_name) == CHECKS and report["ok"] is False
    assert by_name["devices"]["status"] == "warn" and "no CUDA GPU" in by_name["devices"]["detail"]
    assert by_name["numerics"]["status"] == "skip"
    data = by_name["data cifar100"]
    assert data["status"] == "fail" and data["fix"] == "run `repro --profile smoke fetch cifar100`"
    assert not (tmp_path / "runs").exists() and not (tmp_path / "mlflow.db").exists()  # it wrote nothing


def test_doctor_passes_once_the_data_is_fetched(tmp_path):
    make_project(tmp_path)
    fetched = runner.invoke(app, ["--root", str(tmp_path), "fetch", "cifar100"])
    assert fetched.exit_code == 0, fetched.output
    result = runner.invoke(app, ["--root", str(tmp_path), "doctor"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert any(line.startswith("ok   data cifar100: ") for line in lines), lines
    assert all(line.split()[0] in ("ok", "warn", "skip") for line in lines), lines


def test_full_profile_on_a_cpu_fails_the_devices_check(tmp_path):
    make_project(tmp_path, profile="full")
    result, report = doctor_json(tmp_path, "zam-resnet18")
    devices = next(c for c in report["checks"] if c["name"] == "devices")
    assert result.exit_code == 1 and devices["status"] == "fail" and "`repro launch`" in devices["fix"]


def test_numerics_compare_the_fast_path_with_fp32_eager():
    configs = [get_configuration(c) for c in CONFIGS]
    fast = Execution(device=CPU, precision="bf16", channels_last=True)  # CPU bf16 autocast stands in for the GPU's
    checks, timing = doc.check_numerics(configs, fast, steps=2, batch_cap=4)
    assert [c.name for c in checks] == [f"numerics {f}" for f in sorted(timing)] and len(checks) == 2
    assert all(c.status == "ok" for c in checks), [c.line() for c in checks]
    assert all("tolerance 0.05" in c.detail and "vs fp32 eager" in c.detail for c in checks)


def test_numerics_beyond_the_tolerance_fail_with_the_fix(monkeypatch):
    monkeypatch.setitem(doc.TOLERANCE, "bf16", 0.0)
    (check,), _ = doc.check_numerics(
        [get_configuration("zam-resnet18")], Execution(device=CPU, precision="bf16"), steps=2, batch_cap=4
    )
    assert check.status == "fail" and "train.precision: fp32" in check.line()


def test_largest_configuration_per_family():
    chosen = doc.largest_per_family(
        [get_configuration(c) for c in ("wang2017-attention56-c10", "wang2017-attention92-c10")]
    )
    assert [c.name for c in chosen.values()] == ["wang2017-attention92-c10"]


def test_compile_failure_says_training_runs_eager(monkeypatch):
    def broken(model, mode=None):
        raise RuntimeError("no backend for this platform")

    monkeypatch.setattr(torch, "compile", broken)
    project = SimpleNamespace(params=SimpleNamespace(train=SimpleNamespace(compile="default")))
    check = doc.check_compile(project, [get_configuration("zam-mobilenet")], Execution(device=CPU))
    assert check.status == "warn" and "training will run eager" in check.line()
    off = SimpleNamespace(params=SimpleNamespace(train=SimpleNamespace(compile="off")))
    assert doc.check_compile(off, [], Execution(device=CPU)).status == "skip"


def test_allreduce_across_processes():
    """The NCCL check's all-reduce, over two gloo processes on the CPU."""
    assert doc.allreduce("gloo", 2) > 0


def test_unreachable_tracking_server_fails(tmp_path, monkeypatch):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends: nothing listens there
    monkeypatch.setenv("REPRO_TRACKING", "on")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{port}")
    check = doc.check_tracking(make_project(tmp_path))
    assert check.status == "fail" and "MLFLOW_TRACKING_URI" in check.fix


def test_too_little_disk_fails(tmp_path, monkeypatch):
    project = make_project(tmp_path)
    configs = {c: get_configuration(c) for c in CONFIGS}
    monkeypatch.setattr(doc.shutil, "disk_usage", lambda path: SimpleNamespace(free=1_000_000))
    check = doc.check_disk(project, configs, list(CONFIGS), gpus=1)
    assert check.status == "fail" and "free" in check.fix
    monkeypatch.setattr(doc.shutil, "disk_usage", lambda path: SimpleNamespace(free=10**13))
    assert doc.check_disk(project, configs, list(CONFIGS), gpus=1).status == "ok"


def test_faked_pre_ampere_gpu_reports_fp32(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (7, 5))
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "Tesla T4")
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "get_arch_list", lambda: ["sm_75", "sm_80"])
    project = make_project(tmp_path, train={"device": "auto"})
    check, exe = doc.check_devices(project)
    assert check.status == "ok" and exe.precision == "fp32"
    assert "cuda:0 Tesla T4 sm_75" in check.detail and "no native bf16" in check.detail
    monkeypatch.setattr(torch.cuda, "get_arch_list", lambda: ["sm_90"])
    check, _ = doc.check_devices(project)
    assert check.status == "fail" and "no kernels for sm_75" in check.detail


@pytest.mark.parametrize("precision", ["bf16"])
def test_bf16_asked_on_a_t4_fails_the_devices_check(tmp_path, monkeypatch, precision):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (7, 5))
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "Tesla T4")
    check, exe = doc.check_devices(make_project(tmp_path, train={"device": "auto", "precision": precision}))
    assert check.status == "fail" and exe is None and "no native bf16" in check.detail
