"""BAM / CBAM / ZAM / SResNet modules and their backbones (spec attention_modules.md).

Parameter counts are the structural test (§4.6, §6). MACs: ``cost.macs_per_image`` counts convs and
matmuls only; thop (the ZAM README's tool) also counts 4 MACs per BatchNorm output element, so the
MobileNet rows are compared after adding that term. Golden outputs live in tests/golden/<model>.pt;
regenerate with GOLDEN_ACCEPT=1.
"""

from __future__ import annotations

import copy
import math
import os
from pathlib import Path

import pytest
import torch
from torch import nn

from pipeline.models import (
    create_model,
    list_models,
    macs_per_image,
    model_info,
    trainable_params,
)
from pipeline.models.attention_modules import (
    ATTENTION_KINDS,
    BAM,
    CBAM,
    ZAM,
    ZCA,
    ZSA,
    PlugInAttention,
    SResNetSpatial,
    create_attention,
    keep_attention_maps,
)

GOLDEN = Path(__file__).parent / "golden"

# trainable parameters, 100 classes (spec §4.6, §6.1, §6.2: verified counts)
COUNTS = {
    "resnet18": 11_220_132,
    "resnet18-cbam": 11_310_012,
    "resnet18-cbam-zamrepo": 11_307_316,
    "resnet18-bam": 11_243_123,
    "resnet18-zam-avg": 11_220_132,
    "resnet18-zam-max": 11_220_132,
    "resnet18-zam-avgmax": 11_220_132,
    "resnet18-zam-r": 11_220_132,
    "resnet50": 23_705_252,
    "resnet50-bam": 24_063_319,
    "resnet50-bam-paper": 24_066_909,
    "resnet50-cbam": 26_237_844,
    "resnet50-cbam-zamrepo": 26_220_484,
    "preresnet50": 23_693_476,
    "preresnet50-bam": 24_051_319,
    "sresnet50": 23_694_212,
    "sresnet50-skips": 23_694_260,
    "sresnet50-dilation": 23_694_212,
    "sresnet50-skips-dilation-squish": 23_694_260,
    "mobilenet": 3_309_476,
    "mobilenet-cbam-zamrepo": 3_789_454,
    "mobilenet-zam": 3_309_476,
    "mobilenet-zam-r": 3_309_476,
}
# the blog's 1000-way head (§0.3.3, §4.6)
COUNTS_1000_HEAD = {
    "sresnet50-skips": 25_538_360,
    "sresnet50-dilation": 25_538_312,
    "sresnet50-skips-dilation-squish": 25_538_360,
}
# thop MACs at 1×3×32×32 (§6.2)
THOP_MACS = {
    "resnet18": 557.93e6,
    "resnet18-cbam-zamrepo": 558.40e6,
    "resnet18-zam-avgmax": 558.17e6,
    "mobilenet": 180.66e6,
    "mobilenet-cbam-zamrepo": 182.39e6,
    "mobilenet-zam-r": 181.36e6,
}
ZERO_PARAM_KINDS = ["none", "zca", "zsa", "zam", "zam-avg", "zam-max", "zam-r"]


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """Tiny CPU workloads run faster on one thread, and far faster on a shared machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module", params=sorted(COUNTS))
def built(request) -> tuple[str, nn.Module]:
    """One pristine, seeded model per name (tests that mutate it work on a copy)."""
    torch.manual_seed(0)
    return request.param, create_model(request.param)


def test_every_model_in_this_zoo_is_counted():
    families = {"resnet-cifar", "preact-resnet50", "mobilenet-v1"}
    ours = {n for n in list_models() if model_info(n).family in families}
    assert ours == set(COUNTS)


def test_param_count(built):
    name, model = built
    assert trainable_params(model) == COUNTS[name]


@pytest.mark.parametrize("name", sorted(COUNTS_1000_HEAD))
def test_blog_1000_way_head(name):
    model = create_model(name, head_classes=1000)
    assert trainable_params(model) == COUNTS_1000_HEAD[name]
    assert model.fc.out_features == 1000
    with pytest.raises(ValueError):
        create_model(name, head_classes=10)


def _bn_output_elements(model: nn.Module) -> int:
    """BatchNorm output elements for one 32×32 image (thop counts 4 MACs each)."""
    total = 0

    def hook(_m, _i, out):
        nonlocal total
        total += out.numel()

    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    handles = [m.register_forward_hook(hook) for m in bns]
    model.eval()
    with torch.no_grad():
        model(torch.zeros(1, 3, 32, 32))
    for h in handles:
        h.remove()
    return total


@pytest.mark.parametrize("name", sorted(THOP_MACS))
def test_macs_against_thop(name):
    model = create_model(name)
    macs, thop = macs_per_image(model, 32), THOP_MACS[name]
    if name.startswith("resnet18"):
        assert abs(macs - thop) / thop < 0.01  # the library's count alone
    # thop convention: + 4 per BN output element; leaves only pooling/element-wise ops
    assert abs(macs + 4 * _bn_output_elements(model) - thop) / thop < 0.005


def test_forward_backward(built):
    """Batch 2 at the model's input size, train mode: shape, finite output, a gradient for all."""
    name, model = built
    model = copy.deepcopy(model).train()
    torch.manual_seed(1)
    size = model_info(name).input_size
    out = model(torch.randn(2, 3, size, size))
    assert out.shape == (2, model_info(name).default_classes)
    assert torch.isfinite(out).all()
    out.square().mean().backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None, pname
        assert torch.isfinite(p.grad).all(), pname


def test_golden_output(built):
    name, model = built
    model = copy.deepcopy(model).eval()
    torch.manual_seed(2)
    with torch.no_grad():
        out = model(torch.randn(1, 3, 32, 32))
    path = GOLDEN / f"{name}.pt"
    if os.environ.get("GOLDEN_ACCEPT") == "1":
        GOLDEN.mkdir(exist_ok=True)
        torch.save(out, path)
    assert path.exists(), f"missing {path}; run with GOLDEN_ACCEPT=1 to create it"
    expected = torch.load(path)
    scale = expected.abs().max().item()
    torch.testing.assert_close(out, expected, rtol=1e-4, atol=1e-4 * scale)


# --- placement and initialisation -------------------------------------------------------------


def _attention_modules(model: nn.Module) -> list[PlugInAttention]:
    return [m for m in model.modules() if isinstance(m, PlugInAttention)]


def test_placement(built):
    """CBAM/ZAM/SResNet layers on every residual branch (or MobileNet block), BAM after stages
    1-3 (§1.3, §2.1, §3, §4.2)."""
    name, model = built
    kind = model_info(name).options["attention"]
    found = _attention_modules(model)
    if kind == "none":
        assert found == []
        return
    cls = {"bam": BAM, "cbam": CBAM, "zam": ZAM, "sresnet": SResNetSpatial}[kind.split("-")[0]]
    per_block = {"resnet18": 8, "mobilenet": 13}.get(name.split("-")[0], 16)
    assert len(found) == (3 if cls is BAM else per_block)
    assert all(type(m) is cls for m in found)


def test_initialisation(built):
    """Each source's init: PyTorch defaults (ZAM), JC's loop (§2.1), Xu Ma's (§4.1, §4.7)."""
    name, model = built
    scheme = model_info(name).options.get("init", "pytorch")
    fc = model.fc
    biases = [m.bias for m in model.modules() if isinstance(getattr(m, "bias", None), nn.Parameter)]
    assert all(b.abs().sum() == 0 for b in biases) == (scheme in ("jc", "xu-bam"))
    if scheme in ("xu", "xu-bam"):
        assert 0.009 < fc.weight.std() < 0.011  # N(0, 0.01)
    if scheme == "jc":
        assert fc.weight.std().item() == pytest.approx(math.sqrt(2 / fc.in_features), rel=0.05)
        shortcut = next(m for n, m in model.named_modules() if n.endswith("shortcut.0"))
        default_std = 1 / math.sqrt(3 * shortcut.in_channels)  # left at the PyTorch default
        assert shortcut.weight.std().item() == pytest.approx(default_std, rel=0.05)
        for m in model.modules():
            if isinstance(m, CBAM):
                assert m.spatial_bn.weight.item() == 0


def test_cbam_spatial_gate_starts_at_one_half():
    torch.manual_seed(0)
    model = create_model("resnet18-cbam")
    keep_attention_maps(model)
    model(torch.randn(2, 3, 16, 16))
    gates = [m.maps["spatial"] for m in _attention_modules(model)]
    assert len(gates) == 8
    assert all(torch.equal(g, torch.full_like(g, 0.5)) for g in gates)


# --- modules ----------------------------------------------------------------------------------


def test_factory_rejects_unknown_kind():
    with pytest.raises(ValueError, match="Did you mean cbam") as err:
        create_attention("cbma", 64)
    assert all(kind in str(err.value) for kind in ATTENTION_KINDS)


@pytest.mark.parametrize("kind", ZERO_PARAM_KINDS)
def test_zero_parameter_modules(kind):
    m = create_attention(kind, 64)
    assert list(m.parameters()) == [] and list(m.buffers()) == []
    x = torch.randn(2, 64, 8, 8)
    assert m(x).shape == x.shape
    assert m.state_dict() == {}


def test_zam_models_add_no_parameters_or_buffers():
    base = create_model("resnet18").state_dict().keys()
    for name in ("resnet18-zam-avg", "resnet18-zam-max", "resnet18-zam-avgmax", "resnet18-zam-r"):
        assert create_model(name).state_dict().keys() == base


def _s(v: float) -> float:
    return 1 / (1 + math.exp(-v))


# x[0, c, 0, w]: channel 0 = [1, 3], channel 1 = [2, 0]
X = torch.tensor([[[[1.0, 3.0]], [[2.0, 0.0]]]])


def test_zca_hand_computed():
    # channel 0: avg 2 + max 3; channel 1: avg 1 + max 2
    expected = torch.tensor([[[[1 * _s(5), 3 * _s(5)]], [[2 * _s(3), 0.0]]]])
    torch.testing.assert_close(ZCA()(X), expected)
    torch.testing.assert_close(ZCA(skip=True)(X), X + expected)
    avg_only = torch.tensor([[[[1 * _s(2), 3 * _s(2)]], [[2 * _s(1), 0.0]]]])
    torch.testing.assert_close(ZCA(pool="avg")(X), avg_only)


def test_zsa_hand_computed():
    # position 0: mean 1.5 + max 2; position 1: mean 1.5 + max 3
    expected = torch.tensor([[[[1 * _s(3.5), 3 * _s(4.5)]], [[2 * _s(3.5), 0.0]]]])
    torch.testing.assert_close(ZSA()(X), expected)
    max_only = torch.tensor([[[[1 * _s(2), 3 * _s(3)]], [[2 * _s(2), 0.0]]]])
    torch.testing.assert_close(ZSA(pool="max")(X), max_only)


@pytest.mark.parametrize("a", [-1.5, 0.25, 2.0])
def test_zam_and_zam_r_on_constant_input(a):
    # spec §9: x ≡ a → every pooled value is a, each gate σ(2a)
    x = torch.full((1, 4, 6, 6), a)
    b = a * _s(2 * a)
    torch.testing.assert_close(ZAM()(x), torch.full_like(x, b * _s(2 * b)))
    b = a + a * _s(2 * a)
    torch.testing.assert_close(ZAM(skip=True)(x), torch.full_like(x, b + b * _s(2 * b)))


def test_zam_r_is_zca_r_then_zsa_r():
    x = torch.randn(2, 8, 5, 5)
    mc = torch.sigmoid(x.mean((2, 3), keepdim=True) + x.amax((2, 3), keepdim=True))
    y = x + x * mc
    ms = torch.sigmoid(y.mean(1, keepdim=True) + y.amax(1, keepdim=True))
    torch.testing.assert_close(create_attention("zam-r", 8)(x), y + y * ms)
    torch.testing.assert_close(create_attention("zam", 8)(x), ZSA()(ZCA()(x)))


def test_zam_avg_max_interpretation_and_override():
    x = torch.randn(2, 8, 4, 4)
    avg = create_attention("zam-avg", 8)
    assert (avg.channel_pool, avg.spatial_pool) == ("avg", "avg")
    torch.testing.assert_close(avg(x), ZSA(pool="avg")(ZCA(pool="avg")(x)))
    mx = create_attention("zam-max", 8, spatial_pool="avgmax")  # channel-only variant
    torch.testing.assert_close(mx(x), ZSA()(ZCA(pool="max")(x)))
    with pytest.raises(ValueError):
        ZAM(channel_pool="min")


@pytest.mark.parametrize("form", ["product", "sum"])
def test_bam_forms(form):
    torch.manual_seed(0)
    bam = BAM(64, form=form).eval()
    x = torch.randn(2, 64, 8, 8)
    mc = bam.channel_gate(x.mean((2, 3)))[:, :, None, None]
    ms = bam.spatial_gate(x)
    att = torch.sigmoid(mc * ms if form == "product" else mc + ms)
    torch.testing.assert_close(bam(x), x + x * att)
    last = (bam.channel_gate[-1], bam.spatial_gate[-1])
    assert [isinstance(m, nn.modules.batchnorm._BatchNorm) for m in last] == [form == "sum"] * 2
    with pytest.raises(ValueError):
        BAM(64, form="max")


def test_bam_and_cbam_param_formulas():
    c, r = 256, 16
    m = c // r
    channel = (c * m + m) + 2 * m + (m * c + c)
    spatial = (c * m + m) + 2 * m + 2 * (9 * m * m + m + 2 * m) + (m + 1)
    assert trainable_params(create_attention("bam", c)) == channel + spatial
    assert trainable_params(create_attention("bam-paper", c)) == channel + spatial + 2 * c + 2
    assert trainable_params(create_attention("bam-xu", c)) == channel + spatial - 2 * m
    assert trainable_params(create_attention("cbam", c)) == c * c // 8 + c + c // 16 + 100
    assert trainable_params(create_attention("cbam-zamrepo", c)) == c * c // 8 + 18


@pytest.mark.parametrize(
    ("kind", "n"),
    [("sresnet", 46), ("sresnet-skips", 49), ("sresnet-dilation", 46),
     ("sresnet-skips-dilation-squish", 49)],
)  # fmt: skip
def test_sresnet_layers(kind, n):
    layer = create_attention(kind, 256)
    assert trainable_params(layer) == n
    x = torch.randn(2, 256, 8, 8)
    assert layer(x).shape == x.shape
    with pytest.raises(ValueError, match="even"):
        layer(torch.randn(1, 256, 7, 8))


def test_sresnet_skips_hand_computed():
    torch.manual_seed(0)
    layer = SResNetSpatial(skips=True, dilation=2, squish=5.0)
    x = torch.randn(1, 4, 8, 8)
    p = x.mean(1, keepdim=True)
    c1 = torch.relu(layer.conv1(p))
    u = torch.relu(layer.conv2(c1)).repeat_interleave(2, 2).repeat_interleave(2, 3)
    z = layer.fuse(torch.cat((layer.conv3(u), p, c1), 1))
    torch.testing.assert_close(layer(x), x * torch.sigmoid(5 * z))


@pytest.mark.parametrize("kind", sorted(set(ATTENTION_KINDS) - {"none"}))
def test_attention_maps_on_request(kind):
    model = nn.Sequential(create_attention(kind, 32))
    x = torch.randn(2, 32, 8, 8)
    model(x)
    (m,) = [m for m in model.modules() if isinstance(m, PlugInAttention)]
    assert m.maps == {}
    keep_attention_maps(model)
    model(x)
    shapes = {"channel": (2, 32, 1, 1), "spatial": (2, 1, 8, 8), "attention": (2, 32, 8, 8)}
    assert m.maps and {k: tuple(g.shape) for k, g in m.maps.items()}.items() <= shapes.items()
    assert all(not g.requires_grad for g in m.maps.values())
    keep_attention_maps(model, on=False)
    assert m.maps == {}
    assert all("maps" not in key for key in model.state_dict())
