"""``repro status`` and ``repro cancel``: each selected run's state, from dvc.lock, the launch state,
the jobs' own records and the backend (``squeue`` for Slurm, the job's pid for local jobs; Ray jobs
live only while their launcher does, so their records are trusted while it runs)."""

from __future__ import annotations

import json
from pathlib import Path

from ..planfile import PROJECT_PLAN, find_plan, read_plan, seconds_per_run
from ..rundir import TRAIN_METRICS
from . import server
from .backends import process
from .config import LaunchError, launch_settings
from .launcher import judge, request_cancel
from .lineage import judge as judge_runs
from .selection import select
from .state import launcher_pid, load_state, now, open_jobs, read_record, save_state

STATES = ("done", "finished", "stale", "refused", "running", "queued", "failed", "not started")
LABELS = {"finished": "finished, not recorded", "stale": "finished, stale"}


def _slurm_states(job_ids: list[str]) -> dict[str, str] | None:
    """squeue's view of the jobs; None when Slurm cannot be asked (the jobs then read as queued)."""
    if not job_ids:
        return {}
    from .backends.slurm import queue_states

    try:
        return queue_states(job_ids)
    except LaunchError:
        return None


def _slurm_pending(slurm: dict[str, str]) -> dict[str, dict]:
    """{job id: {"reason", "never_starts"}} for the queued Slurm jobs: Slurm's pending reason,
    flagging one that cannot resolve (the request exceeds every node, the partition's limits...)."""
    from .backends import pending

    out = {}
    for job_id, reason in pending.reasons([j for j, s in slurm.items() if s == "queued"]).items():
        if reason and reason != "None":
            line, never = pending.describe(job_id, reason)
            out[job_id] = {"reason": line, "never_starts": never}
    return out


def _cause(project, entry: dict) -> str | None:
    """Why a job that left its backend ended, where that can be told without its launcher (Slurm)."""
    if entry["backend"] != "slurm":
        return None
    from .backends.slurm import job_cause, log_folder

    try:
        return job_cause(log_folder(project.root, launch_settings(project)), entry["job_id"])
    except Exception:
        return None


def status(project, patterns=None, source=None, table=None, seeds=None, plan_path: Path | None = None) -> dict:
    root = project.root
    refs = select(project.params.runs, patterns, source, table, seeds)
    classes = judge_runs(root, refs, project.runs_dir)
    state = load_state(root)
    watcher = launcher_pid(root)
    live_jobs = open_jobs(state, [r.key for r in refs])
    slurm = _slurm_states([e["job_id"] for e in live_jobs.values() if e["backend"] == "slurm"]) or {}
    waiting = _slurm_pending(slurm) if slurm else {}
    rows = []
    for r in refs:
        entry = state["jobs"].get(r.key) or {}
        rec = read_record(root, r.key) or {}
        row = {"key": r.key, "config": r.config, "seed": r.seed}
        judged, why = classes[r.key]
        other = _other_profile(project, r.key)
        if other:
            row["state"], row["why"] = "refused", [other]
        elif judged == "done":
            row["state"] = "done"
        elif judged == "unrecorded":
            row["state"] = "finished"
        elif entry and not entry.get("ended"):
            live = _live(entry, rec, r.key, slurm, watcher)
            if live == "gone":
                outcome, why = judge(project, r.key, entry, lambda e=entry: _cause(project, e))
                row["state"] = outcome
                if why:
                    row["error"] = why
            else:
                row["state"] = live
        elif judged == "stale":
            row["state"], row["why"] = "stale", why
        elif entry.get("outcome") == "failed":
            row["state"], row["error"] = "failed", entry.get("error")
        else:
            row["state"] = "not started"
        if entry and row["state"] in ("running", "queued", "failed"):
            row |= {"backend": entry.get("backend"), "job_id": entry.get("job_id"), "log": entry.get("log")}
        if row["state"] == "queued" and entry.get("backend") == "slurm":
            row |= waiting.get(entry["job_id"], {})
        if row["state"] == "running" and rec.get("job_id") == entry.get("job_id"):
            row |= {k: rec.get(k) for k in ("host", "gpu", "epoch", "epochs", "attempts")}
        rows.append(row)
    totals = {s: sum(1 for row in rows if row["state"] == s) for s in STATES}
    result = {
        "runs": rows,
        "totals": totals,
        "launcher_pid": watcher,
        "tracking": (state.get("tracking") or {}).get("uri"),
    }
    path = plan_path or find_plan(root)
    if path is not None:
        plan = read_plan(path)
        per_run = seconds_per_run(plan)
        remaining, unknown = 0.0, []
        for row in rows:
            if row["state"] in ("done", "finished", "refused"):
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
            "source": f"estimate from {path} ({plan.get('device_name', '?')})",
        }
        if project.profile == "smoke":
            result["remaining"]["note"] = "the plan estimates full-profile runs; smoke runs take seconds"
    else:
        result["remaining_note"] = f"no time estimate: no plan (write one with `repro plan --out {PROJECT_PLAN}`)"
    result["adaptive"] = adaptive_lines(project.root)
    return result


def _other_profile(project, key: str) -> str | None:
    """Why a run's folder is refused: it holds a run of another profile (its train.json says which)."""
    try:
        recorded = json.loads((project.runs_dir / key / TRAIN_METRICS).read_text()).get("profile")
    except (OSError, ValueError, AttributeError):
        return None
    if recorded and recorded != project.profile:
        return f"a {recorded}-profile run in the {project.profile} profile's runs"
    return None


def adaptive_lines(root: Path) -> list[str]:
    """The rounds of ``repro launch --adaptive`` (``.repro/adaptive.json``), as it printed them."""
    from .adaptive import load, round_line
    from .adaptive_backend import state_path

    state = load(state_path(root)) or {}
    lines = [round_line(r) for r in state.get("rounds", [])]
    decided = state.get("decided", {})
    if decided:
        counts: dict[str, int] = {}
        for d in decided.values():
            counts[f"{d['verdict']} ({d['rule']})"] = counts.get(f"{d['verdict']} ({d['rule']})", 0) + 1
        lines.append("verdicts: " + "; ".join(f"{n} {k}" for k, n in sorted(counts.items())))
    return lines


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
    jobs = open_jobs(state, [r.key for r in refs])
    if not jobs:
        return []
    watcher = launcher_pid(root)
    if watcher:  # the watching launcher owns the state: it cancels and reports each job's end
        request_cancel(root, list(jobs))
        return sorted(jobs)
    slurm = [e["job_id"] for e in jobs.values() if e["backend"] == "slurm"]
    if slurm:
        from .backends.slurm import scancel

        scancel(slurm)
    for key, entry in jobs.items():
        rec = read_record(root, key) or {}
        if entry["backend"] == "local" and rec.get("job_id") == entry["job_id"] and process.alive(rec.get("pid"), key):
            process.kill(rec["pid"])
        entry.update(ended=now(), cancelled=now(), outcome="failed", error="cancelled by `repro cancel`")
    server.stop_if_idle(state)
    save_state(root, state)
    return sorted(jobs)


def table_rows(result: dict) -> tuple[list[tuple[str, ...]], str]:
    """``status`` as table rows (run, state, job, where, epoch, detail) and the lines under the table."""
    rows = []
    for row in result["runs"]:
        where = f"{row.get('host')} GPU {row.get('gpu')}" if row.get("host") else ""
        epoch = f"{row.get('epoch') or 0}/{row.get('epochs') or '?'}" if row["state"] == "running" else ""
        job = f"{row['backend']} {row['job_id']}" if row.get("job_id") else ""
        detail = f"{row['error']} (log: {row.get('log')})" if row.get("error") else "; ".join(row.get("why") or [])
        detail = detail or row.get("reason", "")
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
    lines += [f"adaptive {line}" for line in result.get("adaptive", [])]
    return rows, "\n".join(lines)
