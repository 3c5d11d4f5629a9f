"""CIFAR-10 in the official python format: parse, and generate an offline fixture.

Facts (datasets.md §1): ``cifar-10-python.tar.gz``, md5 c58f30108f718f92721af3b95e74349a, folder
``cifar-10-batches-py/`` with ``data_batch_1..5``, ``test_batch`` and ``batches.meta`` (protocol-2
pickles; ``data`` is uint8 N×3072 as R, G, B planes).
"""

from __future__ import annotations

import gzip
import io
import pickle
import tarfile
from pathlib import Path

import numpy as np
from torchvision.datasets import CIFAR10
from torchvision.datasets.utils import check_integrity

from .archives import DataError
from .pickles import load_pickle
from .prepared import Split

CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def _to_nhwc(data: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(data, dtype=np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))


def _check_files(folder: Path, files: list[tuple[str, str]]) -> dict[str, str]:
    for name, md5 in files:
        if not check_integrity(str(folder / name), md5):
            raise DataError(f"{folder / name}: missing or md5 mismatch (expected {md5}); fetch the archive again")
    return dict(files)


def parse_cifar10(folder: Path, file_md5s: dict[str, str] | None = None) -> tuple[dict[str, Split], dict]:
    """Parse an extracted ``cifar-10-batches-py`` folder into train/test splits and a manifest.

    ``file_md5s`` defaults to torchvision's list of the official files' md5s.
    """
    official = CIFAR10.train_list + CIFAR10.test_list + [[CIFAR10.meta["filename"], CIFAR10.meta["md5"]]]
    md5s = _check_files(folder, list(file_md5s.items()) if file_md5s else [tuple(f) for f in official])
    meta = load_pickle(folder / "batches.meta")
    splits = {}
    for split, names in (("train", [f"data_batch_{i}" for i in range(1, 6)]), ("test", ["test_batch"])):
        xs, ys = [], []
        for name in names:
            batch = load_pickle(folder / name)
            xs.append(_to_nhwc(batch["data"]))
            ys.append(np.asarray(batch["labels"], dtype=np.int64))
        splits[split] = Split(np.concatenate(xs), np.concatenate(ys))
    manifest = {"classes": list(meta["label_names"]), "class_order": "batches.meta label_names", "files_md5": md5s}
    return splits, manifest


def _md5_bytes(blob: bytes) -> str:
    import hashlib

    return hashlib.md5(blob, usedforsecurity=False).hexdigest()


def synthetic_images(n: int, classes: int, rng: np.random.Generator, size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """Images with a learnable class signal: a class-specific colour and stripe pattern plus noise."""
    labels = np.arange(n) % classes
    rng.shuffle(labels)
    palette = rng.integers(40, 216, size=(classes, 3))
    yy, xx = np.mgrid[0:size, 0:size]
    images = np.empty((n, size, size, 3), dtype=np.uint8)
    for i, c in enumerate(labels):
        stripes = ((xx * (c % 4 + 1) + yy * (c // 4 + 1)) // 4) % 2  # class-dependent orientation/period
        img = palette[c][None, None, :] + 40 * (stripes[..., None] - 0.5) + rng.normal(0, 20, (size, size, 3))
        images[i] = np.clip(img, 0, 255).astype(np.uint8)
    return images, labels.astype(np.int64)


def make_cifar10_archive(path: Path, per_batch: int = 40, test: int = 100, seed: int = 0) -> dict[str, str]:
    """Write a small archive in exactly the official layout; return the md5s of its members.

    Same member names, pickle keys, dtypes and protocol as the real file; deterministic bytes
    (fixed seed, gzip mtime 0) so its md5 is stable.
    """
    rng = np.random.default_rng(seed)
    members: dict[str, bytes] = {}
    for i in range(1, 6):
        x, y = synthetic_images(per_batch, 10, rng)
        members[f"data_batch_{i}"] = _batch_pickle(f"training batch {i} of 5", x, y, f"b{i}")
    x, y = synthetic_images(test, 10, rng)
    members["test_batch"] = _batch_pickle("testing batch 1 of 1", x, y, "t")
    meta = {"num_cases_per_batch": per_batch, "label_names": CIFAR10_CLASSES, "num_vis": 3072}
    members["batches.meta"] = pickle.dumps(meta, protocol=2)
    members["readme.html"] = b'<meta HTTP-EQUIV="REFRESH" content="0; url=https://www.cs.toronto.edu/~kriz/cifar.html">'
    path.parent.mkdir(parents=True, exist_ok=True)
    write_tar_gz(path, "cifar-10-batches-py", members)
    return {name: _md5_bytes(blob) for name, blob in members.items() if name != "readme.html"}


def _batch_pickle(label: str, x: np.ndarray, y: np.ndarray, prefix: str) -> bytes:
    flat = x.transpose(0, 3, 1, 2).reshape(len(x), -1)  # back to R, G, B planes
    batch = {
        "batch_label": label,
        "labels": [int(v) for v in y],
        "data": flat,
        "filenames": [f"{prefix}_{i:05d}.png" for i in range(len(y))],
    }
    return pickle.dumps(batch, protocol=2)


def write_tar_gz(path: Path, folder: str, members: dict[str, bytes]) -> None:
    """A deterministic .tar.gz with one top folder (mtime 0, uid/gid 0)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as tf:
        info = tarfile.TarInfo(folder)
        info.type, info.mode = tarfile.DIRTYPE, 0o755
        tf.addfile(info)
        for name, blob in members.items():
            info = tarfile.TarInfo(f"{folder}/{name}")
            info.size, info.mode = len(blob), 0o644
            tf.addfile(info, io.BytesIO(blob))
    with open(path, "wb") as fh, gzip.GzipFile(fileobj=fh, mode="wb", mtime=0, filename="") as gz:
        gz.write(raw.getvalue())
