"""Benchmarks and the catalog plan: output shape, arithmetic, and that the fast path keeps results.

Timings are never thresholds here: only "positive", "valid JSON", "ratio present".
"""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from pipeline.bench.machine import peak_flops
from pipeline.bench.plan import plan, schedule_of
from pipeline.bench.timing import bench
from pipeline.catalog import get_configuration
from pipeline.execution import Execution, to_format
from pipeline.inventory import input_shape
from pipeline.models.cost import _conv_backward_flop, train_flops_per_image
from pipeline.training import make_optimizer
from tests.conftest import register_tiny

CHEAP = "wang2017-attention56-c10"


def test_bench_returns_json_with_both_paths_and_ratio():
    run = get_configuration(CHEAP).model_copy(
        update={"model": register_tiny(), "model_options": {}}
    )  # seconds, not minutes
    exe = Execution(device=torch.device("cpu"), channels_last=True)
    result = bench(run, batch_size=2, steps=2, warmup=1, exe_fast=exe)
    assert json.loads(json.dumps(result)) == result  # plain JSON, no NaN/inf (those become null)
    for mode in ("fast", "eager"):
        r = result[mode]
        assert r["train_images_per_s"] > 0 and r["inference_images_per_s"] > 0 and r["step_ms_median"] > 0
        assert r["train_tflops"] > 0 and r["loss_finite"]
        assert r["percent_of_peak_bf16"] is None  # CPU: no known peak
    assert result["fast"]["execution"]["channels_last"] is True
    assert result["fast"]["execution"]["optimizer_impl"] == "auto" and result["fast"]["execution"]["compile"] is None
    eager = {**result["fast"]["execution"], "channels_last": False, "optimizer_impl": None}  # torch's defaults
    assert result["eager"]["execution"] == eager
    assert result["speedup_fast_over_eager"] > 0
    assert result["device"] == "cpu" and result["torch"] == torch.__version__ and result["device_name"]
    assert (result["batch_size"], result["steps"], result["warmup"]) == (2, 2, 1)


def test_flop_counts_match_the_spec_and_fix_grouped_conv_backward():
    config = get_configuration(CHEAP)
    fwd, train = train_flops_per_image(config.model, *input_shape(config), **config.model_options)
    assert fwd == pytest.approx(0.2457e9, rel=1e-3) and train == pytest.approx(0.7361e9, rel=1e-3)
    # depthwise conv: backward = forward per gradient (torch's own formula multiplies by the group count)
    x, w, out = [2, 64, 16, 16], [64, 1, 3, 3], [2, 64, 16, 16]
    forward = 2 * 2 * 64 * 16 * 16 * 9
    assert _conv_backward_flop(out, x, w, None, 1, 1, 1, False, 0, 64, [True, True, False]) == 2 * forward
    assert _conv_backward_flop(out, x, w, None, 1, 1, 1, False, 0, 64, [False, True, False]) == forward


def test_peak_table():
    assert peak_flops("NVIDIA H100 80GB HBM3") == 989e12
    assert peak_flops("NVIDIA H200") == 989e12
    assert peak_flops("NVIDIA A100-SXM4-80GB") == 312e12
    assert peak_flops("AMD EPYC") is None


def test_schedule_counts_steps_epochs_and_eval_images():
    s = schedule_of(get_configuration("zam-mobilenet"))  # 199 epochs, batch 128, CIFAR-100
    assert (s["epoch_steps"], s["steps"], s["epochs"], s["eval_images_per_epoch"]) == (391, 199 * 391, 199, 10_000)
    s = schedule_of(get_configuration(CHEAP))  # 160k iterations, batch 64, 781 full batches per epoch
    assert (s["epoch_steps"], s["steps"], s["epochs"]) == (781, 160_000, 205)  # drop_last: Caffe-like full batches
    s = schedule_of(get_configuration("columbia-a56-c10-spatial-arl"))  # Keras subset validation
    assert s["train_images"] + s["val_images"] == 50_000 and s["val_images"] > 0


def test_plan_totals_are_the_sum_of_the_configurations(monkeypatch):
    """One benchmark per distinct (model, options, batch, shape); totals add up. The measurement is
    stubbed with fixed speeds (bench itself is tested above), so the arithmetic is checked exactly."""
    import pipeline.bench.plan as bench_module

    calls = []

    def fake_bench(run, batch_size=None, **kwargs):
        calls.append((run.name, batch_size, kwargs["steps"], kwargs["warmup"], kwargs["eager"]))
        speed = {"attention92": 100.0, "mobilenet": 400.0}[run.model]
        return {
            "train_flops_per_image": 1e9,
            "fast": {"train_images_per_s": speed, "inference_images_per_s": 4 * speed},
        }

    monkeypatch.setattr(bench_module, "bench", fake_bench)
    names = ["wang2017-attention92-c10", "wang2017-attention92-noise10-c10", "zam-mobilenet"]
    result = plan([*names, "wang2017-attention56-imagenet"], steps=3, warmup=1, batch_size=2)
    assert json.loads(json.dumps(result)) == result
    rows = result["configs"]
    assert [r["config"] for r in rows] == names
    assert result["skipped_requires"] == ["wang2017-attention56-imagenet"]
    assert calls == [(names[0], 2, 3, 1, False), (names[2], 2, 3, 1, False)]  # attention92 measured once
    assert result["benchmarks"] == 2 and result["total_runs"] == 1 + 1 + 5
    a92, mobilenet = rows[0], rows[2]
    assert a92["train_seconds_per_run"] == pytest.approx(160_000 * 64 / 100.0, rel=1e-5)
    assert a92["eval_seconds_per_run"] == pytest.approx(205 * 10_000 / 400.0, rel=1e-5)
    assert mobilenet["seconds"] == pytest.approx(5 * (199 * 391 * 128 / 400.0 + 199 * 10_000 / 1600.0), rel=1e-5)
    assert mobilenet["train_pflop"] == pytest.approx(5 * 199 * 391 * 128 * 1e9 / 1e15, rel=1e-5)
    for r in rows:
        assert r["extrapolated"] and r["bench_batch_size"] == 2
        assert r["seconds"] == pytest.approx(r["runs"] * (r["train_seconds_per_run"] + r["eval_seconds_per_run"]), 1e-5)
    assert result["total_seconds"] == pytest.approx(sum(r["seconds"] for r in rows), rel=1e-5)
    assert result["total_hours"] == pytest.approx(result["total_seconds"] / 3600, rel=1e-5)
    assert result["gpu_hours"] is None  # CPU: no GPU-hours


def test_plan_and_bench_on_a_real_catalog_model():
    result = plan([CHEAP], steps=1, warmup=0, batch_size=2)
    (row,) = result["configs"]
    assert row["seconds"] > 0 and row["step_ms"] > 0 and result["total_seconds"] == row["seconds"]
    assert row["train_images_per_s"] > 0 and row["inference_images_per_s"] > 0


def _one_step(run, channels_last: bool, dtype: torch.dtype):
    """One real training step (recipe optimiser, cross-entropy): loss, gradients, parameters after."""
    from pipeline.models import create_model

    exe = Execution(channels_last=channels_last)
    torch.manual_seed(0)
    model = create_model(run.model, 10, **run.model_options).to(dtype)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = make_optimizer(model, run.recipe)
    gen = torch.Generator().manual_seed(1)
    x, y = torch.randn(2, 3, 32, 32, generator=gen, dtype=dtype), torch.randint(0, 10, (2,), generator=gen)
    loss = F.cross_entropy(model(to_format(x, exe)).float(), y)
    loss.backward()
    grads = torch.cat([p.grad.flatten() for p in model.parameters()])
    optimizer.step()
    return loss.detach(), grads, torch.cat([p.detach().flatten() for p in model.parameters()])


def test_channels_last_changes_no_result():
    """channels_last is a layout, not a recipe change. In float64 the step is identical to rounding;
    in float32 the loss agrees to 1e-4 (gradients are not compared in float32: the convolutions sum
    in a different order, and one pre-ReLU value in 32k flipping sign moves the gradient by ~1%)."""
    run = get_configuration(CHEAP)
    (l0, g0, p0), (l1, g1, p1) = (_one_step(run, cl, torch.float64) for cl in (False, True))
    torch.testing.assert_close(l1, l0, rtol=1e-9, atol=0)
    assert (g1 - g0).norm() <= 1e-9 * g0.norm()
    torch.testing.assert_close(p1, p0, rtol=1e-9, atol=1e-12)
    (l0, _, _), (l1, _, _) = (_one_step(run, cl, torch.float32) for cl in (False, True))
    torch.testing.assert_close(l1, l0, rtol=1e-4, atol=0)
