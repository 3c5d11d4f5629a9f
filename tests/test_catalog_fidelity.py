"""Issue 17, catalog fidelity: Keras recipe defaults (Adam epsilon, floor(n / batch) steps, the
transform centre), separate training / evaluation time, the claim kinds, and the fixed catalog
entries."""

import math

import numpy as np
import pytest
import torch
from scipy import ndimage

from pipeline.bench.plan import schedule_of
from pipeline.catalog import Claim, Recipe, Reported, get_configuration, load_catalog
from pipeline.data.augment import affine_matrices, apply_affine
from pipeline.data.loader import NORMALIZATION_CONSTANTS, DeviceLoader
from pipeline.data.prepared import Split
from pipeline.report.claim_kinds import CitedClaimResult, ClaimResult, CostClaimResult, evaluate_claims
from pipeline.training import build_loaders, epoch_time_metrics, lr_at, make_optimizer, train
from tests._catalog import demo_catalog, load_demo

SOURCES = load_catalog()


# --- Keras recipe keys ---------------------------------------------------------------------------
def test_adam_epsilon_reaches_the_optimiser():
    model = torch.nn.Linear(3, 2)
    keras = Recipe(optimizer="adam", lr=1e-3, epochs=1, adam_epsilon=1e-7)
    assert {g["eps"] for g in make_optimizer(model, keras).param_groups} == {1e-7}
    assert {g["eps"] for g in make_optimizer(model, Recipe(optimizer="adam", epochs=1)).param_groups} == {1e-8}
    for name in ("jay4869-a56-arl", "jay4869-a92-nal", "columbia-a56-c10-spatial-arl"):
        assert get_configuration(name).recipe.adam_epsilon == 1e-7
    assert get_configuration("stanford-residual").recipe.adam_epsilon == 1e-8  # non-Keras Adam: torch's default


def test_keras_drop_last_takes_floor_n_over_batch_steps():
    split = Split(np.zeros((45_000, 1, 1, 3), np.uint8), np.zeros(45_000, np.int64))
    cpu = torch.device("cpu")
    keras = DeviceLoader(split, 128, cpu, lambda x: x, shuffle=True, drop_last=True)
    assert len(keras) == 351 and sum(1 for _ in keras) == 351
    assert all(len(y) == 128 for _, y in keras)
    assert len(DeviceLoader(split, 128, cpu, lambda x: x, shuffle=True)) == 352  # torch-style: partial batch kept
    # the catalog: Jay4869 (45,000 / 128) drops the partial batch, Wang (50,000 / 64) too (Caffe: full batches)
    assert schedule_of(get_configuration("jay4869-a56-arl"))["epoch_steps"] == 351
    assert schedule_of(get_configuration("wang2017-attention56-c10"))["epoch_steps"] == 781
    assert schedule_of(get_configuration("zam-resnet18"))["epoch_steps"] == 391  # unchanged: torch DataLoader keeps it


def test_build_loaders_passes_drop_last(smoke_data):
    base = dict(lr=0.1, epochs=1, batch_size=48)
    n = len(build_loaders(Recipe(**base), smoke_data, torch.device("cpu"), 0).train.y)
    assert n % 48, "the fixture must leave a partial batch"
    kept = build_loaders(Recipe(**base), smoke_data, torch.device("cpu"), 0).train
    dropped = build_loaders(Recipe(**base, drop_last=True), smoke_data, torch.device("cpu"), 0).train
    assert (len(kept), len(dropped)) == (math.ceil(n / 48), n // 48)


def keras_216_rotate(image: np.ndarray, degrees: float) -> np.ndarray:
    """Keras 2.1.6-tf ``apply_transform`` of a rotation, channels first (its code, reimplemented):
    rotation matrix about o = n/2 + 0.5, ``ndimage.affine_transform`` order 1, fill 'nearest'."""
    theta = np.deg2rad(degrees)
    rot = np.array([[np.cos(theta), -np.sin(theta), 0], [np.sin(theta), np.cos(theta), 0], [0, 0, 1]])
    h, w = image.shape[1:]
    o_x, o_y = h / 2 + 0.5, w / 2 + 0.5
    m = np.array([[1, 0, o_x], [0, 1, o_y], [0, 0, 1]]) @ rot @ np.array([[1, 0, -o_x], [0, 1, -o_y], [0, 0, 1]])
    return np.stack([ndimage.affine_transform(c, m[:2, :2], m[:2, 2], order=1, mode="nearest") for c in image])


def test_keras_transform_centre_matches_keras_216():
    rng = np.random.default_rng(0)
    image = rng.random((3, 12, 12)).astype(np.float32)
    keras = keras_216_rotate(image, 90.0)

    def ours(offset: float) -> np.ndarray:
        # Keras' (row, col) rotation by +θ is a rotation by −θ in grid_sample's (x = col, y = row)
        one = torch.ones(1)
        theta = affine_matrices(-math.pi / 2 * one, 0 * one, 0 * one, one, one, 12, 12, offset)
        return apply_affine(torch.from_numpy(image)[None], theta, "nearest", "bilinear")[0].numpy()

    np.testing.assert_allclose(ours(1.0), keras, atol=1e-5)
    assert np.abs(ours(0.0) - keras).max() > 0.1  # the true centre is a visible shift from Keras'
    assert get_configuration("jay4869-a56-arl").recipe.augment.center_offset == 1.0
    assert (
        get_configuration("columbia-a56-c10-spatial-arl").recipe.augment.center_offset == 0.0
    )  # shifts only: no centre


# --- time per epoch ------------------------------------------------------------------------------
def test_epoch_times_keep_training_and_evaluation_apart():
    rows = [
        {"epoch_train_seconds": 60.0, "epoch_eval_seconds": 5.0},
        {"epoch_train_seconds": 40.0, "epoch_eval_seconds": 4.0},
        {"epoch_train_seconds": 50.0, "epoch_eval_seconds": 6.0},
    ]
    m = epoch_time_metrics(rows)
    assert m["train_seconds_per_epoch_excl_first"] == 45.0  # Columbia: epochs 2..n, training only
    assert (m["train_seconds_per_epoch"], m["eval_seconds_per_epoch"], m["training_only_seconds"]) == (50.0, 5.0, 150.0)
    assert epoch_time_metrics([{"seconds": 1.0}]) == {}  # rows from before the split: nothing invented


def test_time_figures_measured_elsewhere_name_their_hardware_and_metric():
    for source_id, hardware in (("columbia-e4040", "T4"), ("jay4869-keras", "P100")):
        times = [r for c in SOURCES[source_id].configurations.values() for r in c.reported if r.unit == "s"]
        assert times and all(hardware in (r.hardware or "") for r in times)
    columbia = [r for c in SOURCES["columbia-e4040"].configurations.values() for r in c.reported if r.unit == "s"]
    assert {r.metric for r in columbia} == {"train_seconds_per_epoch_excl_first"}
    assert Reported(metric="m", value=1.0, meaning="m", table="t", row="r", column="c").hardware is None


# --- claims --------------------------------------------------------------------------------------
def test_claim_schema_refuses_incomplete_kinds():
    with pytest.raises(ValueError, match="needs worse"):
        Claim(text="t", better="a", metric="top1_acc")
    with pytest.raises(ValueError, match="says why"):
        Claim(text="t", better="a", metric="top1_acc", cited=True)
    with pytest.raises(ValueError, match="ratio and either"):
        Claim(text="t", better="a", worse="b", metric="params", kind="cost")
    with pytest.raises(ValueError, match="counts one of"):
        Claim(text="t", better="a", worse="b", metric="top1_acc", kind="cost", ratio=1.0)
    c = Claim(text="t", better="a", worse=["b", "c"], metric="top1_acc")
    assert [(p.better, p.worse) for p in c.pairs()] == [("a", "b"), ("a", "c")]


def test_a_claim_against_an_unknown_arm_names_it(tmp_path):
    text = demo_catalog(
        """\
        configurations:
          demo-a: {dataset: cifar10, model: preresnet-164}
          demo-b: {dataset: cifar10, model: preresnet-164}
        claims:
          - {text: "A beats all", better: demo-a, worse: [demo-b, demo-c], metric: top1_acc}
        """
    )
    with pytest.raises(Exception, match="demo-c"):
        load_demo(tmp_path, text)


def test_claims_page_results_per_kind():
    runs = {"columbia-a56-c10-spatial-arl": [{"train_seconds_per_epoch_excl_first": 40.0}]}
    results = evaluate_claims(SOURCES["columbia-e4040"], runs, "full")
    lowest = [r for r in results if r.claim.text.startswith("A56 ARL spatial has the lowest")]
    assert len(lowest) == 3 and all(isinstance(r, ClaimResult) for r in lowest)  # one line per slower arm
    wang = {r.claim.text: r for r in evaluate_claims(SOURCES["wang2017"], {}, "full")}
    cited = [r for r in wang.values() if isinstance(r, CitedClaimResult)]
    assert len(cited) == 5 and all(r.verdict == "cited, no verdict" for r in cited)  # Table 7 and §4.2
    zam = [r for r in evaluate_claims(SOURCES["zam"], {}, "full") if isinstance(r, CostClaimResult)]
    params = [r for r in zam if r.claim.metric == "params"]
    assert params and all(r.verdict == "holds" and r.better == r.worse for r in params)  # ZAM adds no parameter


# --- the fixed catalog entries -------------------------------------------------------------------
def test_jay4869_a92_schedules_follow_the_notebooks():
    arl = get_configuration("jay4869-a92-arl").recipe
    assert [lr_at(arl, 0, e) for e in (0, 21, 40, 41, 61, 81)] == pytest.approx(
        [1e-5, 1e-5, 1e-5, 1e-7, 1e-9, 1e-10], rel=1e-9
    )
    nal = get_configuration("jay4869-a92-nal")
    got = [lr_at(nal.recipe, 0, e) for e in (0, 10, 11, 21, 31, 41, 51, 61, 71, 81, 91)]
    want = [1e-5, 1e-5, 1e-6, 1e-7, 1e-9, 1e-12, 1e-15, 1e-19, 1e-24, 1e-30, 1e-35]
    assert got == pytest.approx(want, rel=1e-9)
    assert nal.model_options["dropout"] == 0.0 and nal.recipe.early_stopping.patience == 15
    assert nal.recipe.weight_decay == 2e-5  # Keras l2(1e-5) → 2λ


def test_zam_constants_are_the_source_literals():
    assert NORMALIZATION_CONSTANTS["zam-cifar100"] == (
        (0.5070751592371323, 0.48654887331495095, 0.4409178433670343),
        (0.2673342858792401, 0.2564384629170883, 0.27615047132568404),
    )


def test_stanford_faithful_pair_has_three_seeds():
    assert get_configuration("stanford-residual").n_seeds == get_configuration("stanford-inception").n_seeds == 3


def test_a_run_records_training_and_evaluation_time_and_non_trainable_params(tiny_model, smoke_data, tmp_path):
    from pipeline.evaluation import evaluate
    from pipeline.models import bn_running_stats
    from pipeline.rundir import RunDir
    from tests.test_training import CPU, make_run

    run, recipe = make_run(tiny_model, epochs=2)
    result = train(run, recipe, 0, smoke_data, tmp_path, CPU)
    assert all(r["epoch_train_seconds"] > 0 and r["epoch_eval_seconds"] > 0 for r in result.history)
    m = result.metrics
    assert m["train_seconds_per_epoch_excl_first"] == result.history[1]["epoch_train_seconds"]
    assert m["training_only_seconds"] < m["train_seconds"]  # evaluation is left out
    metrics = evaluate(run, recipe, RunDir(tmp_path, run.name, 0), smoke_data, CPU.device)
    assert metrics["non_trainable_params"] == bn_running_stats(result.model) > 0
