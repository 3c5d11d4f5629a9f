"""Device loader: batched augmentations (shapes, dtypes, seeded reproducibility, geometry) and
normalisation variants."""

import math

import numpy as np
import pytest
import torch

from pipeline.data.augment import (
    Augment,
    affine_matrices,
    apply_affine,
    augment_batch,
    random_affine,
    random_crop,
    random_hflip,
)
from pipeline.data.loader import (
    NORMALIZATION_CONSTANTS,
    DeviceLoader,
    Normalize,
    channel_stats,
    mean_image,
    normalizer,
)
from pipeline.data.prepared import Split

AUGMENTATIONS: dict[str, Augment] = {  # the catalog's recipes
    "none": Augment(),
    "crop-flip": Augment(crop_padding=4, hflip=True),
    "zam": Augment(crop_padding=4, hflip=True, rotation=15),
    "keras-jay4869": Augment(hflip=True, rotation=20, shift=0.2, zoom=0.2, fill="nearest", interpolation="bilinear"),
}

CPU = torch.device("cpu")


def _batch(n=16, c=3, h=32, w=32, seed=0):
    return torch.rand(n, c, h, w, generator=torch.Generator().manual_seed(seed))


def _split(n=50, seed=0):
    rng = np.random.default_rng(seed)
    return Split(rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8), np.arange(n) % 10)


@pytest.mark.parametrize("name", sorted(AUGMENTATIONS))
def test_augmentations_keep_shape_dtype_and_are_reproducible(name):
    aug = AUGMENTATIONS[name]
    x = _batch()
    a = augment_batch(x, aug, torch.Generator().manual_seed(7))
    b = augment_batch(x, aug, torch.Generator().manual_seed(7))
    assert a.shape == x.shape and a.dtype == x.dtype
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    if name != "none":
        c = augment_batch(x, aug, torch.Generator().manual_seed(8))
        assert not torch.equal(a, c)
        assert not torch.equal(a, x)


def test_non_square_images_keep_their_shape():
    x = _batch(h=24, w=40)
    out = augment_batch(x, AUGMENTATIONS["keras-jay4869"], torch.Generator().manual_seed(0))
    assert out.shape == x.shape


def test_crop_is_a_shifted_window_and_flip_mirrors():
    x = _batch(n=64)
    out = random_crop(x, 4, torch.Generator().manual_seed(1))
    padded = torch.nn.functional.pad(x, (4,) * 4)
    for i in range(64):  # each output is some 32×32 window of the zero-padded image
        hits = [
            (dy, dx)
            for dy in range(9)
            for dx in range(9)
            if torch.equal(padded[i, :, dy : dy + 32, dx : dx + 32], out[i])
        ]
        assert hits
    flipped = random_hflip(x, torch.Generator().manual_seed(1))
    same = [torch.equal(flipped[i], x[i]) for i in range(64)]
    mirrored = [torch.equal(flipped[i], x[i].flip(-1)) for i in range(64)]
    assert all(s or m for s, m in zip(same, mirrored, strict=True)) and 10 < sum(mirrored) < 54


def _params(n, angle=0.0, tx=0.0, ty=0.0, zx=1.0, zy=1.0):
    full = lambda v: torch.full((n,), float(v))  # noqa: E731
    return full(angle), full(tx), full(ty), full(zx), full(zy)


def test_identity_affine_is_exact():
    x = _batch(n=4)
    for interpolation in ("nearest", "bilinear"):
        out = apply_affine(x, affine_matrices(*_params(4), 32, 32), "zeros", interpolation)
        torch.testing.assert_close(out, x, atol=1e-5, rtol=0)


def test_affine_geometry_shift_rotation_and_fill():
    x = _batch(n=2, h=8, w=8) + 0.5  # no zeros in the image
    shifted = apply_affine(x, affine_matrices(*_params(2, tx=1.0), 8, 8), "zeros")
    torch.testing.assert_close(shifted[..., :-1], x[..., 1:])  # output(o) = input(o + t): one pixel left
    assert (shifted[..., -1] == 0).all()
    border = apply_affine(x, affine_matrices(*_params(2, tx=1.0), 8, 8), "nearest")
    torch.testing.assert_close(border[..., -1], x[..., -1])  # Keras fill_mode="nearest": edge repeated
    rotated = apply_affine(x, affine_matrices(*_params(2, angle=math.pi / 2), 8, 8), "zeros")
    quarter = [torch.equal(rotated, torch.rot90(x, k, dims=(2, 3))) for k in (1, 3)]
    assert any(quarter)  # a 90° turn maps pixel centres onto pixel centres exactly
    zoomed = apply_affine(x, affine_matrices(*_params(2, zx=0.5, zy=0.5), 8, 8), "zeros")
    assert (zoomed > 0).all()  # zooming in (scale < 1) samples only inside the image


def test_random_rotation_angles_stay_within_the_range():
    x = torch.zeros(64, 1, 33, 33)
    x[:, :, 16, :] = 1.0  # a horizontal line through the centre
    out = random_affine(x, Augment(rotation=15), torch.Generator().manual_seed(0))
    angles = []
    for image in out[:, 0]:
        ys, xs = torch.nonzero(image > 0.5, as_tuple=True)
        slope = np.polyfit(xs.double().numpy(), ys.double().numpy(), 1)[0]  # least-squares line
        angles.append(math.degrees(math.atan(abs(slope))))
    assert max(angles) <= 15 + 1.5 and max(angles) > 10 and min(angles) < 3  # uniform in ±15°


def test_bad_augment_options_are_refused():
    with pytest.raises(ValueError, match="fill"):
        Augment(fill="border")
    with pytest.raises(ValueError, match="interpolation"):
        Augment(interpolation="bicubic")


def test_loader_epochs_are_seeded_permutations_and_resumable():
    split = _split(50)
    norm = normalizer(Normalize(), split.x, CPU)
    loader = DeviceLoader(split, 16, CPU, norm, AUGMENTATIONS["zam"], shuffle=True, seed=3)
    labels = torch.cat([y for _, y in loader])
    assert len(loader) == 4 and sorted(labels.tolist()) == sorted(split.y.tolist())
    state = loader.state_dict()
    first = [x for x, _ in loader]
    loader.load_state_dict(state)
    again = [x for x, _ in loader]
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    twin = DeviceLoader(split, 16, CPU, norm, AUGMENTATIONS["zam"], shuffle=True, seed=3)
    assert torch.equal(torch.cat([y for _, y in twin]), labels)
    x, _ = next(iter(twin))
    assert x.dtype == torch.float32 and x.shape == (16, 3, 32, 32)


def test_statistics_match_numpy():
    x = _split(40).x
    xf = x / 255.0
    mean, std = channel_stats(x)
    np.testing.assert_allclose(mean, xf.reshape(-1, 3).mean(0), atol=1e-12)
    np.testing.assert_allclose(std, xf.reshape(-1, 3).std(0), atol=1e-12)
    np.testing.assert_allclose(mean_image(x), xf.mean(0), atol=1e-12)


def test_normalisation_variants():
    split = _split(40)
    x = torch.from_numpy(split.x).permute(0, 3, 1, 2).float() / 255
    out = normalizer(Normalize("per_channel"), split.x, CPU)(x)
    torch.testing.assert_close(out.mean((0, 2, 3)), torch.zeros(3), atol=1e-5, rtol=0)
    torch.testing.assert_close(out.std((0, 2, 3), correction=0), torch.ones(3), atol=1e-4, rtol=0)
    per_pixel = normalizer(Normalize("per_pixel_mean"), split.x, CPU)(x)
    torch.testing.assert_close(per_pixel.mean(0), torch.zeros(3, 32, 32), atol=1e-5, rtol=0)
    raw = normalizer(Normalize("per_pixel_mean", scale=255.0), split.x, CPU)(x)  # CS231N: raw 0–255 units
    torch.testing.assert_close(raw, per_pixel * 255, atol=1e-3, rtol=0)
    named = normalizer(Normalize("constants", constants="blog-cifar10"), split.x, CPU)(x)
    explicit = normalizer(Normalize("constants", *NORMALIZATION_CONSTANTS["blog-cifar10"]), split.x, CPU)(x)
    torch.testing.assert_close(named, explicit)
    mean, std = NORMALIZATION_CONSTANTS["zam-cifar100"]
    zam = normalizer(Normalize("constants", constants="zam-cifar100"), split.x, CPU)(x)
    torch.testing.assert_close(zam[:, 0], (x[:, 0] - mean[0]) / std[0])
    assert NORMALIZATION_CONSTANTS["blog-cifar10"] == ((0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010))
    with pytest.raises(ValueError, match="unknown constants"):
        Normalize("constants", constants="imagenet-ish")
    with pytest.raises(ValueError, match="unknown normalisation"):
        Normalize("zca")


@pytest.mark.parametrize("name", sorted(AUGMENTATIONS))
def test_uint8_and_float_inputs_augment_alike(name):
    x8 = (torch.rand(8, 3, 32, 32, generator=torch.Generator().manual_seed(0)) * 255).to(torch.uint8)
    a = augment_batch(x8, AUGMENTATIONS[name], torch.Generator().manual_seed(5))
    b = augment_batch(x8.float() / 255, AUGMENTATIONS[name], torch.Generator().manual_seed(5))
    assert a.dtype == torch.float32
    torch.testing.assert_close(a, b, atol=1e-6, rtol=0)
