"""Tiny ImageNet-200: read the official zip, and generate an offline fixture in the same layout.

Facts (datasets.md §4): ``tiny-imagenet-200.zip``, md5 90528d7ca1a48142e341f4ef8d21d0de, folder
``tiny-imagenet-200/`` with ``wnids.txt`` (200 wnids, not sorted), ``words.txt`` (all of WordNet),
``train/<wnid>/images/<wnid>_<i>.JPEG`` (500 per class), ``val/images/val_<i>.JPEG`` labelled by
``val/val_annotations.txt`` (50 per class) and ``test/images`` (no labels). 64×64 JPEGs, about 2%
grayscale (converted to RGB).

Conventions (as the CS231N loader of the source, tinyimagenet.md §8.1): class index = line order of
``wnids.txt``; the official **val** set is our ``test`` split (the official test set has no labels
and is not read); any validation split is carved out of train. The zip is read in memory with the
same member checks as extraction (120k small files are not written to disk).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from .archives import DataError, bytes_md5, check_md5s, iter_files, write_archive
from .cifar import synthetic_images
from .images import decode_images, encode_image
from .prepared import Split

FOLDER = "tiny-imagenet-200"
_TRAIN = re.compile(r"train/([^/]+)/images/([^/]+)$")
_VAL = re.compile(r"val/images/([^/]+)$")
_TEXT = ("wnids.txt", "words.txt", "val/val_annotations.txt")


def natural_key(name: str) -> list:
    """Sort key treating digit runs as numbers: val_2 < val_10."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def read_tinyimagenet(
    source: Path, file_md5s: dict[str, str] | None = None, folder: str = FOLDER
) -> tuple[dict[str, Split], dict]:
    """Read the official zip (or an extracted tree) into train / test(= official val) splits."""
    root = f"{folder}/" if folder else ""
    counts = {"test_images": 0}

    def wanted(name: str) -> bool:
        rel = name[len(root) :] if name.startswith(root) else None
        if rel is not None and rel.startswith("test/images/"):
            counts["test_images"] += 1  # unlabeled: counted, never read
        return rel is not None and (rel in _TEXT or bool(_TRAIN.match(rel) or _VAL.match(rel)))

    blobs = {name[len(root) :]: blob for name, blob in iter_files(source, wanted)}
    for rel in _TEXT:
        if rel not in blobs:
            raise DataError(
                f"{source.name}: {root}{rel} missing; not the official Tiny ImageNet archive, fetch it again"
            )
    check_md5s(blobs, file_md5s or {}, f"{source.name}:{root}")
    wnids = blobs["wnids.txt"].decode().split()
    if len(set(wnids)) != len(wnids):
        raise DataError(f"{source.name}: wnids.txt lists a wnid twice; fetch the archive again")
    index = {w: i for i, w in enumerate(wnids)}
    words = dict(line.split("\t", 1) for line in blobs["words.txt"].decode().splitlines() if "\t" in line)

    train: dict[str, list[str]] = {w: [] for w in wnids}
    for rel in blobs:
        m = _TRAIN.match(rel)
        if m:
            if m.group(1) not in index:
                raise DataError(f"{source.name}:{root}{rel}: class {m.group(1)} not in wnids.txt; fetch it again")
            train[m.group(1)].append(rel)
    empty = [w for w, files in train.items() if not files]
    if empty:
        raise DataError(f"{source.name}: no training images for {empty[0]} (in wnids.txt); fetch the archive again")
    val_files = {m.group(1): rel for rel in blobs if (m := _VAL.match(rel))}
    val_labels = {}
    for line in blobs["val/val_annotations.txt"].decode().splitlines():
        if line.strip():
            name, wnid = line.split("\t")[:2]
            if wnid not in index or name not in val_files:
                raise DataError(
                    f"{source.name}: val_annotations.txt line {line[:40]!r} names an unknown image or class"
                )
            val_labels[name] = index[wnid]
    unlabeled = sorted(set(val_files) - set(val_labels))
    if unlabeled:
        raise DataError(f"{source.name}: val/images/{unlabeled[0]} has no line in val_annotations.txt; fetch it again")

    train_order = [(rel, index[w]) for w in wnids for rel in sorted(train[w], key=natural_key)]
    val_order = [(val_files[n], val_labels[n]) for n in sorted(val_files, key=natural_key)]
    splits, gray = {}, {}
    for split, order in (("train", train_order), ("test", val_order)):
        x, gray[split] = decode_images([(root + rel, blobs[rel]) for rel, _ in order])
        splits[split] = Split(x, np.asarray([label for _, label in order], dtype=np.int64))
    manifest = {
        "classes": wnids,
        "class_order": "wnids.txt line order",
        "class_names": [words.get(w, w) for w in wnids],
        "test_split": "official val set (val/images, labels from val_annotations.txt)",
        "unlabeled_test_images_skipped": counts["test_images"],
        "grayscale_images": gray,
        "files_md5": {rel: bytes_md5(blobs[rel]) for rel in _TEXT},
    }
    return splits, manifest


def make_tinyimagenet_zip(
    path: Path, wnids: int = 200, train_per_class: int = 3, val_per_class: int = 1, test_images: int = 10, seed: int = 0
) -> dict[str, str]:
    """Write a small ``tiny-imagenet-200.zip`` in the official layout; return md5s of its text files.

    Unsorted ``wnids.txt``, ``words.txt`` with extra wnids and no trailing newline, per-class
    ``images/`` and ``_boxes.txt``, ``val/images`` + ``val_annotations.txt``, unlabeled
    ``test/images``; one grayscale JPEG in train and one in val. 64×64 JPEG quality 75, learnable
    signal, deterministic bytes.
    """
    rng = np.random.default_rng(seed)
    ids = [f"n{v:08d}" for v in rng.choice(10**8, size=wnids + 5, replace=False)]
    classes, extra = ids[:wnids], ids[wnids:]
    if classes == sorted(classes) and wnids > 1:
        classes[0], classes[1] = classes[1], classes[0]  # keep the real file's quirk: not sorted
    f = FOLDER
    members: dict[str, bytes | None] = {f: None}
    words = "\n".join(f"{w}\tsynthetic class {w}, thing {i}" for i, w in enumerate(sorted(classes + extra)))
    members[f"{f}/wnids.txt"] = "".join(f"{w}\n" for w in classes).encode()
    members[f"{f}/words.txt"] = words.encode()
    x, y = synthetic_images(wnids * train_per_class, wnids, rng, size=64)
    members[f"{f}/train"] = None
    for c, wnid in enumerate(classes):
        members[f"{f}/train/{wnid}"] = None
        members[f"{f}/train/{wnid}/images"] = None
        boxes = []
        for i, image in enumerate(x[y == c]):
            name = f"{wnid}_{i}.JPEG"
            gray = c == 0 and i == 0
            members[f"{f}/train/{wnid}/images/{name}"] = encode_image(_gray(image) if gray else image)
            boxes.append(f"{name}\t0\t0\t63\t63\n")
        members[f"{f}/train/{wnid}/{wnid}_boxes.txt"] = "".join(boxes).encode()
    x, y = synthetic_images(wnids * val_per_class, wnids, rng, size=64)
    members[f"{f}/val"] = None
    members[f"{f}/val/images"] = None
    notes = []
    for i, (image, c) in enumerate(zip(x, y, strict=True)):
        members[f"{f}/val/images/val_{i}.JPEG"] = encode_image(_gray(image) if i == 0 else image)
        notes.append(f"val_{i}.JPEG\t{classes[c]}\t0\t0\t63\t63\n")
    members[f"{f}/val/val_annotations.txt"] = "".join(notes).encode()
    members[f"{f}/test"] = None
    members[f"{f}/test/images"] = None
    x, _ = synthetic_images(test_images, wnids, rng, size=64)
    for i, image in enumerate(x):
        members[f"{f}/test/images/test_{i}.JPEG"] = encode_image(image)
    write_archive(path, members)
    return {rel: bytes_md5(members[f"{f}/{rel}"]) for rel in _TEXT}


def _gray(image: np.ndarray) -> np.ndarray:
    return image.mean(axis=2).astype(np.uint8)  # saved as a PIL mode-L JPEG, like ~2% of the real images
