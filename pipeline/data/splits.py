"""Validation splits carved out of the training split, as each source made them.

The official test split is never touched. Kinds (``VALIDATION_SPLITS``):

- ``none``: no validation split (Wang et al., ZAM, the blog): ``(train, None)``.
- ``last``: the last ``size`` training images (default 5,000), or the last ``fraction`` of them.
- ``fraction``: the last ``fraction`` (default 0.2): Keras ``model.fit(validation_split=...)``.
- ``keras-subset``: the **first** ``int(N·fraction)`` images: Keras
  ``ImageDataGenerator(validation_split=...).flow(subset="validation")`` (columbia-e4040 used an
  ImageDataGenerator with 0.2 → 40k/10k).
- ``random``: a seeded random ``fraction`` (or ``size`` images), stratified by class.
- ``leaked``: Jay4869's notebooks: train on the first ``train_size`` images (default 45,000),
  validate on the last ``size`` (default 5,000) **of those same** images — a leak kept as a named
  quirk: the validation images are also trained on.
"""

from __future__ import annotations

import numpy as np

from .prepared import Split

VALIDATION_SPLITS = ("none", "last", "fraction", "keras-subset", "random", "leaked")


def split_validation(
    split: Split,
    kind: str,
    *,
    size: int | None = None,
    fraction: float | None = None,
    train_size: int | None = None,
    seed: int = 0,
) -> tuple[Split, Split | None]:
    """Return ``(train, validation)`` carved out of the training ``split`` (see the module docstring)."""
    total = len(split)
    if kind == "none":
        return split, None
    m, k = split_sizes(total, kind, size=size, fraction=fraction, train_size=train_size)
    if kind in ("last", "fraction"):
        return split.take(slice(0, total - k)), split.take(slice(total - k, total))
    if kind == "keras-subset":
        return split.take(slice(k, total)), split.take(slice(0, k))
    if kind == "random":
        rng = np.random.default_rng(seed)
        labels = np.asarray(split.y)
        val = [  # stratified: each class gives its share
            rng.permutation(members)[: round(len(members) * k / total)]
            for members in (np.flatnonzero(labels == c) for c in np.unique(labels))
        ]
        val_idx = np.sort(np.concatenate(val))
        return split.take(np.setdiff1d(np.arange(total), val_idx)), split.take(val_idx)
    return split.take(slice(0, m)), split.take(slice(m - k, m))  # leaked


def split_sizes(
    total: int, kind: str, *, size: int | None = None, fraction: float | None = None, train_size: int | None = None
) -> tuple[int, int]:
    """(training images, validation images) that ``split_validation`` makes of ``total`` images
    (for ``leaked`` the validation images are among the training images)."""
    if kind == "none":
        return total, 0
    if kind == "leaked":
        m = train_size if train_size is not None else 45000
        k = size if size is not None else 5000
        if not 0 < k <= m <= total:
            raise ValueError(f"leaked split needs 0 < size ({k}) <= train_size ({m}) <= {total}")
        return m, k
    if kind not in VALIDATION_SPLITS:
        raise ValueError(f"unknown validation split {kind!r}; use one of {', '.join(VALIDATION_SPLITS)}")
    if size is not None:  # size, else int(N·fraction); fraction defaults to 0.2 (``last``: 5,000 images)
        k = size
    elif fraction is None and kind == "last":
        k = 5000
    else:
        k = int(total * (0.2 if fraction is None else fraction))
    if not 0 < k < total:
        raise ValueError(f"validation size {k} out of range for {total} training images")
    return total - k, k
