"""The prepared form every dataset is turned into: uint8 NHWC images, int64 labels, a manifest.

Layout of ``<root>/<dataset>/``: ``{split}_x.npy``, ``{split}_y.npy`` per split, optional extra
per-image arrays ``{split}_{key}.npy`` (e.g. CIFAR-100's ``coarse`` labels, listed in the manifest
under ``extras``) and ``manifest.json``. The folder is written under a temporary name and renamed when complete, and
``manifest.json`` is written last, so a half-written folder is never taken for a finished one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..files import atomic_dir
from .archives import DataError

MANIFEST = "manifest.json"


@dataclass
class Split:
    x: np.ndarray  # uint8, N×H×W×C
    y: np.ndarray  # int64, N
    extras: dict[str, np.ndarray] = field(default_factory=dict)  # other per-image arrays, e.g. "coarse"

    def __post_init__(self):
        if self.x.dtype != np.uint8 or self.x.ndim != 4:
            raise ValueError(f"images must be uint8 N×H×W×C, got {self.x.dtype} {self.x.shape}")
        if len(self.x) != len(self.y):
            raise ValueError(f"{len(self.x)} images but {len(self.y)} labels")
        for key, value in self.extras.items():
            if len(value) != len(self.y) or key in ("x", "y"):
                raise ValueError(f"extra array {key!r}: {len(value)} entries for {len(self.y)} images")
        self.y = self.y.astype(np.int64)

    def __len__(self) -> int:
        return len(self.y)

    def take(self, index) -> Split:
        """The images (and labels, extras) at ``index`` (a slice or an integer array)."""
        return Split(self.x[index], self.y[index], {k: v[index] for k, v in self.extras.items()})


def write_prepared(out_dir: Path, splits: dict[str, Split], manifest: dict) -> Path:
    """Atomically write ``splits`` and ``manifest`` to ``out_dir`` (replacing an old copy)."""
    with atomic_dir(out_dir) as tmp:
        counts = {}
        for name, split in splits.items():
            np.save(tmp / f"{name}_x.npy", split.x)
            np.save(tmp / f"{name}_y.npy", split.y)
            for key, value in split.extras.items():
                np.save(tmp / f"{name}_{key}.npy", value)
            counts[name] = {
                "images": int(len(split.y)),
                "per_class": np.bincount(split.y, minlength=len(manifest["classes"])).tolist(),
            }
        shape = next(iter(splits.values())).x.shape[1:]
        extras = sorted({k for split in splits.values() for k in split.extras})
        full = {**manifest, "splits": counts, "image_shape": list(shape), "extras": extras}
        (tmp / MANIFEST).write_text(json.dumps(full, indent=2) + "\n")  # written last: marks completion
    return out_dir


def read_manifest(data_dir: Path) -> dict:
    path = data_dir / MANIFEST
    if not path.is_file():
        raise DataError(f"no prepared dataset at {data_dir}; run `repro fetch {data_dir.name}` first")
    return json.loads(path.read_text())


def load_split(data_dir: Path, split: str, mmap: bool = True) -> Split:
    manifest = read_manifest(data_dir)
    if not (data_dir / f"{split}_x.npy").is_file():
        raise DataError(f"dataset {data_dir.name} has no split {split!r}")
    mode = "r" if mmap else None
    extras = {
        key: np.load(data_dir / f"{split}_{key}.npy")
        for key in manifest.get("extras", [])
        if (data_dir / f"{split}_{key}.npy").is_file()
    }
    return Split(np.load(data_dir / f"{split}_x.npy", mmap_mode=mode), np.load(data_dir / f"{split}_y.npy"), extras)
