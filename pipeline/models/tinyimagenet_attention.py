"""Tiny ImageNet-200 residual-attention networks of Edirisooriya's CS231N report (seed 003).

Spec: tinyimagenet.md. Mapping (an interpretation, §4 Reading 1): "Simple Residual" is the code's
``inception_memnet`` (v1) and "Inception Residual Attention" is ``inception_memnet_v2`` (v2),
built as at commit e5193aa. The ``-clean`` pair is the spec's §12 suggestion, not the author's
model. TF1 conventions kept: a bias on every conv and linear layer, Glorot-uniform weights, BN
ε = 1e-3 and decay 0.99, VALID strided convs and pools (64 → 31 → 15).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from .attention_students import glorot_init, keras_bn
from .registry import register_model
from .residual_attention import AttentionBlock, MaskBranch


def tf_legacy_resize(x: Tensor, size: Sequence[int]) -> Tensor:
    """TF1 ``resize_images`` bilinear, align_corners=False: source = dst·in/out, no half-pixel
    offset, last index clamped (§5.5)."""
    for dim, out in zip((2, 3), size, strict=True):
        n = x.shape[dim]
        src = torch.arange(out, device=x.device, dtype=x.dtype) * (n / out)
        i0 = src.floor().long()
        i1 = (i0 + 1).clamp(max=n - 1)
        w = (src - i0).view(-1, 1) if dim == 2 else src - i0
        x = torch.lerp(x.index_select(dim, i0), x.index_select(dim, i1), w)
    return x


def conv(in_ch: int, out_ch: int, k: int, stride: int = 1, clean: bool = False) -> nn.Module:
    """Biased conv, 'same' at stride 1 and VALID at stride 2; ``clean`` adds BN-ReLU (§12 F1/F3)."""
    c = nn.Conv2d(in_ch, out_ch, k, stride, padding=k // 2 if stride == 1 else 0)
    return nn.Sequential(c, keras_bn(out_ch), nn.ReLU(inplace=True)) if clean else c


class PreActBasic(nn.Module):
    """``resnext_layer``: [BN-ReLU-3×3 conv] ×2, identity shortcut, nothing after the add (§5.1)."""

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(
            keras_bn(channels), nn.ReLU(inplace=True), conv(channels, channels, 3),
            keras_bn(channels), nn.ReLU(inplace=True), conv(channels, channels, 3),
        )  # fmt: skip

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


class TinyMask(MaskBranch):
    """2×2/2 pool → unit → 2×2/2 pool → unit → resize → unit → resize → biased 1×1 → sigmoid (§5.3).

    No skip connections, one unit at the lowest level, a single linear 1×1 head.
    """

    def __init__(self, channels: int):
        super().__init__()
        self.pool = nn.MaxPool2d(2)
        self.down1 = PreActBasic(channels)
        self.down2 = PreActBasic(channels)
        self.up = PreActBasic(channels)
        self.head = conv(channels, channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        mid = self.down1(self.pool(x))
        y = self.up(tf_legacy_resize(self.down2(self.pool(mid)), mid.shape[-2:]))
        return torch.sigmoid(self.head(tf_legacy_resize(y, x.shape[-2:])))


class TinyAttentionModule(AttentionBlock):
    """p = 1, t = 1, ARL only: post(T·(1 + M)) with the mask read from the pre-unit (§5.3)."""

    def __init__(self, channels: int):
        super().__init__("arl")
        self.pre = PreActBasic(channels)
        self.trunk = PreActBasic(channels)
        self.mask = TinyMask(channels)
        self.post = PreActBasic(channels)


class Reduction(nn.Module):
    """Reduction-A-style block: 3×3/2 max-pool ‖ 3×3/2 conv ‖ stacked convs ending 3×3/2 (§5.7).

    Faithful: BN (no ReLU) feeds the conv branches, the pool reads the raw input, convs linear,
    ReLU after the concat. Clean (§12 F3): conv-BN-ReLU everywhere, no input BN or final ReLU.
    """

    def __init__(
        self,
        in_ch: int,
        single: int,
        stack: Sequence[tuple[int, int]],
        clean: bool = False,
    ):
        super().__init__()
        self.clean = clean
        self.bn = None if clean else keras_bn(in_ch)
        self.pool = nn.MaxPool2d(3, stride=2)
        self.single = conv(in_ch, single, 3, 2, clean)
        layers, ch = [], in_ch
        for i, (k, out) in enumerate(stack):
            layers.append(conv(ch, out, k, 2 if i == len(stack) - 1 else 1, clean))
            ch = out
        self.stack = nn.Sequential(*layers)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        a = x if self.bn is None else self.bn(x)
        out = torch.cat([self.pool(x), self.single(a), self.stack(a)], 1)
        return out if self.clean else self.relu(out)


class ResidualInception(nn.Module):
    """Inception-ResNet-A-shaped block at 320 channels: 1×1 → 128 ‖ 1×1 → 96, 3×3 ‖ 1×1 → 96,
    3×3, 3×3 on a = ReLU(BN(x)); concat; biased 1×1 projection to 320; no residual scaling.

    Faithful (§5.6): linear branch convs, out = ReLU(a + proj). Clean (§12 F1/F2): conv-BN-ReLU
    branches, out = x + proj, no final ReLU.
    """

    def __init__(self, channels: int = 320, clean: bool = False):
        super().__init__()
        self.clean = clean
        self.bn = keras_bn(channels)
        self.relu = nn.ReLU(inplace=True)
        self.b1 = conv(channels, 128, 1, clean=clean)
        self.b2 = nn.Sequential(conv(channels, 96, 1, clean=clean), conv(96, 96, 3, clean=clean))
        self.b3 = nn.Sequential(
            conv(channels, 96, 1, clean=clean),
            conv(96, 96, 3, clean=clean),
            conv(96, 96, 3, clean=clean),
        )
        self.proj = nn.Conv2d(128 + 96 + 96, channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        a = torch.relu(self.bn(x))
        proj = self.proj(torch.cat([self.b1(a), self.b2(a), self.b3(a)], 1))
        return x + proj if self.clean else self.relu(a + proj)


class TinyImageNetNet(nn.Module):
    """3×3 stem 3→64 (no BN/ReLU) → 2 units or one attention module (64) → Reduction A →
    2 units (128) → Reduction B → residual inception (320) → [clean: BN-ReLU] → GAP → dropout 0.3
    → FC 320→1000→200 (linear, faithful) or FC 320→200 (clean). §5.8, §6.1-§6.2, §12."""

    def __init__(
        self,
        attention: bool,
        clean: bool = False,
        num_classes: int = 200,
        dropout: float = 0.3,
    ):
        super().__init__()
        self.stem = conv(3, 64, 3)
        if attention:
            stage1: nn.Module = TinyAttentionModule(64)
        else:
            stage1 = nn.Sequential(PreActBasic(64), PreActBasic(64))
        layers = [
            stage1,
            Reduction(64, 32, [(1, 32), (3, 32), (3, 32)], clean),
            PreActBasic(128),
            PreActBasic(128),
            Reduction(128, 96, [(3, 96), (3, 96)], clean),
            ResidualInception(320, clean),
        ]
        if clean:
            layers += [keras_bn(320), nn.ReLU(inplace=True)]
        self.features = nn.Sequential(*layers)
        self.dropout = nn.Dropout(dropout)
        if clean:
            self.fc = nn.Linear(320, num_classes)
        else:
            self.fc = nn.Sequential(nn.Linear(320, 1000), nn.Linear(1000, num_classes))
        glorot_init(self)

    def forward(self, x: Tensor) -> Tensor:
        x = self.features(self.stem(x))
        return self.fc(self.dropout(x.mean((2, 3))))


_MAPPING = "Interpretation (tinyimagenet.md §4 Reading 1): "
_CLEAN = "Spec §12 suggestion, not the author's model: "
# name: (attention module, cleaned, notes)
_TIN = {
    "tinyimagenet-residual": (False, False, (
        _MAPPING + "'Simple Residual' = the code's inception_memnet (v1, run v_simple; no "
        "attention module). 2,061,616 trainable."
    )),
    "tinyimagenet-inception": (True, False, (
        _MAPPING + "'Inception Residual Attention' = inception_memnet_v2 (v2): one shallow "
        "attention module at 64x64, one residual-inception block. 2,362,224 trainable."
    )),
    "tinyimagenet-residual-clean": (False, True, (
        _CLEAN + "v1 with conv-BN-ReLU inception and reductions, raw-input shortcut, final "
        "BN-ReLU, single FC. 1,606,920 trainable."
    )),
    "tinyimagenet-inception-clean": (True, True, (
        _CLEAN + "v2 with the fixes of tinyimagenet-residual-clean. 1,907,528 trainable."
    )),
}  # fmt: skip

for _name, (_attention, _clean, _notes) in _TIN.items():
    register_model(
        _name,
        input_size=64,
        family="residual-attention-student",
        notes=_notes,
        default_classes=200,
        attention=_attention,
        clean=_clean,
    )(TinyImageNetNet)
