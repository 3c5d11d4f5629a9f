"""A throw-away Slurm cluster for the scale-out tests: munged, slurmctld and slurmd as plain processes.

Everything lives in one temporary folder: slurm.conf, gres.conf, the munge key and socket, state,
spool, pid and log files. The single node declares two fake GPUs as GRES backed by character
devices made with ``mknod`` (major 195, like /dev/nvidiaN), so Slurm hands each job its own
``CUDA_VISIBLE_DEVICES``; ``select/cons_tres`` lets two 1-GPU jobs run side by side. No systemd,
no cgroups (``proctrack/linuxproc``, ``task/none``), no accounting database: clients find the
cluster through ``SLURM_CONF``. Each daemon is a child started here in the foreground and stopped
by its process id. Needs root (slurmd, mknod) and Debian's ``slurm-wlm`` and ``munge``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

BINARIES = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scontrol", "scancel", "sinfo")
SBIN = ("/usr/sbin", "/usr/bin")


class Unavailable(RuntimeError):
    """No Slurm on this machine (binaries or privileges missing): skip, do not fail."""


def _which(name: str) -> str | None:
    return shutil.which(name) or next((f"{d}/{name}" for d in SBIN if os.access(f"{d}/{name}", os.X_OK)), None)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class SlurmCluster:
    base: Path
    conf: Path
    node: str
    gpus: int
    env: dict = field(default_factory=dict)  # SLURM_CONF for clients
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)

    def run(self, *cmd: str, timeout: float = 30, check: bool = True) -> subprocess.CompletedProcess:
        out = subprocess.run(
            [_which(cmd[0]) or cmd[0], *cmd[1:]],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=os.environ | self.env,
        )
        if check and out.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} exited {out.returncode}:\n{out.stdout}\n{out.stderr}")
        return out

    def logs(self, chars: int = 3000) -> str:
        parts = []
        for name in ("munged", "slurmctld", "slurmd"):
            path = self.base / "log" / f"{name}.log"
            with contextlib.suppress(OSError):
                parts.append(f"--- {name}\n{path.read_text(errors='replace')[-chars:]}")
        return "\n".join(parts)

    def wait_idle(self, timeout: float = 60) -> None:
        """Until the node is up and every job has left the queue."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            jobs = self.run("squeue", "-h", "-o", "%i", check=False).stdout.split()
            state = self.run("sinfo", "-h", "-N", "-o", "%T", check=False).stdout.strip()
            if not jobs and state in ("idle", "idle*"):
                return
            time.sleep(0.5)
        raise TimeoutError(f"cluster not idle after {timeout} s\n{self.logs()}")


def _conf(base: Path, node: str, hw: str, gpus: int, munge_socket: Path) -> str:
    ctld, slurmd = _free_port(), _free_port()
    return f"""\
ClusterName=reprotest
SlurmctldHost={node}(127.0.0.1)
SlurmctldPort={ctld}
SlurmdPort={slurmd}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={munge_socket}
StateSaveLocation={base}/state
SlurmdSpoolDir={base}/spool
SlurmctldPidFile={base}/run/slurmctld.pid
SlurmdPidFile={base}/run/slurmd.pid
SlurmctldLogFile={base}/log/slurmctld.log
SlurmdLogFile={base}/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SwitchType=switch/none
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
GresTypes=gpu
ReturnToService=2
KillWait=2
MinJobAge=600
MessageTimeout=20
SlurmdTimeout=60
InactiveLimit=0
MaxArraySize=10000
NodeName={node} NodeAddr=127.0.0.1 {hw} Gres=gpu:{gpus} State=UNKNOWN
PartitionName=debug Nodes={node} Default=YES MaxTime=INFINITE State=UP
"""


@contextlib.contextmanager
def slurm_cluster(gpus: int = 2, timeout: float = 60) -> Iterator[SlurmCluster]:
    """Start munged, slurmctld and slurmd in a temporary folder; stop them by pid on exit."""
    missing = [b for b in BINARIES if _which(b) is None]
    if missing:
        raise Unavailable(
            f"Slurm is not installed (missing {', '.join(missing)}; Debian: apt-get install slurm-wlm munge)"
        )
    if os.geteuid() != 0:
        raise Unavailable("slurmd and mknod need root")
    base = Path(tempfile.mkdtemp(prefix="slurm-test-"))
    for sub in ("state", "spool", "run", "log", "munge", "dev"):
        (base / sub).mkdir()
    os.chmod(base / "munge", 0o700)
    node = socket.gethostname().split(".")[0]
    hw = subprocess.run([_which("slurmd"), "-C"], capture_output=True, text=True, timeout=30).stdout.splitlines()[0]
    hw = " ".join(part for part in hw.split() if not part.startswith("NodeName="))
    devices = []
    for i in range(gpus):  # fake /dev/nvidiaN: Slurm only stat()s them to index the GPUs
        dev = base / "dev" / f"nvidia{i}"
        try:
            os.mknod(dev, 0o600 | 0o020000, os.makedev(195, i))
        except OSError as exc:
            shutil.rmtree(base, ignore_errors=True)
            raise Unavailable(f"cannot mknod a fake GPU device ({exc})") from exc
        devices.append(dev)
    key = base / "munge" / "munge.key"
    key.write_bytes(os.urandom(1024))
    os.chmod(key, 0o400)
    munge_socket = base / "munge" / "munge.socket.2"
    conf = base / "slurm.conf"
    conf.write_text(_conf(base, node, hw, gpus, munge_socket))
    (base / "gres.conf").write_text("".join(f"NodeName={node} Name=gpu File={d}\n" for d in devices))
    cluster = SlurmCluster(base=base, conf=conf, node=node, gpus=gpus, env={"SLURM_CONF": str(conf)})
    env = os.environ | cluster.env
    logs = base / "log"
    commands = {
        "munged": [
            _which("munged"), "--foreground", "--force",
            f"--socket={munge_socket}", f"--key-file={key}", f"--pid-file={base / 'run' / 'munged.pid'}",
            f"--log-file={logs / 'munged.log'}", f"--seed-file={base / 'munge' / 'munged.seed'}",
        ],
        "slurmctld": [_which("slurmctld"), "-D", "-i", "-f", str(conf)],
        "slurmd": [_which("slurmd"), "-D", "-f", str(conf), "-N", node],
    }  # fmt: skip
    try:
        for name, cmd in commands.items():
            out = open(logs / f"{name}.out", "wb")  # noqa: SIM115 - the child holds it; closed with the folder
            cluster.procs[name] = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=base)
            if name == "munged":
                _wait(lambda: munge_socket.exists(), timeout, "munged socket", cluster)
            if name == "slurmctld":
                _wait(lambda: cluster.run("sinfo", "-h", check=False).returncode == 0, timeout, "slurmctld", cluster)
        _wait(
            lambda: cluster.run("sinfo", "-h", "-N", "-o", "%T", check=False).stdout.strip() in ("idle", "idle*"),
            timeout,
            "node idle",
            cluster,
        )
        yield cluster
    finally:
        if "slurmd" in cluster.procs:  # jobs the tests left behind: their slurmstepd would outlive slurmd
            with contextlib.suppress(Exception):
                jobs = cluster.run("squeue", "-h", "-o", "%A", check=False).stdout.split()
                if jobs:
                    cluster.run("scancel", *sorted(set(jobs)), check=False)
                    cluster.wait_idle(timeout=30)
        for name in ("slurmd", "slurmctld", "munged"):  # clients first, the auth daemon last
            proc = cluster.procs.get(name)
            if proc is None:
                continue
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.kill(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=20)
        shutil.rmtree(base, ignore_errors=True)


def _wait(ready, timeout: float, what: str, cluster: SlurmCluster) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for name, proc in cluster.procs.items():
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited {proc.returncode} while waiting for {what}\n{cluster.logs()}")
        if ready():
            return
        time.sleep(0.3)
    raise TimeoutError(f"{what} not ready after {timeout} s\n{cluster.logs()}")
