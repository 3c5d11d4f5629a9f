"""Residual Attention Network family (spec residual_attention.md, tinyimagenet.md).

Parameter counts are the structural test (§2.3, §3.3, §7.1, tinyimagenet.md §7); they are taken on
the meta device, so no weights are allocated. Module-level tests follow §1.9. Golden outputs live
in tests/golden/<model>[-option].pt; regenerate with GOLDEN_ACCEPT=1.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from pipeline.models import (
    bn_running_stats,
    create_model,
    list_models,
    macs_per_image,
    model_info,
    trainable_params,
)
from pipeline.models.masks import collect_masks
from pipeline.models.preact import PreActBottleneck
from pipeline.models.residual_attention import (
    AttentionModule,
    EncoderDecoderMask,
    LocalMask,
    MaskBranch,
    spatial_attention,
    upsample,
)
from pipeline.models.tinyimagenet_attention import tf_legacy_resize

GOLDEN = Path(__file__).parent / "golden"
FAMILIES = ("residual-attention", "residual-attention-student")
NAMES = [n for n in list_models() if model_info(n).family in FAMILIES]


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """These tensors are small: on a shared 2-core machine two intra-op threads spin-wait and run
    10-30x slower than one."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def meta_model(name: str, **kwargs) -> nn.Module:
    with torch.device("meta"):
        return create_model(name, **kwargs)


# --- parameter counts ----------------------------------------------------------------------------

# (name, options, trainable, BN running-stat entries or None)
COUNTS = [
    # paper-cifar-A / -B (§3.3)
    ("attention56", {}, 1_148_858, None),
    ("attention92", {}, 1_959_738, None),
    ("attention128", {}, 2_770_618, None),
    ("attention164", {}, 3_581_498, None),
    ("attention236", {}, 5_203_258, None),
    ("attention452", {}, 10_299_706, None),
    ("attention56-b", {}, 1_081_850, None),
    ("attention92-b", {}, 1_825_722, None),
    ("attention128-b", {}, 2_569_594, None),
    ("attention164-b", {}, 3_313_466, None),
    ("attention236-b", {}, 4_801_210, None),
    ("attention452-b", {}, 9_361_594, None),
    ("attention92", {"num_classes": 100}, 1_959_738 + 23_130, None),
    # ImageNet (§2.3): learnable + BN statistics = 31,883,432 (the paper's 31.9M)
    ("attention56-imagenet", {}, 31_810_728, 72_704),
    ("attention92-imagenet", {}, 52_466_344, None),
    # jay4869-keras (§7.1): Keras totals 28,366,026 / 28,366,154 / 65,040,202 / 65,132,452
    ("jay4869-attention56", {}, 28_326_922, 39_104),
    ("jay4869-attention56", {"merge": "nal"}, 28_326_986, 39_168),
    ("jay4869-attention92", {}, 64_962_634, 77_568),
    ("jay4869-attention92", {"num_classes": 100}, 65_054_884, 77_568),
    # columbia-e4040 (§7.2): our build, not the published 2,892,970 / 9,396,778 (see notes)
    ("columbia-attention56", {}, 3_426_442, 15_232),
    ("columbia-attention56", {"activation": "spatial"}, 3_426_442 + 896, 15_232),
    ("columbia-attention92", {}, 5_570_698, 26_752),
    ("columbia-attention92", {"head_bn": True}, 5_570_698 + 1_024, 26_752 + 1_024),
    # Tiny ImageNet, 200 classes (tinyimagenet.md §7, §12.2)
    ("tinyimagenet-residual", {}, 2_061_616, 2_560),
    ("tinyimagenet-inception", {}, 2_362_224, 3_584),
    ("tinyimagenet-residual-clean", {}, 1_606_920, 4_864),
    ("tinyimagenet-inception-clean", {}, 1_907_528, 5_888),
]


@pytest.mark.parametrize(("name", "options", "trainable", "stats"), COUNTS)
def test_parameter_count(name, options, trainable, stats):
    model = meta_model(name, **options)
    assert trainable_params(model) == trainable
    if stats is not None:
        assert bn_running_stats(model) == stats


def test_keras_totals():
    """Keras summaries count BN moving statistics too (§7.1)."""
    for name, total in (("jay4869-attention56", 28_366_026), ("jay4869-attention92", 65_040_202)):
        model = meta_model(name)
        assert trainable_params(model) + bn_running_stats(model) == total


@pytest.mark.parametrize("name", ["attention56", "attention92-b", "attention56-imagenet"])
def test_merge_and_activation_add_no_parameters(name):
    base = trainable_params(meta_model(name))
    for options in ({"merge": "nal"}, {"activation": "channel"}, {"activation": "spatial"}):
        assert trainable_params(meta_model(name, **options)) == base


def test_student_switches():
    """Jay4869: stem BN on by default for NAL-56 only, dropout 0.4 for 92 (§7.1). Columbia
    "spatial": one LayerNorm (γ, β) per module, here 1-2-3 modules of 64/128/256 (§7.2)."""
    with_bn = trainable_params(meta_model("jay4869-attention56", stem_bn=True))
    assert trainable_params(meta_model("jay4869-attention56", merge="nal")) == with_bn
    assert meta_model("jay4869-attention92").dropout.p == 0.4
    assert meta_model("jay4869-attention56").dropout.p == 0.0
    mixed = trainable_params(meta_model("columbia-attention92", activation="mixed"))
    spatial = trainable_params(meta_model("columbia-attention92"))
    assert spatial - mixed == 2 * (64 + 2 * 128 + 3 * 256)


def test_columbia_a92_diverges_literally_and_trains_with_the_catalogs_head_bn():
    """Why columbia-a92-c10-spatial-arl sets head_bn: under its recipe's first steps (Nesterov SGD,
    lr 0.1) the literal build's loss is not finite within 6 steps, the catalog's build stays finite."""
    from pipeline.catalog import get_configuration
    from pipeline.training import make_optimizer

    run = get_configuration("columbia-a92-c10-spatial-arl")
    assert run.model_options["head_bn"] is True
    x, y = torch.randn(32, 3, 32, 32, generator=torch.Generator().manual_seed(0)), torch.arange(32) % 10

    def losses(**options) -> list[float]:
        torch.manual_seed(0)
        model = create_model(run.model, 10, **options)
        optimizer = make_optimizer(model, run.recipe)
        out = []
        for _ in range(6):
            loss = F.cross_entropy(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            out.append(loss.item())
        return out

    literal = losses(**{**run.model_options, "head_bn": False})
    assert not all(map(math.isfinite, literal)) or max(literal) > 1e6
    catalog = losses(**run.model_options)
    assert all(math.isfinite(v) and v < 10 for v in catalog), catalog


def test_imagenet_macs():
    """6.27 GMACs at 224² (§2.3; the flop counter's FLOPs / 2)."""
    model = create_model("attention56-imagenet")
    assert round(macs_per_image(model, 224) / 1e9, 2) == 6.27


# --- every registered model: forward / backward, golden output -----------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_forward_backward(name):
    torch.manual_seed(0)
    model = create_model(name)
    info = model_info(name)
    model.train()
    out = model(torch.randn(2, 3, info.input_size, info.input_size))
    assert out.shape == (2, info.default_classes)
    assert torch.isfinite(out).all()
    F.cross_entropy(out, torch.tensor([0, 1])).backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None, pname
        assert torch.isfinite(p.grad).all(), pname


GOLDEN_CASES = [
    ("attention56", {}),
    ("attention56", {"merge": "nal"}),
    ("attention56", {"activation": "channel"}),
    ("attention56", {"activation": "spatial"}),
    ("attention56", {"mask": "local"}),
    ("attention92", {}),
    ("attention56-b", {}),
    ("attention56-imagenet", {}),
    ("jay4869-attention56", {}),
    ("jay4869-attention92", {}),
    ("columbia-attention56", {}),
    ("columbia-attention56", {"activation": "spatial"}),
    ("columbia-attention92", {}),
    ("tinyimagenet-residual", {}),
    ("tinyimagenet-inception", {}),
    ("tinyimagenet-residual-clean", {}),
    ("tinyimagenet-inception-clean", {}),
]


@pytest.mark.parametrize(("name", "options"), GOLDEN_CASES)
def test_golden_output(name, options):
    torch.manual_seed(0)
    model = create_model(name, **options).eval()
    size = min(model_info(name).input_size, 64)  # ImageNet nets run at 64² here
    x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        out = model(x)
    path = GOLDEN / ("-".join([name, *map(str, options.values())]) + ".pt")
    if os.environ.get("GOLDEN_ACCEPT") == "1":
        GOLDEN.mkdir(exist_ok=True)
        torch.save(out, path)
    assert path.exists(), f"missing {path}; run with GOLDEN_ACCEPT=1 to create it"
    expected = torch.load(path)
    torch.testing.assert_close(out, expected, rtol=1e-4, atol=1e-4 * expected.abs().max().item())


# --- masks ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "options", "n_masks"),
    [
        ("attention56", {}, 3),
        ("attention56", {"activation": "spatial"}, 3),
        ("attention92-b", {"mask": "local"}, 6),
        ("jay4869-attention56", {}, 3),
        ("columbia-attention92", {}, 6),
        ("tinyimagenet-inception", {}, 1),
        ("tinyimagenet-residual", {}, 0),
    ],
)
def test_masks_in_unit_interval(name, options, n_masks):
    torch.manual_seed(0)
    model = create_model(name, **options).eval()
    size = model_info(name).input_size
    masks = collect_masks(model, torch.randn(2, 3, size, size))
    assert len(masks) == n_masks
    for m in masks:
        assert m.shape[0] == 2 and m.min() >= 0 and m.max() <= 1
    assert all(not m._forward_hooks for m in model.modules() if isinstance(m, MaskBranch))


def test_cifar_mask_shapes_and_channel_attention():
    torch.manual_seed(0)
    model = create_model("attention56", activation="channel").eval()
    masks = collect_masks(model, torch.randn(2, 3, 32, 32))
    assert [tuple(m.shape) for m in masks] == [(2, 64, 32, 32), (2, 128, 16, 16), (2, 256, 8, 8)]
    for m in masks:  # f2: unit L2 norm across channels at every position
        torch.testing.assert_close(m.norm(dim=1), torch.ones_like(m[:, 0]))


def test_local_mask_keeps_full_resolution():
    model = create_model("attention56", mask="local")
    masks = [m for m in model.modules() if isinstance(m, MaskBranch)]
    assert len(masks) == 3 and all(isinstance(m, LocalMask) for m in masks)
    assert not any(isinstance(m, nn.MaxPool2d) for m in model.features.modules())
    one = create_model("attention56", mask="local", local_units=1)
    assert round(macs_per_image(one, 32) / 1e9, 3) == 0.126  # ≈ the encoder-decoder 0.123


# --- module-level tests (§1.9) -------------------------------------------------------------------


@pytest.mark.parametrize("merge", ["arl", "nal"])
@pytest.mark.parametrize("value", [0.0, 1.0])
def test_constant_mask(merge, value):
    """M ≡ 0: ARL → post(T), NAL → post(0); M ≡ 1: ARL → post(2T), NAL → post(T)."""
    torch.manual_seed(0)
    module = AttentionModule(16, pools=2, merge=merge).eval()
    module.mask.register_forward_hook(lambda _m, _i, out: torch.full_like(out, value))
    x = torch.randn(2, 16, 8, 8)
    with torch.no_grad():
        trunk = module.trunk(module.pre(x))
        factor = value + 1 if merge == "arl" else value
        torch.testing.assert_close(module(x), module.post(factor * trunk))


def test_mask_reads_the_pre_unit_output():
    torch.manual_seed(0)
    module = AttentionModule(16, pools=1).eval()
    seen = []
    module.mask.register_forward_hook(lambda _m, inp, _out: seen.append(inp[0]))
    x = torch.randn(1, 16, 8, 8)
    with torch.no_grad():
        module(x)
        torch.testing.assert_close(seen[0], module.pre(x))


@pytest.mark.parametrize("size", [5, 7, 10, 13])
@pytest.mark.parametrize("pools", [0, 1, 2, 3])
@pytest.mark.parametrize("activation", ["mixed", "spatial"])
def test_module_shapes_non_power_of_two(size, pools, activation):
    torch.manual_seed(0)
    module = AttentionModule(16, pools, activation=activation)
    x = torch.randn(2, 16, size, size)
    (mask,) = collect_masks(module, x)
    assert module(x).shape == x.shape == mask.shape
    assert mask.min() >= 0 and mask.max() <= 1


def test_mask_unit_counts():
    """2rP + P − 1 mask units for P pools, 2r for P = 0 (§1.5); the local mask has 3."""

    def n_units(mask: nn.Module) -> int:
        return sum(isinstance(m, PreActBottleneck) for m in mask.modules())

    for pools, r in ((0, 1), (1, 1), (2, 1), (3, 1), (3, 3)):
        expected = 2 * r if pools == 0 else 2 * r * pools + pools - 1
        assert n_units(EncoderDecoderMask(16, pools, r, "mixed")) == expected
    assert n_units(LocalMask(16, "mixed")) == 3


def test_spatial_attention_standardises_each_channel():
    x = 3 * torch.randn(2, 4, 6, 5) + 2
    z = torch.logit(spatial_attention(x).double())
    torch.testing.assert_close(z.mean((2, 3)), torch.zeros(2, 4, dtype=z.dtype), atol=1e-5, rtol=0)
    std = z.std((2, 3), unbiased=False)
    torch.testing.assert_close(std, torch.ones(2, 4, dtype=z.dtype), atol=1e-4, rtol=0)


def test_upsampling_is_align_corners():
    x = torch.tensor([[[[0.0, 1.0]]]])
    torch.testing.assert_close(upsample(x, (1, 4)), torch.tensor([[[[0, 1 / 3, 2 / 3, 1.0]]]]))


def test_tinyimagenet_resize_is_tf1_legacy_bilinear():
    """Source = dst · in/out, no half-pixel offset, last index clamped (tinyimagenet.md §5.5)."""
    x = torch.arange(4.0).view(1, 1, 1, 4)
    expected = torch.tensor([0, 0.5, 1, 1.5, 2, 2.5, 3, 3]).view(1, 1, 1, 8)
    torch.testing.assert_close(tf_legacy_resize(x, (1, 8)), expected)


def test_bad_options_raise():
    for options in ({"merge": "sum"}, {"activation": "softmax"}, {"mask": "none"}):
        with pytest.raises(ValueError):
            create_model("attention56", **options)
    with pytest.raises(ValueError):
        create_model("columbia-attention56", activation="channel")
    with pytest.raises(ValueError):
        create_model("jay4869-attention56", merge="sum")
