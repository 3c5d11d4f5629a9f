"""The capability-aware execution defaults (README "Execution defaults"), every row of the table on a
faked CUDA device (``torch.cuda.is_available`` and ``get_device_capability`` monkeypatched), the
determinism switches, the record of warned kernels, and the fp16 GradScaler path of the step."""

from __future__ import annotations

import os
import warnings

import pytest
import torch

from pipeline.execution import (
    CUBLAS_WORKSPACE,
    Execution,
    ExecutionError,
    choose_precision,
    grad_scaler,
    record_nondeterminism,
    set_determinism,
)
from pipeline.settings import TrainSettings
from tests.conftest import register_tiny
from tests.test_training import make_run

CPU = torch.device("cpu")


@pytest.fixture
def fake_gpu(monkeypatch):
    """A CUDA device of the given capability, as far as the decision logic can see."""

    def make(major: int, minor: int, name: str = "Fake GPU"):
        monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
        monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (major, minor))
        monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: name)
        return torch.device("cuda")

    return make


@pytest.fixture
def torch_switches():
    """Restore torch's global determinism switches and CUBLAS_WORKSPACE_CONFIG after the test."""
    saved = (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
        torch.backends.cudnn.benchmark,
        torch.backends.cudnn.deterministic,
        os.environ.pop("CUBLAS_WORKSPACE_CONFIG", None),
    )
    yield
    torch.use_deterministic_algorithms(saved[0], warn_only=saved[1])
    torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = saved[2], saved[3]
    os.environ.pop("CUBLAS_WORKSPACE_CONFIG", None)
    if saved[4] is not None:
        os.environ["CUBLAS_WORKSPACE_CONFIG"] = saved[4]


# (device, capability, train.precision) → (precision, GradScaler); None = refused with one line.
TABLE = [
    ("cpu", None, "auto", ("fp32", False)),
    ("cpu", None, "fp32", ("fp32", False)),
    ("cpu", None, "bf16", ("bf16", False)),
    ("cpu", None, "fp16", None),
    ("cuda", (9, 0), "auto", ("bf16", False)),  # H100/H200
    ("cuda", (8, 0), "auto", ("bf16", False)),  # A100
    ("cuda", (8, 0), "bf16", ("bf16", False)),
    ("cuda", (8, 0), "fp32", ("fp32", False)),
    ("cuda", (8, 0), "fp16", ("fp16", True)),
    ("cuda", (7, 5), "auto", ("fp32", False)),  # T4
    ("cuda", (7, 0), "auto", ("fp32", False)),  # V100
    ("cuda", (7, 5), "fp32", ("fp32", False)),
    ("cuda", (7, 0), "fp16", ("fp16", True)),
    ("cuda", (7, 5), "fp16", ("fp16", True)),
    ("cuda", (7, 5), "bf16", None),
    ("cuda", (7, 0), "bf16", None),
    ("cuda", (6, 0), "auto", ("fp32", False)),  # P100
]


@pytest.mark.parametrize("device, cap, setting, expected", TABLE)
def test_precision_table(device, cap, setting, expected, fake_gpu):
    train = TrainSettings(device="auto" if device == "cuda" else "cpu", precision=setting)
    if device == "cuda":
        fake_gpu(*cap, name="Tesla T4" if cap == (7, 5) else "Fake GPU")
    if expected is None:
        with pytest.raises(ExecutionError) as err:
            Execution.from_settings(train)
        line = str(err.value)
        assert "\n" not in line and "train.precision" in line
        assert ("fp32" in line or "fp16" in line) and "use" in line  # the fix is named
        return
    exe = Execution.from_settings(train)
    assert exe.device.type == device
    assert (exe.precision, exe.grad_scaler) == expected
    assert exe.precision_reason  # the rule that chose it is recorded
    if expected[0] == "fp16":
        assert "can change results" in exe.precision_reason


def test_auto_on_pre_ampere_says_how_to_get_amp(fake_gpu):
    precision, reason = choose_precision("auto", fake_gpu(7, 5))
    assert precision == "fp32" and "sm_75" in reason and "fp16" in reason


@pytest.mark.parametrize("deterministic", [True, False])
def test_determinism_switches_on_cuda(deterministic, fake_gpu, torch_switches):
    exe = Execution(device=fake_gpu(8, 0), deterministic=deterministic)
    set_determinism(exe)
    if deterministic:
        assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == CUBLAS_WORKSPACE
        assert torch.are_deterministic_algorithms_enabled()
        assert torch.is_deterministic_algorithms_warn_only_enabled()
        assert not torch.backends.cudnn.benchmark and torch.backends.cudnn.deterministic
    else:
        assert "CUBLAS_WORKSPACE_CONFIG" not in os.environ
        assert torch.backends.cudnn.benchmark


def test_user_cublas_setting_is_kept(fake_gpu, torch_switches, monkeypatch):
    monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", ":16:8")
    set_determinism(Execution(device=fake_gpu(8, 0), deterministic=True))
    assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":16:8"


def test_cpu_determinism_touches_nothing(torch_switches):
    torch.backends.cudnn.benchmark = False
    set_determinism(Execution(device=CPU, deterministic=False))
    assert not torch.backends.cudnn.benchmark and "CUBLAS_WORKSPACE_CONFIG" not in os.environ


def test_warned_kernels_are_recorded_and_other_warnings_pass():
    message = (
        "upsample_bilinear2d_backward_out_cuda does not have a deterministic implementation, but you set "
        "'torch.use_deterministic_algorithms(True, warn_only=True)'."
    )
    with pytest.warns(UserWarning, match="unrelated"), record_nondeterminism() as kernels:
        for _ in range(3):
            warnings.warn(message, UserWarning, stacklevel=1)
        warnings.warn("adaptive_avg_pool2d_backward_cuda does not have a deterministic implementation", stacklevel=1)
        warnings.warn("an unrelated warning", UserWarning, stacklevel=1)
    assert kernels == ["upsample_bilinear2d_backward_out_cuda", "adaptive_avg_pool2d_backward_cuda"]


def test_record_names_the_rule(fake_gpu):
    exe = Execution.from_settings(TrainSettings(device="cpu"))
    record = exe.record()
    assert record["precision"] == "fp32" and record["precision_rule"] == "CPU: fp32"
    assert record["grad_scaler"] is False and record["torch"] == torch.__version__
    for key in ("capability", "deterministic", "cudnn_benchmark", "cublas_workspace_config", "compile"):
        assert key in record


def test_fp16_step_goes_through_a_grad_scaler(smoke_data, tmp_path):
    """fp16 autocast with a GradScaler (CPU autocast in float16 stands in for the GPU): the run trains,
    and its train.json records the precision and the scaler."""
    exe = Execution(device=CPU, precision="fp16", precision_reason="test")
    scaler = grad_scaler(exe)
    assert isinstance(scaler, torch.amp.GradScaler) and scaler.is_enabled()
    assert grad_scaler(Execution(device=CPU)) is None
    from pipeline.training import train

    run, recipe = make_run(register_tiny(batchnorm=False), epochs=1)
    result = train(run, recipe, 0, smoke_data, tmp_path / "run", exe, resume=False)
    assert all(torch.isfinite(v).all() for v in result.model.state_dict().values())
    record = result.metrics["execution"]
    assert record["precision"] == "fp16" and record["grad_scaler"] is True
    assert record["nondeterministic_kernels"] == []
