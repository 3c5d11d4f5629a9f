"""Batched on-device augmentations, each drawing its randomness from one seeded generator.

Every op takes images N×C×H×W (crop and flip: any dtype; affine: float) and returns the same shape
and dtype (``augment_batch`` turns uint8 into float in [0, 1]). Random parameters are drawn from
``gen`` (a CPU generator, so a CPU and a GPU run see the same draws) and moved to the images'
device; the pixel work runs on that device in one batched call.

Recipes (each source's ``augment:`` in the catalog):
- pad-and-crop + flip (Wang et al., the blog arms, BAM paper default): zero-pad 4, random 32×32
  crop, horizontal flip with p = 0.5.
- ZAM: the above, then torchvision ``RandomRotation(15)`` (angle uniform in ±15°, nearest
  interpolation, zero fill).
- Keras ``ImageDataGenerator`` (Jay4869): rotation 20°, width/height shift 0.2, zoom 0.2 (x and y
  scales drawn independently from [0.8, 1.2]), horizontal flip, ``fill_mode='nearest'`` (edge pixels
  repeated: grid_sample's ``border``), bilinear interpolation (Keras' order-1 ``affine_transform``).
  The transform maps output to input pixels as Keras does: rotation · shift · zoom about the centre.
  Keras up to 2.2 (keras_preprocessing < 1.1, e.g. TF 1.10's Keras 2.1.6-tf) put that centre at pixel
  index n/2 + 0.5 (``transform_matrix_offset_center``: ``o_x = float(x) / 2 + 0.5``), one pixel past
  the true centre (n − 1)/2 on both axes; ``center_offset=1.0`` reproduces it (the images move by
  |(I − R·Z)·(1, 1)| ≤ ≈0.9 px at 20° and zoom 1.2). Later Keras uses n/2 − 0.5, the true centre (0.0).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

FILLS = {"zeros": "zeros", "nearest": "border"}  # fill mode -> grid_sample padding_mode


@dataclass(frozen=True)
class Augment:
    crop_padding: int = 0  # zero-pad this many pixels per side, then random crop back to size
    hflip: bool = False  # random horizontal flip with p = 0.5
    rotation: float = 0.0  # random rotation, angle uniform in ±rotation degrees
    shift: float = 0.0  # random translation, uniform in ±shift × width (x) and ± shift × height (y)
    zoom: float = 0.0  # random scale, x and y drawn independently from [1 − zoom, 1 + zoom]
    fill: str = "zeros"  # pixels from outside the image: "zeros" (torchvision) or "nearest" (Keras: edge repeated)
    interpolation: str = "nearest"  # "nearest" (torchvision RandomRotation) or "bilinear" (Keras)
    center_offset: float = 0.0  # rotation/zoom centre in pixels past (n-1)/2 on both axes (Keras <= 2.2: 1.0)

    def __post_init__(self):
        if self.fill not in FILLS:
            raise ValueError(f"fill must be 'zeros' or 'nearest', got {self.fill!r}")
        if self.interpolation not in ("nearest", "bilinear"):
            raise ValueError(f"interpolation must be 'nearest' or 'bilinear', got {self.interpolation!r}")
        if min(self.crop_padding, self.rotation, self.shift, self.zoom) < 0 or self.zoom >= 1:
            raise ValueError("augmentation magnitudes must be >= 0 (zoom < 1)")

    @property
    def affine(self) -> bool:
        return bool(self.rotation or self.shift or self.zoom)


def _uniform(n: int, gen: torch.Generator, device) -> Tensor:
    """n draws from U(-1, 1), drawn on the generator's device and moved to ``device``."""
    return (torch.rand(n, generator=gen, device=gen.device) * 2 - 1).to(device)


def random_crop(x: Tensor, padding: int, gen: torch.Generator) -> Tensor:
    """Zero-pad by ``padding`` and crop back to the input size at a random offset per image (any dtype)."""
    n, _, h, w = x.shape
    padded = F.pad(x, (padding,) * 4)
    oy = torch.randint(0, 2 * padding + 1, (n,), generator=gen, device=gen.device).to(x.device)
    ox = torch.randint(0, 2 * padding + 1, (n,), generator=gen, device=gen.device).to(x.device)
    windows = padded.unfold(2, h, 1).unfold(3, w, 1)  # N×C×(2p+1)×(2p+1)×H×W view, no copy
    return windows[torch.arange(n, device=x.device), :, oy, ox]


def random_hflip(x: Tensor, gen: torch.Generator) -> Tensor:
    flip = torch.rand(x.shape[0], generator=gen, device=gen.device).to(x.device) < 0.5
    return torch.where(flip[:, None, None, None], x.flip(3), x)


def affine_matrices(
    angle: Tensor, tx: Tensor, ty: Tensor, zx: Tensor, zy: Tensor, height: int, width: int, center_offset: float = 0.0
) -> Tensor:
    """N×2×3 ``affine_grid`` matrices mapping output to input positions: input = R(Z·out + t).

    ``angle`` in radians, ``tx``/``ty`` in pixels, ``zx``/``zy`` scales (< 1 zooms in), all about the
    image centre moved by ``center_offset`` pixels on both axes (about c = c0 + d: input − c0 =
    R(Z·(out − c0) + t) + d − R·Z·d); built in pixel units and converted to grid_sample's
    normalised coordinates, so a rotation stays a rotation on non-square images.
    """
    cos, sin = angle.cos(), angle.sin()
    theta = torch.empty(len(angle), 2, 3, dtype=torch.float32, device=angle.device)
    theta[:, 0, 0] = cos * zx
    theta[:, 0, 1] = -sin * zy * height / width
    theta[:, 1, 0] = sin * zx * width / height
    theta[:, 1, 1] = cos * zy
    d = center_offset
    theta[:, 0, 2] = (cos * tx - sin * ty + d - (cos * zx - sin * zy) * d) * 2 / width
    theta[:, 1, 2] = (sin * tx + cos * ty + d - (sin * zx + cos * zy) * d) * 2 / height
    return theta


def apply_affine(x: Tensor, theta: Tensor, fill: str = "zeros", interpolation: str = "nearest") -> Tensor:
    """Resample float images with N×2×3 ``theta``; ``fill`` "zeros" or "nearest" (edge repeated)."""
    grid = F.affine_grid(theta.to(x.device, x.dtype), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode=interpolation, padding_mode=FILLS[fill], align_corners=False)


def random_affine(x: Tensor, aug: Augment, gen: torch.Generator) -> Tensor:
    """Random rotation / shift / zoom of each image (``aug``'s magnitudes), one grid_sample call."""
    n, _, h, w = x.shape
    dev = x.device
    angle = _uniform(n, gen, dev) * math.radians(aug.rotation)
    tx, ty = _uniform(n, gen, dev) * aug.shift * w, _uniform(n, gen, dev) * aug.shift * h
    zx, zy = 1 + _uniform(n, gen, dev) * aug.zoom, 1 + _uniform(n, gen, dev) * aug.zoom
    theta = affine_matrices(angle, tx, ty, zx, zy, h, w, aug.center_offset)
    return apply_affine(x, theta, aug.fill, aug.interpolation)


def augment_batch(x: Tensor, aug: Augment, gen: torch.Generator) -> Tensor:
    """Apply ``aug`` in the order crop → flip → affine (torchvision's order in the ZAM recipe).

    uint8 images are converted to float in [0, 1] after the crop and flip (which only move bytes);
    float images keep their dtype.
    """
    if aug.crop_padding:
        x = random_crop(x, aug.crop_padding, gen)
    if aug.hflip:
        x = random_hflip(x, gen)
    if x.dtype == torch.uint8:
        x = x.float().div_(255.0)
    if aug.affine:
        x = random_affine(x, aug, gen)
    return x
