"""Model cost: trainable parameters and multiply-accumulates per image.

MACs come from ``torch.utils.flop_counter`` (FLOPs / 2). The library counts convolutions and
matrix products only; BN, activations, pooling and element-wise products count zero (thop counts
some of those too, so its figures run slightly higher).
"""

from __future__ import annotations

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
    from .registry import create_model

    with torch.device("meta"):
        model = create_model(name, num_classes, **options)
        return trainable_params(model), macs_per_image(model, input_size)


def configuration_counts(dataset: str, name: str, **options) -> dict[str, int]:
    """``params``, ``non_trainable_params`` (BN statistics) and ``macs`` of a catalog configuration's
    model at its dataset's classes and image size (a dataset the pipeline cannot fetch, e.g.
    ImageNet: the model's defaults), counted on the meta device."""
    from ..data import DATASETS
    from .registry import create_model, model_info

    if dataset in DATASETS:
        classes, size = DATASETS[dataset].num_classes, DATASETS[dataset].image_size
    else:
        info = model_info(name)
        classes, size = info.default_classes, info.input_size
    with torch.device("meta"):
        model = create_model(name, classes, **options)
        return {
            "params": trainable_params(model),
            "non_trainable_params": bn_running_stats(model),
            "macs": macs_per_image(model, size),
        }
