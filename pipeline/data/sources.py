"""Dataset sources: where each dataset comes from and how it becomes the prepared form.

``fetch`` is the one entry point: in the ``full`` profile it takes the official archive (a local
copy, or a download checked against the official digest), in the ``smoke`` profile it generates a
small archive in exactly the official format; both then run the same verify/extract/parse code.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from torchvision.datasets.utils import download_url

from .archives import DataError, file_digest, safe_extract, verify_archive
from .cifar import make_cifar10_archive, parse_cifar10
from .prepared import Split, read_manifest, write_prepared


@dataclass(frozen=True)
class DatasetSource:
    name: str
    title: str
    filename: str  # official archive file name
    url: str
    digest: str  # official archive digest
    folder: str  # top folder inside the archive
    num_classes: int
    image_size: int
    parse: Callable[[Path, dict | None], tuple[dict[str, Split], dict]]
    make_fixture: Callable[[Path], dict[str, str]]  # writes a smoke archive, returns member md5s
    algorithm: str = "md5"


DATASETS: dict[str, DatasetSource] = {}


def register_dataset(source: DatasetSource) -> DatasetSource:
    if source.name in DATASETS:
        raise ValueError(f"dataset {source.name!r} is already registered")
    DATASETS[source.name] = source
    return source


register_dataset(
    DatasetSource(
        name="cifar10",
        title="CIFAR-10 (official python version)",
        filename="cifar-10-python.tar.gz",
        url="https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
        digest="c58f30108f718f92721af3b95e74349a",
        folder="cifar-10-batches-py",
        num_classes=10,
        image_size=32,
        parse=parse_cifar10,
        make_fixture=make_cifar10_archive,
    )
)


def dataset_source(name: str) -> DatasetSource:
    if name not in DATASETS:
        import difflib

        close = difflib.get_close_matches(name, DATASETS, n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise DataError(f"unknown dataset {name!r}.{hint} Known: {', '.join(sorted(DATASETS))}")
    return DATASETS[name]


def _obtain_archive(src: DatasetSource, raw_dir: Path, archive: Path | None, mirrors: list[str]) -> Path:
    """A local archive if given or already downloaded, else a download from the URL or a mirror."""
    if archive is not None:
        if not archive.is_file():
            raise DataError(
                f"archive {archive} not found; check the path given to --archive or fetch.{src.name}.archive"
            )
        return archive
    target = raw_dir / src.filename
    if target.is_file():
        return target
    errors = []
    for url in [src.url, *mirrors]:
        try:
            download_url(url, str(raw_dir), src.filename, md5=src.digest if src.algorithm == "md5" else None)
            return target
        except Exception as exc:  # network failures come in many types
            errors.append(f"{url}: {exc}")
            target.unlink(missing_ok=True)
    raise DataError(
        f"could not download {src.filename} ({'; '.join(errors)}); download it by hand and pass --archive PATH"
    )


def fetch(
    name: str,
    data_root: Path,
    profile: str = "full",
    archive: Path | None = None,
    mirrors: list[str] | None = None,
) -> tuple[Path, dict]:
    """Produce ``data_root/prepared/<name>`` and return it with its manifest."""
    src = dataset_source(name)
    raw_dir = data_root / "raw" / ("smoke" if profile == "smoke" else "")
    raw_dir.mkdir(parents=True, exist_ok=True)
    if profile == "smoke":
        archive = raw_dir / src.filename
        member_md5s = src.make_fixture(archive)
        expected = file_digest(archive, src.algorithm)  # the fixture's own digest, then the same checks
    else:
        archive = _obtain_archive(src, raw_dir, archive, mirrors or [])
        member_md5s, expected = None, src.digest
    digest = verify_archive(archive, expected, src.algorithm)
    extracted = safe_extract(archive, raw_dir / f".{name}-extracted")
    try:
        splits, manifest = src.parse(extracted / src.folder, member_md5s)
    finally:
        shutil.rmtree(extracted, ignore_errors=True)
    manifest = {
        "dataset": name,
        "title": src.title,
        "profile": profile,
        "archive": archive.name,
        f"archive_{src.algorithm}": digest,
        "synthetic": profile == "smoke",
        **manifest,
    }
    out = write_prepared(data_root / "prepared" / name, splits, manifest)
    return out, read_manifest(out)
