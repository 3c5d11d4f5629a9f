"""A loader that keeps a whole split resident on the training device.

Images stay uint8 on the device; each epoch draws a permutation from a seeded generator, and
augmentation (``augment.py``) and normalisation run on the device in batches. No worker processes,
no host copies inside the training step.

Normalisations (``Normalize.kind``):
- ``per_pixel_mean``: subtract the training mean image (Wang et al.; with ``scale=255`` the CS231N
  Tiny ImageNet loader's raw 0–255 mean-image subtraction);
- ``per_channel``: subtract the training per-channel mean, divide by its std (Keras featurewise
  centre + std; Jay4869 fitted these on each split separately: pass that split's images as
  ``stats_x``);
- ``constants``: fixed mean/std, given or named in ``NORMALIZATION_CONSTANTS``;
- ``none``: pixels in [0, 1] (times ``scale``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from .augment import Augment, augment_batch
from .prepared import Split

# Named (mean, std) sets for pixels in [0, 1]; copy verbatim, never "correct" them.
NORMALIZATION_CONSTANTS: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    # ZAM conf/global_settings.py CIFAR100_TRAIN_MEAN / CIFAR100_TRAIN_STD (read by ZAM train.py), the
    # full-precision literals of weiaicunzai/pytorch-cifar100 conf/global_settings.py @ c14857b, which
    # ZAM copies; attention_modules.md §7.1 prints them rounded to 5 decimals
    "zam-cifar100": (
        (0.5070751592371323, 0.48654887331495095, 0.4409178433670343),
        (0.2673342858792401, 0.2564384629170883, 0.27615047132568404),
    ),
    # the widely copied CIFAR-10 constants; the blog arms use them on CIFAR-100 (a quirk, §7.2).
    # The std values are not the dataset's pixel std (≈0.247, 0.243, 0.261; datasets.md §5.1)
    "blog-cifar10": ((0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)),
    # weiaicunzai/pytorch-cifar100 train.py as of Nov 2018 (attention_modules.md §7.3)
    "wz2018-cifar100": ((0.5071, 0.4867, 0.4408), (0.2675, 0.2565, 0.2761)),
}
NORMALIZATIONS = ("per_pixel_mean", "per_channel", "constants", "none")


@dataclass(frozen=True)
class Normalize:
    """How images in [0, 1] are normalised (see the module docstring); the result is multiplied by
    ``scale``."""

    kind: str = "none"
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    constants: str | None = None  # a NORMALIZATION_CONSTANTS name (kind "constants", instead of mean/std)
    scale: float = 1.0

    def __post_init__(self):
        if self.kind not in NORMALIZATIONS:
            raise ValueError(f"unknown normalisation {self.kind!r}; use one of {', '.join(NORMALIZATIONS)}")
        if self.constants is not None and self.constants not in NORMALIZATION_CONSTANTS:
            raise ValueError(
                f"unknown constants {self.constants!r}; known: {', '.join(sorted(NORMALIZATION_CONSTANTS))}"
            )
        if self.kind == "constants" and self.constants is None and (self.mean is None or self.std is None):
            raise ValueError("normalisation 'constants' needs mean and std, or a constants name")


def _chunks(x: np.ndarray, elements: int = 1 << 24) -> Iterator[np.ndarray]:
    step = max(1, elements // max(1, int(np.prod(x.shape[1:]))))
    for i in range(0, len(x), step):
        yield np.asarray(x[i : i + step])


def mean_image(x: np.ndarray) -> np.ndarray:
    """Mean image (H×W×C, float64, pixels in [0, 1]) of uint8 N×H×W×C images, in chunks."""
    total = np.zeros(x.shape[1:], dtype=np.int64)
    for chunk in _chunks(x):
        total += chunk.sum(axis=0, dtype=np.int64)
    return total / (len(x) * 255.0)


def channel_stats(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and (population) std over all pixels of uint8 N×H×W×C, pixels in [0, 1]."""
    s1 = np.zeros(x.shape[-1], dtype=np.int64)
    s2 = np.zeros(x.shape[-1], dtype=np.int64)
    for chunk in _chunks(x):
        flat = chunk.reshape(-1, x.shape[-1]).astype(np.int64)
        s1 += flat.sum(0)
        s2 += (flat * flat).sum(0)
    n = x.size // x.shape[-1]
    mean = s1 / n
    return mean / 255.0, np.sqrt(np.maximum(s2 / n - mean * mean, 0.0)) / 255.0


def normalizer(norm: Normalize, stats_x: np.ndarray, device: torch.device) -> Callable[[Tensor], Tensor]:
    """Return ``f(float NCHW in [0,1]) -> normalised``; statistics from ``stats_x`` (uint8 NHWC,
    normally the training split)."""
    scale = float(norm.scale)
    if norm.kind == "none":
        return (lambda x: x) if scale == 1.0 else (lambda x: x * scale)
    if norm.kind == "per_pixel_mean":
        mean = torch.from_numpy(mean_image(stats_x)).permute(2, 0, 1).float().to(device)
        return lambda x: (x - mean) * scale
    if norm.kind == "per_channel":
        mean, std = channel_stats(stats_x)
    elif norm.constants is not None:
        mean, std = NORMALIZATION_CONSTANTS[norm.constants]
    else:
        mean, std = norm.mean, norm.std
    m = torch.tensor(np.asarray(mean), dtype=torch.float32, device=device).view(1, -1, 1, 1)
    s = torch.tensor(np.asarray(std), dtype=torch.float32, device=device).view(1, -1, 1, 1) / scale
    return lambda x: (x - m) / s


class DeviceLoader:
    """Batches of (normalised float images NCHW, int64 labels) from a device-resident split."""

    def __init__(
        self,
        split: Split,
        batch_size: int,
        device: torch.device,
        norm_fn,
        augment: Augment | None = None,
        shuffle: bool = False,
        seed: int = 0,
        drop_last: bool = False,
        shard: tuple[int, int] = (0, 1),  # (rank, world size): each rank takes its slice of every global batch
    ):
        self.x = torch.from_numpy(np.array(split.x)).to(device).permute(0, 3, 1, 2)  # uint8 NCHW view
        self.y = torch.from_numpy(np.array(split.y)).to(device)
        self.batch_size, self.norm_fn, self.augment = batch_size, norm_fn, augment or Augment()
        self.shuffle, self.drop_last, self.shard = shuffle, drop_last, shard
        self.gen = torch.Generator(device="cpu").manual_seed(seed)

    def __len__(self) -> int:
        n = len(self.y)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def state_dict(self) -> dict:
        return {"generator": self.gen.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.gen.set_state(state["generator"])

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        n = len(self.y)
        rank, world = self.shard
        order = torch.randperm(n, generator=self.gen).to(self.y.device) if self.shuffle else None
        for i in range(len(self)):
            # global batch i; same permutation on every rank, rank r takes its items r, r+W, ...
            idx = slice(i * self.batch_size + rank, min(n, (i + 1) * self.batch_size), world)
            sel = order[idx] if order is not None else idx
            x = augment_batch(self.x[sel], self.augment, self.gen)  # uint8 in, float in [0, 1] out
            yield self.norm_fn(x), self.y[sel]
