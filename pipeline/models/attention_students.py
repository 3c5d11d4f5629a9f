"""Student reproductions of the Residual Attention Network, quirks kept (Keras lineage).

- ``jay4869-attention56/92``: Jay4869/Deep-Learning HEAD code (spec residual_attention.md §7.1).
- ``columbia-attention56/92``: Columbia E4040 2021 team RANC, built from its Figure 5 table with the
  declared implementation choices of §7.2 (its code is not public).

Keras defaults are kept: biased convs, Glorot-uniform weights with zero biases, BN ε = 1e-3 and
moving-average decay 0.99, 'same' padding (asymmetric for stride 2), 2×2 max-pools.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .registry import register_model
from .residual_attention import AttentionBlock, MaskBranch

KERAS_BN_EPS = 1e-3  # Keras BatchNormalization / LayerNormalization default epsilon


def keras_bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=KERAS_BN_EPS, momentum=0.01)


def glorot_init(model: nn.Module) -> None:
    """Keras/TF1 defaults: Glorot-uniform conv and dense kernels, zero biases."""
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


class KerasResidualUnit(nn.Module):
    """Jay4869/qubvel ``Residual_Unit``: BN-ReLU-1×1(w)-BN-ReLU-3×3(w, stride)-BN-ReLU-1×1(C_out).

    Every conv has a bias; the shortcut is always a biased, strided 1×1 conv of the raw input.
    Keras 'same' with stride 2 on even sizes pads only bottom/right, as done here.
    """

    def __init__(self, in_ch: int, width: int, out_ch: int, stride: int = 1):
        super().__init__()
        self.bn1 = keras_bn(in_ch)
        self.conv1 = nn.Conv2d(in_ch, width, 1)
        self.bn2 = keras_bn(width)
        self.pad = (0, 1, 0, 1) if stride == 2 else None
        self.conv2 = nn.Conv2d(width, width, 3, stride=stride, padding=1 if stride == 1 else 0)
        self.bn3 = keras_bn(width)
        self.conv3 = nn.Conv2d(width, out_ch, 1)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = nn.Conv2d(in_ch, out_ch, 1, stride=stride)

    def forward(self, x: Tensor) -> Tensor:
        out = self.conv1(self.relu(self.bn1(x)))
        out = self.relu(self.bn2(out))
        if self.pad is not None:
            out = F.pad(out, self.pad)
        out = self.conv3(self.relu(self.bn3(self.conv2(out))))
        return out + self.shortcut(x)


UnitFactory = Callable[[], nn.Module]


class KerasSoftMask(MaskBranch):
    """Keras-lineage mask: 2×2 max-pools, nearest ×2 up-sampling, head of two biased 1×1 convs.

    ``depth`` pools; one unit after each pool; a skip unit on every level but the lowest, added
    after up-sampling; one unit before each up-sampling (3·depth − 1 units in all).
    """

    def __init__(self, channels: int, depth: int, unit: UnitFactory, activation: nn.Module):
        super().__init__()
        self.pool = nn.MaxPool2d(2)
        self.down = nn.ModuleList(unit() for _ in range(depth))
        self.skip = nn.ModuleList(unit() for _ in range(depth - 1))
        self.up = nn.ModuleList(unit() for _ in range(depth))
        self.head = nn.Sequential(
            nn.Conv2d(channels, channels, 1),
            nn.Conv2d(channels, channels, 1),
        )
        self.activation = activation

    def forward(self, x: Tensor) -> Tensor:
        x = self.down[0](self.pool(x))
        skips = []
        for skip, down in zip(self.skip, self.down[1:], strict=True):
            skips.append(skip(x))
            x = down(self.pool(x))
        for up, skip_out in zip(self.up[:-1], reversed(skips), strict=True):
            x = F.interpolate(up(x), scale_factor=2.0, mode="nearest") + skip_out
        x = F.interpolate(self.up[-1](x), scale_factor=2.0, mode="nearest")
        return self.activation(self.head(x))


class ChannelLayerNormSigmoid(nn.Module):
    """Columbia "spatial" attention as its counts imply: Keras ``LayerNormalization()`` (axis −1,
    i.e. across channels at each pixel, learnable γ/β) and a sigmoid, in either order (§7.2)."""

    def __init__(self, channels: int, norm_first: bool = True):
        super().__init__()
        self.norm = nn.LayerNorm(channels, eps=KERAS_BN_EPS)
        self.norm_first = norm_first

    def forward(self, x: Tensor) -> Tensor:
        if not self.norm_first:
            x = torch.sigmoid(x)
        x = self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        return torch.sigmoid(x) if self.norm_first else x


class KerasAttentionBlock(AttentionBlock):
    """One pre-unit, ``trunk`` chained trunk units, the Keras mask, ARL/NAL merge, one post-unit."""

    def __init__(
        self,
        channels: int,
        depth: int,
        trunk: int,
        unit: UnitFactory,
        merge: str,
        activation: nn.Module,
    ):
        super().__init__(merge)
        self.pre = unit()
        self.trunk = nn.Sequential(*(unit() for _ in range(trunk)))
        self.mask = KerasSoftMask(channels, depth, unit, activation)
        self.post = unit()


class KerasAttentionNet(nn.Module):
    """Stem conv (+BN-ReLU) → 2×2 max-pool → per stage a transition unit and attention blocks →
    final units (+BN-ReLU) → global average (Keras AvgPool 4 on the 4×4 map) → dropout → FC."""

    def __init__(
        self,
        stem_width: int,
        stem_bn: bool,
        stages: list[tuple[int, int, int, int, int]],
        block: Callable[[int, int], nn.Module],
        final: tuple[int, int, int],
        num_classes: int,
        dropout: float,
        head_bn: bool = False,
        stem_stride: int = 1,
    ):
        """``stages``: (bottleneck width, out width, stride, blocks, mask depth) per stage;
        ``block(channels, depth)`` builds one attention block; ``final``: (width, out, units);
        ``head_bn``: a BN-ReLU before the pool (the paper's pre-activation head; Keras lineage: none)."""
        super().__init__()
        if stem_stride == 2:  # a strided 5×5 conv instead of conv + pool; Keras 'same': pad 1 top/left, 2 bottom/right
            stem = [nn.ZeroPad2d((1, 2, 1, 2)), nn.Conv2d(3, stem_width, 5, stride=2)]
        else:
            stem = [nn.Conv2d(3, stem_width, 5, padding=2)]
        if stem_bn:
            stem += [keras_bn(stem_width), nn.ReLU(inplace=True)]
        self.stem = nn.Sequential(*stem, *([nn.MaxPool2d(2)] if stem_stride == 1 else []))
        layers: list[nn.Module] = []
        in_ch = stem_width
        for width, out, stride, n, depth in stages:
            layers.append(KerasResidualUnit(in_ch, width, out, stride))
            layers += [block(out, depth) for _ in range(n)]
            in_ch = out
        width, out, n = final
        layers += [KerasResidualUnit(in_ch if i == 0 else out, width, out) for i in range(n)]
        if head_bn:
            layers += [keras_bn(out), nn.ReLU(inplace=True)]
        self.features = nn.Sequential(*layers)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(out, num_classes)
        glorot_init(self)

    def forward(self, x: Tensor) -> Tensor:
        x = self.features(self.stem(x))
        return self.fc(self.dropout(x.mean((2, 3))))


# --- jay4869-keras (§7.1) -------------------------------------------------------------------------


def jay4869_attention(
    blocks: tuple[int, int, int],
    num_classes: int = 10,
    merge: str = "arl",
    stem_bn: bool | None = None,
    dropout: float | None = None,
) -> nn.Module:
    """HEAD code, in_channel=32, 5×5 stem. ``stem_bn`` defaults to off only for ARL-56 (the
    2019-12-12 code); ``dropout`` defaults to 0.4 for 92 and none for 56 (the runs)."""
    is56 = blocks == (1, 1, 1)
    if stem_bn is None:
        stem_bn = not (is56 and merge == "arl")
    if dropout is None:
        dropout = 0.0 if is56 else 0.4

    def block(channels: int, depth: int) -> nn.Module:
        # full-width bottleneck (w = C); the un-chained trunk loop leaves one effective unit
        def unit() -> nn.Module:
            return KerasResidualUnit(channels, channels, channels)

        return KerasAttentionBlock(channels, depth, 1, unit, merge, nn.Sigmoid())

    stages = [(32, 128, 1, blocks[0], 2), (64, 256, 2, blocks[1], 1), (128, 512, 2, blocks[2], 1)]
    return KerasAttentionNet(32, stem_bn, stages, block, (256, 1024, 3), num_classes, dropout)


_JAY_NOTES = (
    "Jay4869/Deep-Learning Keras port (spec §7.1), quirks kept: full-width biased bottlenecks, "
    "always-on biased projection, trunk of one effective unit, 2x2 pools, nearest up-sampling, "
    "head without BN; Dense-only L2 belongs to the recipe. "
)

register_model(
    "jay4869-attention56",
    input_size=32,
    family="residual-attention-student",
    notes=_JAY_NOTES + "ARL/no stem BN: 28,326,922 trainable, Keras total 28,366,026.",
    blocks=(1, 1, 1),
)(jay4869_attention)

register_model(
    "jay4869-attention92",
    input_size=32,
    family="residual-attention-student",
    notes=_JAY_NOTES + "1-2-3 blocks, stem BN, dropout 0.4; 64,962,634 (Keras 65,040,202).",
    blocks=(1, 2, 3),
)(jay4869_attention)


# --- columbia-e4040 (§7.2) ------------------------------------------------------------------------

COLUMBIA_ACTIVATIONS = ("mixed", "spatial")
SPATIAL_ORDERS = ("norm-sigmoid", "sigmoid-norm")


def columbia_attention(
    blocks: tuple[int, int, int],
    num_classes: int = 10,
    merge: str = "arl",
    activation: str = "mixed",
    spatial_order: str = "norm-sigmoid",
    stem_bn: bool = False,
    dropout: float = 0.0,
    head_bn: bool = False,
    stem_stride: int = 1,
) -> nn.Module:
    """Figure 5 literally: 5×5 64-ch biased stem, 2×2 max-pool, C/4 bottlenecks at 64/128/256,
    a stride-1 fourth transition to 512 and 3 more units. Declared choices: Keras-lineage units
    (always-on biased projection), chained trunk t=2, mask depths (2, 1, 1), nearest up-sampling,
    head of two biased 1×1 convs; "spatial" = channel-axis LayerNorm and sigmoid. ``head_bn`` adds a
    BN-ReLU before the pool (an interpretation: without it SGD at lr 0.1 diverges, see the catalog).
    ``stem_stride=2``: the report's earlier stem, a strided 5×5 conv in place of conv + max-pool (§7.3)."""
    if activation not in COLUMBIA_ACTIVATIONS:
        raise ValueError(f"activation must be one of {COLUMBIA_ACTIVATIONS}, got {activation!r}")
    if spatial_order not in SPATIAL_ORDERS:
        raise ValueError(f"spatial_order must be one of {SPATIAL_ORDERS}, got {spatial_order!r}")

    def block(channels: int, depth: int) -> nn.Module:
        def unit() -> nn.Module:
            return KerasResidualUnit(channels, channels // 4, channels)

        if activation == "spatial":
            act = ChannelLayerNormSigmoid(channels, norm_first=spatial_order == "norm-sigmoid")
        else:
            act = nn.Sigmoid()
        return KerasAttentionBlock(channels, depth, 2, unit, merge, act)

    stages = [(16, 64, 1, blocks[0], 2), (32, 128, 2, blocks[1], 1), (64, 256, 2, blocks[2], 1)]
    if stem_stride not in (1, 2):
        raise ValueError(f"stem_stride must be 1 (conv + max-pool) or 2 (strided conv), got {stem_stride!r}")
    return KerasAttentionNet(64, stem_bn, stages, block, (128, 512, 4), num_classes, dropout, head_bn, stem_stride)


register_model(
    "columbia-attention56",
    input_size=32,
    family="residual-attention-student",
    notes="Columbia E4040 2021 RANC (spec §7.2), Figure 5 table with declared choices (code not "
    "public). 3,426,442 trainable + 15,232 BN stats = 3,441,674 (spatial +896) vs the published "
    "Keras totals 2,892,970 / 2,893,866 (15,680 stats): units, projection policy, mask and head "
    "are unknown and no plausible family reproduces them (spec §7.2), so not forced.",
    blocks=(1, 1, 1),
)(columbia_attention)

register_model(
    "columbia-attention92",
    input_size=32,
    family="residual-attention-student",
    notes="Columbia E4040 2021 RANC A-92 (spec §7.2), 1-2-3 split, spatial (its only A-92 run). "
    "5,570,698 trainable + 26,752 BN stats = 5,597,450 vs the published 9,396,778 (31,040 stats): "
    "its A-92 minus A-56 exceeds what three more A-56-kind modules can add, so it used other "
    "modules or code and cannot be rebuilt from the table. head_bn=True (BN-ReLU before the pool, "
    "+1,024 trainable, +1,024 stats; an interpretation) is what the catalog trains: the literal "
    "build diverges under the report's SGD lr 0.1.",
    blocks=(1, 2, 3),
    activation="spatial",
)(columbia_attention)
