"""Why a Slurm job is still pending, and whether it ever can start.

``squeue -o %r`` gives Slurm's reason (Resources, Priority, PartitionConfig, ReqNodeNotAvail...).
Some reasons resolve by waiting; others never do: the job exceeds the partition's limits, or asks
for more CPUs, memory or GPUs per node than any node of its partition has (``scontrol show node``).
Those are flagged, with what the job asks and what the largest node has.
"""

from __future__ import annotations

import re
import subprocess

# reasons that waiting never resolves (an administrator or a new request must)
NEVER = {
    "PartitionConfig": "it exceeds the partition's limits",
    "BadConstraints": "its constraints match no node",
    "PartitionNodeLimit": "it asks more nodes than the partition allows",
    "PartitionTimeLimit": "its time limit exceeds the partition's",
    "InvalidAccount": "its account is invalid",
    "InvalidQOS": "its QOS is invalid",
    "PartitionDown": "its partition is down",
    "PartitionInactive": "its partition is inactive",
}
CHECKED = {"Resources", "ReqNodeNotAvail", "PartitionConfig", "BadConstraints", "Priority", "Nodes_required"}
_MB = {"K": 1 / 1024, "M": 1, "G": 1024, "T": 1024 * 1024}


def _fields(text: str) -> dict[str, str]:
    return dict(m.groups() for m in re.finditer(r"(\S+?)=(\S*)", text))


def _mb(text: str | None) -> float:
    m = re.fullmatch(r"([\d.]+)([KMGT]?)", (text or "").strip())
    return float(m.group(1)) * _MB[m.group(2) or "M"] if m else 0.0


def _gpus(text: str | None) -> int:
    """GPUs in a gres/TRES string: gpu:2, gres:gpu:1, gres/gpu=1, gpu:a100:4(S:0-1)."""
    m = re.search(r"gpu(?::[A-Za-z_]\w*)?[:=](\d+)", text or "")
    return int(m.group(1)) if m else 0


def _run(*cmd: str) -> str:
    try:
        out = subprocess.run(list(cmd), capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return out.stdout if out.returncode == 0 else ""


def reasons(job_ids) -> dict[str, str]:
    """{job id: Slurm's pending reason} for the ``job_ids`` still pending (one ``squeue`` call)."""
    job_ids = set(job_ids)
    if not job_ids:
        return {}
    out = _run("squeue", "--me", "-h", "-r", "-t", "PENDING", "-o", "%i|%r")
    pairs = (line.split("|", 1) for line in out.splitlines() if "|" in line)
    return {j: r.strip() for j, r in pairs if j in job_ids}


def never_starts(job_id: str, reason: str) -> str | None:
    """Why the pending job ``job_id`` can never start, or None when waiting may resolve ``reason``."""
    base = reason.split(",")[0].split("(")[0].strip()
    if base not in CHECKED and base not in NEVER:
        return None
    job = _fields(_run("scontrol", "show", "job", "-o", job_id))
    if job:
        nodes = [_fields(line) for line in _run("scontrol", "show", "node", "-o").splitlines() if line.strip()]
        partitions = set(job.get("Partition", "").split(","))
        nodes = [n for n in nodes if partitions & set(n.get("Partitions", "").split(","))] or nodes
        too_big = _exceeds(job, nodes)
        if too_big:
            return too_big
    return NEVER.get(base)


def _exceeds(job: dict, nodes: list[dict]) -> str | None:
    """What the job asks per node that no node has ("asks 64 CPUs per node; the largest node has 2")."""
    if not nodes:
        return None
    per_node = max(1, int(job.get("NumNodes", "1").split("-")[0] or 1))
    cpus = int(job.get("MinCPUsNode") or 0) or -(-int(job.get("NumCPUs") or 0) // per_node)
    mem = _mb(job.get("MinMemoryNode"))
    if not mem and job.get("MinMemoryCPU"):
        mem = _mb(job["MinMemoryCPU"]) * cpus
    gpus = _gpus(job.get("TresPerNode") or job.get("Gres"))
    asks = [
        ("CPUs", cpus, max(int(n.get("CPUTot") or 0) for n in nodes)),
        ("MB of memory", mem, max(_mb(n.get("RealMemory")) for n in nodes)),
        ("GPUs", gpus, max(_gpus(n.get("Gres")) for n in nodes)),
    ]
    for what, want, most in asks:
        if want and want > most:
            return f"it asks {want:g} {what} per node; the largest node has {most:g}"
    return None


def describe(job_id: str, reason: str) -> tuple[str, bool]:
    """The line shown for a pending job, and whether it can never start."""
    never = never_starts(job_id, reason)
    if never:
        return f"pending ({reason}): can never start, {never}; `repro cancel` it and change launch.slurm", True
    return f"pending ({reason})", False
