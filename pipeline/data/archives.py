"""Archive integrity and safe extraction.

Integrity uses torchvision's helpers; extraction refuses any member that could escape the target
(absolute path, ``..``, links, devices) and extracts into a temporary sibling that is renamed into
place only when complete, so a failed extraction leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import shutil
import tarfile
import tempfile
import zipfile
from pathlib import Path, PurePosixPath

from torchvision.datasets.utils import calculate_md5


class DataError(RuntimeError):
    """A dataset problem the user can fix; the message is one line naming problem and fix."""


def file_digest(path: Path, algorithm: str) -> str:
    if algorithm == "md5":
        return calculate_md5(str(path))
    digest = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_archive(path: Path, expected: str, algorithm: str = "md5") -> str:
    """Return the digest; raise DataError naming expected and actual digests on mismatch."""
    if not path.is_file():
        raise DataError(f"archive {path} not found; download it or pass --archive PATH")
    actual = file_digest(path, algorithm)
    if actual != expected:
        raise DataError(
            f"{path.name}: {algorithm} mismatch (expected {expected}, got {actual}); "
            "the file is corrupt or not the official archive: delete it and fetch again"
        )
    return actual


def _check_member_name(name: str, archive: Path) -> None:
    p = PurePosixPath(name.replace("\\", "/"))
    if p.is_absolute() or ".." in p.parts or (p.parts and ":" in p.parts[0]):
        raise DataError(f"{archive.name}: refusing member {name!r} (path escapes the target folder)")


def _safe_members_tar(tf: tarfile.TarFile, archive: Path) -> list[tarfile.TarInfo]:
    members = tf.getmembers()
    for m in members:
        _check_member_name(m.name, archive)
        if not (m.isfile() or m.isdir()):
            raise DataError(f"{archive.name}: refusing member {m.name!r} (links and devices are not allowed)")
    return members


def _safe_members_zip(zf: zipfile.ZipFile, archive: Path) -> list[zipfile.ZipInfo]:
    members = zf.infolist()
    for m in members:
        _check_member_name(m.filename, archive)
        mode = (m.external_attr >> 16) & 0o170000
        if mode == 0o120000:  # S_IFLNK stored by Unix zip tools
            raise DataError(f"{archive.name}: refusing member {m.filename!r} (symlinks are not allowed)")
    return members


def safe_extract(archive: Path, target: Path) -> Path:
    """Extract ``archive`` (tar, tar.gz, tar.xz or zip) to ``target`` atomically."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                zf.extractall(tmp, members=_safe_members_zip(zf, archive))
        else:
            try:
                with tarfile.open(archive) as tf:
                    tf.extractall(tmp, members=_safe_members_tar(tf, archive), filter="data")
            except (tarfile.TarError, EOFError, OSError) as exc:
                raise DataError(f"{archive.name}: cannot read archive ({exc}); fetch it again") from exc
        if target.exists():
            shutil.rmtree(target)
        tmp.rename(target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target
