"""`repro launch --backend slurm` on the throw-away Slurm cluster (tests/_slurm.py, two fake GPUs).

Four smoke runs as one job array, two at once: each job sees one GPU, dvc.lock records them and a
following `dvc repro` runs no train/evaluate stage; a second launch re-attaches. Then, with longer
runs, a job requeued mid-run (`scontrol requeue`) resumes from its checkpoint and ends with the
metrics of an uninterrupted run, and a job cancelled with `scancel` shows as failed and
`--retry-failed` completes it.
"""

from __future__ import annotations

import json
import shutil
import time

import pytest

from pipeline.rundir import CHECKPOINT
from tests._launch import CHEAP, assert_stage_runs_tagged, dvc, mlflow_runs, records, repro, smoke_project
from tests.conftest import ROOT

pytestmark = [pytest.mark.slurm, pytest.mark.launch]
CONFIGS = CHEAP[:4]
SLURM = {"poll_s": 1, "slurm": {"cpus_per_task": 1, "mem": None, "time": "20", "max_running": 2, "signal_delay_s": 10}}
TIMEOUT = 420
FAST_PROGRESS = {"REPRO_LAUNCH_PROGRESS_S": "1"}  # jobs note their epoch every second (default 10 s)


def _overlap(recs: dict) -> list[tuple[str, str]]:
    keys = sorted(recs)
    return [
        (a, b)
        for i, a in enumerate(keys)
        for b in keys[i + 1 :]
        if recs[a]["started"] < recs[b]["ended"] and recs[b]["started"] < recs[a]["ended"]
    ]


@pytest.fixture(scope="module")
def launched(slurm, tmp_path_factory):
    project = smoke_project(tmp_path_factory.mktemp("launch-slurm") / "project", CONFIGS, launch=SLURM)
    first = repro(project, "launch", "--backend", "slurm", "--no-wait", timeout=TIMEOUT)
    ids = {k: e["job_id"] for k, e in json.loads((project / ".repro" / "launch.json").read_text())["jobs"].items()}
    queue = slurm.run("squeue", "-h", "-r", "-o", "%i").stdout.split()
    second = repro(project, "launch", "--backend", "slurm", timeout=TIMEOUT)  # re-attaches, waits, records
    print(f"slurm: {len(CONFIGS)} runs, launch {first.seconds:.1f} s + watch {second.seconds:.1f} s", flush=True)
    return project, first, second, ids, queue


def test_all_jobs_finish_one_gpu_each_two_at_once(launched):
    project, first, second, ids, _ = launched
    recs = records(project)
    assert set(recs) == {f"{c}-s0" for c in CONFIGS}, second.stderr
    assert all(r["state"] == "done" for r in recs.values()), recs
    assert all(r["gpu"] in ("0", "1") for r in recs.values()), recs  # one GPU index per job
    pairs = _overlap(recs)
    assert pairs, {k: (r["started"], r["ended"]) for k, r in recs.items()}
    assert all(recs[a]["gpu"] != recs[b]["gpu"] for a, b in pairs), recs  # side by side = different GPUs
    assert {r["job_id"] for r in recs.values()} == set(ids.values())


def test_a_second_launch_reattaches_and_submits_nothing(launched):
    project, first, second, ids, queue = launched
    assert "submitted 4 job(s)" in first.stderr, first.stderr
    assert set(ids.values()) <= set(queue) or len(queue) >= 2  # they were in the queue when launch returned
    assert "re-attached to" in second.stderr and "submitted" not in second.stderr, second.stderr
    state = json.loads((project / ".repro" / "launch.json").read_text())
    assert {k: e["job_id"] for k, e in state["jobs"].items()} == ids


def test_dvc_lock_records_them_and_repro_only_renders(launched):
    project, *_ = launched
    stages = [s for c in CONFIGS for s in (f"train@{c}-s0", f"evaluate@{c}-s0")]
    assert json.loads(dvc(project, "status", "--json", *stages).stdout) == {}
    out = dvc(project, "repro")
    ran = [line for line in out.stdout.splitlines() if line.startswith("Running stage")]
    assert ran == ["Running stage 'render':"], out.stdout
    summary = json.loads((project / "smoke" / "metrics" / "summary.json").read_text())
    shown = json.dumps(summary)
    assert all(c in shown for c in CONFIGS), summary
    logs = list((project / ".repro" / "logs" / "slurm").glob("*_log.out"))
    assert len(logs) == len(CONFIGS)


def test_mlflow_runs_carry_the_slurm_tags(launched):
    project, *_ = launched
    assert_stage_runs_tagged(project, mlflow_runs(project), CONFIGS, "slurm")


# ----------------------------------------------------------------------------- requeue and scancel
LONG = ("columbia-a56-c10-mixed-arl", "wang2017-attention56-nal-c10")  # requeued, cancelled


def _wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    pytest.fail(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def interrupted(slurm, tmp_path_factory):
    base = tmp_path_factory.mktemp("launch-slurm-faults")
    project = smoke_project(base / "project", LONG, launch=SLURM, iterations=24)  # 12 epochs: time to interrupt
    (project / ".repro").mkdir()
    shutil.copy(ROOT / "benchmarks" / "plan-cpu.json", project / ".repro" / "plan.json")  # `repro plan --out`
    repro(project, "launch", "--backend", "slurm", "--no-wait", extra_env=FAST_PROGRESS, timeout=TIMEOUT)
    ids = {k: e["job_id"] for k, e in json.loads((project / ".repro" / "launch.json").read_text())["jobs"].items()}
    requeued, cancelled = (f"{c}-s0" for c in LONG)
    for key in (requeued, cancelled):  # a checkpoint on disk, and the job's record has noted its epoch
        _wait_for(
            lambda k=key: (
                (project / "smoke" / "runs" / k / CHECKPOINT).is_file()
                and (records(project).get(k) or {}).get("epoch", 0) >= 1
            ),
            TIMEOUT,
            f"{key}'s first checkpoint",
        )
    running = json.loads(repro(project, "status", "--json").stdout)
    slurm.run("scontrol", "requeue", ids[requeued])
    slurm.run("scancel", ids[cancelled])

    def queue() -> dict[str, str]:
        return dict(line.split("|") for line in slurm.run("squeue", "-h", "-r", "-o", "%i|%T").stdout.split())

    _wait_for(lambda: ids[cancelled] not in queue(), 60, "the scancel")
    # Slurm holds a requeued job for a fixed ~2 minutes (EligibleTime = requeue + 121 s); release it now
    _wait_for(lambda: queue().get(ids[requeued]) == "PENDING", 60, "the requeued job to be pending")
    slurm.run("scontrol", "update", f"JobId={ids[requeued]}", "StartTime=now")
    status = json.loads(repro(project, "status", "--json").stdout)
    watch = repro(project, "launch", "--backend", "slurm", check=False, timeout=TIMEOUT)  # records the requeued one
    retry = repro(project, "launch", "--backend", "slurm", "--retry-failed", timeout=TIMEOUT)
    reference = base / "reference"  # the same run, uninterrupted, in a copy
    skip = shutil.ignore_patterns("runs", "metrics", ".repro", "mlflow.db", "mlartifacts")  # keeps smoke/data
    shutil.copytree(project, reference, ignore=skip)
    key = requeued
    for command in ("train", "evaluate"):
        repro(reference, command, LONG[0], extra_env={"REPRO_TRACKING": "off"}, timeout=TIMEOUT)
    return project, reference, key, cancelled, ids, status, watch, retry, running


def test_status_shows_running_jobs_with_their_epoch_and_the_time_left(interrupted):
    *_, running = interrupted
    rows = {r["key"]: r for r in running["runs"]}
    for c in LONG:
        row = rows[f"{c}-s0"]
        assert row["state"] == "running", row
        assert row["backend"] == "slurm" and row["host"] and row["gpu"] in ("0", "1"), row
        assert 1 <= row["epoch"] <= row["epochs"] == 12, row
    assert running["totals"]["running"] == 2
    remaining = running["remaining"]  # from benchmarks/plan-cpu.json copied to .repro/plan.json
    assert remaining["serial_hours"] > 0 and "plan.json" in remaining["source"], remaining


def test_a_requeued_job_resumes_and_matches_an_uninterrupted_run(interrupted):
    project, reference, key, *_ = interrupted
    rec = records(project)[key]
    assert rec["state"] == "done" and rec["restarts"] >= 1, rec  # SLURM_RESTART_COUNT
    assert rec["resumed_from_epoch"] and rec["resumed_from_epoch"] >= 1, rec  # continued from its checkpoint
    for name in ("train.json", "eval.json"):
        got = json.loads((project / "smoke" / "runs" / key / name).read_text())
        want = json.loads((reference / "smoke" / "runs" / key / name).read_text())
        timings = [k for k in got | want if "second" in k]  # wall-clock figures differ run to run
        for k in timings:
            got.pop(k, None), want.pop(k, None)
        assert got == want, name


def test_a_cancelled_job_shows_failed_and_retry_completes_it(interrupted):
    project, _, requeued, cancelled, ids, status, watch, retry, _ = interrupted
    rows = {r["key"]: r for r in status["runs"]}
    assert rows[cancelled]["state"] == "failed", rows
    assert "CANCELLED" in rows[cancelled]["error"] and rows[cancelled]["log"], rows[cancelled]
    assert rows[requeued]["state"] in ("queued", "running"), rows  # the requeued job is back in the queue
    assert watch.returncode == 1 and "--retry-failed" in watch.stderr, watch.stderr
    assert "submitted 1 job(s)" in retry.stderr, retry.stderr
    assert "started an MLflow server" not in retry.stderr  # one job at a time: SQLite directly, no server
    final = json.loads(repro(project, "status", "--json").stdout)
    assert final["totals"]["done"] == 2, final
    assert records(project)[cancelled]["resumed_from_epoch"] >= 1  # the retry resumed too
