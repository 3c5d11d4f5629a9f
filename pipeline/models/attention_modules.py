"""Attention modules (BAM, CBAM, ZAM, SResNet spatial layers) and their factory.

``create_attention(kind, channels, **kw)`` builds one module (``"none"`` → ``nn.Identity``), so a
backbone takes the attention type as a parameter (timm's ``create_attn`` pattern).
Spec: attention_modules.md §1 (BAM), §2 (CBAM), §3 (ZAM), §4.2–4.5 (SResNet50 layers).

Attention maps: set ``module.keep_maps = True`` (or call ``keep_attention_maps(model)``) and each
forward stores its detached gates in ``module.maps``; off by default, and never a buffer.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..names import did_you_mean

_POOLS = ("avg", "max", "avgmax")


class PlugInAttention(nn.Module):
    """Base class: ``keep_maps`` switches on storing the last forward's gates in ``maps``."""

    keep_maps: bool = False

    def __init__(self) -> None:
        super().__init__()
        self.maps: dict[str, Tensor] = {}

    def _store(self, **gates: Tensor) -> None:
        self.maps = {k: v.detach() for k, v in gates.items()}


def keep_attention_maps(model: nn.Module, on: bool = True) -> None:
    """Switch map recording on (or off, clearing stored maps) for every attention module."""
    for m in model.modules():
        if isinstance(m, PlugInAttention):
            m.keep_maps = on
            if not on:
                m.maps = {}


class BAM(PlugInAttention):
    """Bottleneck Attention Module, out = F · (1 + σ(·)) (§1).

    ``form="product"``: official code, σ(Mc ⊙ Ms), no BN after either branch (§1.1).
    ``form="sum"``: the paper, σ(Mc + Ms) with a final BN1d(C) / BN2d(1) per branch (§1.2).
    ``channel_bn=False``: Xu Ma's variant without BatchNorm1d in the channel MLP (§4.7).
    """

    def __init__(
        self,
        channels: int,
        reduction: int = 16,
        dilation: int = 4,
        form: str = "product",
        channel_bn: bool = True,
    ) -> None:
        super().__init__()
        if form not in ("product", "sum"):
            raise ValueError(f"BAM form must be 'product' or 'sum', got {form!r}")
        self.sum_form = form == "sum"
        mid = channels // reduction
        mlp: list[nn.Module] = [nn.Linear(channels, mid)]
        if channel_bn:
            mlp.append(nn.BatchNorm1d(mid))
        mlp += [nn.ReLU(inplace=True), nn.Linear(mid, channels)]
        spatial: list[nn.Module] = [nn.Conv2d(channels, mid, 1)]
        spatial += [nn.BatchNorm2d(mid), nn.ReLU(inplace=True)]
        for _ in range(2):
            spatial.append(nn.Conv2d(mid, mid, 3, padding=dilation, dilation=dilation))
            spatial += [nn.BatchNorm2d(mid), nn.ReLU(inplace=True)]
        spatial.append(nn.Conv2d(mid, 1, 1))
        if self.sum_form:
            mlp.append(nn.BatchNorm1d(channels))
            spatial.append(nn.BatchNorm2d(1))
        self.channel_gate = nn.Sequential(*mlp)
        self.spatial_gate = nn.Sequential(*spatial)

    def forward(self, x: Tensor) -> Tensor:
        mc = self.channel_gate(x.mean((2, 3)))[:, :, None, None]
        ms = self.spatial_gate(x)
        att = torch.sigmoid(mc + ms if self.sum_form else mc * ms)
        if self.keep_maps:
            self._store(channel=mc, spatial=ms, attention=att)
        return torch.addcmul(x, x, att)  # (1 + att)·x without a full-size 1 + att temporary


class CBAM(PlugInAttention):
    """Convolutional Block Attention Module: channel gate, then spatial gate, both multiplicative.

    Defaults = official code (§2.1): MLP with biases, [max, mean] → 7×7 conv → BN(1) (momentum
    0.01; its γ is zeroed by the official init). ZAM-repo variant (§2.2): ``kernel_size=3,
    mlp_bias=False, spatial_bn=False, max_first=False``.
    """

    def __init__(
        self,
        channels: int,
        reduction: int = 16,
        kernel_size: int = 7,
        mlp_bias: bool = True,
        spatial_bn: bool = True,
        max_first: bool = True,
    ) -> None:
        super().__init__()
        mid = channels // reduction
        self.mlp = nn.Sequential(
            nn.Linear(channels, mid, bias=mlp_bias),
            nn.ReLU(inplace=True),
            nn.Linear(mid, channels, bias=mlp_bias),
        )
        self.spatial_conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)
        self.spatial_bn = nn.BatchNorm2d(1, momentum=0.01) if spatial_bn else None
        self.max_first = max_first

    def forward(self, x: Tensor) -> Tensor:
        # shared MLP on the avg- and max-pooled vectors in one call
        mc = torch.sigmoid(self.mlp(torch.stack((x.mean((2, 3)), x.amax((2, 3))))).sum(0))
        x = x * mc[:, :, None, None]
        mean_c, max_c = x.mean(1, keepdim=True), x.amax(1, keepdim=True)
        z = self.spatial_conv(torch.cat((max_c, mean_c) if self.max_first else (mean_c, max_c), 1))
        ms = torch.sigmoid(z if self.spatial_bn is None else self.spatial_bn(z))
        if self.keep_maps:
            self._store(channel=mc[:, :, None, None], spatial=ms)
        return x * ms


def _pool(x: Tensor, dims: tuple[int, ...], pool: str) -> Tensor:
    if pool == "avg":
        return x.mean(dims, keepdim=True)
    if pool == "max":
        return x.amax(dims, keepdim=True)
    return x.mean(dims, keepdim=True) + x.amax(dims, keepdim=True)


def _gate(x: Tensor, mask: Tensor, skip: bool) -> Tensor:
    """x ⊙ mask, or x ⊙ (1 + mask) with ``skip`` (x + x·mask in one kernel)."""
    return torch.addcmul(x, x, mask) if skip else x * mask


def _check_pool(*pools: str) -> None:
    for pool in pools:
        if pool not in _POOLS:
            raise ValueError(f"ZAM pooling must be one of {_POOLS}, got {pool!r}")


class _ZeroParameterGate(PlugInAttention):
    """x ⊙ σ(pool over ``dims``); ``skip`` adds x. The map is stored under ``map_name``."""

    dims: tuple[int, ...]
    map_name: str

    def __init__(self, pool: str = "avgmax", skip: bool = False) -> None:
        super().__init__()
        _check_pool(pool)
        self.pool, self.skip = pool, skip

    def forward(self, x: Tensor) -> Tensor:
        mask = torch.sigmoid(_pool(x, self.dims, self.pool))
        if self.keep_maps:
            self._store(**{self.map_name: mask})
        return _gate(x, mask, self.skip)


class ZCA(_ZeroParameterGate):
    """Zero-parameter channel attention: x ⊙ σ(GAP(x) + GMP(x)) (§3); ``skip`` adds x."""

    dims, map_name = (2, 3), "channel"


class ZSA(_ZeroParameterGate):
    """Zero-parameter spatial attention: x ⊙ σ(mean_c(x) + max_c(x)) (§3); ``skip`` adds x."""

    dims, map_name = (1,), "spatial"


class ZAM(PlugInAttention):
    """ZCA then ZSA (§3). ``skip=True`` is ZAM+R (each gate 1 + σ). ZAM(Avg)/ZAM(Max) set both
    pools (INTERPRETATION, §3); the two pools are separate options so either can be varied alone.
    """

    def __init__(
        self,
        channel_pool: str = "avgmax",
        spatial_pool: str = "avgmax",
        skip: bool = False,
    ) -> None:
        super().__init__()
        _check_pool(channel_pool, spatial_pool)
        self.channel_pool, self.spatial_pool, self.skip = channel_pool, spatial_pool, skip

    def forward(self, x: Tensor) -> Tensor:
        mc = torch.sigmoid(_pool(x, (2, 3), self.channel_pool))
        x = _gate(x, mc, self.skip)
        ms = torch.sigmoid(_pool(x, (1,), self.spatial_pool))
        if self.keep_maps:
            self._store(channel=mc, spatial=ms)
        return _gate(x, ms, self.skip)


class SResNetSpatial(PlugInAttention):
    """Xu Ma's SResNet50 spatial layer and Andrew Sansom's variants (§4.2–4.5).

    mean_c → ReLU(conv5×5) = c1 → ReLU(conv3×3, stride 2) → nearest ×2 → conv3×3 = z;
    ``skips``: z = conv1×1([z, mean_c, c1]) (no bias); out = x ⊙ σ(squish · z).
    ``dilation=2`` dilates the three 3×3/5×5 convs (§4.4); ``squish=5`` is the Squishmoid (§4.5).
    """

    def __init__(self, skips: bool = False, dilation: int = 1, squish: float = 1.0) -> None:
        super().__init__()
        d = dilation
        self.conv1 = nn.Conv2d(1, 1, 5, padding=2 * d, dilation=d)
        self.conv2 = nn.Conv2d(1, 1, 3, stride=2, padding=d, dilation=d)
        self.conv3 = nn.Conv2d(1, 1, 3, padding=d, dilation=d)
        self.fuse = nn.Conv2d(3, 1, 1, bias=False) if skips else None
        self.squish = squish

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[-2] % 2 or x.shape[-1] % 2:
            raise ValueError(f"SResNet spatial layer needs even H, W; got {tuple(x.shape[-2:])}")
        p = x.mean(1, keepdim=True)
        c1 = F.relu(self.conv1(p))
        z = self.conv3(F.interpolate(F.relu(self.conv2(c1)), scale_factor=2, mode="nearest"))
        if self.fuse is not None:
            z = self.fuse(torch.cat((z, p, c1), 1))
        mask = torch.sigmoid(self.squish * z)
        if self.keep_maps:
            self._store(spatial=mask)
        return x * mask


def _channel_free(cls: type[nn.Module], **fixed) -> Callable[..., nn.Module]:
    """Adapt a module that needs no channel count to the factory's (channels, **kw) signature."""
    return lambda channels, **kw: cls(**{**fixed, **kw})


ATTENTION_KINDS: dict[str, Callable[..., nn.Module]] = {
    "none": lambda channels, **kw: nn.Identity(),
    "bam": BAM,
    "bam-paper": partial(BAM, form="sum"),
    "bam-xu": partial(BAM, channel_bn=False),
    "cbam": CBAM,
    "cbam-zamrepo": partial(CBAM, kernel_size=3, mlp_bias=False, spatial_bn=False, max_first=False),
    "zca": _channel_free(ZCA),
    "zsa": _channel_free(ZSA),
    "zam": _channel_free(ZAM),
    "zam-avg": _channel_free(ZAM, channel_pool="avg", spatial_pool="avg"),
    "zam-max": _channel_free(ZAM, channel_pool="max", spatial_pool="max"),
    "zam-r": _channel_free(ZAM, skip=True),
    "sresnet": _channel_free(SResNetSpatial),
    "sresnet-skips": _channel_free(SResNetSpatial, skips=True),
    "sresnet-dilation": _channel_free(SResNetSpatial, dilation=2),
    "sresnet-skips-dilation-squish": _channel_free(
        SResNetSpatial,
        skips=True,
        dilation=2,
        squish=5.0,
    ),
}


def create_attention(kind: str, channels: int, **kw) -> nn.Module:
    """Build attention ``kind`` for a ``channels``-channel map; ``kw`` overrides its options."""
    if kind not in ATTENTION_KINDS:
        hint = did_you_mean(kind, ATTENTION_KINDS)
        raise ValueError(f"unknown attention {kind!r}.{hint} Valid kinds: {', '.join(ATTENTION_KINDS)}")
    return ATTENTION_KINDS[kind](channels, **kw)
