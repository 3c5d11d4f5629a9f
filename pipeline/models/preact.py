"""Pre-activation bottleneck residual unit and the pre-activation ResNet baselines.

The unit follows the official Residual Attention prototxt (He et al. 2016b): BN-ReLU-1x1,
BN-ReLU-3x3 (stride here), BN-ReLU-1x1, no conv biases; the projection shortcut reads the
BN-ReLU'd input, the identity shortcut the raw input; nothing after the add.
Spec: residual_attention.md §1.3 (unit), §3.2 (CIFAR stem), §3.4 (ResNet-164/1001).
"""

from __future__ import annotations

from torch import Tensor, nn

from .registry import register_model


class PreActBottleneck(nn.Module):
    """C_in → C_out with a C_out/4 bottleneck; stride on the 3×3 conv and on the projection."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1):
        super().__init__()
        mid = out_ch // 4
        self.bn1 = nn.BatchNorm2d(in_ch)
        self.conv1 = nn.Conv2d(in_ch, mid, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(mid)
        self.conv2 = nn.Conv2d(mid, mid, 3, stride=stride, padding=1, bias=False)
        self.bn3 = nn.BatchNorm2d(mid)
        self.conv3 = nn.Conv2d(mid, out_ch, 1, bias=False)
        self.relu = nn.ReLU(inplace=True)
        needs_proj = stride != 1 or in_ch != out_ch
        self.shortcut = nn.Conv2d(in_ch, out_ch, 1, stride=stride, bias=False) if needs_proj else None

    def forward(self, x: Tensor) -> Tensor:
        pre = self.relu(self.bn1(x))
        shortcut = x if self.shortcut is None else self.shortcut(pre)
        out = self.conv1(pre)
        out = self.conv2(self.relu(self.bn2(out)))
        out = self.conv3(self.relu(self.bn3(out)))
        return out + shortcut


def cifar_stem(width: int = 16) -> nn.Sequential:
    """3×3 conv 3→width (no bias) → BN → ReLU, no max-pool (residual_attention.md §3.2)."""
    return nn.Sequential(nn.Conv2d(3, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True))


def he_init(model: nn.Module) -> None:
    """MSRA init for convs (the paper's "Delving deep into rectifiers"), BN γ=1 β=0, FC default."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


class PreActResNet(nn.Module):
    """CIFAR pre-activation bottleneck ResNet: stem, 3 stages of n units, BN-ReLU-GAP-FC."""

    def __init__(self, units_per_stage: int, num_classes: int = 10, widths=(64, 128, 256)):
        super().__init__()
        self.stem = cifar_stem(16)
        layers, in_ch = [], 16
        for i, width in enumerate(widths):
            for j in range(units_per_stage):
                stride = 2 if (i > 0 and j == 0) else 1
                layers.append(PreActBottleneck(in_ch, width, stride))
                in_ch = width
        self.stages = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.BatchNorm2d(in_ch), nn.ReLU(inplace=True))
        self.fc = nn.Linear(in_ch, num_classes)
        he_init(self)

    def forward(self, x: Tensor) -> Tensor:
        x = self.head(self.stages(self.stem(x)))
        return self.fc(x.mean((2, 3)))


@register_model(family="preact-resnet", notes="He et al. 2016b, 18 units/stage, stem BN(16)")
def preresnet_164(num_classes: int = 10) -> nn.Module:
    return PreActResNet(18, num_classes)


@register_model(family="preact-resnet", notes="He et al. 2016b, 111 units/stage, stem BN(16)")
def preresnet_1001(num_classes: int = 10) -> nn.Module:
    return PreActResNet(111, num_classes)
