"""Image-folder datasets: ``train/<class>/*.{png,jpg,jpeg}`` and ``test/<class>/...``.

The tree may be a plain directory or a tar / tar.gz / tar.xz / zip archive, with ``train/`` and
``test/`` at the top or under one wrapping folder. Files are read straight from the archive (same
member checks as extraction, nothing written to disk) and decoded with PIL to RGB. Class index =
position in the sorted class-folder names (torchvision ImageFolder's convention); images within a
class in sorted file-name order. Hidden files and folders (``.*``, ``__MACOSX``) are ignored.
Anything else that does not fit the layout (an empty class folder, a non-image file, a file outside
a class folder, images of different sizes) is a DataError naming the file and the fix.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .archives import DataError, bytes_md5, check_md5s, iter_files, write_archive
from .cifar import synthetic_images
from .images import decode_images, encode_image
from .prepared import Split

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
SPLITS = ("train", "test")


def _hidden(parts: list[str]) -> bool:
    return any(p.startswith(".") or p == "__MACOSX" for p in parts)


def find_root(names: list[str], source: Path) -> str:
    """The folder prefix ("" or "top/") under which ``train/`` lies."""
    tops = {n.split("/", 1)[0] for n in names}
    if "train" in tops:
        return ""
    wrapped = {n.split("/", 2)[0] for n in names if n.count("/") >= 1 and n.split("/", 2)[1] == "train"}
    if len(wrapped) == 1:
        return wrapped.pop() + "/"
    raise DataError(
        f"{source.name}: no train/ folder found; the data must hold train/<class>/<image> and test/<class>/<image>, "
        "at the top or under one folder"
    )


def read_image_folder(
    source: Path, file_md5s: dict[str, str] | None = None, folder: str | None = None
) -> tuple[dict[str, Split], dict]:
    """Read an image-folder tree (directory or archive) into train/test splits and a manifest.

    ``folder``: the wrapping folder ("" for none); None = detect. ``file_md5s``: optional md5s of
    files (relative to the root) to check, e.g. a fixture's.
    """

    def wanted(name: str) -> bool:  # only files under [top/]train or [top/]test
        parts = name.split("/")
        return not _hidden(parts) and bool(set(parts[:2]) & set(SPLITS))

    entries = [(n, b) for n, b in iter_files(source, wanted, dirs=True) if not _hidden(n.split("/"))]
    root = find_root([n for n, _ in entries], source) if folder is None else (folder + "/" if folder else "")
    files: dict[str, dict[str, list[tuple[str, bytes]]]] = {s: {} for s in SPLITS}
    for name, blob in entries:
        if not name.startswith(root):
            continue
        parts = name[len(root) :].split("/")
        if parts[0] not in SPLITS:
            continue
        where = f"{source.name}:{name}"
        if blob is None:  # a directory
            if len(parts) == 2:
                files[parts[0]].setdefault(parts[1], [])
            elif len(parts) > 2:
                raise DataError(f"{where}: nested folder; put the images directly in {parts[0]}/<class>/")
            continue
        if len(parts) != 3:
            fix = (
                f"move it into {parts[0]}/<class>/"
                if len(parts) == 2
                else f"put images directly in {parts[0]}/<class>/"
            )
            raise DataError(f"{where}: file outside a class folder; {fix}")
        if not parts[2].lower().endswith(IMAGE_SUFFIXES):
            raise DataError(f"{where}: not an image (expected .png, .jpg or .jpeg); remove it or convert it")
        files[parts[0]].setdefault(parts[1], []).append((name, blob))
    for split in SPLITS:
        if not files[split]:
            raise DataError(f"{source.name}: no {root}{split}/<class>/ folders; add the {split} images")
        for cls, items in files[split].items():
            if not items:
                raise DataError(f"{source.name}:{root}{split}/{cls}: empty class folder; add images or delete it")
    classes = sorted(files["train"])
    extra = sorted(set(files["test"]) - set(classes))
    if extra:
        raise DataError(f"{source.name}:{root}test/{extra[0]}: class missing from train/; add its training images")
    if file_md5s:
        blobs = {n[len(root) :]: b for split in files.values() for items in split.values() for n, b in items}
        check_md5s(blobs, file_md5s, f"{source.name}:{root}")
    splits, gray = {}, {}
    for split in SPLITS:
        items, labels = [], []
        for index, cls in enumerate(classes):
            chosen = sorted(files[split].get(cls, []))
            items += chosen
            labels += [index] * len(chosen)
        x, gray[split] = decode_images(items)
        splits[split] = Split(x, np.asarray(labels, dtype=np.int64))
    shapes = {split: s.x.shape[1:] for split, s in splits.items()}
    if shapes["train"] != shapes["test"]:
        raise DataError(f"{source.name}: train images are {shapes['train']} but test images {shapes['test']}; resize")
    manifest = {
        "classes": classes,
        "class_order": "sorted folder names",
        "layout": f"image folder ({root or 'no wrapping folder'})",
        "grayscale_images": gray,
    }
    return splits, manifest


def probe_image_folder(source: Path) -> tuple[list[str], int]:
    """Class names and image size of an image-folder tree, from the listing and one decoded image."""
    names: list[str] = []
    first: list[tuple[str, bytes]] = []

    def wanted(name: str) -> bool:  # records every name; reads only the first training image
        names.append(name)
        parts = name.split("/")
        return not first and not _hidden(parts) and "train" in parts[-4:-2] and name.lower().endswith(IMAGE_SUFFIXES)

    for name, blob in iter_files(source, wanted, dirs=True):
        if blob is not None:
            first.append((name, blob))
        else:
            names.append(name)
    names = [n for n in names if not _hidden(n.split("/"))]
    root = find_root(names, source)
    classes = sorted({n[len(root) :].split("/")[1] for n in names if n.startswith(root + "train/")})
    if not classes or not first:
        raise DataError(f"{source.name}: no images under {root}train/<class>/; check the path")
    x, _ = decode_images(first)
    return classes, int(x.shape[1])


def make_image_folder_archive(
    path: Path,
    classes: list[str] | tuple[str, ...] = ("circle", "square", "stripe"),
    train_per_class: int = 20,
    test_per_class: int = 5,
    size: int = 32,
    fmt: str = "JPEG",
    top: str = "",
    seed: int = 0,
) -> dict[str, str]:
    """Write a small image-folder archive (tar/tar.gz/tar.xz/zip by suffix); return its files' md5s.

    Layout as the shared CIFAR-10 JPEG copy: ``[top/]train/<class>/NNNN.jpg`` (JPEG quality 75) or
    ``.png``, directory entries included, deterministic bytes; images carry a learnable signal.
    """
    rng = np.random.default_rng(seed)
    ext = "jpg" if fmt.upper() in ("JPEG", "JPG") else "png"
    prefix = f"{top}/" if top else ""
    members: dict[str, bytes | None] = {}
    if top:
        members[top] = None
    md5s = {}
    for split, per_class in (("train", train_per_class), ("test", test_per_class)):
        members[f"{prefix}{split}"] = None
        x, y = synthetic_images(per_class * len(classes), len(classes), rng, size=size)
        for index, cls in enumerate(classes):
            members[f"{prefix}{split}/{cls}"] = None
            for i, image in enumerate(x[y == index]):
                blob = encode_image(image, fmt)
                members[f"{prefix}{split}/{cls}/{i:04d}.{ext}"] = blob
                md5s[f"{split}/{cls}/{i:04d}.{ext}"] = bytes_md5(blob)
    write_archive(path, members)
    return md5s
