"""Models: importing this package imports every architecture module beside it, which registers
its models. Adding an architecture = adding one module file here; nothing else to edit."""

import importlib
import pkgutil

from .cost import bn_running_stats, macs_per_image, model_cost, model_counts, train_flops_per_image, trainable_params
from .registry import ModelInfo, UnknownModelError, create_model, list_models, model_info, register_model
from .residual_attention import collect_masks, has_masks  # soft masks: the one family that has them

_INFRASTRUCTURE = {"registry", "cost"}
for _mod in pkgutil.iter_modules(__path__):
    if _mod.name not in _INFRASTRUCTURE and not _mod.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_mod.name}")

__all__ = [
    "ModelInfo",
    "UnknownModelError",
    "bn_running_stats",
    "collect_masks",
    "create_model",
    "has_masks",
    "list_models",
    "macs_per_image",
    "model_cost",
    "model_counts",
    "model_info",
    "register_model",
    "train_flops_per_image",
    "trainable_params",
]
