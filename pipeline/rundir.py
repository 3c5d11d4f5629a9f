"""The folder of one (configuration, seed) run: its key, every file name, the training lock,
the checkpoint (one schema), the final weights, the history and the results.

``runs/<config>-s<seed>/``: ``model.pt`` (final weights), ``history.csv`` (one row per epoch),
``train.json`` (training metrics), ``eval.json`` (test metrics), ``metrics.json`` (a dozen headline
numbers: DVC's metrics file, one row of ``dvc metrics show``), ``checkpoint.pt`` (while training),
``analysis/`` (per-class accuracy, confusion matrix, ``masks.npz``), ``.lock`` and ``.mlflow-run`` (the
MLflow run id of an unfinished training, reopened when it resumes).
"""

from __future__ import annotations

import contextlib
import csv
import json
import math
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from .errors import ReproError
from .files import atomic_path, write_json, write_text

CHECKPOINT, MODEL, HISTORY = "checkpoint.pt", "model.pt", "history.csv"
TRAIN_METRICS, EVAL_METRICS, HEADLINE_METRICS = "train.json", "eval.json", "metrics.json"
ANALYSIS, MASKS, LOCK, TRACKED_RUN = "analysis", "masks.npz", ".lock", ".mlflow-run"
RESULT_FILES = (TRAIN_METRICS, EVAL_METRICS)  # merged by ``results``; eval.json wins


def run_key(config: str, seed: int) -> str:
    return f"{config}-s{seed}"


class RunLockedError(ReproError, RuntimeError):
    pass


class CheckpointError(ReproError, RuntimeError):
    pass


@dataclass
class Checkpoint:
    """Everything a resumed run needs; written at every epoch end, removed when the run finishes."""

    config_hash: str
    seed: int
    model: dict
    optimizer: dict
    generator: object  # the training loader's shuffle/augmentation generator state
    torch_rng: object
    step: int
    epoch: int
    history: list
    elapsed: float
    monitor: dict
    scaler: dict | None = None  # fp16's GradScaler state (loss scale, growth tracker)
    config: dict | None = None  # the configuration's canonical form: a changed hash names its fields


@dataclass(frozen=True)
class RunDir:
    path: Path  # runs/<key> in a project (``RunDir.of``); any folder elsewhere
    config: str
    seed: int

    @classmethod
    def of(cls, runs_dir: Path, config: str, seed: int) -> RunDir:
        return cls(Path(runs_dir) / run_key(config, seed), config, seed)

    @property
    def key(self) -> str:
        return run_key(self.config, self.seed)

    @property
    def train_command(self) -> str:
        return f"repro train {self.config} --seed {self.seed}"

    def file(self, name: str) -> Path:
        return self.path / name

    @property
    def analysis(self) -> Path:
        return self.path / ANALYSIS

    @property
    def masks(self) -> Path:
        return self.analysis / MASKS

    # --- the lock ---------------------------------------------------------------------------
    @contextlib.contextmanager
    def lock(self):
        """Refuse a second concurrent training of this run (an advisory flock)."""
        import fcntl

        self.path.mkdir(parents=True, exist_ok=True)
        with open(self.path / LOCK, "w") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise RunLockedError(
                    f"{self.path} is being trained by another process; wait for it or stop it first"
                ) from None
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    # --- the MLflow run of an unfinished training (resumed into the same run) ---------------
    def tracked_run(self) -> str | None:
        """The MLflow run id an interrupted training logged to, when a checkpoint resumes it."""
        path = self.file(TRACKED_RUN)
        if not (self.file(CHECKPOINT).is_file() and path.is_file()):
            return None
        return path.read_text().strip() or None

    def set_tracked_run(self, run_id: str | None) -> None:
        if run_id is None:
            self.file(TRACKED_RUN).unlink(missing_ok=True)
        else:
            write_text(self.file(TRACKED_RUN), run_id + "\n")

    def finished(self) -> bool:
        """Whether training wrote its final files (weights, history, train.json)."""
        return all(self.file(name).is_file() for name in (MODEL, HISTORY, TRAIN_METRICS))

    def move_aside(self, dest: Path) -> Path:
        """Move every file of the run (the lock stays) to ``dest``, a new folder; returns it."""
        with self.lock():
            dest.mkdir(parents=True, exist_ok=False)
            for entry in sorted(self.path.iterdir()):
                if entry.name != LOCK:
                    entry.replace(dest / entry.name)
        return dest

    # --- checkpoint and weights -------------------------------------------------------------
    def save_checkpoint(self, ckpt: Checkpoint) -> None:
        _torch_save(asdict(ckpt), self.file(CHECKPOINT))

    def load_checkpoint(self, device) -> Checkpoint | None:
        """The last complete checkpoint; None when there is none. An unreadable one (garbage bytes, a
        partial copy) is moved aside to ``checkpoint.pt.unreadable`` with a warning: the run starts over."""
        import torch

        path = self.file(CHECKPOINT)
        if not path.is_file():
            return None
        try:
            return Checkpoint(**torch.load(path, map_location=device, weights_only=True))
        except Exception as exc:
            aside = path.with_name(path.name + ".unreadable")
            path.replace(aside)
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            print(
                f"warning: {path} is unreadable ({reason}); moved it to {aside.name} and starting the run over",
                file=sys.stderr,
                flush=True,
            )
            return None

    def remove_checkpoint(self) -> None:
        self.file(CHECKPOINT).unlink(missing_ok=True)

    def save_weights(self, config: str, model_name: str, config_hash: str, state_dict: dict) -> None:
        _torch_save(
            {"config": config, "model": model_name, "config_hash": config_hash, "state_dict": state_dict},
            self.file(MODEL),
        )

    def load_weights(self, config_hash: str, device) -> dict:
        """The final weights' state dict, refusing a missing file or weights of another configuration."""
        import torch

        path = self.file(MODEL)
        if not path.is_file():
            raise CheckpointError(f"no weights at {path}; run `{self.train_command}` first")
        try:
            state = torch.load(path, map_location=device, weights_only=True)
        except Exception as exc:
            raise CheckpointError(
                f"{path} is not a readable weights file ({exc}); retrain with `{self.train_command}`"
            ) from None
        if not isinstance(state, dict) or state.get("config") != self.config or state.get("config_hash") != config_hash:
            found = state if isinstance(state, dict) else {}
            raise CheckpointError(
                f"{path} holds weights of {found.get('config')!r} (hash {found.get('config_hash')}), "
                f"not of {self.config!r} (hash {config_hash}); retrain with `{self.train_command}`"
            )
        return state["state_dict"]

    # --- history and results ----------------------------------------------------------------
    def write_history(self, rows: list[dict]) -> None:
        fields = list(dict.fromkeys(k for row in rows for k in row)) or ["epoch"]
        with atomic_path(self.file(HISTORY)) as tmp, open(tmp, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=fields)
            writer.writeheader()
            writer.writerows(rows)

    def history(self) -> list[dict[str, float]]:
        """Rows of history.csv with numeric cells only; [] when missing or unreadable."""
        try:
            with open(self.file(HISTORY), newline="") as fh:
                rows = list(csv.DictReader(fh))
        except (OSError, csv.Error, UnicodeDecodeError):
            return []
        out = []
        for row in rows:
            parsed = {k: v for k, v in ((k, number(v)) for k, v in row.items() if k) if v is not None}
            if "epoch" in parsed:
                out.append(parsed)
        return out

    def write_metrics(self, name: str, metrics: dict) -> None:
        write_json(metrics, self.file(name))

    def read_metrics(self, name: str, warn: bool = False) -> dict:
        """One metrics file; {} when missing. An unreadable one is {} too, with a warning when ``warn``."""
        path = self.file(name)
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            if warn:
                print(f"warning: {path} is unreadable ({exc}); counted as not run", file=sys.stderr, flush=True)
            return {}
        return data if isinstance(data, dict) else {}

    def results(self, warn: bool = False) -> dict:
        """train.json ∪ eval.json (eval.json wins); missing or unreadable files count as {}."""
        merged: dict = {}
        for name in RESULT_FILES:
            merged.update(self.read_metrics(name, warn))
        return merged


def number(value) -> float | None:
    """A finite float, or None."""
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


def _torch_save(obj, path: Path) -> None:
    import torch

    with atomic_path(path) as tmp:
        torch.save(obj, tmp)
