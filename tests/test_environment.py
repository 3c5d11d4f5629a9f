"""A stage started outside the project's environment (`dvc repro` without `source .venv/bin/activate`)
prints one line naming the fix, not a traceback."""

import os
import shutil
import subprocess

import pytest

from tests.conftest import ROOT


def python_without_typer() -> str | None:
    """A Python on this machine that lacks typer (the system one, usually), or None."""
    for name in ("/usr/bin/python3", shutil.which("python3", path="/usr/bin:/bin")):
        if name and os.path.exists(name):
            probe = subprocess.run([name, "-c", "import typer"], capture_output=True, env={"PATH": "/usr/bin:/bin"})
            if probe.returncode != 0:
                return name
    return None


@pytest.mark.parametrize("args", [["train", "wang2017-resnet164-c10", "--seed", "0"], ["list"]])
def test_outside_the_environment_one_line_names_the_fix(args):
    python = python_without_typer()
    if python is None:
        pytest.skip("no Python without typer on this machine")
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    result = subprocess.run([python, "-m", "pipeline", *args], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode != 0
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "error: this project's Python environment is not active (No module named 'typer'); "
        "run `source .venv/bin/activate` or use `make repro`"
    ]
