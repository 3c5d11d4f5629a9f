"""CIFAR-10 and CIFAR-100 in the official python format: parse, and generate offline fixtures.

Facts (datasets.md §1): ``cifar-10-python.tar.gz``, md5 c58f30108f718f92721af3b95e74349a, folder
``cifar-10-batches-py/`` with ``data_batch_1..5``, ``test_batch`` and ``batches.meta`` (protocol-2
pickles; ``data`` is uint8 N×3072 as R, G, B planes).

CIFAR-100 (datasets.md §2): ``cifar-100-python.tar.gz``, md5 eb9058c3a382ffc7106e4002c42a8d85,
members ``cifar-100-python/{file.txt~,train,test,meta}``; ``train``/``test`` keys ``filenames``,
``batch_label``, ``fine_labels``, ``coarse_labels``, ``data``. File names are not unique, so images
are kept by index (never keyed by file name).
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from .archives import DataError, bytes_md5, write_archive
from .pickles import load_pickle
from .prepared import Split

CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


# datasets.md §2; meta's fine_label_names are alphabetical
CIFAR100_CLASSES = (
    "apple aquarium_fish baby bear beaver bed bee beetle bicycle bottle bowl boy bridge bus butterfly camel can "
    "castle caterpillar cattle chair chimpanzee clock cloud cockroach couch crab crocodile cup dinosaur dolphin "
    "elephant flatfish forest fox girl hamster house kangaroo keyboard lamp lawn_mower leopard lion lizard lobster "
    "man maple_tree motorcycle mountain mouse mushroom oak_tree orange orchid otter palm_tree pear pickup_truck "
    "pine_tree plain plate poppy porcupine possum rabbit raccoon ray road rocket rose sea seal shark shrew skunk "
    "skyscraper snail snake spider squirrel streetcar sunflower sweet_pepper table tank telephone television tiger "
    "tractor train trout tulip turtle wardrobe whale willow_tree wolf woman worm"
).split()
CIFAR100_SUPERCLASSES = (
    "aquatic_mammals fish flowers food_containers fruit_and_vegetables household_electrical_devices "
    "household_furniture insects large_carnivores large_man-made_outdoor_things large_natural_outdoor_scenes "
    "large_omnivores_and_herbivores medium_mammals non-insect_invertebrates people reptiles small_mammals trees "
    "vehicles_1 vehicles_2"
).split()
# fine label -> coarse label, the standard mapping (matches datasets.md §2's examples); used by the fixture only
CIFAR100_FINE_TO_COARSE = [
    4, 1, 14, 8, 0, 6, 7, 7, 18, 3, 3, 14, 9, 18, 7, 11, 3, 9, 7, 11, 6, 11, 5, 10, 7, 6, 13, 15, 3, 15,
    0, 11, 1, 10, 12, 14, 16, 9, 11, 5, 5, 19, 8, 8, 15, 13, 14, 17, 18, 10, 16, 4, 17, 4, 2, 0, 17, 4, 18, 17,
    10, 3, 2, 12, 12, 16, 12, 1, 9, 19, 2, 10, 0, 1, 16, 12, 9, 13, 15, 13, 16, 19, 2, 4, 6, 19, 5, 5, 8, 19,
    18, 1, 2, 15, 6, 0, 17, 8, 14, 13,
]  # fmt: skip


def _to_nhwc(data: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(data, dtype=np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))


def _check_files(folder: Path, file_md5s: dict[str, str] | None, official) -> dict[str, str]:
    """Check each file's md5 (default: torchvision's list for ``official``, its CIFAR10 or CIFAR100 class)."""
    from torchvision.datasets.utils import check_integrity  # lazy: torchvision is slow to import

    if not file_md5s:
        file_md5s = dict(official.train_list + official.test_list + [[official.meta["filename"], official.meta["md5"]]])
    for name, md5 in file_md5s.items():
        if not check_integrity(str(folder / name), md5):
            raise DataError(f"{folder / name}: missing or md5 mismatch (expected {md5}); fetch the archive again")
    return dict(file_md5s)


def parse_cifar10(folder: Path, file_md5s: dict[str, str] | None = None) -> tuple[dict[str, Split], dict]:
    """Parse an extracted ``cifar-10-batches-py`` folder into train/test splits and a manifest.

    ``file_md5s`` defaults to torchvision's list of the official files' md5s.
    """
    from torchvision.datasets import CIFAR10

    md5s = _check_files(folder, file_md5s, CIFAR10)
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


def _duplicates(names: list[str]) -> dict[str, list[int]]:
    seen: dict[str, list[int]] = {}
    for i, name in enumerate(names):
        seen.setdefault(name, []).append(i)
    return {name: idx for name, idx in seen.items() if len(idx) > 1}


def parse_cifar100(folder: Path, file_md5s: dict[str, str] | None = None) -> tuple[dict[str, Split], dict]:
    """Parse an extracted ``cifar-100-python`` folder: fine labels as ``y``, coarse labels as the
    ``coarse`` extra array, both name lists in the manifest.

    ``file_md5s`` defaults to torchvision's list of the official files' md5s.
    """
    from torchvision.datasets import CIFAR100

    md5s = _check_files(folder, file_md5s, CIFAR100)
    meta = load_pickle(folder / "meta")
    fine_names, coarse_names = list(meta["fine_label_names"]), list(meta["coarse_label_names"])
    splits, duplicates, fine_to_coarse = {}, {}, {}
    for split in ("train", "test"):
        batch = load_pickle(folder / split)
        x = _to_nhwc(batch["data"])
        fine = np.asarray(batch["fine_labels"], dtype=np.int64)
        coarse = np.asarray(batch["coarse_labels"], dtype=np.int64)
        if not (len(x) == len(fine) == len(coarse) == len(batch["filenames"])):
            raise DataError(f"{folder / split}: data, labels and filenames differ in length; fetch the archive again")
        if fine.min() < 0 or fine.max() >= len(fine_names) or coarse.min() < 0 or coarse.max() >= len(coarse_names):
            raise DataError(f"{folder / split}: label out of range; fetch the archive again")
        for f, c in set(zip(fine.tolist(), coarse.tolist(), strict=True)):
            if fine_to_coarse.setdefault(f, c) != c:
                raise DataError(f"{folder / split}: fine class {f} maps to two coarse classes; fetch the archive again")
        splits[split] = Split(x, fine, {"coarse": coarse})
        duplicates[split] = _duplicates(list(batch["filenames"]))  # kept by index: no image is lost
    manifest = {
        "classes": fine_names,
        "class_order": "meta fine_label_names",
        "coarse_classes": coarse_names,
        "fine_to_coarse": [fine_to_coarse.get(i) for i in range(len(fine_names))],
        "duplicate_filenames": duplicates,
        "files_md5": md5s,
    }
    return splits, manifest


def synthetic_images(n: int, classes: int, rng: np.random.Generator, size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """Images with a learnable class signal: a class-specific colour and stripe pattern plus noise."""
    labels = np.arange(n) % classes
    rng.shuffle(labels)
    palette = np.random.default_rng(classes).integers(40, 216, size=(classes, 3))  # same colours in every split
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
    _write_tar_gz(path, "cifar-10-batches-py", members)
    return {name: bytes_md5(blob) for name, blob in members.items() if name != "readme.html"}


def make_cifar100_archive(path: Path, train_per_class: int = 5, test_per_class: int = 2, seed: int = 0) -> dict:
    """Write a small ``cifar-100-python.tar.gz`` in exactly the official layout; return member md5s.

    Members in the official order (``file.txt~``, ``train``, ``test``, ``meta``), pickle keys in the
    official stream order, protocol 2, uint8 N×3072 data; one file name is duplicated in each split
    (as in the real data) to check that no image is lost. Deterministic bytes.
    """
    rng = np.random.default_rng(seed)
    members: dict[str, bytes] = {"file.txt~": b""}
    for split, per_class, label in (
        ("train", train_per_class, "training batch 1 of 1"),
        ("test", test_per_class, "testing batch 1 of 1"),
    ):
        x, fine = synthetic_images(100 * per_class, 100, rng)
        names = [f"{CIFAR100_CLASSES[c]}_s_{i:06d}.png" for i, c in enumerate(fine)]
        names[-1] = names[0]  # the real data has duplicate file names (e.g. baby_s_000333.png in train)
        batch = {
            "filenames": names,
            "batch_label": label,
            "fine_labels": [int(v) for v in fine],
            "coarse_labels": [CIFAR100_FINE_TO_COARSE[int(v)] for v in fine],
            "data": x.transpose(0, 3, 1, 2).reshape(len(x), -1),
        }
        members[split] = pickle.dumps(batch, protocol=2)
    meta = {"fine_label_names": CIFAR100_CLASSES, "coarse_label_names": CIFAR100_SUPERCLASSES}
    members["meta"] = pickle.dumps(meta, protocol=2)
    _write_tar_gz(path, "cifar-100-python", members)
    return {name: bytes_md5(blob) for name, blob in members.items() if name != "file.txt~"}


def _batch_pickle(label: str, x: np.ndarray, y: np.ndarray, prefix: str) -> bytes:
    flat = x.transpose(0, 3, 1, 2).reshape(len(x), -1)  # back to R, G, B planes
    batch = {
        "batch_label": label,
        "labels": [int(v) for v in y],
        "data": flat,
        "filenames": [f"{prefix}_{i:05d}.png" for i in range(len(y))],
    }
    return pickle.dumps(batch, protocol=2)


def _write_tar_gz(path: Path, folder: str, members: dict[str, bytes]) -> None:
    """The members under one top folder, as a deterministic .tar.gz (mtime 0, as the fixtures always had)."""
    write_archive(path, {folder: None, **{f"{folder}/{name}": blob for name, blob in members.items()}}, mtime=0)
