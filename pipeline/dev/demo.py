"""``make demo``: the whole DVC pipeline in the smoke profile, in a git-ignored copy of the project.

Running the smoke profile in place would rewrite dvc.lock and the committed tables, so the
project's files (tracked and untracked-not-ignored) are copied to ``dest``, switched to the smoke
profile, committed in the copy's own git repository (so ``dvc exp show``, ``dvc params diff``,
``dvc metrics diff``, ``dvc plots diff`` and ``dvc exp run --queue`` work there) and run with the real
``dvc repro``, whose ``dvc.lock`` is committed too. The copy keeps its own data, runs and MLflow store
(``dest/mlflow.db``); its rendered tables (``smoke/paper_tables``) are copied to ``paper_tables/smoke/``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

from ..rundir import HISTORY
from ..settings import ROOTS
from ..sync import sync_params
from ..tracking import git_commit
from .preload import ENV as PRELOAD_ENV
from .preload import preloaded


def project_files(root: Path) -> list[str]:
    out = subprocess.run(
        ["git", "-C", str(root), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True,
        check=True,
    )
    return [f for f in out.stdout.decode().split("\0") if f and (root / f).is_file()]


def copy_project(root: Path, dest: Path) -> None:
    """Mirror the project's files into ``dest`` (unchanged files are left alone for DVC's cache)."""
    dest.mkdir(parents=True, exist_ok=True)
    for rel in project_files(root):
        if rel == "dvc.lock" or rel.startswith("paper_tables/"):
            continue  # the copy keeps its own lock file and rendered outputs
        src, dst = root / rel, dest / rel
        if dst.is_file() and dst.stat().st_size == src.stat().st_size and dst.read_bytes() == src.read_bytes():
            continue
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst)


UNCACHED = tuple(f"{ROOTS['smoke']['runs']}/*/{f}" for f in ("*.json", HISTORY))  # `cache: false` outputs
DEMO_GIT = ["-c", "user.name=repro demo", "-c", "user.email=demo@localhost", "-c", "commit.gpgsign=false"]


def commit_copy(dest: Path, message: str) -> None:
    """Make ``dest`` a git repository of its own (DVC's experiments, diffs and queue work only in one)
    and commit its files when they changed. Data, weights and the store stay git-ignored as in the
    project; the runs' small uncached outputs (metrics, history) are committed, as DVC expects of
    ``cache: false`` outputs, so `dvc metrics diff` and `dvc exp show` have a baseline to compare with."""

    def git(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["git", *DEMO_GIT, "-C", str(dest), *args], capture_output=True, text=True, check=True)

    if not (dest / ".git").exists():
        git("init", "-q", "-b", "main")
    git("add", "-A")
    small = [str(p.relative_to(dest)) for pattern in UNCACHED for p in sorted(dest.glob(pattern))]
    if small:
        git("add", "-f", "--", *small)
    if git("status", "--porcelain").stdout.strip():
        git("commit", "-q", "--no-verify", "-m", message)


def dvc_env(root: Path) -> dict:
    skip = ("MLFLOW_TRACKING_URI", "DVC_ROOT", "DVC_STAGE", PRELOAD_ENV)
    env = {k: v for k, v in os.environ.items() if k not in skip}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["REPRO_GIT_COMMIT"] = git_commit(root)
    return env


def run_demo(
    root: Path, dest: Path, publish: bool = True, shard: tuple[int, int] = (0, 1), preload: bool = True
) -> int:
    """Run the smoke pipeline in ``dest``; with ``shard`` (k, n) only every n-th configuration from
    the k-th, so n copies can run side by side (the test suite uses two, one per core). ``preload``
    runs the stage commands in a preloaded interpreter (pipeline/dev/preload.py: ~4 s less per stage)."""
    copy_project(root, dest)
    (dest / ".dvc").mkdir(exist_ok=True)
    (dest / ".dvc" / "config.local").unlink(missing_ok=True)  # older copies set no_scm: DVC's comparisons need git
    sync_params(dest / "params.yaml", "smoke", shard=shard)
    env = dvc_env(root)
    commit_copy(dest, f"demo: the project at {env['REPRO_GIT_COMMIT'][:12]} in the smoke profile")
    with preloaded(dest) if preload else contextlib.nullcontext({}) as extra:
        code = subprocess.call([sys.executable, "-m", "dvc", "repro"], cwd=dest, env=env | extra)
    if code == 0:  # the baseline `dvc exp show`, `dvc params diff`, `dvc metrics diff` compare against
        commit_copy(dest, "demo: dvc repro (dvc.lock)")
    if code == 0 and publish:
        target = root / "paper_tables" / "smoke"
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(dest / ROOTS["smoke"]["tables"], target, ignore=shutil.ignore_patterns(".*"))
        print(
            f"smoke tables: {target}\nMLflow store: {dest / 'mlflow.db'}"
            f" (open with `repro ui --store {dest / 'mlflow.db'}`)",
            file=sys.stderr,
        )
    return code


def main(argv: list[str] | None = None) -> int:
    """``python -m pipeline.dev.demo`` (what ``make demo`` and ``repro demo`` run)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m pipeline.dev.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="project root (default: current folder)")
    parser.add_argument("--dest", type=Path, default=Path(".demo"), help="where the smoke copy runs")
    parser.add_argument("--no-preload", dest="preload", action="store_false", help="no preloaded interpreter")
    args = parser.parse_args(argv)
    root = args.root.resolve()
    dest = args.dest if args.dest.is_absolute() else root / args.dest
    return run_demo(root, dest, preload=args.preload)


if __name__ == "__main__":
    sys.exit(main())
