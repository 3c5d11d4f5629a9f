"""CIFAR ResNet-18/50 and kuangliu's pre-activation ResNet-50, with a pluggable attention module.

Post-activation (JC = kuangliu = WZ layout, §5.1–5.2): stem conv3×3-BN-ReLU, no max-pool.
Pre-activation (Xu Ma's kuangliu copy, §4.1): stem conv only, no final BN-ReLU.
Placement (§1.3, §2.1, §3, §4.2): ``"block"`` puts the attention on every residual branch before
the add (CBAM, ZAM, SResNet layers); ``"stage"`` after stages 1–3 (BAM, the default for bam*).
Initialisation follows each source (``init``): PyTorch defaults (ZAM repo), ``"jc"`` (official
BAM/CBAM loop, §2.1), ``"xu"`` (§4.1), ``"xu-bam"`` (§4.7).
"""

from __future__ import annotations

import math

import torch.nn.functional as F
from torch import Tensor, nn

from .attention_modules import CBAM, create_attention
from .registry import register_model


def _projection(in_ch: int, out_ch: int, stride: int, bn: bool) -> nn.Sequential | None:
    """1×1 strided conv (+ BN) when the shape changes; None for the identity shortcut."""
    if stride == 1 and in_ch == out_ch:
        return None
    layers: list[nn.Module] = [nn.Conv2d(in_ch, out_ch, 1, stride=stride, bias=False)]
    if bn:
        layers.append(nn.BatchNorm2d(out_ch))
    return nn.Sequential(*layers)


class BasicBlock(nn.Module):
    """conv3×3(stride)-BN-ReLU-conv3×3-BN → attention → + shortcut → ReLU (§5.2)."""

    expansion = 1
    preact = False

    def __init__(self, in_ch: int, planes: int, stride: int, attention: nn.Module) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.attention = attention
        self.shortcut = _projection(in_ch, planes, stride, bn=True)

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.bn1(self.conv1(x)), inplace=True)
        out = self.attention(self.bn2(self.conv2(out)))
        return F.relu(out + (x if self.shortcut is None else self.shortcut(x)), inplace=True)


class Bottleneck(nn.Module):
    """1×1-BN-ReLU, 3×3(stride)-BN-ReLU, 1×1-BN → attention → + shortcut → ReLU (§5.1)."""

    expansion = 4
    preact = False

    def __init__(self, in_ch: int, planes: int, stride: int, attention: nn.Module) -> None:
        super().__init__()
        out_ch = planes * self.expansion
        self.conv1 = nn.Conv2d(in_ch, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, out_ch, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_ch)
        self.attention = attention
        self.shortcut = _projection(in_ch, out_ch, stride, bn=True)

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.bn1(self.conv1(x)), inplace=True)
        out = F.relu(self.bn2(self.conv2(out)), inplace=True)
        out = self.attention(self.bn3(self.conv3(out)))
        return F.relu(out + (x if self.shortcut is None else self.shortcut(x)), inplace=True)


class KuangliuPreActBottleneck(nn.Module):
    """a = ReLU(BN(x)); 1×1, BN-ReLU-3×3(stride), BN-ReLU-1×1 → attention → + shortcut (§4.1).

    The projection (conv only, no BN) reads a; the identity reads x; nothing after the add. The
    same unit as ``preact.PreActBottleneck`` plus the attention, kept apart so its state-dict keys
    (``shortcut.0``) stay kuangliu's.
    """

    expansion = 4
    preact = True

    def __init__(self, in_ch: int, planes: int, stride: int, attention: nn.Module) -> None:
        super().__init__()
        out_ch = planes * self.expansion
        self.bn1 = nn.BatchNorm2d(in_ch)
        self.conv1 = nn.Conv2d(in_ch, planes, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, out_ch, 1, bias=False)
        self.attention = attention
        self.shortcut = _projection(in_ch, out_ch, stride, bn=False)

    def forward(self, x: Tensor) -> Tensor:
        a = F.relu(self.bn1(x))
        shortcut = x if self.shortcut is None else self.shortcut(a)
        out = self.conv2(F.relu(self.bn2(self.conv1(a)), inplace=True))
        out = self.conv3(F.relu(self.bn3(out), inplace=True))
        return self.attention(out) + shortcut


def _jc_loop(model: nn.Module) -> None:
    """JC's state-dict loop (§2.1): keys with "conv" (not the projection shortcuts) Kaiming-normal
    fan_out; BN γ = 1 except CBAM's spatial BN γ = 0; every bias 0."""
    for name, m in model.named_modules():
        if isinstance(m, nn.Conv2d) and "shortcut" not in name:
            nn.init.kaiming_normal_(m.weight, mode="fan_out")
        elif isinstance(m, nn.modules.batchnorm._BatchNorm):
            nn.init.ones_(m.weight)
        if isinstance(getattr(m, "bias", None), nn.Parameter):
            nn.init.zeros_(m.bias)
    for m in model.modules():
        if isinstance(m, CBAM) and m.spatial_bn is not None:
            nn.init.zeros_(m.spatial_bn.weight)


def _xu_init(model: nn.Module) -> None:
    """Xu Ma's ``_initialize_weights`` (§4.1): conv N(0, √(2/(k²·out))), bias 0; BN2d γ=1 β=0;
    Linear weight N(0, 0.01), bias left at the PyTorch default."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            k = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
            nn.init.normal_(m.weight, 0, math.sqrt(2.0 / k))
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0, 0.01)


def _init(model: CifarResNet, scheme: str) -> None:
    if scheme == "jc":
        nn.init.kaiming_normal_(model.fc.weight)
        _jc_loop(model)
    elif scheme == "xu":
        _xu_init(model)
    elif scheme == "xu-bam":
        _xu_init(model)
        _jc_loop(model)
    elif scheme != "pytorch":
        raise ValueError(f"init must be 'pytorch', 'jc', 'xu' or 'xu-bam', got {scheme!r}")


class CifarResNet(nn.Module):
    """Stages of 64/128/256/512 planes (strides 1/2/2/2), GAP, FC; attention per block or stage."""

    def __init__(
        self,
        block: type[BasicBlock | Bottleneck | KuangliuPreActBottleneck],
        depths: tuple[int, int, int, int],
        num_classes: int,
        attention: str = "none",
        attention_kw: dict | None = None,
        placement: str | None = None,
        init: str = "pytorch",
    ) -> None:
        super().__init__()
        kw = attention_kw or {}
        placement = placement or ("stage" if attention.startswith("bam") else "block")
        if placement not in ("block", "stage"):
            raise ValueError(f"placement must be 'block' or 'stage', got {placement!r}")
        per_block = attention if placement == "block" else "none"
        stem: list[nn.Module] = [nn.Conv2d(3, 64, 3, padding=1, bias=False)]
        if not block.preact:
            stem += [nn.BatchNorm2d(64), nn.ReLU(inplace=True)]
        self.stem = nn.Sequential(*stem)
        stages, after_stage, in_ch = [], [], 64
        for i, (planes, depth) in enumerate(zip((64, 128, 256, 512), depths, strict=True)):
            blocks, out_ch = [], planes * block.expansion
            for j in range(depth):
                stride = 2 if i > 0 and j == 0 else 1
                attention_module = create_attention(per_block, out_ch, **kw)
                blocks.append(block(in_ch, planes, stride, attention_module))
                in_ch = out_ch
            stages.append(nn.Sequential(*blocks))
            per_stage = attention if placement == "stage" and i < 3 else "none"
            after_stage.append(create_attention(per_stage, in_ch, **kw))
        self.stages = nn.ModuleList(stages)
        self.stage_attention = nn.ModuleList(after_stage)
        self.fc = nn.Linear(in_ch, num_classes)
        _init(self, init)

    def forward(self, x: Tensor) -> Tensor:
        x = self.stem(x)
        for stage, attention in zip(self.stages, self.stage_attention, strict=True):
            x = attention(stage(x))
        return self.fc(x.mean((2, 3)))


def _resnet18(num_classes: int = 100, **kw) -> CifarResNet:
    return CifarResNet(BasicBlock, (2, 2, 2, 2), num_classes, **kw)


def _resnet50(num_classes: int = 100, **kw) -> CifarResNet:
    return CifarResNet(Bottleneck, (3, 4, 6, 3), num_classes, **kw)


def _preresnet50(num_classes: int = 100, head_classes: int | None = None, **kw) -> CifarResNet:
    """``head_classes=1000`` reproduces the blog's 1000-way head on CIFAR-100 (§0.3.3, §4.6)."""
    if head_classes is not None and head_classes < num_classes:
        raise ValueError(f"head_classes ({head_classes}) < num_classes ({num_classes})")
    return CifarResNet(KuangliuPreActBottleneck, (3, 4, 6, 3), head_classes or num_classes, **kw)


_ZAM = "ZAM README (§5.2, §8.1), PyTorch default init"
_JC = "official JC code (§5.1), JC init"
_HEAD = "; trained by the blog with a 1000-way head: head_classes=1000 (§0.3.3)"
# (name, attention kind, init scheme, notes)
_RESNET18 = (
    ("resnet18", "none", "pytorch", f"ResNet-18 baseline, {_ZAM}; init='jc' for JC's"),
    ("resnet18-cbam", "cbam", "jc", f"+ official CBAM in every block, {_JC}"),
    ("resnet18-cbam-zamrepo", "cbam-zamrepo", "pytorch", f"+ ZAM-repo CBAM (§2.2), {_ZAM}"),
    ("resnet18-bam", "bam", "jc", f"+ official BAM after stages 1-3, {_JC}"),
    ("resnet18-zam-avg", "zam-avg", "pytorch", f"+ ZAM(Avg) (INTERPRETATION §3), {_ZAM}"),
    ("resnet18-zam-max", "zam-max", "pytorch", f"+ ZAM(Max) (INTERPRETATION §3), {_ZAM}"),
    ("resnet18-zam-avgmax", "zam", "pytorch", f"+ ZAM(Avg&Max) in every block, {_ZAM}"),
    ("resnet18-zam-r", "zam-r", "pytorch", f"+ ZAM+R in every block (no README row), {_ZAM}"),
)
_RESNET50 = (
    ("resnet50", "none", "jc", f"ResNet-50 baseline (BAM paper Table 3), {_JC}"),
    ("resnet50-bam", "bam", "jc", f"+ official BAM, product form (§1.1), {_JC}"),
    ("resnet50-bam-paper", "bam-paper", "jc", f"+ BAM paper sum form, final BNs (§1.2), {_JC}"),
    ("resnet50-cbam", "cbam", "jc", f"+ official CBAM in every block, {_JC}"),
    ("resnet50-cbam-zamrepo", "cbam-zamrepo", "pytorch", f"+ ZAM-repo CBAM (§2.2), {_ZAM}"),
)
_PRERESNET50 = (
    ("preresnet50", "none", "xu", "kuangliu pre-act ResNet-50, the blog's control (§4.1)"),
    ("preresnet50-bam", "bam-xu", "xu-bam", "Xu Ma's BAM-ResNet50, no BN1d in the MLP (§4.7)"),
    ("sresnet50", "sresnet", "xu", "Xu Ma's SResNet50, spatial layer per block (§4.2)"),
    ("sresnet50-skips", "sresnet-skips", "xu", f"SResNet50 With Skips (§4.3){_HEAD}"),
    ("sresnet50-dilation", "sresnet-dilation", "xu", f"SResNet50 With Dilation (§4.4){_HEAD}"),
    (
        "sresnet50-skips-dilation-squish",
        "sresnet-skips-dilation-squish",
        "xu",
        f"Skips + Dilation + Squishmoid σ(5z), not in the blog (§4.5){_HEAD}",
    ),
)
for _builder, _family, _rows in (
    (_resnet18, "resnet-cifar", _RESNET18),
    (_resnet50, "resnet-cifar", _RESNET50),
    (_preresnet50, "preact-resnet50", _PRERESNET50),
):
    for _name, _attention, _init_scheme, _notes in _rows:
        register_model(
            _name,
            family=_family,
            notes=_notes,
            default_classes=100,
            attention=_attention,
            init=_init_scheme,
        )(_builder)
