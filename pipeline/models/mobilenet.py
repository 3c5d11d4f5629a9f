"""ZAM's MobileNet v1 CIFAR variant (marvis/pytorch-mobilenet layout); attention_modules.md §5.3.

conv_bn(3→32) then 13 depthwise-separable blocks; the attention sits after the pointwise BN, before
its ReLU (§3). Not WZ's MobileNet (§5.3). PyTorch default initialisation, as in the ZAM repo.
"""

from __future__ import annotations

from torch import Tensor, nn

from .attention_modules import create_attention
from .registry import register_model

# (in, out, stride) of the 13 depthwise-separable blocks
_BLOCKS = (
    (32, 64, 1), (64, 128, 1), (128, 128, 1), (128, 256, 2), (256, 256, 1), (256, 512, 2),
    *[(512, 512, 1)] * 5, (512, 1024, 2), (1024, 1024, 1),
)  # fmt: skip


def _conv_dw(inp: int, oup: int, stride: int, attention: nn.Module) -> nn.Sequential:
    """Depthwise 3×3(stride)-BN-ReLU, pointwise 1×1-BN → attention → ReLU; no conv biases."""
    return nn.Sequential(
        nn.Conv2d(inp, inp, 3, stride, 1, groups=inp, bias=False),
        nn.BatchNorm2d(inp),
        nn.ReLU(inplace=True),
        nn.Conv2d(inp, oup, 1, bias=False),
        nn.BatchNorm2d(oup),
        attention,
        nn.ReLU(inplace=True),
    )


class MobileNet(nn.Module):
    """32×32 input → 4×4×1024 → GAP → Linear(1024 → classes), no dropout."""

    def __init__(
        self,
        num_classes: int = 100,
        attention: str = "none",
        attention_kw: dict | None = None,
    ) -> None:
        super().__init__()
        kw = attention_kw or {}
        stem = nn.Sequential(
            nn.Conv2d(3, 32, 3, 1, 1, bias=False),
            nn.BatchNorm2d(32),
            nn.ReLU(inplace=True),
        )
        blocks = [_conv_dw(i, o, s, create_attention(attention, o, **kw)) for i, o, s in _BLOCKS]
        self.features = nn.Sequential(stem, *blocks)
        self.fc = nn.Linear(1024, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.features(x).mean((2, 3)))


for _name, _attention, _notes in (
    ("mobilenet", "none", "ZAM README MobileNet baseline (§5.3, §8.1)"),
    ("mobilenet-cbam-zamrepo", "cbam-zamrepo", "+ ZAM-repo CBAM in all 13 blocks (§2.2)"),
    ("mobilenet-zam", "zam", "+ ZAM (no skip) in all 13 blocks (§3)"),
    ("mobilenet-zam-r", "zam-r", "+ ZAM+R in all 13 blocks, the committed mobilenet_zam.py (§3)"),
):
    register_model(
        _name,
        family="mobilenet-v1",
        notes=_notes,
        default_classes=100,
        attention=_attention,
    )(MobileNet)
