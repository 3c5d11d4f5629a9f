"""Symmetric label noise (Wang et al. 2017, Table 5; Eq. 7 after Sukhbaatar et al.).

Confusion matrix Q: clean-label ratio r on the diagonal, (1 − r)/(K − 1) elsewhere; noise level =
1 − r. Each training label y is replaced by a draw from row y of Q, once, from a recorded seed; test
labels stay clean.
"""

from __future__ import annotations

import numpy as np


def noise_matrix(noise_level: float, num_classes: int) -> np.ndarray:
    """The K×K matrix Q (rows sum to 1)."""
    if not 0.0 <= noise_level <= 1.0 or num_classes < 2:
        raise ValueError(f"noise level must be in [0, 1] and classes >= 2, got {noise_level}, {num_classes}")
    q = np.full((num_classes, num_classes), noise_level / (num_classes - 1))
    np.fill_diagonal(q, 1.0 - noise_level)
    return q


def corrupt_labels(labels: np.ndarray, noise_level: float, num_classes: int, seed: int) -> tuple[np.ndarray, float]:
    """Return (noisy int64 labels, fraction actually changed). Same seed → same labels.

    Drawing from row y of Q equals: with probability ``noise_level`` replace y by one of the other
    K − 1 classes, uniformly.
    """
    noise_matrix(noise_level, num_classes)  # validates the arguments
    labels = np.asarray(labels, dtype=np.int64)
    rng = np.random.default_rng(seed)
    flip = rng.random(len(labels)) < noise_level
    offset = rng.integers(1, num_classes, size=len(labels))  # 1..K-1: never the same class
    noisy = np.where(flip, (labels + offset) % num_classes, labels)
    return noisy, float((noisy != labels).mean()) if len(labels) else 0.0
