"""Models: each architecture module registers its models; ``index.MODULES`` says which module holds a
name, so building one model imports only that module (``list_models`` imports them all). Adding an
architecture = one module file here plus its names in index.py (a test checks the map)."""

from .cost import bn_running_stats, macs_per_image, model_cost, model_counts, train_flops_per_image, trainable_params
from .masks import collect_masks, has_masks  # soft masks: the one family that has them
from .registry import ModelInfo, UnknownModelError, create_model, list_models, model_info, register_model

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
