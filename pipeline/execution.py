"""How a recipe is executed: device, seeding and determinism, distributed set-up, torch.compile,
autocast precision and memory format. None of these change the recipe, only its speed.

The CUDA defaults depend on the device's compute capability (``choose_precision``
and the README's table): bf16 autocast where it is native (sm >= 8.0), fp32 before that; fp16
autocast with a GradScaler only when asked for."""

from __future__ import annotations

import contextlib
import os
import random
import re
import sys
import warnings
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from .errors import ReproError

BF16_MIN_CAPABILITY = (8, 0)  # Ampere: native bf16 tensor cores (V100 sm_70 and T4 sm_75 have none)
CUBLAS_WORKSPACE = ":4096:8"  # what cuBLAS needs for deterministic results (CUDA docs, "Reproducibility")
FP16_NOTE = "fp16 autocast with a GradScaler can change results (range and rounding differ from fp32)"


class ExecutionError(ReproError, ValueError):
    pass


@dataclass(frozen=True)
class Execution:
    """How a recipe is executed; none of these change the recipe."""

    device: torch.device = torch.device("cpu")
    deterministic: bool = True  # bitwise-repeatable on CPU; CUDA interpolate backward stays nondeterministic
    precision: str = "fp32"  # autocast dtype: fp32 (none) | bf16 (no GradScaler) | fp16 (with a GradScaler)
    channels_last: bool = False  # NHWC memory format for convolutions
    compile: str | None = None  # torch.compile mode: default | reduce-overhead | max-autotune; None = eager
    optimizer_impl: str | None = "auto"  # auto | foreach | fused | loop; None = torch's default (eager baseline)
    epoch_steps_cap: int | None = None  # smoke profile: steps per "epoch"
    eval_cap: int | None = None  # smoke profile: evaluate on the first N validation/test images only
    threads: int = 0  # CPU threads for torch; 0 = torch's default
    precision_reason: str = field(default="", compare=False)  # why this precision (the rule that chose it)

    def eager(self) -> Execution:
        """fp32 eager with torch's default optimiser on the same device: what the fast path is compared with."""
        return Execution(device=self.device, deterministic=self.deterministic, optimizer_impl=None)

    @property
    def grad_scaler(self) -> bool:
        return self.precision == "fp16"

    @classmethod
    def from_settings(cls, train, epoch_steps_cap: int | None = None, eval_cap: int | None = None, threads: int = 0):
        """From params.yaml's ``train:`` section (``settings.TrainSettings``); ``auto`` resolved here."""
        device = resolve_device(train.device)
        cuda = device.type == "cuda"
        precision, reason = choose_precision(train.precision, device)
        return cls(
            device=device,
            deterministic=train.deterministic,
            precision=precision,
            precision_reason=reason,
            channels_last=train.channels_last == "on" or (train.channels_last == "auto" and cuda),
            compile=None if train.compile == "off" else train.compile,
            optimizer_impl=train.optimizer_impl,
            epoch_steps_cap=epoch_steps_cap,
            eval_cap=eval_cap,
            threads=threads or train.threads,
        )

    @classmethod
    def for_profile(cls, params, profile: str):
        """The execution settings of a profile (smoke: short epochs, small evaluation sets, its threads)."""
        if profile != "smoke":
            return cls.from_settings(params.train)
        s = params.smoke
        return cls.from_settings(params.train, s.eval_every, s.eval_images, s.threads)

    def apply(self) -> None:
        """Process-wide settings (thread count)."""
        if self.threads:
            torch.set_num_threads(self.threads)

    def record(self) -> dict:
        """What a run records of its execution (train.json ``execution``, MLflow ``execution.*`` params)."""
        cap = capability(self.device)
        return {
            "device": str(self.device),
            "device_name": torch.cuda.get_device_name(self.device) if self.device.type == "cuda" else "cpu",
            "capability": None if cap is None else f"{cap[0]}.{cap[1]}",
            "precision": self.precision,
            "precision_rule": self.precision_reason,
            "grad_scaler": self.grad_scaler,
            "deterministic": self.deterministic,
            "cublas_workspace_config": os.environ.get("CUBLAS_WORKSPACE_CONFIG"),
            "cudnn_benchmark": bool(torch.backends.cudnn.benchmark),
            "channels_last": self.channels_last,
            "compile": self.compile or "off",
            "optimizer_impl": self.optimizer_impl or "default",
            "torch": torch.__version__,
            "cuda": torch.version.cuda,
            "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        }

    @property
    def cuda_graphs(self) -> bool:
        """reduce-overhead on CUDA: each step replays CUDA graphs and must be marked."""
        return self.compile == "reduce-overhead" and self.device.type == "cuda"


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def capability(device: torch.device) -> tuple[int, int] | None:
    """The CUDA compute capability (major, minor); None off CUDA."""
    if device.type != "cuda":
        return None
    return tuple(torch.cuda.get_device_capability(device))


def choose_precision(setting: str, device: torch.device) -> tuple[str, str]:
    """(precision, the rule that chose it) for params.yaml's ``train.precision`` on ``device``; the
    README's "Execution defaults" table. A bf16 request on a GPU without native bf16 is refused."""
    cap = capability(device)
    if cap is None:
        if setting == "fp16":
            raise ExecutionError(
                "train.precision: fp16 needs a CUDA GPU (autocast with a GradScaler); use fp32 or bf16 on a CPU"
            )
        return ("bf16", "bf16 asked for (CPU autocast)") if setting == "bf16" else ("fp32", "CPU: fp32")
    sm = f"sm_{cap[0]}{cap[1]}"
    native = cap >= BF16_MIN_CAPABILITY
    if setting == "fp32":
        return "fp32", "fp32 asked for"
    if setting == "fp16":
        return "fp16", f"fp16 asked for on {sm}: {FP16_NOTE}"
    if setting == "bf16" and not native:
        raise ExecutionError(
            f"train.precision: bf16 on {sm} ({torch.cuda.get_device_name(device)}): this GPU has no native bf16 "
            "(slow or unsupported); use precision: auto (fp32 here) or fp16 (autocast with a GradScaler)"
        )
    if setting == "bf16":
        return "bf16", f"bf16 asked for on {sm}"
    if native:
        return "bf16", f"auto: {sm} >= sm_80 has native bf16"
    return "fp32", f"auto: {sm} < sm_80 has no native bf16 (precision: fp16 for autocast with a GradScaler)"


def seed_everything(seed: int, exe: Execution) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    set_determinism(exe)


def set_determinism(exe: Execution) -> None:
    """On CUDA: deterministic kernels when ``exe.deterministic`` (cuBLAS's workspace set, cuDNN's
    autotuner off; kernels with no deterministic version warn, and ``record_nondeterminism`` lists
    them), else cuDNN's autotuner on. The CPU kernels used here are deterministic already, and the
    call costs ~1.5 s of imports."""
    if exe.device.type != "cuda":
        return
    if exe.deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE)  # before the first cuBLAS call
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
    else:
        torch.backends.cudnn.benchmark = True


_NONDETERMINISTIC = re.compile(r"^(\S+) does not have a deterministic implementation")


@contextlib.contextmanager
def record_nondeterminism():
    """Collect the names of the kernels that warned "does not have a deterministic implementation"
    (``use_deterministic_algorithms(warn_only=True)``) in the block; other warnings pass through."""
    kernels: list[str] = []
    shown = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        found = _NONDETERMINISTIC.match(str(message))
        if found:
            if found.group(1) not in kernels:
                kernels.append(found.group(1))
            return
        shown(message, category, filename, lineno, file, line)

    with warnings.catch_warnings():  # restores showwarning and the filters on exit
        # "default": once per kernel's call site for the block (fresh registries), not at every training step
        warnings.filterwarnings("default", message=".*does not have a deterministic implementation")
        warnings.showwarning = show
        yield kernels


@contextlib.contextmanager
def determinism(exe: Execution):
    """``set_determinism`` for the block's duration, restored afterwards (benchmarks in one process)."""
    saved = (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
        torch.backends.cudnn.benchmark,
    )
    set_determinism(exe)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(saved[0], warn_only=saved[1])
        torch.backends.cudnn.benchmark = saved[2]


def distributed(device: torch.device) -> tuple[int, int, torch.device]:
    """(rank, world size, this rank's device) under torchrun; (0, 1, device) otherwise."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return 0, 1, device
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return dist.get_rank(), world, device


def maybe_compile(model: nn.Module, mode: str | None) -> nn.Module:
    """``torch.compile(model, mode=mode)``; the model itself for None/"off". Compilation happens at the
    first call: dynamo's ``suppress_errors`` makes a backend failure there run that frame eagerly."""
    if mode in (None, "off"):
        return model
    import torch._dynamo  # lazy: ~1.6 s of imports, only when compiling

    torch._dynamo.config.suppress_errors = True  # a failing compile at the first step falls back to eager
    try:
        return torch.compile(model, mode=mode)
    except Exception as exc:  # unsupported platform or Python, bad mode, ...
        print(f"warning: torch.compile unavailable ({exc}); running eager", file=sys.stderr, flush=True)
        return model


def autocast(exe: Execution | None):
    if exe is None or exe.precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(exe.device.type, dtype=torch.float16 if exe.precision == "fp16" else torch.bfloat16)


def grad_scaler(exe: Execution):
    """A GradScaler for fp16 autocast (loss scaling against underflow); None otherwise."""
    return torch.amp.GradScaler(exe.device.type) if exe.grad_scaler else None


def to_format(x: torch.Tensor, exe: Execution | None) -> torch.Tensor:
    return x.contiguous(memory_format=torch.channels_last) if exe is not None and exe.channels_last else x
