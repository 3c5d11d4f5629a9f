"""``repro doctor``: first contact with a machine's GPUs before a long run. One line per check (ok /
warn / fail / skip, and what to do): devices and the precision chosen, numerics of the fast path
against fp32 eager per model family, torch.compile, NCCL between the GPUs, the prepared data, the
tracking store, disk space for the checkpoints, and the selection's GPU-hours from a plan.

Nothing here imports MLflow or DVC (a GPU node may have neither): the tracking check only looks for
them. On a CPU machine the GPU checks say so and the rest still run."""

from __future__ import annotations

import dataclasses
import importlib.util
import math
import os
import shutil
import socket
import time
import urllib.request
from dataclasses import asdict, dataclass

import torch

from ..catalog import Configuration, get_configuration
from ..data import DATASETS, archive_digest, read_manifest
from ..errors import ReproError
from ..execution import Execution, capability, grad_scaler
from ..inventory import config_costs, input_shape
from ..models import create_model, model_info
from ..planfile import find_plan, read_plan, seconds_per_run
from ..settings import Project
from ..tracking import store_root, tracking_uri
from ..training import make_optimizer, train_step

STEPS = 3  # training steps per family in the numerics check
TOLERANCE = {"bf16": 0.05, "fp16": 0.05, "fp32": 1e-3}  # max relative loss difference per step vs fp32 eager
FIT_SHARE = 0.9  # a configuration "fits" when its peak memory stays under this share of the device's
OPTIMIZER_SLOTS = {"sgd": 1, "adam": 2}  # state tensors per parameter (momentum; Adam's two moments)


@dataclass
class Check:
    name: str
    status: str  # ok | warn | fail | skip
    detail: str
    fix: str = ""

    def line(self) -> str:
        return f"{self.status:<4} {self.name}: {self.detail}" + (f"; {self.fix}" if self.fix else "")


def _gb(n: float) -> str:
    return f"{n / 1e9:.1f} GB"


def check_devices(project: Project) -> tuple[Check, Execution | None]:
    """CUDA devices, driver, torch/CUDA/cuDNN versions, compute capability, the precision chosen."""
    versions = f"torch {torch.__version__}, CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}"
    try:
        exe = Execution.for_profile(project.params, project.profile)
    except ReproError as exc:
        return Check("devices", "fail", str(exc)), None
    if exe.device.type != "cuda":
        fix = "train on a GPU machine or a cluster (`repro launch`); `make demo` runs the smoke profile here"
        cpu_ok = project.profile == "smoke" or project.params.train.allow_cpu
        return Check("devices", "warn" if cpu_ok else "fail", f"no CUDA GPU ({versions})", fix), exe
    names = []
    for i in range(torch.cuda.device_count()):
        major, minor = torch.cuda.get_device_capability(i)
        names.append(f"cuda:{i} {torch.cuda.get_device_name(i)} sm_{major}{minor}")
    arch = "sm_{}{}".format(*capability(exe.device))
    built = torch.cuda.get_arch_list()
    detail = f"{'; '.join(names)}; driver {_driver()}; {versions}; precision {exe.precision} ({exe.precision_reason})"
    if built and arch not in built and not any(a.startswith("compute_") for a in built):
        return Check("devices", "fail", f"{detail}; this torch build has no kernels for {arch} ({built})",
                     "install a torch build for this GPU (pytorch.org, matching CUDA)"), exe  # fmt: skip
    return Check("devices", "ok", detail), exe


def _driver() -> str:
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return "unknown (no nvidia-smi)"
    import subprocess

    out = subprocess.run([smi, "--query-gpu=driver_version", "--format=csv,noheader"], capture_output=True, text=True)
    return out.stdout.splitlines()[0].strip() if out.returncode == 0 and out.stdout else "unknown"


def _params(config: Configuration) -> int:
    """Trainable parameters of the configuration's model (``inventory``'s counts, kept for the process)."""
    return config_costs([config])[config.name][0]


def largest_per_family(configs: list[Configuration]) -> dict[str, Configuration]:
    """Each model family's most demanding configuration: the most parameters × recipe batch."""
    best: dict[str, tuple[int, Configuration]] = {}
    for c in configs:
        family = model_info(c.model).family or c.model
        size = _params(c) * c.recipe.batch_size
        if family not in best or size > best[family][0]:
            best[family] = (size, c)
    return {family: c for family, (_, c) in sorted(best.items())}


def _steps(config: Configuration, exe: Execution, steps: int, batch: int) -> tuple[list[float], int | None, float]:
    """(losses, peak bytes on CUDA, seconds per step) of ``steps`` steps on one fixed random batch."""
    device = exe.device
    classes, size = input_shape(config)
    torch.manual_seed(0)
    model = create_model(config.model, classes, **config.model_options).to(device)
    if exe.channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = make_optimizer(model, config.recipe, exe.optimizer_impl)
    scaler = grad_scaler(exe)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(batch, 3, size, size, generator=g).to(device)
    y = torch.randint(0, classes, (batch,), generator=g).to(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    losses, t0 = [], time.perf_counter()
    for _ in range(steps):
        loss, _ = train_step(model, optimizer, x, y, exe, scaler)
        losses.append(loss)
    losses = [float(v) for v in losses]  # one sync at the end
    seconds = (time.perf_counter() - t0) / steps
    peak = torch.cuda.max_memory_allocated(device) if device.type == "cuda" else None
    del model, optimizer
    return losses, peak, seconds


def check_numerics(configs: list[Configuration], exe: Execution, steps: int = STEPS, batch_cap: int | None = None):
    """Per family: the fast path (precision, channels_last, optimiser kernel; compile is checked apart)
    against fp32 eager, same device, batch and initial weights; peak memory and whether it fits."""
    checks, timing = [], {}
    eager, fast = exe.eager(), dataclasses.replace(exe, compile=None)  # compile: its own check
    total = torch.cuda.get_device_properties(exe.device).total_memory if exe.device.type == "cuda" else None
    tol = TOLERANCE[exe.precision]
    for family, c in largest_per_family(configs).items():
        batch = min(c.recipe.batch_size, batch_cap or c.recipe.batch_size)
        name = f"numerics {family}"
        try:
            ref, _, _ = _steps(c, eager, steps, batch)
            got, peak, seconds = _steps(c, fast, steps, batch)
        except torch.cuda.OutOfMemoryError:
            fix = "use a GPU with more memory, or split the batch over GPUs (launch.gpus_per_run: 2)"
            checks.append(Check(name, "fail", f"{c.name} at batch {batch} does not fit in {_gb(total or 0)}", fix))
            continue
        finally:
            if exe.device.type == "cuda":
                torch.cuda.empty_cache()
        timing[family] = seconds
        worst = max(abs(a - b) / max(abs(b), 1e-8) for a, b in zip(got, ref, strict=True))
        fits = "" if peak is None else f", peak {_gb(peak)} of {_gb(total)}"
        detail = (
            f"{c.name} batch {batch}: {exe.precision} loss {got[-1]:.4f} vs fp32 eager {ref[-1]:.4f} over {steps} "
            f"steps (max relative difference {worst:.2e}, tolerance {tol:g}){fits}, {1e3 * seconds:.0f} ms/step"
        )
        if not all(map(math.isfinite, got)) or worst > tol:
            checks.append(Check(name, "fail", detail, "set train.precision: fp32 in params.yaml"))
        elif peak is not None and peak > FIT_SHARE * total:
            checks.append(Check(name, "warn", detail + " (near the limit)", "expect out-of-memory on a busier GPU"))
        else:
            checks.append(Check(name, "ok", detail))
    return checks, timing


def check_compile(project: Project, configs: list[Configuration], exe: Execution) -> Check:
    """torch.compile of the smallest model of the selection, one training step, when params.yaml enables it."""
    mode = project.params.train.compile
    if mode == "off":
        return Check("torch.compile", "skip", "off in params.yaml (train.compile)")
    import torch._dynamo

    c = min(configs, key=_params)
    classes, size = input_shape(c)
    model = create_model(c.model, classes, **c.model_options).to(exe.device)
    saved = torch._dynamo.config.suppress_errors
    try:
        torch._dynamo.config.suppress_errors = False  # a failure here is the answer, not a silent fallback
        compiled = torch.compile(model, mode=mode)  # not maybe_compile: that one falls back to eager quietly
        t0 = time.perf_counter()
        compiled(torch.randn(2, 3, size, size, device=exe.device)).sum().backward()
        return Check("torch.compile", "ok", f"mode {mode} compiled {c.model} in {time.perf_counter() - t0:.0f} s")
    except Exception as exc:
        reason = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
        return Check("torch.compile", "warn", f"mode {mode} failed on {c.model} ({type(exc).__name__}: {reason})",
                     "training will run eager (or set train.compile: off)")  # fmt: skip
    finally:
        torch._dynamo.config.suppress_errors = saved
        torch._dynamo.reset()


def _allreduce_worker(rank: int, world: int, backend: str, port: int) -> None:
    import torch.distributed as dist

    device = torch.device("cuda", rank) if backend == "nccl" else torch.device("cpu")
    dist.init_process_group(backend, init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    try:
        t = torch.full((1024,), float(rank + 1), device=device)
        dist.all_reduce(t)
        expected = world * (world + 1) / 2
        if not torch.all(t == expected):
            raise RuntimeError(f"rank {rank}: all-reduce gave {t[0].item()}, expected {expected}")
    finally:
        dist.destroy_process_group()


def allreduce(backend: str, world: int) -> float:
    """An all-reduce over ``world`` processes (one per GPU for NCCL); its wall time. Raises on failure."""
    import torch.multiprocessing as mp

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t0 = time.perf_counter()
    mp.start_processes(_allreduce_worker, args=(world, backend, port), nprocs=world, join=True, start_method="spawn")
    return time.perf_counter() - t0


def check_nccl(exe: Execution) -> Check:
    if exe.device.type != "cuda":
        return Check("nccl", "skip", "no CUDA GPU")
    n = torch.cuda.device_count()
    if n < 2:
        return Check("nccl", "skip", "one GPU: DDP is not used")
    try:
        seconds = allreduce("nccl", n)
    except Exception as exc:
        return Check("nccl", "fail", f"all-reduce over {n} GPUs failed ({type(exc).__name__}: {exc})",
                     "check NCCL (NCCL_DEBUG=INFO) or run one GPU per job (launch.gpus_per_run: 1)")  # fmt: skip
    return Check("nccl", "ok", f"all-reduce over {n} GPUs in {seconds:.1f} s")


def check_data(project: Project, datasets: list[str]) -> list[Check]:
    checks = []
    for ds in datasets:
        fix = f"run `repro --profile {project.profile} fetch {ds}`"
        try:
            manifest = read_manifest(project.data_dir(ds))
        except ReproError:
            checks.append(Check(f"data {ds}", "fail", f"not fetched ({project.data_dir(ds)})", fix))
            continue
        key, digest = archive_digest(manifest)
        source = DATASETS.get(ds)
        if project.profile == "full" and manifest.get("synthetic"):
            checks.append(Check(f"data {ds}", "fail", "holds the smoke profile's synthetic stand-in", fix))
        elif project.profile == "full" and source is not None and source.digest and digest != source.digest:
            checks.append(Check(f"data {ds}", "fail", f"{key} {digest} is not the official {source.digest}", fix))
        else:
            n = sum(s["images"] for s in manifest["splits"].values())
            checks.append(Check(f"data {ds}", "ok", f"{n:,} images, {key} {digest[:12]}"))
    return checks


def check_tracking(project: Project) -> Check:
    if os.environ.get("REPRO_TRACKING", "on") == "off":
        return Check("tracking", "skip", "REPRO_TRACKING=off")
    uri = tracking_uri(project.root)
    if uri.startswith(("http://", "https://")):
        try:
            with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=5) as r:
                r.read()
        except OSError as exc:
            return Check(
                "tracking", "fail", f"{uri} unreachable ({exc})", "start the server or fix MLFLOW_TRACKING_URI"
            )
        return Check("tracking", "ok", f"{uri} answers")
    if importlib.util.find_spec("mlflow") is None:
        return Check("tracking", "warn", "mlflow is not installed: stages run untracked", "pip install -e .")
    folder = store_root(project.root)
    if not os.access(folder if folder.exists() else folder.parent, os.W_OK):
        return Check("tracking", "fail", f"{folder} is not writable", "set MLFLOW_TRACKING_URI to a server")
    return Check("tracking", "ok", uri)


def check_disk(project: Project, configs: dict[str, Configuration], runs: list[str], gpus: int) -> Check:
    """model.pt of every run (fp32 weights) plus one checkpoint (weights and optimiser state) per run
    training at once."""
    params = {name: _params(c) for name, c in configs.items()}
    weights = sum(4 * params[c] for c in runs)
    ckpt = max(4 * params[c] * (2 + OPTIMIZER_SLOTS.get(configs[c].recipe.optimizer, 1)) for c in runs)
    need = weights + max(1, gpus) * ckpt
    folder = project.runs_dir
    while not folder.exists():
        folder = folder.parent
    free = shutil.disk_usage(folder).free
    detail = (
        f"{len(runs)} runs need about {_gb(need)} (weights {_gb(weights)}, checkpoints); {_gb(free)} free at {folder}"
    )
    if free < need:
        return Check("disk", "fail", detail, f"free {_gb(need - free)} or move runs/ to a bigger disk")
    return Check("disk", "warn" if free < 2 * need else "ok", detail)


def check_estimate(project: Project, runs: list[str], timing: dict[str, float]) -> Check:
    measured = ", ".join(f"{f} {1e3 * s:.0f} ms/step" for f, s in timing.items())
    path = find_plan(project.root)
    if path is None:
        return Check(
            "estimate", "warn", f"no plan ({measured or 'nothing timed'})", "`repro plan --out .repro/plan.json`"
        )
    plan = read_plan(path)
    per_run = seconds_per_run(plan)
    missing = sorted({c for c in runs if c not in per_run})
    hours = sum(per_run[c] for c in runs if c in per_run) / 3600
    unit = "GPU-h" if plan.get("gpu_hours") is not None else "h"
    detail = f"{len(runs)} runs ≈ {hours:,.0f} {unit} on {plan.get('device_name', '?')} ({path.name})"
    detail += f"; this device: {measured}" if measured else ""
    if missing:
        return Check("estimate", "warn", f"{detail}; {len(missing)} configurations not in the plan",
                     "measure them here: `repro plan --out .repro/plan.json`")  # fmt: skip
    return Check("estimate", "ok", detail)


def run_checks(project: Project, runs: list[tuple[str, str]], numerics_on_cpu: bool = False):
    """Every check over the selection ``runs`` ([(config, dataset)], one entry per run), yielded as it ends."""
    names = [c for c, _ in runs]
    configs = {c: get_configuration(c) for c in dict.fromkeys(names)}
    trainable = [c for c in configs.values() if not c.requires]  # ImageNet-only entries are listed, not trained
    device_check, exe = check_devices(project)
    yield device_check
    timing = {}
    if exe is None or not trainable:
        yield Check("numerics", "skip", "no usable device, or nothing trainable selected")
    elif exe.device.type == "cuda" or numerics_on_cpu:
        found, timing = check_numerics(trainable, exe)
        yield from found
    else:
        yield Check("numerics", "skip", "no CUDA GPU: the fast path is fp32 eager here, nothing to compare")
    if exe is not None and trainable:
        yield check_compile(project, trainable, exe)
    else:
        yield Check("torch.compile", "skip", "no usable device")
    yield check_nccl(exe) if exe is not None else Check("nccl", "skip", "no usable device")
    yield from check_data(project, sorted({d for c, d in runs if not configs[c].requires}))
    yield check_tracking(project)
    trained = [c for c in names if not configs[c].requires]
    gpus = torch.cuda.device_count() if exe is not None and exe.device.type == "cuda" else 1
    yield check_disk(project, configs, trained, gpus) if trained else Check("disk", "skip", "no runs to train")
    yield check_estimate(project, trained, timing)


def report(checks: list[Check]) -> dict:
    return {"ok": not any(c.status == "fail" for c in checks), "checks": [asdict(c) for c in checks]}
