"""Model cost: trainable parameters and multiply-accumulates per image.

MACs come from ``torch.utils.flop_counter`` (FLOPs / 2), and so do the training FLOPs per image that
``repro bench`` and ``repro plan`` report (with a corrected grouped-convolution backward). The library
counts convolutions and matrix products only; BN, activations, pooling and element-wise products
count zero (thop counts some of those too, so its figures run slightly higher).
"""

from __future__ import annotations

import contextlib

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def trainable_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def bn_running_stats(model: nn.Module) -> int:
    """Running mean + variance entries (what Keras' summary and the paper add to the count)."""
    return sum(
        m.running_mean.numel() + m.running_var.numel()
        for m in model.modules()
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.running_mean is not None
    )


@torch.no_grad()
def macs_per_image(model: nn.Module, input_size: int, channels: int = 3) -> int:
    """Forward multiply-accumulates for one image at ``input_size``² (eval mode; the input is made
    on the default device: the CPU, or meta inside ``torch.device("meta")``)."""
    was_training = model.training
    model.eval()
    x = torch.zeros(1, channels, input_size, input_size)
    with FlopCounterMode(display=False) as counter:
        model(x)
    model.train(was_training)
    return counter.get_total_flops() // 2


def model_cost(name: str, num_classes: int, input_size: int, **options) -> tuple[int, int]:
    """(trainable parameters, forward MACs per image) of a registered model, counted on the meta
    device: shapes only, no memory and no arithmetic, so even the ImageNet models take a second."""
    counts = model_counts(name, num_classes, input_size, **options)
    return counts["params"], counts["macs"]


@contextlib.contextmanager
def no_init():
    """``torch.nn.init`` does nothing inside: a count needs shapes only, and initialisers on the meta
    device run through Python reference kernels (~1 s per model)."""
    names = [n for n in vars(torch.nn.init) if n.endswith("_") and not n.startswith("_")]
    saved = {n: getattr(torch.nn.init, n) for n in names}
    for n in names:
        setattr(torch.nn.init, n, lambda tensor, *args, **kwargs: tensor)
    try:
        yield
    finally:
        for n, fn in saved.items():
            setattr(torch.nn.init, n, fn)


def model_counts(name: str, num_classes: int, input_size: int, **options) -> dict[str, int]:
    """``params``, ``non_trainable_params`` (BN statistics) and ``macs`` of a registered model (meta device)."""
    from .registry import create_model

    with torch.device("meta"), no_init():
        model = create_model(name, num_classes, **options)
        return {
            "params": trainable_params(model),
            "non_trainable_params": bn_running_stats(model),
            "macs": macs_per_image(model, input_size),
        }


def _conv_backward_flop(
    grad_out_shape, x_shape, w_shape, _bias, _stride, _padding, _dilation, transposed, _out_pad, _groups, mask, **_
) -> int:
    """Conv backward = the forward count per requested gradient (input, weight). torch's own formula
    ignores ``groups`` and so overcounts depthwise convolutions by the group count (64× and more)."""
    from torch.utils.flop_counter import conv_flop_count

    return conv_flop_count(x_shape, w_shape, grad_out_shape, transposed=transposed) * (int(mask[0]) + int(mask[1]))


def train_flops_per_image(name: str, num_classes: int, input_size: int, **options) -> tuple[float, float]:
    """(forward, forward+backward) FLOPs per image of a registered model, counted on one eager
    train-mode step at batch 2 (2 FLOPs per MAC; convolutions and matrix products only)."""
    import torch.nn.functional as F

    from .registry import create_model

    for where in ("meta", "cpu"):  # meta: shapes only, instant; CPU if some op has no meta kernel
        try:
            with torch.device(where):
                model = create_model(name, num_classes, **options).train()
                x = torch.randn(2, 3, input_size, input_size)
                y = torch.randint(0, num_classes, (2,))
            mapping = {torch.ops.aten.convolution_backward: _conv_backward_flop}
            with FlopCounterMode(display=False, custom_mapping=mapping) as counter:
                loss = F.cross_entropy(model(x).float(), y)
                forward = counter.get_total_flops()
                loss.backward()
            return forward / 2, counter.get_total_flops() / 2
        except Exception:
            if where == "cpu":
                raise
    raise AssertionError("unreachable")
