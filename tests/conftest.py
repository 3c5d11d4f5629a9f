import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

os.environ.setdefault("REPRO_TRACKING", "off")  # unit tests do not write MLflow runs unless they ask


@pytest.fixture(autouse=True)
def _torch_threads():
    """Restore torch's thread count after each test: a stage run in-process (the smoke profile's
    ``threads: 1``) would otherwise change the float reduction order of every later test."""
    import torch

    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def cifar_fixture(tmp_path):
    """A small CIFAR-10 archive in the official format, and its member md5s."""
    from pipeline.data.cifar import make_cifar10_archive

    path = tmp_path / "cifar-10-python.tar.gz"
    md5s = make_cifar10_archive(path, per_batch=20, test=30)
    return path, md5s


def register_tiny(batchnorm: bool = True) -> str:
    """Register a CNN small enough to train in a second on the CI CPU (once per process)."""
    from torch import nn

    from pipeline.models import list_models, register_model

    name = "tiny-cnn-test" if batchnorm else "tiny-cnn-nobn-test"
    if name not in list_models():

        @register_model(name, family="test", notes="test-only")
        def _tiny(num_classes: int = 10) -> nn.Module:
            return nn.Sequential(
                nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8) if batchnorm else nn.Identity(), nn.ReLU(),
                nn.AdaptiveAvgPool2d(4), nn.Flatten(), nn.Linear(128, num_classes),
            )  # fmt: skip

    return name


@pytest.fixture(scope="session")
def tiny_model():
    return register_tiny()


@pytest.fixture(scope="session")
def smoke_data(tmp_path_factory):
    """The smoke profile's prepared CIFAR-10 (generated archive → official parse path)."""
    from pipeline.data import fetch

    out, _ = fetch("cifar10", tmp_path_factory.mktemp("data"), profile="smoke")
    return out


@pytest.fixture(scope="session")
def slurm():
    """A real Slurm cluster for the session (tests/_slurm.py); skipped where Slurm is not installed.

    Sets ``SLURM_CONF`` for this process (submitit and the launcher call sbatch/squeue) and its children."""
    from tests._slurm import Unavailable, slurm_cluster

    try:
        with slurm_cluster() as cluster:
            mp = pytest.MonkeyPatch()
            mp.setenv("SLURM_CONF", str(cluster.conf))
            try:
                yield cluster
            finally:
                mp.undo()
    except Unavailable as exc:
        pytest.skip(f"no Slurm cluster: {exc}")
