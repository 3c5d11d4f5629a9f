"""Residual Attention Network (Wang et al., CVPR 2017): the attention module and the paper's nets.

Spec: residual_attention.md §1 (module, attention types, tests), §2 (ImageNet Attention-56/92),
§3.2-§3.3 (CIFAR reconstructions `paper-cifar-A`, registered as ``attentionN``, and
`paper-cifar-B`, registered as ``attentionN-b``).

Soft masks are read with forward hooks on the ``MaskBranch`` modules (``collect_masks``), so the
forward pass carries no extra work when nobody asks for them.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .masks import MaskBranch
from .preact import PreActBottleneck, cifar_stem, he_init
from .registry import register_model

# Denominator guard of the channel (L2 norm) and spatial (std) activations. The paper states none
# (§1.7 [U]); 1e-5 is PyTorch's normalisation-layer default.
MASK_EPS = 1e-5

# Residual units of the "local convolutions" mask of paper Table 4 ("three Residual Units"). In
# paper-cifar-A Attention-56, 3 units cost 0.152 GMACs against 0.123 for the encoder-decoder
# mask; ``local_units=1`` matches the FLOPs (0.126).
LOCAL_MASK_UNITS = 3

MERGES = ("arl", "nal")
MASKS = ("encoder-decoder", "local")


def channel_attention(x: Tensor) -> Tensor:
    """f2 (Eq. 5): L2 normalisation across channels at each position; no sigmoid."""
    return F.normalize(x, dim=1, eps=MASK_EPS)


def spatial_attention(x: Tensor) -> Tensor:
    """f3 (Eq. 6): per-sample, per-channel standardisation over space (biased std), sigmoid."""
    mean = x.mean((2, 3), keepdim=True)
    std = x.var((2, 3), keepdim=True, unbiased=False).add(MASK_EPS).sqrt()
    return torch.sigmoid((x - mean) / std)


ACTIVATIONS = {"mixed": torch.sigmoid, "channel": channel_attention, "spatial": spatial_attention}


def _check(value: str, allowed, what: str) -> None:
    if value not in allowed:
        raise ValueError(f"{what} must be one of {sorted(allowed)}, got {value!r}")


def units(channels: int, n: int) -> nn.Sequential:
    """n C→C pre-activation bottleneck units with identity shortcuts (§1.1)."""
    return nn.Sequential(*(PreActBottleneck(channels, channels) for _ in range(n)))


def upsample(x: Tensor, size: Sequence[int]) -> Tensor:
    """Caffe Interp: bilinear with align-corners semantics, to an explicit size (§1.4)."""
    return F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=True)


def mask_head(channels: int) -> nn.Sequential:
    """BN-ReLU-1×1-BN-ReLU-1×1, no biases (§1.4, prototxt); the activation follows."""
    return nn.Sequential(
        nn.BatchNorm2d(channels),
        nn.ReLU(inplace=True),
        nn.Conv2d(channels, channels, 1, bias=False),
        nn.BatchNorm2d(channels),
        nn.ReLU(inplace=True),
        nn.Conv2d(channels, channels, 1, bias=False),
    )


class EncoderDecoderMask(MaskBranch):
    """Bottom-up/top-down mask with ``pools`` 3×3/2 max-pools (§1.4-§1.5).

    r units after each pool (2r at the bottom), one skip unit per non-bottom level added after
    up-sampling, then r units; 2rP + P − 1 units in all. ``pools=0``: 2r units at full size.
    """

    def __init__(self, channels: int, pools: int, r: int, activation: str):
        super().__init__()
        self.pools = pools
        self.pool = nn.MaxPool2d(3, stride=2, padding=1)
        self.down = nn.ModuleList(units(channels, r) for _ in range(pools - 1))
        self.skip = nn.ModuleList(PreActBottleneck(channels, channels) for _ in range(pools - 1))
        self.bottom = units(channels, 2 * r)
        self.up = nn.ModuleList(units(channels, r) for _ in range(pools - 1))
        self.head = mask_head(channels)
        self.activation = ACTIVATIONS[activation]

    def forward(self, x: Tensor) -> Tensor:
        size = x.shape[-2:]
        skips = []
        for down, skip in zip(self.down, self.skip, strict=True):
            x = down(self.pool(x))
            skips.append(skip(x))
        x = self.bottom(self.pool(x) if self.pools else x)
        for up, skip_out in zip(self.up, reversed(skips), strict=True):
            x = up(upsample(x, skip_out.shape[-2:]) + skip_out)
        if self.pools:
            x = upsample(x, size)
        return self.activation(self.head(x))


class LocalMask(MaskBranch):
    """Table 4 ablation: residual units at full resolution, no down/up-sampling, same head."""

    def __init__(self, channels: int, activation: str, n_units: int = LOCAL_MASK_UNITS):
        super().__init__()
        self.body = units(channels, n_units)
        self.head = mask_head(channels)
        self.activation = ACTIVATIONS[activation]

    def forward(self, x: Tensor) -> Tensor:
        return self.activation(self.head(self.body(x)))


class AttentionBlock(nn.Module):
    """pre → trunk T and mask M (both read the pre output) → merge → post; subclasses build the parts.

    ARL: H = (1 + M)·T (Eq. 3, prototxt PROD then SUM); NAL: H = M·T (Eq. 1). §1.2, §1.6.
    """

    pre: nn.Module
    trunk: nn.Module
    mask: nn.Module
    post: nn.Module

    def __init__(self, merge: str):
        super().__init__()
        _check(merge, MERGES, "merge")
        self.residual = merge == "arl"

    def forward(self, x: Tensor) -> Tensor:
        x = self.pre(x)
        trunk = self.trunk(x)
        m = self.mask(x)
        # ARL as T + T·M in one kernel: no full-size T·M temporary
        return self.post(torch.addcmul(trunk, trunk, m) if self.residual else trunk * m)


class AttentionModule(AttentionBlock):
    """The paper's module: p pre-units, a trunk of t units, an encoder-decoder (or local) mask,
    p post-units, all pre-activation bottlenecks."""

    def __init__(
        self,
        channels: int,
        pools: int,
        p: int = 1,
        t: int = 2,
        r: int = 1,
        merge: str = "arl",
        activation: str = "mixed",
        mask: str = "encoder-decoder",
        local_units: int = LOCAL_MASK_UNITS,
    ):
        super().__init__(merge)
        _check(activation, ACTIVATIONS, "activation")
        _check(mask, MASKS, "mask")
        self.pre = units(channels, p)
        self.trunk = units(channels, t)
        if mask == "local":
            self.mask = LocalMask(channels, activation, local_units)
        else:
            self.mask = EncoderDecoderMask(channels, pools, r, activation)
        self.post = units(channels, p)


class ResidualAttentionNet(nn.Module):
    """Stem → per stage one transition unit then n attention modules → final units → BN-ReLU-GAP-FC.

    ``stages``: (width, stride of the transition unit, modules, mask pools) per stage;
    ``final``: (width, stride of the first unit, number of units).
    """

    def __init__(
        self,
        stem: nn.Module,
        stem_width: int,
        stages: Sequence[tuple[int, int, int, int]],
        final: tuple[int, int, int],
        num_classes: int,
        **module_options,
    ):
        super().__init__()
        self.stem = stem
        layers: list[nn.Module] = []
        in_ch = stem_width
        for width, stride, n, pools in stages:
            layers.append(PreActBottleneck(in_ch, width, stride))
            layers += [AttentionModule(width, pools, **module_options) for _ in range(n)]
            in_ch = width
        width, stride, n = final
        layers.append(PreActBottleneck(in_ch, width, stride))
        layers += [PreActBottleneck(width, width) for _ in range(n - 1)]
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.BatchNorm2d(width), nn.ReLU(inplace=True))
        self.fc = nn.Linear(width, num_classes)
        he_init(self)

    def forward(self, x: Tensor) -> Tensor:
        x = self.head(self.features(self.stem(x)))
        return self.fc(x.mean((2, 3)))


# --- CIFAR (§3.2): 16-ch stem, widths 64/128/256, equal split, 3 final units at 256 -------------

CIFAR_POOLS = {"A": (3, 2, 1), "B": (2, 1, 0)}


def cifar_attention(
    modules: int,
    ptr: tuple[int, int, int],
    variant: str,
    num_classes: int = 10,
    merge: str = "arl",
    activation: str = "mixed",
    mask: str = "encoder-decoder",
    local_units: int = LOCAL_MASK_UNITS,
) -> nn.Module:
    pools = CIFAR_POOLS[variant]
    stages = [(w, s, modules, n) for w, s, n in zip((64, 128, 256), (1, 2, 2), pools, strict=True)]
    p, t, r = ptr
    return ResidualAttentionNet(
        cifar_stem(16), 16, stages, (256, 1, 3), num_classes,
        p=p, t=t, r=r, merge=merge, activation=activation, mask=mask, local_units=local_units,
    )  # fmt: skip


# depth: (modules per stage, (p, t, r), paper params ×10⁶ from Table 6 or None)
CIFAR_DEPTHS = {
    56: (1, (1, 2, 1), None),
    92: (2, (1, 2, 1), 1.9),
    128: (3, (1, 2, 1), None),
    164: (4, (1, 2, 1), None),
    236: (6, (1, 2, 1), 5.1),
    452: (6, (2, 4, 3), 8.6),
}

for _depth, (_m, _ptr, _paper) in CIFAR_DEPTHS.items():
    for _variant, _suffix in (("A", ""), ("B", "-b")):
        _pools = "/".join(map(str, CIFAR_POOLS[_variant]))
        register_model(
            f"attention{_depth}{_suffix}",
            input_size=32,
            family="residual-attention",
            notes=(
                f"paper-cifar-{_variant} reconstruction (spec §3.2): {_m} module(s)/stage, "
                f"(p,t,r)={_ptr}, mask pools {_pools}"
                + (", one skip unit per level [U]; " if _ptr[2] > 1 else "; ")
                + (f"paper reports {_paper}M params." if _paper else "no paper count.")
            ),
            modules=_m,
            ptr=_ptr,
            variant=_variant,
        )(cifar_attention)


# --- ImageNet (§2): Table 2 and the official prototxt ---------------------------------------------


def imagenet_stem() -> nn.Sequential:
    """7×7/2 conv 3→64 (no bias) → BN → ReLU → 3×3/2 max-pool (§2.2)."""
    return nn.Sequential(
        nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False),
        nn.BatchNorm2d(64),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(3, stride=2, padding=1),
    )


def imagenet_attention(
    modules: tuple[int, int, int],
    num_classes: int = 1000,
    merge: str = "arl",
    activation: str = "mixed",
    mask: str = "encoder-decoder",
    local_units: int = LOCAL_MASK_UNITS,
) -> nn.Module:
    widths, strides, pools = (256, 512, 1024), (1, 2, 2), (3, 2, 1)
    stages = list(zip(widths, strides, modules, pools, strict=True))
    return ResidualAttentionNet(
        imagenet_stem(), 64, stages, (2048, 2, 3), num_classes,
        merge=merge, activation=activation, mask=mask, local_units=local_units,
    )  # fmt: skip


register_model(
    "attention56-imagenet",
    input_size=224,
    family="residual-attention",
    notes="Table 2 / prototxt, 1-1-1 modules, mask pools 3/2/1; 31.81M learnable + BN stats = "
    "31.88M (paper 31.9M), 6.27 GMACs (paper 6.2-6.3 G).",
    default_classes=1000,
    modules=(1, 1, 1),
)(imagenet_attention)

register_model(
    "attention92-imagenet",
    input_size=224,
    family="residual-attention",
    notes="Table 2 / prototxt, 1-2-3 modules, mask pools 3/2/1; 52.47M learnable, 10.53 GMACs: "
    "does not match the paper's 51.3M / 10.4 G (cause unknown, spec §2.3).",
    default_classes=1000,
    modules=(1, 2, 3),
)(imagenet_attention)
