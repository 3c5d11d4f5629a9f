"""``repro status`` and ``repro cancel``: each selected run's state, from dvc.lock, the launch state,
the jobs' own records and the backend (``squeue`` for Slurm, the job's pid for local jobs; Ray jobs
live only while their launcher does, so their records are trusted while it runs)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from . import server
from .backends import process
from .config import LaunchError
from .launcher import judge, request_cancel
from .lineage import classify
from .selection import select
from .state import launcher_pid, load_state, now, read_record, repro_dir, save_state

STATES = ("done", "finished", "running", "queued", "failed", "not started")
LABELS = {"finished": "finished, not recorded"}


def _slurm_states(job_ids: list[str]) -> dict[str, str] | None:
    if not job_ids:
        return {}
    from .backends.slurm import QUEUED, RUNNING

    try:
        out = subprocess.run(["squeue", "--me", "-h", "-r", "-o", "%i|%T"], capture_output=True, text=True, timeout=60)
    except OSError:
        return None
    if out.returncode != 0:
        return None
    states = dict(line.split("|", 1) for line in out.stdout.split() if "|" in line)
    return {
        j: "running" if states.get(j) in RUNNING else "queued" if states.get(j) in QUEUED else "gone" for j in job_ids
    }


def _slurm_cause(root: Path, job_id: str, logs: str) -> str | None:
    from .backends.slurm import SlurmBackend

    try:
        backend = SlurmBackend.__new__(SlurmBackend)
        backend.folder = root / logs / "slurm"
        return backend.cause("", job_id)
    except Exception:
        return None


def find_plan(root: Path, explicit: Path | None) -> tuple[dict | None, str]:
    """`repro plan --out` JSON: --plan FILE, else .repro/plan.json; (plan, how it was found)."""
    path = explicit or repro_dir(root) / "plan.json"
    if not path.is_file():
        if explicit is not None:
            raise LaunchError(f"--plan {explicit}: no such file; write one with `repro plan --out {explicit}`")
        rel = path.relative_to(root)
        return None, f"no time estimate: no {rel} (write one with `repro plan --out {rel}`)"
    try:
        return json.loads(path.read_text()), f"estimate from {path} ({{device}})"
    except ValueError as exc:
        raise LaunchError(f"{path} is not a `repro plan` JSON ({exc}); rewrite it with `repro plan --out`") from exc


def status(project, patterns=None, source=None, table=None, seeds=None, plan_path: Path | None = None) -> dict:
    root = project.root
    refs = select(project.params.runs, patterns, source, table, seeds)
    classes = classify(root, refs, project.runs_dir)
    state = load_state(root)
    watcher = launcher_pid(root)
    open_jobs = {
        r.key: state["jobs"][r.key] for r in refs if r.key in state["jobs"] and not state["jobs"][r.key].get("ended")
    }
    slurm = _slurm_states([e["job_id"] for e in open_jobs.values() if e["backend"] == "slurm"]) or {}
    rows = []
    for r in refs:
        entry = state["jobs"].get(r.key) or {}
        rec = read_record(root, r.key) or {}
        row = {"key": r.key, "config": r.config, "seed": r.seed}
        if classes[r.key] == "done":
            row["state"] = "done"
        elif classes[r.key] == "unrecorded":
            row["state"] = "finished"
        elif entry and not entry.get("ended"):
            live = _live(entry, rec, r.key, slurm, watcher)
            if live == "gone":
                cause = (
                    (lambda e=entry: _slurm_cause(root, e["job_id"], project.params.launch.logs))
                    if entry["backend"] == "slurm"
                    else (lambda: None)
                )
                outcome, why = judge(root, r.key, entry, cause)
                row["state"] = outcome
                if why:
                    row["error"] = why
            else:
                row["state"] = live
        elif entry.get("outcome") == "failed":
            row["state"], row["error"] = "failed", entry.get("error")
        else:
            row["state"] = "not started"
        if entry and row["state"] in ("running", "queued", "failed"):
            row |= {"backend": entry.get("backend"), "job_id": entry.get("job_id"), "log": entry.get("log")}
        if row["state"] == "running" and rec.get("job_id") == entry.get("job_id"):
            row |= {
                "host": rec.get("host"),
                "gpu": rec.get("gpu"),
                "epoch": rec.get("epoch"),
                "epochs": rec.get("epochs"),
            }
            row["attempts"] = rec.get("attempts")
        rows.append(row)
    totals = {s: sum(1 for row in rows if row["state"] == s) for s in STATES}
    result = {
        "runs": rows,
        "totals": totals,
        "launcher_pid": watcher,
        "tracking": (state.get("tracking") or {}).get("uri"),
    }
    plan, note = find_plan(root, plan_path)
    if plan is not None:
        per_run = {c["config"]: c["seconds_per_run"] for c in plan.get("configs", [])}
        remaining, unknown = 0.0, []
        for row in rows:
            if row["state"] in ("done", "finished"):
                continue
            if row["config"] not in per_run:
                unknown.append(row["config"])
                continue
            left = 1.0
            if row["state"] == "running" and row.get("epochs"):
                left = max(0.0, 1 - (row.get("epoch") or 0) / row["epochs"])
            remaining += per_run[row["config"]] * left
        at_once = max(
            1, min(state.get("capacity") or 1, sum(1 for row in rows if row["state"] not in ("done", "finished")))
        )
        result["remaining"] = {
            "serial_hours": round(remaining / 3600, 3),
            "at_once": at_once,
            "wall_hours": round(remaining / 3600 / at_once, 3),
            "not_in_plan": sorted(set(unknown)),
            "source": note.format(device=plan.get("device_name", "?")),
        }
        if project.profile == "smoke":
            result["remaining"]["note"] = "the plan estimates full-profile runs; smoke runs take seconds"
    else:
        result["remaining_note"] = note
    return result


def _live(entry: dict, rec: dict, key: str, slurm: dict, watcher: int | None) -> str:
    backend, job_id = entry["backend"], entry["job_id"]
    if backend == "slurm":
        return slurm.get(job_id, "gone") if slurm else "queued"
    mine = rec.get("job_id") == job_id
    if backend == "local":
        if mine and process.alive(rec.get("pid"), key):
            return "running"
        if mine and rec.get("state") in ("done", "failed"):
            return "gone"
        return "queued" if watcher else "gone"
    # ray: the jobs live as long as their launcher
    if not watcher:
        return "gone"
    return "running" if mine and rec.get("state") == "running" else "queued" if not mine else "gone"


def cancel(project, patterns=None, source=None, table=None, seeds=None) -> list[str]:
    """Cancel the selection's queued and running jobs; returns their run keys."""
    root = project.root
    refs = select(project.params.runs, patterns, source, table, seeds)
    state = load_state(root)
    jobs = {
        r.key: state["jobs"][r.key] for r in refs if r.key in state["jobs"] and not state["jobs"][r.key].get("ended")
    }
    if not jobs:
        return []
    watcher = launcher_pid(root)
    if watcher:  # the watching launcher owns the state: it cancels and reports each job's end
        request_cancel(root, list(jobs))
        return sorted(jobs)
    slurm = {k: e["job_id"] for k, e in jobs.items() if e["backend"] == "slurm"}
    if slurm:
        subprocess.run(["scancel", *slurm.values()], capture_output=True, text=True, timeout=60)
    for key, entry in jobs.items():
        rec = read_record(root, key) or {}
        if entry["backend"] == "local" and rec.get("job_id") == entry["job_id"] and process.alive(rec.get("pid"), key):
            process.kill(rec["pid"])
        entry.update(ended=now(), cancelled=now(), outcome="failed", error="cancelled by `repro cancel`")
    if state.get("tracking") and not any(not e.get("ended") for e in state["jobs"].values()):
        server.stop(state.pop("tracking"))
    save_state(root, state)
    return sorted(jobs)


def table_rows(result: dict) -> tuple[list[tuple[str, ...]], str]:
    """``status`` as table rows (run, state, job, where, epoch, detail) and the lines under the table."""
    rows = []
    for row in result["runs"]:
        where = f"{row.get('host')} GPU {row.get('gpu')}" if row.get("host") else ""
        epoch = f"{row.get('epoch') or 0}/{row.get('epochs') or '?'}" if row["state"] == "running" else ""
        job = f"{row['backend']} {row['job_id']}" if row.get("job_id") else ""
        detail = f"{row['error']} (log: {row.get('log')})" if row.get("error") else ""
        rows.append((row["key"], LABELS.get(row["state"], row["state"]), job, where, epoch, detail))
    lines = [", ".join(f"{n} {LABELS.get(s, s)}" for s, n in result["totals"].items() if n)]
    if "remaining" in result:
        r = result["remaining"]
        lines.append(
            f"remaining: {r['serial_hours']:.1f} h of runs, ~{r['wall_hours']:.1f} h at {r['at_once']} at once"
            f" ({r['source']})" + (f"; {r['note']}" if r.get("note") else "")
        )
    else:
        lines.append(result["remaining_note"])
    return rows, "\n".join(lines)
