"""The prepared form every dataset is turned into: uint8 NHWC images, int64 labels, a manifest.

Layout of ``<root>/<dataset>/``: ``{split}_x.npy``, ``{split}_y.npy`` per split and
``manifest.json``. The folder is written under a temporary name and renamed when complete, and
``manifest.json`` is written last, so a half-written folder is never taken for a finished one.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .archives import DataError

MANIFEST = "manifest.json"


@dataclass
class Split:
    x: np.ndarray  # uint8, N×H×W×C
    y: np.ndarray  # int64, N

    def __post_init__(self):
        if self.x.dtype != np.uint8 or self.x.ndim != 4:
            raise ValueError(f"images must be uint8 N×H×W×C, got {self.x.dtype} {self.x.shape}")
        if len(self.x) != len(self.y):
            raise ValueError(f"{len(self.x)} images but {len(self.y)} labels")
        self.y = self.y.astype(np.int64)


def write_prepared(out_dir: Path, splits: dict[str, Split], manifest: dict) -> Path:
    """Atomically write ``splits`` and ``manifest`` to ``out_dir`` (replacing an old copy)."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        counts = {}
        for name, split in splits.items():
            np.save(tmp / f"{name}_x.npy", split.x)
            np.save(tmp / f"{name}_y.npy", split.y)
            counts[name] = {
                "images": int(len(split.y)),
                "per_class": np.bincount(split.y, minlength=len(manifest["classes"])).tolist(),
            }
        shape = next(iter(splits.values())).x.shape[1:]
        full = {**manifest, "splits": counts, "image_shape": list(shape)}
        (tmp / MANIFEST).write_text(json.dumps(full, indent=2) + "\n")
        if out_dir.exists():
            shutil.rmtree(out_dir)
        tmp.rename(out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir


def read_manifest(data_dir: Path) -> dict:
    path = data_dir / MANIFEST
    if not path.is_file():
        raise DataError(f"no prepared dataset at {data_dir}; run `repro fetch {data_dir.name}` first")
    return json.loads(path.read_text())


def load_split(data_dir: Path, split: str, mmap: bool = True) -> Split:
    read_manifest(data_dir)
    if not (data_dir / f"{split}_x.npy").is_file():
        raise DataError(f"dataset {data_dir.name} has no split {split!r}")
    mode = "r" if mmap else None
    return Split(np.load(data_dir / f"{split}_x.npy", mmap_mode=mode), np.load(data_dir / f"{split}_y.npy"))
