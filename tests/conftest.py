import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

os.environ.setdefault("REPRO_TRACKING", "off")  # unit tests do not write MLflow runs unless they ask


@pytest.fixture
def cifar_fixture(tmp_path):
    """A small CIFAR-10 archive in the official format, and its member md5s."""
    from pipeline.data.cifar import make_cifar10_archive

    path = tmp_path / "cifar-10-python.tar.gz"
    md5s = make_cifar10_archive(path, per_batch=20, test=30)
    return path, md5s
