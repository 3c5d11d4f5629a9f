"""Model registry: one small builder per model name (timm/torchvision style).

A builder takes ``num_classes`` (and optional keyword options) and returns an ``nn.Module``.
Registering a name twice is an error, so two modules can never silently shadow each other.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field

from torch import nn

from ..errors import ReproError
from ..names import did_you_mean

Builder = Callable[..., nn.Module]


@dataclass(frozen=True)
class ModelInfo:
    name: str
    builder: Builder
    input_size: int  # square input resolution the model is built for
    family: str  # e.g. "preact-resnet", "residual-attention"
    notes: str = ""
    default_classes: int = 10
    options: dict = field(default_factory=dict)  # fixed builder kwargs for this name


_REGISTRY: dict[str, ModelInfo] = {}


class UnknownModelError(ReproError, KeyError):
    pass


def register_model(
    name: str | None = None,
    *,
    input_size: int = 32,
    family: str = "",
    notes: str = "",
    default_classes: int = 10,
    **options,
) -> Callable[[Builder], Builder]:
    """Decorator: register ``fn`` under ``name`` (default: the function name, ``_`` → ``-``)."""

    def wrap(fn: Builder) -> Builder:
        key = name or fn.__name__.replace("_", "-")
        if key in _REGISTRY:
            raise ValueError(f"model {key!r} is already registered")
        _REGISTRY[key] = ModelInfo(key, fn, input_size, family, notes, default_classes, options)
        return fn

    return wrap


def _load(name: str | None = None) -> None:
    """Import the module that registers ``name`` (per ``index.MODULES``), or every architecture module."""
    from .index import MODULES

    modules = set(MODULES.values()) if name is None else {MODULES[name]} if name in MODULES else set()
    for module in sorted(modules):
        importlib.import_module(f"{__package__}.{module}")


def list_models() -> list[str]:
    _load()
    return sorted(_REGISTRY)


def model_info(name: str) -> ModelInfo:
    if name not in _REGISTRY:
        _load(name)
    if name not in _REGISTRY:
        _load()
        hint = did_you_mean(name, _REGISTRY)
        raise UnknownModelError(f"unknown model {name!r}.{hint} Run `repro models` for the list.")
    return _REGISTRY[name]


def create_model(name: str, num_classes: int | None = None, **kwargs) -> nn.Module:
    info = model_info(name)
    classes = info.default_classes if num_classes is None else num_classes
    return info.builder(num_classes=classes, **{**info.options, **kwargs})
