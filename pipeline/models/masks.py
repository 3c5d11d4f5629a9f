"""Soft masks: the base class of every soft-mask branch and the two readers evaluation uses. Kept apart
from the architectures so that evaluating a run imports only its own model's module."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class MaskBranch(nn.Module):
    """Base of every soft-mask branch: its output is the mask M; ``collect_masks`` hooks it."""


def has_masks(model: nn.Module) -> bool:
    """Whether the model has soft-mask branches (whose masks ``collect_masks`` reads)."""
    return any(isinstance(m, MaskBranch) for m in model.modules())


@torch.no_grad()
def collect_masks(model: nn.Module, x: Tensor) -> list[Tensor]:
    """Soft masks M of every attention module, in forward order (model mode left as it is)."""
    masks: list[Tensor] = []
    hooks = [
        m.register_forward_hook(lambda _m, _inp, out: masks.append(out.detach()))
        for m in model.modules()
        if isinstance(m, MaskBranch)
    ]
    try:
        model(x)
    finally:
        for hook in hooks:
            hook.remove()
    return masks
