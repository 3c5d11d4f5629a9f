"""Every GPU of this machine: one run per GPU at a time (``runs_per_gpu`` raises that), each job
pinned through ``CUDA_VISIBLE_DEVICES``; with ``gpus_per_run`` > 1 a job gets that many GPUs (DDP).
Without a GPU, ``cpu_workers`` jobs at once with the cores split between them (``OMP_NUM_THREADS``).

The device list is every visible GPU unless ``launch.local.devices`` lists indices; the environment
variable ``REPRO_LAUNCH_DEVICES`` (``0,1`` or ``none``) overrides both (tests simulate GPUs with it).
Jobs are processes in their own session: Ctrl-C on the launcher leaves them running and a later
launch re-attaches through their pid (kept in the job's record).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from ..config import LaunchError, LaunchSettings
from ..state import read_record
from . import process


def visible_gpus(settings: LaunchSettings) -> list[int]:
    override = os.environ.get("REPRO_LAUNCH_DEVICES")
    if override is not None:
        if override.strip().lower() in ("", "none", "cpu"):
            return []
        try:
            return [int(d) for d in override.split(",")]
        except ValueError:
            raise LaunchError(f"REPRO_LAUNCH_DEVICES={override!r}: use GPU indices like 0,1 or none") from None
    if settings.local.devices != "auto":
        return list(settings.local.devices)
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [int(d) for d in visible.split(",") if d.strip().isdigit()]
    try:
        import torch

        return list(range(torch.cuda.device_count()))
    except Exception:
        return []


class LocalBackend:
    name = "local"
    outlives_launcher = True  # jobs are processes in their own session

    def __init__(self, root: Path, settings: LaunchSettings):
        self.root, self.settings = root, settings
        self.logs = root / settings.logs / "local"
        gpus, per = visible_gpus(settings), settings.gpus_per_run
        cores = os.cpu_count() or 1
        if gpus:
            if per > len(gpus):
                raise LaunchError(f"gpus_per_run is {per} but this machine shows {len(gpus)} GPU(s): {gpus}")
            groups = [gpus[i : i + per] for i in range(0, len(gpus) - per + 1, per)]
            self.slots = [",".join(map(str, g)) for g in groups for _ in range(settings.local.runs_per_gpu)]
            self.threads = max(1, cores // len(self.slots))
        else:
            workers = settings.local.cpu_workers or max(1, cores // 4)
            self.slots = [None] * workers
            self.threads = max(1, cores // workers)
        self.devices = gpus
        self.busy: dict[int, str] = {}  # slot → key
        self.pending: list[tuple[str, str, dict]] = []  # (key, job id, spec)
        self.procs: dict[str, tuple[subprocess.Popen, int, str]] = {}  # key → (process, slot, job id)
        self.exits: dict[str, int] = {}
        self.counter = 0

    def describe(self) -> str:
        if self.devices:
            return f"{len(self.slots)} at once on GPU(s) {self.devices}"
        return f"{len(self.slots)} at once on the CPU, {self.threads} thread(s) each"

    def capacity(self) -> int:
        return len(self.slots)

    def log_path(self, key: str, job_id: str) -> Path:
        return self.logs / f"{key}.log"

    def submit(self, specs: list[dict]) -> dict[str, str]:
        ids = {}
        for spec in specs:
            self.counter += 1
            job_id = f"local-{os.getpid()}-{self.counter}"
            spec = spec | {"threads": self.threads, "log": str(self.log_path(spec["key"], job_id))}
            self.pending.append((spec["key"], job_id, spec))
            ids[spec["key"]] = job_id
        self._start_pending()
        return ids

    def _start_pending(self) -> None:
        for key, (proc, slot, _) in list(self.procs.items()):
            if proc.poll() is not None:
                self.exits[key] = proc.returncode
                del self.procs[key]
                self.busy.pop(slot, None)
        while self.pending:
            free = [i for i in range(len(self.slots)) if i not in self.busy]
            if not free:
                return
            key, job_id, spec = self.pending.pop(0)
            slot = free[0]
            env = {"REPRO_JOB_ID": job_id, "OMP_NUM_THREADS": str(self.threads), "MKL_NUM_THREADS": str(self.threads)}
            if self.slots[slot] is not None:
                env["CUDA_VISIBLE_DEVICES"] = self.slots[slot]
            self.procs[key] = (process.start(spec, Path(spec["log"]), env), slot, job_id)
            self.busy[slot] = key

    def poll(self, jobs: dict[str, str]) -> dict[str, str]:
        self._start_pending()
        states = {}
        queued = {k for k, _, _ in self.pending}
        for key, job_id in jobs.items():
            if key in queued:
                states[key] = "queued"
            elif key in self.procs and self.procs[key][2] == job_id:
                states[key] = "running"
            else:
                record = read_record(self.root, key) or {}
                running = record.get("job_id") == job_id and process.alive(record.get("pid"), key)
                if running:  # a job of an earlier launcher: it keeps its slot
                    slot = next((i for i, s in enumerate(self.slots) if s == record.get("gpu")), None)
                    if slot is None:
                        slot = next((i for i in range(len(self.slots)) if i not in self.busy), None)
                    if slot is not None:
                        self.busy[slot] = key
                else:
                    for slot, owner in list(self.busy.items()):
                        if owner == key and key not in self.procs:
                            del self.busy[slot]
                states[key] = "running" if running else "gone"
        return states

    def cause(self, key: str, job_id: str) -> str | None:
        code = self.exits.get(key)
        if code is not None and code < 0:
            return f"the job process was killed by signal {-code}"
        if code is not None:
            return f"the job process exited {code}"
        return None

    def cancel(self, jobs: dict[str, str]) -> list[str]:
        cancelled = []
        for key, job_id in jobs.items():
            before = len(self.pending)
            self.pending = [p for p in self.pending if p[0] != key]
            if len(self.pending) != before:
                cancelled.append(key)
                continue
            record = read_record(self.root, key) or {}
            if record.get("job_id") == job_id and process.alive(record.get("pid"), key):
                process.kill(record["pid"])
                cancelled.append(key)
        return cancelled

    def close(self) -> None:
        pass
