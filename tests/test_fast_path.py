"""The GPU fast path's switches (optimiser kernels, channels_last, torch.compile mode) change speed only:
a short training run ends at the same loss and weights within floating-point tolerance. Also the
params.yaml schema of the switches and the concurrency benchmark's output. No timing thresholds."""

from __future__ import annotations

import json
import time

import pytest
import torch
from torch import nn

from pipeline.bench.concurrency import concurrency
from pipeline.catalog import CatalogError, get_configuration
from pipeline.execution import Execution, maybe_compile
from pipeline.settings import load_params
from pipeline.training import load_optimizer_state, make_optimizer, train
from tests.conftest import register_tiny
from tests.test_training import make_run

CPU = torch.device("cpu")
# Adam normalises every gradient, so a near-zero one (a conv bias before BatchNorm: rounding noise)
# moves by ±lr whatever its sign; the optimiser comparisons use the tiny CNN without BatchNorm.
RECIPES = {
    "sgd": dict(optimizer="sgd", lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4),
    "adam": dict(optimizer="adam", lr=1e-3, weight_decay=5e-4),
}


def _train(model, data, out, recipe=RECIPES["sgd"], **exe):
    run, r = make_run(model, **({"epochs": 1} | recipe))
    result = train(run, r, 0, data, out, Execution(device=CPU, **exe), resume=False)
    return result.history[-1], result.model.state_dict()


def _assert_same_run(a, b, rtol, atol):
    (row_a, state_a), (row_b, state_b) = a, b
    for key in ("train_loss", "test_loss"):
        torch.testing.assert_close(row_b[key], row_a[key], rtol=rtol, atol=atol)
    assert state_a.keys() == state_b.keys()
    for key in state_a:
        torch.testing.assert_close(state_b[key], state_a[key], rtol=rtol, atol=atol, msg=key)


def _fused_on_cpu(optimizer: str) -> bool:
    cls = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam}[optimizer]
    try:
        cls([nn.Parameter(torch.zeros(1))], lr=0.1, fused=True)
        return True
    except (RuntimeError, TypeError, ValueError):
        return False


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_optimizer_kernels_change_no_result(optimizer, smoke_data, tmp_path):
    model = register_tiny(batchnorm=False)
    impls = ["loop", "foreach", "auto"] + (["fused"] if _fused_on_cpu(optimizer) else [])
    runs = {impl: _train(model, smoke_data, tmp_path / impl, RECIPES[optimizer], optimizer_impl=impl) for impl in impls}
    for impl in impls[1:]:
        _assert_same_run(runs["loop"], runs[impl], rtol=1e-5, atol=1e-6)
    if "fused" not in impls:
        pytest.skip(f"fused {optimizer} is not supported on this CPU build of torch {torch.__version__}")


def test_optimizer_impl_picks_the_kernel():
    run, recipe = make_run(register_tiny(), optimizer="sgd", lr=0.1)
    model = nn.Linear(4, 2)
    defaults = {impl: make_optimizer(model, recipe, impl).defaults for impl in ("loop", "foreach", "auto", None)}
    assert defaults["loop"]["foreach"] is False and defaults["foreach"]["foreach"] is True
    assert defaults["auto"]["foreach"] is None and not defaults["auto"]["fused"]  # CPU: torch's default
    assert defaults[None] == defaults["auto"] and make_optimizer(model, recipe).defaults == defaults[None]
    if _fused_on_cpu("sgd"):
        assert make_optimizer(model, recipe, "fused").defaults["fused"] is True


def test_resume_keeps_this_runs_optimizer_kernel():
    """torch restores the saved foreach/fused flags; a changed optimizer_impl must win on resume."""
    run, recipe = make_run(register_tiny(), optimizer="sgd", lr=0.1, momentum=0.9)
    model = nn.Linear(4, 2)
    saved = make_optimizer(model, recipe, "loop")
    model(torch.randn(3, 4)).sum().backward()
    saved.step()
    resumed = make_optimizer(model, recipe, "foreach")
    load_optimizer_state(resumed, saved.state_dict())
    assert resumed.param_groups[0]["foreach"] is True
    momentum = resumed.state[model.weight]["momentum_buffer"]
    torch.testing.assert_close(momentum, saved.state[model.weight]["momentum_buffer"])


def test_channels_last_changes_no_result(tiny_model, smoke_data, tmp_path):
    plain = _train(tiny_model, smoke_data, tmp_path / "nchw", channels_last=False)
    nhwc = _train(tiny_model, smoke_data, tmp_path / "nhwc", channels_last=True)
    _assert_same_run(plain, nhwc, rtol=1e-4, atol=1e-5)  # convolutions may sum in another order


def test_compile_off_returns_the_model_and_a_bad_mode_falls_back_to_eager(capsys):
    model = nn.Linear(2, 2)
    assert maybe_compile(model, None) is model and maybe_compile(model, "off") is model
    assert maybe_compile(model, "no-such-mode") is model  # torch.compile refuses it: one warning, eager
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("warning: torch.compile unavailable")
    import torch._dynamo

    compiled = maybe_compile(model, "default")  # lazy: nothing is compiled until the first call
    assert compiled is not model and torch._dynamo.config.suppress_errors


def test_compile_default_changes_no_result(smoke_data, tmp_path):
    """torch.compile (inductor, CPU) vs eager over 2 steps; ~15 s cold on the 2-core CI CPU."""
    model = register_tiny(batchnorm=False)
    recipe = RECIPES["sgd"] | {"iterations": 2, "epochs": None}
    from torch._dynamo.utils import counters

    t0 = time.perf_counter()
    eager = _train(model, smoke_data, tmp_path / "eager", recipe, eval_cap=16)
    counters.clear()
    compiled = _train(model, smoke_data, tmp_path / "compiled", recipe, eval_cap=16, compile="default")
    print(f"compile default: {time.perf_counter() - t0:.1f} s")
    assert counters["frames"]["ok"] > 0  # really compiled, not the silent eager fallback
    _assert_same_run(eager, compiled, rtol=1e-4, atol=1e-5)  # inductor fuses and reorders float sums


def test_a_backend_failure_at_the_first_call_runs_eager(monkeypatch):
    """Compilation happens at the first call; suppress_errors makes a failing backend fall back."""
    import torch._inductor.compile_fx

    def broken(*args, **kwargs):
        raise RuntimeError("no C compiler")

    monkeypatch.setattr(torch._inductor.compile_fx, "compile_fx", broken)
    torch._dynamo.reset()  # no cached graph of an earlier test
    model = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 2))
    x = torch.randn(3, 4)
    torch.testing.assert_close(maybe_compile(model, "default")(x), model(x))


PARAMS = "profile: full\ntrain:\n  device: cpu\n  compile: {compile}\n  optimizer_impl: {impl}\n"


@pytest.mark.parametrize(
    ("written", "expected"),
    [("true", "default"), ("false", "off"), ("off", "off"), ('"off"', "off"), ("default", "default")]
    + [(mode, mode) for mode in ("reduce-overhead", "max-autotune")],
)
def test_params_accept_compile_modes_and_old_booleans(written, expected, tmp_path):
    (tmp_path / "params.yaml").write_text(PARAMS.format(compile=written, impl="fused"))
    train_settings = load_params(tmp_path / "params.yaml").train
    assert train_settings.compile == expected and train_settings.optimizer_impl == "fused"
    exe = Execution.from_settings(train_settings)
    assert exe.compile == (None if expected == "off" else expected) and exe.optimizer_impl == "fused"
    assert not exe.cuda_graphs  # reduce-overhead marks CUDA graph steps only on CUDA


def test_params_defaults_are_safe_without_a_gpu(tmp_path):
    (tmp_path / "params.yaml").write_text("profile: full\n")
    exe = Execution.from_settings(load_params(tmp_path / "params.yaml").train)
    assert exe.compile is None and exe.optimizer_impl == "auto"


@pytest.mark.parametrize(("key", "value"), [("compile", "fastest"), ("optimizer_impl", "apex")])
def test_params_reject_a_bad_mode_in_one_line_naming_the_key(key, value, tmp_path):
    values = {"compile": "off", "impl": "auto"} | {{"optimizer_impl": "impl"}.get(key, key): value}
    (tmp_path / "params.yaml").write_text(PARAMS.format(**values))
    line = 4 if key == "compile" else 5
    with pytest.raises(CatalogError, match=rf"params.yaml:{line}: train.{key}: Input should be") as info:
        load_params(tmp_path / "params.yaml")
    assert "\n" not in str(info.value)


def test_concurrency_returns_json_for_one_and_two_processes():
    run = get_configuration("wang2017-attention56-c10").model_copy(
        update={"model": register_tiny(), "model_options": {}}
    )
    exe = Execution(device=CPU, threads=1)
    result = concurrency(run, [1, 2], batch_size=2, steps=2, warmup=1, exe=exe, setup=register_tiny)
    assert json.loads(json.dumps(result)) == result  # plain JSON (non-finite floats become null)
    assert result["processes"] == [1, 2] and result["execution"]["threads"] == 1
    assert len(result["load_average_1min"]) == 2
    assert result["execution"]["optimizer_impl"] == "auto" and result["execution"]["compile"] is None
    one, two = result["results"]
    assert (one["processes"], two["processes"]) == (1, 2) and result["best_processes"] in (1, 2)
    for row in (one, two):
        assert len(row["per_process_images_per_s"]) == row["processes"] == len(row["step_ms_median"])
        assert row["aggregate_images_per_s"] > 0 and row["mean_process_images_per_s"] > 0 and row["loss_finite"]
        assert 0 <= row["window_overlap"] <= 1 and row["threads_per_process"] == 1
    assert one["ratio_to_one"] == 1.0 and two["ratio_to_one"] > 0
    assert two["efficiency"] == pytest.approx(two["ratio_to_one"] / 2, rel=1e-5)


def test_concurrency_refuses_zero_processes():
    with pytest.raises(ValueError, match="processes >= 1"):
        concurrency("wang2017-attention56-c10", [0])


@pytest.mark.parametrize("processes", ["0,1", "1,two", ""])
def test_repro_bench_refuses_bad_processes_in_one_line(processes, tmp_path):
    from typer.testing import CliRunner

    from pipeline.cli import app

    (tmp_path / "params.yaml").write_text("profile: full\n")
    args = ["--root", str(tmp_path), "bench", "wang2017-attention56-c10", "--processes", processes]
    result = CliRunner().invoke(app, args)
    assert result.exit_code != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "--processes must be positive integers" in lines[0]
