"""A loader that keeps a whole split resident on the training device.

Images stay uint8 on the device; each epoch draws a permutation from a seeded generator, and
augmentation and normalisation run on the device in batches. No worker processes, no host copies
inside the training step.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from .prepared import Split


@dataclass(frozen=True)
class Augment:
    crop_padding: int = 0  # zero-pad this many pixels per side, then random crop back to size
    hflip: bool = False  # random horizontal flip with p = 0.5


@dataclass(frozen=True)
class Normalize:
    """``per_pixel_mean``: subtract the training mean image (Wang et al.); ``per_channel``: subtract
    the training per-channel mean and divide by its std; ``constants``: given mean/std;
    ``none``: pixels in [0, 1]."""

    kind: str = "none"
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None


def normalizer(norm: Normalize, train_x: np.ndarray, device: torch.device):
    """Return ``f(float NCHW in [0,1]) -> normalised`` with statistics from the training split."""
    if norm.kind == "none":
        return lambda x: x
    if norm.kind == "per_pixel_mean":
        mean = torch.from_numpy(np.asarray(train_x, dtype=np.float64).mean(0) / 255.0)
        mean = mean.permute(2, 0, 1).float().to(device)
        return lambda x: x - mean
    if norm.kind == "per_channel":
        pixels = np.asarray(train_x, dtype=np.float64).reshape(-1, train_x.shape[-1]) / 255.0
        mean, std = pixels.mean(0), pixels.std(0)
    elif norm.kind == "constants":
        mean, std = np.asarray(norm.mean), np.asarray(norm.std)
    else:
        raise ValueError(f"unknown normalisation {norm.kind!r}; use per_pixel_mean, per_channel, constants or none")
    m = torch.tensor(mean, dtype=torch.float32, device=device).view(1, -1, 1, 1)
    s = torch.tensor(std, dtype=torch.float32, device=device).view(1, -1, 1, 1)
    return lambda x: (x - m) / s


def random_crop(x: Tensor, padding: int, gen: torch.Generator) -> Tensor:
    """Zero-pad by ``padding`` and crop back to the input size at a random offset per image."""
    n, _, h, w = x.shape
    padded = F.pad(x, (padding,) * 4)
    oy = torch.randint(0, 2 * padding + 1, (n,), generator=gen, device=gen.device).to(x.device)
    ox = torch.randint(0, 2 * padding + 1, (n,), generator=gen, device=gen.device).to(x.device)
    rows = (oy[:, None] + torch.arange(h, device=x.device))[:, None, :, None]
    cols = (ox[:, None] + torch.arange(w, device=x.device))[:, None, None, :]
    batch = torch.arange(n, device=x.device)[:, None, None, None]
    chans = torch.arange(x.shape[1], device=x.device)[None, :, None, None]
    return padded[batch, chans, rows, cols]


def random_hflip(x: Tensor, gen: torch.Generator) -> Tensor:
    flip = torch.rand(x.shape[0], generator=gen, device=gen.device).to(x.device) < 0.5
    return torch.where(flip[:, None, None, None], x.flip(3), x)


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
    ):
        self.x = torch.from_numpy(np.array(split.x)).to(device).permute(0, 3, 1, 2)  # uint8 NCHW view
        self.y = torch.from_numpy(np.array(split.y)).to(device)
        self.batch_size, self.norm_fn, self.augment = batch_size, norm_fn, augment or Augment()
        self.shuffle, self.drop_last = shuffle, drop_last
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
        order = torch.randperm(n, generator=self.gen).to(self.y.device) if self.shuffle else None
        for i in range(len(self)):
            idx = slice(i * self.batch_size, min(n, (i + 1) * self.batch_size))
            sel = order[idx] if order is not None else idx
            x = self.x[sel].float().div_(255.0)
            if self.augment.crop_padding:
                x = random_crop(x, self.augment.crop_padding, self.gen)
            if self.augment.hflip:
                x = random_hflip(x, self.gen)
            yield self.norm_fn(x), self.y[sel]
