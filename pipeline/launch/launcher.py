"""``repro launch``: submit one job per remaining run, re-attach to earlier ones, record finished runs in dvc.lock.

The launching process is the only writer of dvc.lock and of ``.repro/launch.json``: jobs only write
their run folder and their own record. ``repro cancel`` asks a watching launcher to cancel (through
``.repro/cancel.json``), or cancels directly when none is watching.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from ..files import write_json
from . import server
from .backends import make_backend
from .config import LaunchError, launch_settings
from .lineage import classify, finished_on_disk, prepare_data, record
from .selection import RunRef, select
from .state import clear_record, launcher_lock, load_state, now, open_jobs, read_record, repro_dir, save_state


def _echo(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def cancel_request_path(root: Path) -> Path:
    return repro_dir(root) / "cancel.json"


def judge(project, key: str, entry: dict, cause: Callable[[], str | None]) -> tuple[str, str | None]:
    """A job that left its backend: ("finished", None) or ("failed", cause)."""
    rec = read_record(project.root, key) or {}
    done = rec.get("state") == "done" and finished_on_disk(project.runs_dir / key)
    if rec.get("job_id") == entry["job_id"] and done:
        return "finished", None
    if rec.get("job_id") == entry["job_id"] and rec.get("state") in ("failed", "interrupted") and rec.get("error"):
        extra = cause()
        return "failed", rec["error"] + (f"; {extra}" if extra and extra not in rec["error"] else "")
    why = cause()
    if rec.get("job_id") != entry["job_id"]:
        return "failed", why or "the job never started (cancelled or refused before it ran)"
    return "failed", why or "the job ended without a result (killed, cancelled or its node was lost)"


def close_runs(root: Path, entry: dict) -> None:
    """A job that ended without finishing may have been killed outright: its MLflow runs still read
    RUNNING; mark them KILLED (a job that took its SIGTERM did so itself)."""
    if os.environ.get("REPRO_TRACKING", "on") == "off" or not entry.get("job_id"):
        return
    from ..tracking import tracking_uri
    from ..trackstore import mark_killed

    mark_killed(tracking_uri(root), {"job_id": str(entry["job_id"]), "backend": str(entry.get("backend"))})


class Launcher:
    def __init__(self, project, backend_name: str, address: str | None = None, echo=_echo):
        self.project, self.root = project, project.root
        self.settings = launch_settings(project)
        self.backend_name, self.address, self.echo = backend_name, address, echo
        self.backend = None
        self.spawned = None
        self.artifacts = (self.root / "mlartifacts").as_uri()
        self.spec_extra: dict = {}  # more fields for every job's spec (adaptive seeds: the round)

    # ------------------------------------------------------------------ planning
    def launch(
        self,
        refs: list[RunRef],
        retry_failed: bool = False,
        wait: bool = True,
    ) -> dict:
        with launcher_lock(self.root):
            return self._launch(refs, retry_failed, wait)

    def _launch(self, refs: list[RunRef], retry_failed: bool, wait: bool) -> dict:
        root = self.root
        state = load_state(root)
        live = open_jobs(state)
        other = {k for k, e in live.items() if e["backend"] != self.backend_name}
        if other:
            backend = live[next(iter(other))]["backend"]
            raise LaunchError(
                f"{len(other)} run(s) still have {backend} jobs (e.g. {sorted(other)[0]}); "
                f"`repro launch --backend {backend}` re-attaches to them, or `repro cancel` first"
            )
        self._early_server(state, len(refs))
        try:
            return self._plan(state, refs, retry_failed, wait)
        finally:
            if self.spawned is not None:  # started early, not needed after all
                server.stop(self.spawned)

    def _early_server(self, state: dict, selected: int) -> None:
        """Start launch's MLflow server now if it may be needed: it takes seconds to come up, in
        parallel with dvc status and data preparation."""
        self.spawned = None
        if os.environ.get("MLFLOW_TRACKING_URI") or selected < 2:
            return
        info = state.get("tracking") or {}
        if info and server.healthy(info.get("uri")):
            return
        self._spawn_server(info)

    def _spawn_server(self, info: dict) -> None:
        """Start launch's server (on its earlier port where free), without waiting for it."""
        log = self.root / self.settings.logs / "mlflow-server.log"
        self.spawned = server.spawn(self.root, self.settings.tracking_host, log, port=info.get("port"))

    def _plan(self, state: dict, refs: list[RunRef], retry_failed: bool, wait: bool) -> dict:
        root = self.root
        classes = classify(root, refs, self.project.runs_dir)
        summary = {"done": [], "recorded": [], "submitted": [], "attached": [], "failed": {}, "skipped_failed": []}
        for r in refs:
            if classes[r.key] == "done":
                summary["done"].append(r.key)
                entry = state["jobs"].get(r.key)
                if entry and not entry.get("ended"):  # recorded, but its launcher stopped before noting so
                    entry.update(ended=now(), outcome="done")
            elif classes[r.key] == "unrecorded":
                self._record(state, r.key, summary, note="finished earlier")
        todo = [r for r in refs if classes[r.key] == "todo"]
        if not todo:
            self.echo(f"nothing to launch: {len(summary['done']) + len(summary['recorded'])} run(s) done")
            self._stop_server_if_idle(state)
            save_state(root, state)
            return summary
        self.backend = backend = make_backend(self.backend_name, root, self.settings, self.address)
        try:
            return self._run(state, todo, retry_failed, wait, summary)
        finally:
            backend.close()

    def _run(self, state: dict, todo: list[RunRef], retry_failed: bool, wait: bool, summary: dict) -> dict:
        root, backend = self.root, self.backend
        if not wait and not backend.outlives_launcher:
            raise LaunchError(
                f"--no-wait: {backend.name} stops the jobs with their launcher; run the launcher on the cluster"
                " instead (`ray job submit -- repro launch --backend ray`)"
            )
        earlier = open_jobs(state, [r.key for r in todo])
        if not backend.outlives_launcher:  # Ray: an earlier launcher's jobs stopped with it; submit them again
            for entry in earlier.values():
                entry.update(ended=now(), outcome="stopped", error="stopped with its launcher")
            earlier = {}
        live = backend.poll({k: e["job_id"] for k, e in earlier.items()})
        attached = [k for k, s in live.items() if s in ("queued", "running")]
        for key, s in live.items():
            if s == "gone":
                self._finish(state, key, summary)
        to_submit = []
        for r in todo:
            entry = state["jobs"].get(r.key, {})
            if r.key in attached or r.key in summary["recorded"]:
                continue
            if entry.get("outcome") == "failed" and not retry_failed:
                summary["skipped_failed"].append(r.key)
                continue
            to_submit.append(r)
        if summary["skipped_failed"]:
            self.echo(
                f"{len(summary['skipped_failed'])} run(s) failed before and are not resubmitted"
                f" (e.g. {summary['skipped_failed'][0]}); `repro launch --retry-failed` reruns them"
            )
        summary["attached"] = attached
        if attached:
            self.echo(f"re-attached to {len(attached)} job(s) still queued or running on {backend.name}")
        if to_submit:
            datasets = sorted({r.dataset for r in to_submit})
            fetched = prepare_data(root, datasets)
            if fetched:
                self.echo(f"prepared data: {', '.join(fetched)}")
        running_at_once = min(backend.capacity(), len(attached) + len(to_submit))
        tracking = self._tracking(state, running_at_once)
        if to_submit:
            specs = [self._spec(r, tracking) for r in to_submit]
            t0 = time.monotonic()
            ids = backend.submit(specs)
            submit_s = time.monotonic() - t0
            for r in to_submit:
                state["jobs"][r.key] = {
                    "backend": backend.name,
                    "job_id": ids[r.key],
                    "config": r.config,
                    "seed": r.seed,
                    "submitted": now(),
                    "log": str(backend.log_path(r.key, ids[r.key])),
                }
                clear_record(root, r.key)  # a fresh record per job
            state["backend"] = backend.name
            state["capacity"] = backend.capacity()
            summary["submitted"] = [r.key for r in to_submit]
            summary["submit_seconds"] = round(submit_s, 3)
            self.echo(f"submitted {len(to_submit)} job(s): {backend.describe()}; logs in {self.settings.logs}/")
        save_state(root, state)
        self._server_ready(state)
        save_state(root, state)
        pending = set(attached) | set(summary["submitted"])
        if not wait or not pending:
            if pending:
                self.echo(
                    f"{len(pending)} job(s) left running; `repro launch` re-attaches and records them,"
                    " `repro status` shows them"
                )
            else:
                self._stop_server_if_idle(state)
                save_state(root, state)
            return summary
        try:
            self._watch(state, pending, summary)
        except KeyboardInterrupt:
            save_state(root, state)
            if not backend.outlives_launcher:
                self.echo(
                    f"stopped: {backend.name} stops {len(pending)} job(s) with this launcher;"
                    " `repro launch` submits them again"
                )
            else:
                self.echo(
                    f"stopped watching; {len(pending)} job(s) keep running on {backend.name}: `repro launch`"
                    " re-attaches and records them, `repro status` shows them, `repro cancel` stops them"
                )
            raise
        self._stop_server_if_idle(state)
        save_state(root, state)
        return summary

    def _spec(self, r: RunRef, tracking: str | None) -> dict:
        return {
            "root": str(self.root),
            "profile": self.project.profile,
            "key": r.key,
            "config": r.config,
            "seed": r.seed,
            "backend": self.backend_name,
            "gpus_per_run": self.settings.gpus_per_run,
            "tracking_uri": tracking,
            "tracking_wait": self.spawned is not None and tracking == self.spawned["uri"],
            # launch's server or SQLite: artifacts in the project's mlartifacts/ whoever creates the experiment
            "artifact_location": None if os.environ.get("MLFLOW_TRACKING_URI") else self.artifacts,
            **self.spec_extra,
        }

    # ------------------------------------------------------------------ tracking
    def _tracking(self, state: dict, at_once: int) -> str | None:
        """The URI the jobs log to. Launch's own server may still be starting: the jobs wait for it
        (``tracking_wait``) while they import and queue, and ``_server_ready`` checks it after submission."""
        if os.environ.get("MLFLOW_TRACKING_URI"):
            return os.environ["MLFLOW_TRACKING_URI"]
        info = state.get("tracking") or {}
        if info and server.healthy(info.get("uri")):
            return info["uri"]
        if at_once <= 1:  # one writer at a time: the project's SQLite store directly
            if self.spawned is not None:  # started early, not needed after all
                server.stop(self.spawned)
                self.spawned = None
            return None
        if self.spawned is None:
            self._spawn_server(info)
        state["tracking"] = {k: v for k, v in self.spawned.items() if not k.startswith("_")}
        return self.spawned["uri"]

    def _server_ready(self, state: dict) -> None:
        if self.spawned is None:
            return
        spawned, self.spawned = self.spawned, None
        try:
            info = server.wait_ready(spawned)
        except LaunchError as exc:
            state.pop("tracking", None)
            self.echo(f"warning: {exc}; the jobs run without tracking (set MLFLOW_TRACKING_URI to use a server)")
            return
        self.echo(f"tracking: started an MLflow server on the project's store at {info['uri']} (log: {info['log']})")

    def _stop_server_if_idle(self, state: dict) -> None:
        if server.stop_if_idle(state):
            self.echo("tracking: stopped the MLflow server (no job left)")

    # ------------------------------------------------------------------ watching
    def _watch(self, state: dict, pending: set[str], summary: dict) -> None:
        seen: dict[str, str] = {}
        while pending:
            self._take_cancel_requests(state, pending)
            states = self.backend.poll({k: state["jobs"][k]["job_id"] for k in pending})
            waiting = self._pending_reasons(state, states)
            for key, s in sorted(states.items()):
                if s == "gone":
                    self._finish(state, key, summary)
                    pending.discard(key)
                elif seen.get(key) != (s, waiting.get(key)):
                    rec = read_record(self.root, key) or {}
                    where = f" on {rec.get('host')} GPU {rec.get('gpu')}" if s == "running" and rec else ""
                    why = f": {waiting[key][0]}" if s == "queued" and key in waiting else ""
                    self.echo(f"{s} {key} (job {state['jobs'][key]['job_id']}){where}{why}")
                seen[key] = (s, waiting.get(key))
            save_state(self.root, state)
            if pending:
                time.sleep(self.settings.poll_s)

    def _pending_reasons(self, state: dict, states: dict[str, str]) -> dict[str, tuple[str, bool]]:
        """Why the queued jobs wait (Slurm's pending reason), flagging those that can never start."""
        queued = {k: state["jobs"][k]["job_id"] for k, s in states.items() if s == "queued"}
        reasons = getattr(self.backend, "pending_reasons", None)  # Slurm's; the local backend has none
        return reasons(queued) if queued and reasons is not None else {}

    def _take_cancel_requests(self, state: dict, pending: set[str]) -> None:
        path = cancel_request_path(self.root)
        if not path.exists():
            return
        try:
            keys = set(json.loads(path.read_text()).get("keys", []))
        except ValueError:
            keys = set()
        path.unlink(missing_ok=True)
        jobs = {k: state["jobs"][k]["job_id"] for k in pending & keys}
        for key in self.backend.cancel(jobs):
            state["jobs"][key]["cancelled"] = now()
            self.echo(f"cancelling {key} (job {jobs[key]})")

    def _finish(self, state: dict, key: str, summary: dict) -> None:
        entry = state["jobs"][key]
        outcome, cause = judge(self.project, key, entry, lambda: self.backend.cause(key, entry["job_id"]))
        if entry.get("cancelled") and outcome == "failed":
            cause = f"cancelled by `repro cancel` ({cause})"
        if outcome == "finished":  # "ended" once recorded: an interrupted record is judged again next launch
            self._record(state, key, summary)
        else:
            entry.update(outcome="failed", error=cause, ended=now())
            summary["failed"][key] = cause
            close_runs(self.root, entry)
            self.echo(f"failed {key} (job {entry['job_id']}): {cause} (log: {entry.get('log')})")

    def _record(self, state: dict, key: str, summary: dict, note: str = "") -> None:
        entry = state["jobs"].setdefault(key, {"backend": None, "job_id": None})
        try:
            t0 = time.monotonic()
            record(self.root, key)
        except LaunchError as exc:
            entry.update(outcome="unrecorded", error=str(exc), ended=entry.get("ended") or now())
            summary["failed"][key] = str(exc)
            self.echo(f"finished {key} but could not record it: {exc}")
            return
        entry.update(outcome="done", recorded=now(), record_seconds=round(time.monotonic() - t0, 3), error=None)
        entry.setdefault("ended", now())
        summary["recorded"].append(key)
        rec = read_record(self.root, key) or {}
        where = f" on {rec.get('host')} GPU {rec.get('gpu')}" if rec.get("host") else ""
        self.echo(f"done {key}{where}{f' ({note})' if note else ''}: recorded in dvc.lock")


def launch(project, patterns=None, source=None, table=None, seeds=None, backend="local", address=None,
           retry_failed=False, wait=True, echo=_echo, doctor=False, force=False) -> dict:  # fmt: skip
    from .backends import BACKENDS

    if backend not in BACKENDS:
        raise LaunchError(f"unknown backend {backend!r}; use one of {', '.join(BACKENDS)}")
    refs = select(project.params.runs, patterns, source, table, seeds)
    launcher = Launcher(project, backend, address, echo)
    if doctor:  # `repro doctor` as one job on this backend first; a failed check stops here
        from .checkup import doctor_first

        doctor_first(launcher, make_backend(backend, project.root, launcher.settings, address), refs, force)
    return launcher.launch(refs, retry_failed=retry_failed, wait=wait)


def request_cancel(root: Path, keys: list[str]) -> None:
    path = cancel_request_path(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json({"keys": sorted(keys), "requested": now()}, path)
