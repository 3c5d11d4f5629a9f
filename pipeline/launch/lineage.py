"""DVC's side: which runs dvc.lock already records, and recording finished runs with ``dvc commit``.

A run is *done* when both of its stages (``train@<key>``, ``evaluate@<key>``) are up to date in
dvc.lock; *unrecorded* when its folder holds finished metrics (train.json, eval.json, model.pt)
that dvc.lock has no entry for (a launched job finished, the launcher was not there to record it)
or whose record was cut short (``recording_marker``);
otherwise it is still *to do*. A stale entry in dvc.lock (the code, params or data changed) is to do:
its old metrics are never recorded as current (``judge`` tells a finished one apart, with why).
Up-to-dateness is read from dvc.lock and the files (``staleness``), not ``dvc status``: no DVC lock.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from ..rundir import EVAL_METRICS, MODEL, TRAIN_METRICS
from .config import LaunchError
from .selection import RunRef
from .staleness import judge_stages

DVC_TIMEOUT = 600


def stage_names(key: str) -> tuple[str, str]:
    return f"train@{key}", f"evaluate@{key}"


def dvc_env() -> dict:
    """The stages' interpreter first on PATH; no inherited stage context."""
    env = {k: v for k, v in os.environ.items() if k not in ("DVC_ROOT", "DVC_STAGE")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def dvc(root: Path, *args: str, timeout: float = DVC_TIMEOUT) -> subprocess.CompletedProcess:
    out = subprocess.run(
        [sys.executable, "-m", "dvc", *args],
        cwd=root,
        env=dvc_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    if out.returncode != 0:
        raise LaunchError(f"`dvc {' '.join(args[:3])}…` failed in {root}: {failure(out.stderr, out.stdout)}")
    return out


def failure(*outputs: str) -> str:
    """The failing stage's own message (its one-line ``error: …``, or a traceback's last line) and
    DVC's last line, from DVC's output; just DVC's last line when the stage said nothing."""
    lines = [line.strip() for text in outputs for line in text.splitlines() if line.strip()]
    dvc_says = next((line for line in reversed(lines) if line.startswith("ERROR:")), lines[-1] if lines else "")
    own = [line for line in lines if re.match(r"(error: |[\w.]*(Error|Exception): )", line)]
    if not own:
        return dvc_says or "(no output)"
    return f"{own[-1]} (DVC: {dvc_says})"


def stale_stages(root: Path, stages: list[str]) -> set[str]:
    """The stages among ``stages`` that ``dvc status`` reports as changed (one dvc call)."""
    if not stages:
        return set()
    out = dvc(root, "status", "--json", *stages)
    text = out.stdout.strip()
    return set(json.loads(text[text.index("{") :]) if "{" in text else {})


def finished_on_disk(run_dir: Path) -> bool:
    return all((run_dir / name).is_file() for name in (TRAIN_METRICS, EVAL_METRICS, MODEL))


def judge(root: Path, refs: list[RunRef], runs_dir: Path) -> dict[str, tuple[str, list[str]]]:
    """{key: (state, why)}: state "done", "unrecorded" (finished on disk, its record missing or cut short),
    "stale" (finished on disk, but dvc.lock's record no longer matches: ``why`` names the dependency,
    parameter or output that changed) or "todo"."""
    verdicts = judge_stages(root, [s for r in refs for s in stage_names(r.key)])
    cut_short = recording(root)
    result = {}
    for r in refs:
        train, evaluate = (verdicts[s] for s in stage_names(r.key))
        why = list(dict.fromkeys(train.why + evaluate.why))
        if train.state == evaluate.state == "current":
            result[r.key] = ("done", [])
        elif ("unrecorded" in (train.state, evaluate.state) or r.key in cut_short) and finished_on_disk(
            runs_dir / r.key
        ):
            result[r.key] = ("unrecorded", [])
        elif finished_on_disk(runs_dir / r.key):
            result[r.key] = ("stale", why)
        else:
            result[r.key] = ("todo", why)
    return result


def recording_marker(root: Path, key: str) -> Path:
    """Present while ``key``'s record is being written: a run whose record was cut short (the launcher
    killed mid-commit) is re-recorded by the next launch, never trained again."""
    return root / ".repro" / "recording" / key


def recording(root: Path) -> set[str]:
    folder = root / ".repro" / "recording"
    return {p.name for p in folder.iterdir()} if folder.is_dir() else set()


def classify(root: Path, refs: list[RunRef], runs_dir: Path) -> dict[str, str]:
    """{key: "done" | "unrecorded" | "todo"} for ``refs`` (a stale run is to do)."""
    return {key: "todo" if state == "stale" else state for key, (state, _) in judge(root, refs, runs_dir).items()}


def record(root: Path, key: str) -> None:
    """Record a finished run's outputs in dvc.lock (model.pt goes to the DVC cache).

    ``dvc commit`` runs in its own session, so a Ctrl-C at the terminal does not cut it short: the
    record completes, then the interrupt goes on. A harder kill leaves the marker for the next launch."""
    marker = recording_marker(root, key)
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.touch()
    cmd = [sys.executable, "-m", "dvc", "commit", "--force", *stage_names(key)]
    with tempfile.TemporaryFile("w+") as out:
        proc = subprocess.Popen(
            cmd, cwd=root, env=dvc_env(), stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, text=True,
        )  # fmt: skip
        interrupted = None
        while True:
            try:
                code = proc.wait(timeout=DVC_TIMEOUT)
                break
            except KeyboardInterrupt as exc:  # finish the record first
                interrupted = exc
            except subprocess.TimeoutExpired:
                proc.kill()
                code = proc.wait()
                break
        out.seek(0)
        text = out.read()
    if code != 0:
        last = text.strip().splitlines()[-1:] or [f"exited {code}"]
        raise LaunchError(f"`dvc commit --force {' '.join(stage_names(key))}` failed in {root}: {last[0]}")
    marker.unlink(missing_ok=True)
    if interrupted is not None:
        raise interrupted


def prepare_data(root: Path, datasets: list[str]) -> list[str]:
    """Run the fetch stages of ``datasets`` that are not up to date (jobs only read prepared data)."""
    stale = sorted(stale_stages(root, [f"fetch@{d}" for d in datasets]))
    if stale:
        dvc(root, "repro", *stale, timeout=3 * 3600)
    return stale
