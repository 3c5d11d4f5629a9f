"""Archive integrity, safe extraction and safe in-memory reading.

Integrity: ``hashlib`` digests of files, in-memory members and directory trees (one code path for
md5 and sha256; the md5 equals torchvision's ``calculate_md5``). Extraction refuses any member that
could escape the target (absolute path, ``..``, links, devices) and extracts into a temporary
sibling that is renamed into place only when complete, so a failed extraction leaves nothing behind.
``iter_files`` reads the regular files of a directory, tar or zip into memory under the same member
checks (for archives of many small images, where writing tens of thousands of files to disk first
would dominate the time).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import lzma
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path, PurePosixPath

from ..errors import ReproError
from ..files import atomic_dir


class DataError(ReproError, RuntimeError):
    """A dataset problem the user can fix; the message is one line naming problem and fix."""


# what a damaged or non-archive file raises while tarfile reads it
_TAR_ERRORS = (tarfile.TarError, EOFError, OSError, zlib.error, lzma.LZMAError)


def file_digest(path: Path, algorithm: str) -> str:
    digest = hashlib.new(algorithm, usedforsecurity=False)
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def tree_digest(folder: Path, algorithm: str = "sha256") -> str:
    """Digest of a directory tree: every regular file's relative path and content, in sorted order."""
    digest = hashlib.new(algorithm, usedforsecurity=False)
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
        digest.update(file_digest(path, algorithm).encode() + b"\n")
    return digest.hexdigest()


def bytes_md5(blob: bytes) -> str:
    return hashlib.md5(blob, usedforsecurity=False).hexdigest()


def check_md5s(blobs: Mapping[str, bytes], md5s: Mapping[str, str], where: str) -> None:
    """DataError unless each name in ``md5s`` is in ``blobs`` with that md5; ``where`` prefixes the name."""
    for rel, expected in md5s.items():
        if rel not in blobs or bytes_md5(blobs[rel]) != expected:
            raise DataError(f"{where}{rel}: missing or md5 mismatch (expected {expected}); fetch it again")


def source_digest(path: Path, algorithm: str) -> str:
    """``file_digest`` of an archive, ``tree_digest`` of a plain directory."""
    return tree_digest(path, algorithm) if path.is_dir() else file_digest(path, algorithm)


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


def _check_tar_member(m: tarfile.TarInfo, archive: Path) -> None:
    _check_member_name(m.name, archive)
    if not (m.isfile() or m.isdir()):
        raise DataError(f"{archive.name}: refusing member {m.name!r} (links and devices are not allowed)")


def _safe_members_tar(tf: tarfile.TarFile, archive: Path) -> list[tarfile.TarInfo]:
    members = tf.getmembers()
    for m in members:
        _check_tar_member(m, archive)
    return members


def _safe_members_zip(zf: zipfile.ZipFile, archive: Path) -> list[zipfile.ZipInfo]:
    members = zf.infolist()
    for m in members:
        _check_member_name(m.filename, archive)
        mode = (m.external_attr >> 16) & 0o170000
        if mode == 0o120000:  # S_IFLNK stored by Unix zip tools
            raise DataError(f"{archive.name}: refusing member {m.filename!r} (symlinks are not allowed)")
        if mode not in (0, 0o100000, 0o040000):  # only unset, regular file or directory
            raise DataError(f"{archive.name}: refusing member {m.filename!r} (devices and pipes are not allowed)")
    return members


def safe_extract(archive: Path, target: Path) -> Path:
    """Extract ``archive`` (tar, tar.gz, tar.xz or zip) to ``target`` atomically."""
    with atomic_dir(target) as tmp:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                zf.extractall(tmp, members=_safe_members_zip(zf, archive))
        else:
            try:
                with tarfile.open(archive) as tf:
                    tf.extractall(tmp, members=_safe_members_tar(tf, archive), filter="data")
            except _TAR_ERRORS as exc:
                raise DataError(f"{archive.name}: cannot read archive ({exc}); fetch it again") from exc
    return target


def iter_files(
    source: Path, wanted: Callable[[str], bool] = lambda name: True, dirs: bool = False
) -> Iterator[tuple[str, bytes | None]]:
    """Yield ``(posix relative name, bytes)`` for the regular files of a directory, tar or zip.

    Members are checked as in ``safe_extract`` (a bad one raises DataError; nothing is written to
    disk). Only files for which ``wanted(name)`` is true are read; with ``dirs``, directories are
    yielded too, as ``(name, None)``. Tar members come in archive order (one streaming pass), zip
    members in central-directory order, a directory's entries sorted.
    """
    if source.is_dir():
        for path in sorted(source.rglob("*")):
            name = path.relative_to(source).as_posix()
            if path.is_symlink():
                raise DataError(f"{source.name}: refusing {name!r} (symlinks are not allowed); copy the file instead")
            if path.is_dir():
                if dirs:
                    yield name, None
            elif path.is_file() and wanted(name):
                yield name, path.read_bytes()
        return
    if zipfile.is_zipfile(source):
        with zipfile.ZipFile(source) as zf:
            for m in _safe_members_zip(zf, source):
                name = PurePosixPath(m.filename).as_posix()  # "./a/b/" -> "a/b"
                if m.is_dir():
                    if dirs:
                        yield name, None
                elif wanted(name):
                    yield name, zf.read(m)
        return
    try:
        with tarfile.open(source) as tf:
            for m in tf:  # streaming: each member is checked before it is read
                _check_tar_member(m, source)
                name = PurePosixPath(m.name).as_posix()
                if m.isdir():
                    if dirs and name != ".":
                        yield name, None
                elif wanted(name):
                    yield name, tf.extractfile(m).read()
    except _TAR_ERRORS as exc:
        raise DataError(f"{source.name}: cannot read archive ({exc}); fetch it again") from exc


def write_archive(path: Path, members: dict[str, bytes | None], mtime: int = 1577836800) -> Path:
    """Write a deterministic tar / tar.gz / tar.xz / zip (by suffix); ``None`` marks a directory.

    Fixed tar ``mtime`` (default 2020-01-01; zip entries always 2020-01-01), uid/gid 0, members in
    the given order: the same members give the same bytes, so a fixture's digest is stable.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    name = path.name.lower()
    if name.endswith(".zip"):
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
            for member, blob in members.items():
                info = zipfile.ZipInfo(member + "/" if blob is None else member, date_time=(2020, 1, 1, 0, 0, 0))
                info.external_attr = ((0o040755 if blob is None else 0o100644) << 16) | (0x10 if blob is None else 0)
                info.compress_type = zipfile.ZIP_STORED if blob is None else zipfile.ZIP_DEFLATED
                zf.writestr(info, b"" if blob is None else blob)
        return path
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as tf:
        for member, blob in members.items():
            info = tarfile.TarInfo(member)
            info.mtime, info.uid, info.gid = mtime, 0, 0
            if blob is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tf.addfile(info)
            else:
                info.size, info.mode = len(blob), 0o644
                tf.addfile(info, io.BytesIO(blob))
    data = raw.getvalue()
    if name.endswith((".tar.gz", ".tgz")):
        with open(path, "wb") as fh, gzip.GzipFile(fileobj=fh, mode="wb", mtime=0, filename="") as gz:
            gz.write(data)
    elif name.endswith(".tar.xz"):
        path.write_bytes(lzma.compress(data, format=lzma.FORMAT_XZ, preset=6))
    elif name.endswith(".tar"):
        path.write_bytes(data)
    else:
        raise ValueError(f"{path}: unknown archive type; use .tar, .tar.gz, .tgz, .tar.xz or .zip")
    return path
