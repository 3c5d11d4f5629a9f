"""How a recipe is executed: device, seeding and determinism, distributed set-up, torch.compile,
bf16 autocast and memory format. None of these change the recipe, only its speed."""

from __future__ import annotations

import contextlib
import os
import random
import sys
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class Execution:
    """How a recipe is executed; none of these change the recipe."""

    device: torch.device = torch.device("cpu")
    deterministic: bool = True  # bitwise-repeatable on CPU; CUDA interpolate backward stays nondeterministic
    bf16: bool = False  # autocast matmuls/convs to bfloat16 (no GradScaler needed)
    channels_last: bool = False  # NHWC memory format for convolutions
    compile: str | None = None  # torch.compile mode: default | reduce-overhead | max-autotune; None = eager
    optimizer_impl: str | None = "auto"  # auto | foreach | fused | loop; None = torch's default (eager baseline)
    epoch_steps_cap: int | None = None  # smoke profile: steps per "epoch"
    eval_cap: int | None = None  # smoke profile: evaluate on the first N validation/test images only
    threads: int = 0  # CPU threads for torch; 0 = torch's default

    @classmethod
    def from_settings(cls, train, epoch_steps_cap: int | None = None, eval_cap: int | None = None, threads: int = 0):
        """From params.yaml's ``train:`` section (``settings.TrainSettings``); ``auto`` resolved here."""
        device = resolve_device(train.device)
        cuda = device.type == "cuda"
        return cls(
            device=device,
            deterministic=train.deterministic,
            bf16=train.precision == "bf16" or (train.precision == "auto" and cuda),
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

    @property
    def cuda_graphs(self) -> bool:
        """reduce-overhead on CUDA: each step replays CUDA graphs and must be marked."""
        return self.compile == "reduce-overhead" and self.device.type == "cuda"


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def seed_everything(seed: int, exe: Execution) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    set_determinism(exe)


def set_determinism(exe: Execution) -> None:
    """Deterministic kernels on CUDA when ``exe.deterministic`` (the CPU kernels used here are
    deterministic already, and the call costs ~1.5 s of imports)."""
    if exe.deterministic and exe.device.type == "cuda":
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False


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
    if exe is None or not exe.bf16:
        return contextlib.nullcontext()
    return torch.autocast(exe.device.type, dtype=torch.bfloat16)


def to_format(x: torch.Tensor, exe: Execution | None) -> torch.Tensor:
    return x.contiguous(memory_format=torch.channels_last) if exe is not None and exe.channels_last else x
