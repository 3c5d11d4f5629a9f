"""``repro --profile smoke launch|status|cancel`` in a checkout whose params.yaml says ``full``.

Launch runs and records DVC stages, and DVC follows params.yaml's profile: launching the smoke
profile in place would fetch the real datasets and write smoke results into the checkout's dvc.lock.
So the smoke profile runs in the smoke copy ``make demo`` uses (``.demo/``): the checkout's tracked
files, switched to the smoke profile (stand-in data, offline), with its own dvc.lock, runs and MLflow store.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from ..sync import sync_params
from .config import LaunchError

COPY = ".demo"  # the same copy as `make demo`


def _tracked(root: Path) -> list[str]:
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            capture_output=True,
            timeout=120,
        )
    except OSError as exc:
        raise LaunchError(f"a smoke launch copies the checkout's files with git, which failed: {exc}") from exc
    if out.returncode != 0:
        raise LaunchError(
            f"{root} is not a git checkout: a smoke launch copies its tracked files; "
            "switch this folder to the smoke profile instead (`repro --profile smoke sync`)"
        )
    return [f for f in out.stdout.decode().split("\0") if f and (root / f).is_file()]


def smoke_root(root: Path) -> Path:
    return root / COPY


def prepare(root: Path) -> Path:
    """Bring the smoke copy up to date with the checkout (unchanged files are left alone) and return it."""
    dest = smoke_root(root)
    for rel in _tracked(root):
        if rel == "dvc.lock" or rel.startswith(("paper_tables/", f"{COPY}/")):
            continue  # the copy keeps its own record and rendered outputs
        src, dst = root / rel, dest / rel
        if dst.is_file() and dst.stat().st_size == src.stat().st_size and dst.read_bytes() == src.read_bytes():
            continue
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst)
    if not (dest / ".git").exists():
        (dest / ".dvc").mkdir(exist_ok=True)
        (dest / ".dvc" / "config.local").write_text("[core]\n    no_scm = true\n")  # DVC without git
    sync_params(dest / "params.yaml", "smoke")
    return dest


def redirect(project, create: bool):
    """The project a profile-overriding command works on: ``project`` itself when its params.yaml has
    the profile asked for; the smoke copy for ``--profile smoke`` on a full checkout (``create``: make
    or refresh it, as launch does; else it must exist); an error for ``--profile full`` on a smoke one."""
    wanted, written = project.profile_override, project.params.profile
    if wanted is None or wanted == written:
        return project
    if wanted != "smoke":
        raise LaunchError(
            f"--profile {wanted}: params.yaml's profile is {written}, and launch follows params.yaml (DVC does);"
            f" switch it with `repro --profile {wanted} sync`"
        )
    dest = prepare(project.root) if create else smoke_root(project.root)
    if not (dest / "params.yaml").is_file():
        raise LaunchError(f"no smoke launch here yet ({dest} missing); `repro --profile smoke launch` starts one")
    return type(project)(dest)
