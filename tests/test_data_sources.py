"""CIFAR-100, Tiny ImageNet-200 and image-folder sources: official-layout fixtures, integrity, safe
reading, label noise, validation splits, and an end-to-end run on real handwritten digits."""

import hashlib
import io
import pickle
import shutil
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from pipeline.data import DataError, corrupt_labels, fetch, load_split, split_validation
from pipeline.data import sources as sources_mod
from pipeline.data.archives import file_digest, iter_files, safe_extract, tree_digest, write_archive
from pipeline.data.cifar import (
    CIFAR100_CLASSES,
    CIFAR100_FINE_TO_COARSE,
    CIFAR100_SUPERCLASSES,
    make_cifar100_archive,
    parse_cifar100,
)
from pipeline.data.imagefolder import make_image_folder_archive, read_image_folder
from pipeline.data.images import encode_image
from pipeline.data.loader import DeviceLoader, Normalize, normalizer
from pipeline.data.noise import noise_matrix
from pipeline.data.pickles import load_pickle
from pipeline.data.prepared import Split
from pipeline.data.tinyimagenet import make_tinyimagenet_zip, read_tinyimagenet

SHARED_JPEG = Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar10-jpeg.tar.xz"


def _leftovers(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.name.startswith("."))


# ---------------------------------------------------------------- CIFAR-100


@pytest.fixture
def c100(tmp_path):
    path = tmp_path / "cifar-100-python.tar.gz"
    return path, make_cifar100_archive(path, train_per_class=2, test_per_class=1)


def test_cifar100_fixture_has_the_official_layout(c100, tmp_path):
    archive, md5s = c100
    with tarfile.open(archive) as tf:
        assert tf.getnames() == [f"cifar-100-python{s}" for s in ("", "/file.txt~", "/train", "/test", "/meta")]
    out = safe_extract(archive, tmp_path / "x") / "cifar-100-python"
    assert (out / "file.txt~").stat().st_size == 0
    train = load_pickle(out / "train")
    assert list(train) == ["filenames", "batch_label", "fine_labels", "coarse_labels", "data"]
    assert train["batch_label"] == "training batch 1 of 1"
    assert train["data"].dtype == np.uint8 and train["data"].shape == (200, 3072)
    assert len(set(train["filenames"])) == 199  # one duplicated file name, as in the real data
    meta = load_pickle(out / "meta")
    assert list(meta) == ["fine_label_names", "coarse_label_names"]
    assert (out / "train").read_bytes()[:2] == b"\x80\x02"
    assert make_cifar100_archive(tmp_path / "again.tar.gz", 2, 1) == md5s  # deterministic
    assert file_digest(tmp_path / "again.tar.gz", "md5") == file_digest(archive, "md5")


def test_cifar100_keeps_fine_and_coarse_labels_and_every_duplicate(c100, tmp_path):
    archive, md5s = c100
    splits, manifest = parse_cifar100(safe_extract(archive, tmp_path / "x") / "cifar-100-python", md5s)
    train = splits["train"]
    assert train.x.shape == (200, 32, 32, 3) and len(splits["test"]) == 100
    assert manifest["classes"] == CIFAR100_CLASSES and manifest["coarse_classes"] == CIFAR100_SUPERCLASSES
    assert manifest["fine_to_coarse"] == CIFAR100_FINE_TO_COARSE
    np.testing.assert_array_equal(train.extras["coarse"], np.asarray(CIFAR100_FINE_TO_COARSE)[train.y])
    (name, (i, j)) = next(iter(manifest["duplicate_filenames"]["train"].items()))
    assert i == 0 and j == 199 and not np.array_equal(train.x[i], train.x[j])  # both images kept


def test_cifar100_fetch_writes_coarse_labels(tmp_path):
    out, manifest = fetch("cifar100", tmp_path / "data", profile="smoke")
    assert manifest["extras"] == ["coarse"] and manifest["splits"]["train"]["per_class"] == [5] * 100
    split = load_split(out, "test")
    assert split.extras["coarse"].dtype == np.int64 and len(split.extras["coarse"]) == 200
    assert (out / "train_coarse.npy").is_file()


def test_md5_mismatch_is_a_clear_error_and_leaves_nothing(c100, tmp_path):
    archive, _ = c100
    data = tmp_path / "data"
    with pytest.raises(DataError) as info:
        fetch("cifar100", data, archive=archive)
    msg = str(info.value)
    assert "eb9058c3a382ffc7106e4002c42a8d85" in msg and file_digest(archive, "md5") in msg and "\n" not in msg
    assert not (data / "prepared").exists() and _leftovers(data) == []


def test_member_md5_mismatch_after_extraction_leaves_nothing(c100, tmp_path, monkeypatch):
    archive, md5s = c100
    src = sources_mod.DATASETS["cifar100"]
    patched = sources_mod.DatasetSource(
        **{
            **src.__dict__,
            "digest": file_digest(archive, "md5"),
            "parse": lambda d, _: parse_cifar100(d, {**md5s, "meta": "0" * 32}),
        }
    )
    monkeypatch.setitem(sources_mod.DATASETS, "cifar100", patched)
    with pytest.raises(DataError, match="md5 mismatch"):
        fetch("cifar100", tmp_path / "data", archive=archive)
    assert not (tmp_path / "data" / "prepared").exists() and _leftovers(tmp_path / "data") == []


def test_a_cifar100_pickle_that_would_run_code_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            import os

            return (os.system, (f"touch {tmp_path / 'pwned'}",))

    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    (folder / "meta").write_bytes(pickle.dumps({"fine_label_names": [], "coarse_label_names": []}, protocol=2))
    (folder / "train").write_bytes(pickle.dumps({"data": Evil()}, protocol=2))
    (folder / "test").write_bytes(b"")
    md5s = {n: hashlib.md5((folder / n).read_bytes()).hexdigest() for n in ("train", "test", "meta")}
    with pytest.raises(DataError, match="not allowed"):
        parse_cifar100(folder, md5s)
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize("name", ["cifar100", "tinyimagenet", "cifar10-jpeg"])
def test_full_fetch_of_a_local_archive_with_the_registered_digest(tmp_path, monkeypatch, name):
    src = sources_mod.DATASETS[name]
    archive = tmp_path / src.filename
    md5s = src.make_fixture(archive)
    changes = {"digest": file_digest(archive, src.algorithm)}
    if name == "cifar100":  # members are checked against the official md5s unless told the fixture's
        changes["parse"] = lambda folder, _: parse_cifar100(folder, md5s)
    patched = sources_mod.DatasetSource(**{**src.__dict__, **changes})
    monkeypatch.setitem(sources_mod.DATASETS, name, patched)
    out, manifest = fetch(name, tmp_path / "data", archive=archive)
    assert manifest["synthetic"] is False and manifest[f"archive_{src.algorithm}"] == patched.digest
    assert load_split(out, "train").x.shape[1:] == (src.image_size, src.image_size, 3)
    assert len(manifest["classes"]) == src.num_classes and _leftovers(tmp_path / "data") == []


def test_fixtures_are_deterministic_and_fetch_is_idempotent(tmp_path):
    for make, name in (
        (make_tinyimagenet_zip, "t.zip"),
        (lambda p: make_image_folder_archive(p, ("a", "b"), 3, 1), "f.tar.xz"),
    ):
        make(tmp_path / f"1{name}")
        make(tmp_path / f"2{name}")
        assert file_digest(tmp_path / f"1{name}", "md5") == file_digest(tmp_path / f"2{name}", "md5")
    out, first = fetch("cifar100", tmp_path / "data", profile="smoke")
    x = np.load(out / "train_x.npy")
    out, second = fetch("cifar100", tmp_path / "data", profile="smoke")
    assert first == second and np.array_equal(x, np.load(out / "train_x.npy"))
    assert _leftovers(tmp_path / "data") == []


# ---------------------------------------------------------------- safe archive reading


def _evil_zip(path: Path, kind: str) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("train/a/ok.png", b"x")
        if kind == "parent":
            zf.writestr("../escape.txt", b"x")
        elif kind == "absolute":
            zf.writestr("/tmp/escape.txt", b"x")
        else:
            info = zipfile.ZipInfo("train/a/link.png")
            info.external_attr = 0o120777 << 16  # a Unix symlink
            zf.writestr(info, "/etc/passwd")
    return path


@pytest.mark.parametrize("kind", ["parent", "absolute", "symlink"])
def test_unsafe_zip_members_are_refused_by_extraction_and_reading(tmp_path, kind):
    archive = _evil_zip(tmp_path / "evil.zip", kind)
    with pytest.raises(DataError, match="refusing member"):
        safe_extract(archive, tmp_path / "out")
    with pytest.raises(DataError, match="refusing member"):
        list(iter_files(archive))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["evil.zip"]  # nothing extracted, no temporary folder


@pytest.mark.parametrize("kind", ["parent", "absolute", "symlink"])
def test_unsafe_tar_members_are_refused_while_streaming(tmp_path, kind):
    path = tmp_path / "evil.tar.xz"
    with tarfile.open(path, "w:xz") as tf:
        m = tarfile.TarInfo({"parent": "train/../../x.png", "absolute": "/train/a/x.png"}.get(kind, "train/a/l.png"))
        if kind == "symlink":
            m.type, m.linkname = tarfile.SYMTYPE, "/etc/passwd"
            tf.addfile(m)
        else:
            m.size = 1
            tf.addfile(m, io.BytesIO(b"x"))
    with pytest.raises(DataError, match="refusing member"):
        read_image_folder(path)


def test_a_symlink_in_a_plain_directory_is_refused(tmp_path):
    (tmp_path / "d" / "train" / "a").mkdir(parents=True)
    (tmp_path / "d" / "train" / "a" / "x.png").symlink_to("/etc/passwd")
    with pytest.raises(DataError, match="symlinks are not allowed"):
        read_image_folder(tmp_path / "d")


# ---------------------------------------------------------------- Tiny ImageNet


@pytest.fixture
def tin(tmp_path):
    path = tmp_path / "tiny-imagenet-200.zip"
    return path, make_tinyimagenet_zip(path, wnids=4, train_per_class=3, val_per_class=2, test_images=3)


def test_tinyimagenet_fixture_has_the_official_layout(tin):
    archive, _ = tin
    with zipfile.ZipFile(archive) as zf:
        names = set(zf.namelist())
        wnids = zf.read("tiny-imagenet-200/wnids.txt").decode().split()
        words = zf.read("tiny-imagenet-200/words.txt").decode()
        annotations = zf.read("tiny-imagenet-200/val/val_annotations.txt").decode().splitlines()
    assert wnids != sorted(wnids) and len(wnids) == 4
    assert len(words.splitlines()) == 9 and not words.endswith("\n")  # extra wnids, no trailing newline
    assert f"tiny-imagenet-200/train/{wnids[0]}/images/{wnids[0]}_0.JPEG" in names
    assert f"tiny-imagenet-200/train/{wnids[0]}/{wnids[0]}_boxes.txt" in names
    assert len(annotations) == 8 and annotations[0].split("\t")[0] == "val_0.JPEG"
    assert {f"tiny-imagenet-200/test/images/test_{i}.JPEG" for i in range(3)} <= names


def test_tinyimagenet_reads_wnids_order_and_makes_grayscale_rgb(tin):
    archive, md5s = tin
    splits, manifest = read_tinyimagenet(archive, md5s)
    train, test = splits["train"], splits["test"]
    assert train.x.shape == (12, 64, 64, 3) and test.x.shape == (8, 64, 64, 3) and train.x.dtype == np.uint8
    assert manifest["grayscale_images"] == {"train": 1, "test": 1}
    gray = train.x[0].astype(int)  # the first image of the first class is stored as a mode-L JPEG
    assert (gray[..., 0] == gray[..., 1]).all() and (gray[..., 1] == gray[..., 2]).all()
    with zipfile.ZipFile(archive) as zf:
        wnids = zf.read("tiny-imagenet-200/wnids.txt").decode().split()
        notes = [line.split("\t") for line in zf.read("tiny-imagenet-200/val/val_annotations.txt").decode().split("\n")]
    assert manifest["classes"] == wnids and manifest["class_order"] == "wnids.txt line order"
    np.testing.assert_array_equal(train.y, np.repeat(np.arange(4), 3))
    np.testing.assert_array_equal(test.y, [wnids.index(n[1]) for n in notes if len(n) > 1])
    assert manifest["unlabeled_test_images_skipped"] == 3


def test_tinyimagenet_unannotated_val_image_is_an_error(tmp_path, tin):
    archive, _ = tin
    with zipfile.ZipFile(archive) as zf:
        members = {i.filename.rstrip("/"): None if i.is_dir() else zf.read(i) for i in zf.infolist()}
    note = "tiny-imagenet-200/val/val_annotations.txt"
    members[note] = b"\n".join(members[note].splitlines()[1:])  # drop val_0's line
    broken = write_archive(tmp_path / "broken.zip", members)
    with pytest.raises(DataError, match=r"val_0\.JPEG has no line in val_annotations.txt"):
        read_tinyimagenet(broken)


def test_tinyimagenet_smoke_fetch_and_official_md5(tmp_path, tin):
    out, manifest = fetch("tinyimagenet", tmp_path / "data", profile="smoke")
    assert manifest["image_shape"] == [64, 64, 3] and len(manifest["classes"]) == 200
    assert manifest["splits"]["train"]["images"] == 600 and manifest["splits"]["test"]["images"] == 200
    with pytest.raises(DataError, match="90528d7ca1a48142e341f4ef8d21d0de"):
        fetch("tinyimagenet", tmp_path / "full", archive=tin[0])
    assert not (tmp_path / "full" / "prepared").exists()


# ---------------------------------------------------------------- image folders


@pytest.mark.parametrize("suffix", ["tar", "tar.gz", "tar.xz", "zip"])
def test_image_folder_archives_and_directories_read_the_same(tmp_path, suffix):
    md5s = make_image_folder_archive(tmp_path / f"d.{suffix}", ("b", "a", "c"), 4, 2, size=16, top="wrap")
    splits, manifest = read_image_folder(tmp_path / f"d.{suffix}", md5s)
    assert manifest["classes"] == ["a", "b", "c"] and manifest["class_order"] == "sorted folder names"
    assert splits["train"].x.shape == (12, 16, 16, 3) and splits["test"].x.shape == (6, 16, 16, 3)
    np.testing.assert_array_equal(splits["train"].y, np.repeat([0, 1, 2], 4))
    tree = safe_extract(tmp_path / f"d.{suffix}", tmp_path / "tree")
    again, _ = read_image_folder(tree)  # a plain directory, wrapping folder detected
    np.testing.assert_array_equal(again["train"].x, splits["train"].x)


def _tree(tmp_path: Path) -> Path:
    make_image_folder_archive(tmp_path / "d.tar", ("a", "b"), 2, 1, size=8, fmt="PNG")
    return safe_extract(tmp_path / "d.tar", tmp_path / "tree")


@pytest.mark.parametrize(
    "breakage, message",
    [
        (lambda t: (t / "train" / "empty").mkdir(), r"train/empty: empty class folder; add images or delete it"),
        (lambda t: (t / "train" / "a" / "notes.txt").write_text("x"), r"train/a/notes.txt: not an image"),
        (lambda t: (t / "train" / "x.png").write_bytes(b"x"), r"train/x.png: file outside a class folder"),
        (lambda t: (t / "train" / "a" / "bad.png").write_bytes(b"not a png"), r"bad.png: cannot decode the image"),
        (
            lambda t: (t / "test" / "z").mkdir() or shutil.copy(t / "test/a/0000.png", t / "test/z/0.png"),
            r"test/z: class missing from train/",
        ),
        (
            lambda t: (t / "train" / "a" / "big.png").write_bytes(encode_image(np.zeros((9, 9, 3), np.uint8), "PNG")),
            r"big.png: 9×9 pixels but .* is 8×8; resize all images to one size",
        ),
    ],
    ids=["empty-class", "non-image", "outside-class", "corrupt", "test-only-class", "mixed-sizes"],
)
def test_image_folder_problems_name_the_file_and_the_fix(tmp_path, breakage, message):
    tree = _tree(tmp_path)
    breakage(tree)
    with pytest.raises(DataError, match=message) as info:
        read_image_folder(tree)
    assert "\n" not in str(info.value)


def test_hidden_files_are_ignored(tmp_path):
    tree = _tree(tmp_path)
    (tree / "train" / "a" / ".DS_Store").write_bytes(b"junk")
    (tree / "__MACOSX").mkdir()
    (tree / "__MACOSX" / "junk").write_bytes(b"junk")
    splits, _ = read_image_folder(tree)
    assert len(splits["train"]) == 4


def test_cifar10_jpeg_smoke_and_sha256(tmp_path):
    out, manifest = fetch("cifar10-jpeg", tmp_path / "data", profile="smoke")
    assert manifest["splits"]["train"]["per_class"] == [20] * 10 and manifest["archive_sha256"]
    fixture = tmp_path / "data" / "raw" / "smoke" / "cifar10-jpeg.tar.xz"
    with pytest.raises(DataError, match="sha256 mismatch .*81ef9f53a077a267b0a4411370880e4829102c4118dc2555a9"):
        fetch("cifar10-jpeg", tmp_path / "full", archive=fixture)
    with pytest.raises(DataError, match="no public download; pass --archive PATH"):
        fetch("cifar10-jpeg", tmp_path / "none")


@pytest.mark.skipif(not SHARED_JPEG.is_file(), reason="the shared CIFAR-10 JPEG copy is not here")
def test_the_shared_cifar10_jpeg_copy_has_the_registered_sha256():
    assert file_digest(SHARED_JPEG, "sha256") == sources_mod.DATASETS["cifar10-jpeg"].digest


def test_user_image_folder_registers_and_fetches(tmp_path, monkeypatch):
    monkeypatch.setattr(sources_mod, "DATASETS", dict(sources_mod.DATASETS))
    tree = _tree(tmp_path)
    src = sources_mod.register_imagefolder("mine", tree)
    assert (src.num_classes, src.image_size) == (2, 8)
    out, manifest = fetch("mine", tmp_path / "data")
    assert manifest["archive_sha256"] == tree_digest(tree) and manifest["classes"] == ["a", "b"]
    _, smoke = fetch("mine", tmp_path / "smoke", profile="smoke")
    assert smoke["classes"] == ["a", "b"] and smoke["image_shape"] == [8, 8, 3] and smoke["synthetic"]
    with pytest.raises(DataError, match="taken by a built-in dataset"):
        sources_mod.register_imagefolder("cifar10", tree)


# ---------------------------------------------------------------- label noise, validation splits


@pytest.mark.parametrize("level", [0.1, 0.3, 0.5, 0.7])
def test_label_noise_rate_is_within_one_percent(level):
    labels = np.arange(50_000) % 10
    noisy, fraction = corrupt_labels(labels, level, 10, seed=3)
    assert abs(fraction - level) < 0.01 and fraction == float((noisy != labels).mean())
    assert noisy.dtype == np.int64 and noisy.min() == 0 and noisy.max() == 9
    confusion = np.zeros((10, 10))
    np.add.at(confusion, (labels, noisy), 1)
    confusion /= confusion.sum(1, keepdims=True)
    np.testing.assert_allclose(confusion, noise_matrix(level, 10), atol=0.02)  # the symmetric Q of Eq. 7
    again, _ = corrupt_labels(labels, level, 10, seed=3)
    np.testing.assert_array_equal(noisy, again)
    assert corrupt_labels(labels, 0.0, 10, seed=3)[1] == 0.0


def test_validation_splits():
    split = Split(np.zeros((100, 2, 2, 3), np.uint8), np.arange(100) % 10, {"coarse": np.arange(100) // 50})
    train, val = split_validation(split, "last", size=10)
    assert list(val.y) == list(range(10)) and len(train) == 90 and list(val.extras["coarse"]) == [1] * 10
    train, val = split_validation(split, "fraction", fraction=0.2)  # Keras fit(): the last 20%
    assert len(val) == 20 and len(train) == 80 and val.extras["coarse"][-1] == 1
    train, val = split_validation(split, "keras-subset", fraction=0.2)  # ImageDataGenerator: the first 20%
    assert len(val) == 20 and len(train) == 80 and val.extras["coarse"][0] == 0
    train, val = split_validation(split, "random", fraction=0.2, seed=1)
    assert np.bincount(val.y).tolist() == [2] * 10 and len(train) == 80
    train, val = split_validation(split, "leaked", train_size=90, size=10)
    assert len(train) == 90 and len(val) == 10 and val.y.tolist() == train.y[-10:].tolist()  # the leak
    assert split_validation(split, "none") == (split, None)
    with pytest.raises(ValueError, match="unknown validation split"):
        split_validation(split, "bogus")
    with pytest.raises(ValueError, match="out of range"):
        split_validation(split, "last", size=100)


# ---------------------------------------------------------------- end to end on real data


def test_sklearn_digits_end_to_end_learns(tmp_path, monkeypatch):
    """Real handwritten digits → image-folder zip → fetch → DeviceLoader → tiny CNN: well above chance."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = (digits.images * (255 / 16)).round().astype(np.uint8)  # 8×8, values 0–16
    members: dict[str, bytes | None] = {}
    for i, (image, label) in enumerate(zip(images, digits.target, strict=True)):
        split = "test" if i % 5 == 0 else "train"
        members[f"digits/{split}/{label}/{i:04d}.png"] = encode_image(image, "PNG")  # grayscale PNG
    archive = write_archive(tmp_path / "digits.zip", members)
    monkeypatch.setattr(sources_mod, "DATASETS", dict(sources_mod.DATASETS))
    sources_mod.register_imagefolder("digits", archive)
    out, manifest = fetch("digits", tmp_path / "data")
    assert manifest["classes"] == [str(d) for d in range(10)] and manifest["grayscale_images"]["train"] == 1437
    train, test = load_split(out, "train"), load_split(out, "test")
    assert train.x.shape == (1437, 8, 8, 3) and len(test) == 360

    torch.manual_seed(0)
    device = torch.device("cpu")
    norm = normalizer(Normalize("per_channel"), train.x, device)
    loader = DeviceLoader(train, 64, device, norm, shuffle=True, seed=0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 16, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.Conv2d(16, 32, 3, padding=1, stride=2),
        torch.nn.ReLU(),
        torch.nn.Flatten(),
        torch.nn.Linear(32 * 16, 10),
    )
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny ops: extra threads only contend (30 s instead of 1 s on 2 busy cores)
    try:
        for _ in range(5):
            for x, y in loader:
                opt.zero_grad()
                torch.nn.functional.cross_entropy(model(x), y).backward()
                opt.step()
        with torch.no_grad():
            correct = sum((model(x).argmax(1) == y).sum().item() for x, y in DeviceLoader(test, 256, device, norm))
    finally:
        torch.set_num_threads(threads)
    assert correct / len(test) > 0.85  # chance is 0.10
