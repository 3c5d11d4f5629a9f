"""CIFAR-10: official-format fixture, integrity, safe extraction, restricted unpickling."""

import io
import pickle
import tarfile

import numpy as np
import pytest

from pipeline.data import DataError, fetch, load_split
from pipeline.data import sources as sources_mod
from pipeline.data.archives import file_digest, safe_extract, verify_archive
from pipeline.data.cifar import CIFAR10_CLASSES, parse_cifar10
from pipeline.data.pickles import load_pickle


def test_fixture_has_the_official_layout(cifar_fixture, tmp_path):
    archive, md5s = cifar_fixture
    with tarfile.open(archive) as tf:
        names = tf.getnames()
    assert names[0] == "cifar-10-batches-py"
    expected = {f"data_batch_{i}" for i in range(1, 6)} | {"test_batch", "batches.meta", "readme.html"}
    assert {n.split("/", 1)[1] for n in names[1:]} == expected
    out = safe_extract(archive, tmp_path / "x")
    batch = load_pickle(out / "cifar-10-batches-py" / "data_batch_1")
    assert list(batch) == ["batch_label", "labels", "data", "filenames"]
    assert batch["data"].dtype == np.uint8 and batch["data"].shape == (20, 3072)
    assert batch["batch_label"] == "training batch 1 of 5"
    with open(out / "cifar-10-batches-py" / "data_batch_1", "rb") as fh:
        assert fh.read(2) == b"\x80\x02"  # protocol 2, like the real files


def test_parse_gives_nhwc_uint8_and_class_names(cifar_fixture, tmp_path):
    archive, md5s = cifar_fixture
    out = safe_extract(archive, tmp_path / "x")
    splits, manifest = parse_cifar10(out / "cifar-10-batches-py", md5s)
    assert splits["train"].x.shape == (100, 32, 32, 3) and splits["train"].x.dtype == np.uint8
    assert splits["test"].x.shape == (30, 32, 32, 3)
    assert splits["train"].y.dtype == np.int64
    assert manifest["classes"] == CIFAR10_CLASSES
    # channel planes were transposed, not scrambled: row 0 of the raw R plane is pixel row 0, channel 0
    raw = load_pickle(out / "cifar-10-batches-py" / "data_batch_1")["data"][0]
    np.testing.assert_array_equal(splits["train"].x[0, 0, :, 0], raw[:32])
    np.testing.assert_array_equal(splits["train"].x[0, 0, :, 2], raw[2048:2080])


def test_parse_rejects_a_member_with_the_wrong_md5(cifar_fixture, tmp_path):
    archive, md5s = cifar_fixture
    out = safe_extract(archive, tmp_path / "x")
    with pytest.raises(DataError, match="md5 mismatch"):
        parse_cifar10(out / "cifar-10-batches-py", {**md5s, "test_batch": "0" * 32})


def test_flipped_byte_fails_with_expected_and_actual_md5(cifar_fixture):
    archive, _ = cifar_fixture
    good = file_digest(archive, "md5")
    blob = bytearray(archive.read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    archive.write_bytes(bytes(blob))
    with pytest.raises(DataError) as info:
        verify_archive(archive, good)
    msg = str(info.value)
    assert good in msg and file_digest(archive, "md5") in msg and "\n" not in msg


def _tar_with(tmp_path, member: tarfile.TarInfo, payload: bytes = b"x"):
    path = tmp_path / "evil.tar.gz"
    with tarfile.open(path, "w:gz") as tf:
        ok = tarfile.TarInfo("fine.txt")
        ok.size = 1
        tf.addfile(ok, io.BytesIO(b"y"))
        tf.addfile(member, io.BytesIO(payload) if member.isfile() else None)
    return path


@pytest.mark.parametrize("kind", ["parent", "absolute", "symlink", "hardlink"])
def test_unsafe_tar_members_are_refused_and_nothing_is_extracted(tmp_path, kind):
    if kind == "parent":
        m = tarfile.TarInfo("../x")
        m.size = 1
    elif kind == "absolute":
        m = tarfile.TarInfo("/tmp/x")
        m.size = 1
    else:
        m = tarfile.TarInfo("link")
        m.type = tarfile.SYMTYPE if kind == "symlink" else tarfile.LNKTYPE
        m.linkname = "/etc/passwd"
    archive = _tar_with(tmp_path, m)
    target = tmp_path / "out"
    with pytest.raises(DataError, match="refusing member"):
        safe_extract(archive, target)
    assert not target.exists()
    assert not (tmp_path / "x").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["evil.tar.gz"]  # no temporary folder left


def test_a_pickle_that_would_run_code_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            import os

            return (os.system, ("echo pwned > " + str(tmp_path / "pwned"),))

    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps({"data": Evil()}, protocol=2))
    with pytest.raises(DataError, match="not allowed"):
        load_pickle(path)
    assert not (tmp_path / "pwned").exists()


def test_smoke_fetch_runs_the_official_path(tmp_path):
    out, manifest = fetch("cifar10", tmp_path / "data", profile="smoke")
    assert manifest["synthetic"] is True
    assert manifest["splits"]["train"]["images"] == 200 and manifest["splits"]["test"]["images"] == 100
    assert sum(manifest["splits"]["train"]["per_class"]) == 200
    split = load_split(out, "train")
    assert split.x.shape == (200, 32, 32, 3)
    assert not any(p.name.startswith(".") for p in (tmp_path / "data" / "prepared").iterdir())


def test_full_fetch_of_a_local_archive_checks_the_official_md5(cifar_fixture, tmp_path, monkeypatch):
    archive, md5s = cifar_fixture
    with pytest.raises(DataError, match="c58f30108f718f92721af3b95e74349a"):
        fetch("cifar10", tmp_path / "data", archive=archive)
    assert not (tmp_path / "data" / "prepared").exists()
    # the same archive accepted when its digest is the expected one
    src = sources_mod.DATASETS["cifar10"]
    patched = sources_mod.DatasetSource(
        **{**src.__dict__, "digest": file_digest(archive, "md5"), "parse": lambda d, _: parse_cifar10(d, md5s)}
    )
    monkeypatch.setitem(sources_mod.DATASETS, "cifar10", patched)
    out, manifest = fetch("cifar10", tmp_path / "data", archive=archive)
    assert manifest["archive_md5"] == file_digest(archive, "md5") and manifest["synthetic"] is False
