"""MLflow tracking of every stage: one run per stage execution.

The store defaults to SQLite at the project root (``mlflow.db``, artifacts in ``mlartifacts/``),
made absolute from ``DVC_ROOT`` when DVC runs the stage (queued experiments run in temporary
copies) and overridden by ``MLFLOW_TRACKING_URI``. MLflow is imported lazily so training runs on
machines without it; a tracking failure is reported and never stops training.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path

from .trackstore import KIND as KIND  # re-exported: the UI tests read them here
from .trackstore import NOTE as NOTE
from .trackstore import ensure_experiment, ensure_store


def store_root(project_root: Path) -> Path:
    return Path(os.environ.get("DVC_ROOT") or project_root).resolve()


def tracking_uri(project_root: Path) -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{store_root(project_root) / 'mlflow.db'}"


def artifact_location(project_root: Path) -> str:
    return (store_root(project_root) / "mlartifacts").as_uri()


def git_commit(root: Path) -> str:
    if os.environ.get("REPRO_GIT_COMMIT"):
        return os.environ["REPRO_GIT_COMMIT"]
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _warn(msg: str) -> None:
    print(f"warning: MLflow: {msg}", file=sys.stderr)


def _set_note(mlflow, experiment: str, text: str) -> None:
    """Describe ``experiment`` with ``text`` (and mark it a model-training experiment) unless it
    already reads so: a write only on change, retried when a concurrent writer wins."""
    if mlflow.get_experiment_by_name(experiment) is not None:
        ensure_experiment(mlflow, experiment, None, text)


def metadata_dataset(name: str, digest: str, source: str, profile: dict):
    """An MLflow dataset of metadata only (no data is copied): name, digest, where it came from
    (a URL or a local path) and a profile (split counts, the pipeline's profile) for the UI."""
    import json
    import warnings

    from mlflow.data.dataset_source_registry import resolve_dataset_source
    from mlflow.data.meta_dataset import MetaDataset

    class RunData(MetaDataset):
        @property
        def profile(self):
            return profile

        def to_dict(self):
            return super().to_dict() | {"profile": json.dumps(profile)}

    with warnings.catch_warnings():  # a local path "can be interpreted in multiple ways": all of them local
        warnings.simplefilter("ignore", UserWarning)
        resolved = resolve_dataset_source(source)
    return RunData(resolved, name=name, digest=digest)


class StageRun:
    """A stage's MLflow run; every call is a no-op after a tracking failure (reported once)."""

    def __init__(self, mlflow=None):
        self.mlflow, self.run_id, self.experiment_id = mlflow, None, None

    def _call(self, fn, *args, **kwargs):
        """``mlflow.<fn>(...)`` for a name, ``fn(mlflow, ...)`` for a function."""
        if self.mlflow is None:
            return None
        try:
            return getattr(self.mlflow, fn)(*args, **kwargs) if isinstance(fn, str) else fn(self.mlflow, *args)
        except Exception as exc:  # tracking must never stop a stage
            _warn(f"{getattr(fn, '__name__', fn)} failed ({exc}); tracking is off for the rest of this stage")
            self.mlflow = None
            return None

    def log_params(self, params: dict) -> None:
        self._call("log_params", {k: str(v)[:500] for k, v in params.items()})

    def log_metrics(self, metrics: dict, step: int | None = None) -> None:
        numbers = {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        self._call("log_metrics", numbers, step=step)

    def log_artifact(self, path: Path, artifact_path: str | None = None) -> None:
        self._call("log_artifact", str(path), artifact_path)

    def log_dict(self, obj: dict, name: str) -> None:
        self._call("log_dict", obj, name)

    def set_tags(self, tags: dict) -> None:
        self._call("set_tags", tags)

    def log_input(self, dataset, context: str, tags: dict | None = None) -> None:
        self._call("log_input", dataset, context=context, tags=tags)

    def log_dataset(self, name: str, digest: str, source: str, profile: dict, context: str) -> None:
        """The data this run used, for the UI's Dataset column (``metadata_dataset``)."""
        if self.mlflow is None:
            return
        try:
            dataset = metadata_dataset(name, digest, source, profile)
        except Exception as exc:  # tracking never stops a stage
            _warn(f"could not describe dataset {name} ({exc})")
            return
        self.log_input(dataset, context, {k: str(v) for k, v in profile.items()})

    def describe_experiment(self, experiment: str, text: str) -> None:
        """Set the description of ``experiment`` (another stage's; it must exist)."""
        self._call(_set_note, experiment, text)

    def log_model(self, model, input_size: int) -> None:
        """The trained model (pickle flavour: torch.export is slow for these CNNs)."""
        if self.mlflow is None:
            return
        import torch

        example = torch.zeros(1, 3, input_size, input_size).numpy()
        try:
            self.mlflow.pytorch.log_model(
                model.cpu().eval(), name="model", serialization_format="pickle", input_example=example
            )
        except Exception as exc:  # tracking never stops a stage
            _warn(f"could not log the model ({exc})")


def display_name(stage: str, experiment: str) -> str:
    """The run's name in the MLflow UI, distinguishing part first (the UI cuts long names): the stage's
    item without the dash-separated words it shares with the experiment's name, then the stage:
    ``train@wang2017-resnet164-c10-s0`` in ``wang2017`` → ``resnet164-c10-s0 · train`` (``jay4869-a56-arl-s0``
    in ``jay4869-keras`` → ``a56-arl-s0``). The full stage name stays in the ``stage`` tag."""
    kind, _, item = stage.partition("@")
    if not item:
        return stage
    words, shared = item.split("-"), 0
    for a, b in zip(words[:-1], experiment.split("-"), strict=False):  # keep at least the last word
        if a != b:
            break
        shared += 1
    return f"{'-'.join(words[shared:])} · {kind}"


def _reopen(mlflow, run_id: str | None, tags: dict, system_metrics: bool):
    """The run ``run_id`` reopened (RUNNING again, ``tags`` updated), or None when there is none to reopen."""
    if not run_id:
        return None
    try:
        if mlflow.MlflowClient().get_run(run_id).info.lifecycle_stage != "active":
            return None
        return mlflow.start_run(run_id=run_id, tags=tags, log_system_metrics=system_metrics)
    except Exception:  # another store, a deleted run: start a new one
        return None


@contextlib.contextmanager
def stage_run(
    project_root: Path,
    experiment: str,
    command: str,
    profile: str,
    tags: dict | None = None,
    system_metrics: bool = False,
    description: str | None = None,
    run_id: str | None = None,
):
    """Open an MLflow run for the stage (``DVC_STAGE`` or the CLI command; its name puts the distinguishing
    part first, ``display_name``, and the full stage is the ``stage`` tag) in
    ``experiment`` (described by ``description``, Markdown, when given).

    Marks the run FINISHED, FAILED (exception) or KILLED (Ctrl-C; also SIGTERM, which the CLI turns
    into a KeyboardInterrupt). Under torchrun only rank 0 tracks. ``run_id``: reopen that run (a resumed
    training continues its curve there); a new run when it cannot be reopened.
    """
    if os.environ.get("REPRO_TRACKING", "on") == "off" or int(os.environ.get("RANK", "0")) != 0:
        yield StageRun()
        return
    uri = tracking_uri(project_root)
    remote = uri.startswith(("http://", "https://"))
    if remote:  # MLflow's default (7 retries, exponential backoff) stalls a stage for minutes on a dead server
        for var, value in (
            ("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2"),
            ("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1"),
            ("MLFLOW_HTTP_REQUEST_TIMEOUT", "30"),
        ):
            os.environ.setdefault(var, value)
    try:
        import logging

        import mlflow

        logging.getLogger("mlflow").setLevel(logging.WARNING)  # keep stage logs to our own lines
        logging.getLogger("mlflow.pytorch").setLevel(logging.ERROR)  # the pickle-format notice, chosen knowingly
        mlflow.set_tracking_uri(uri)
        ensure_store(uri)  # a fresh SQLite store is created and migrated once, under a lock
        # artifacts beside mlflow.db whichever writer creates the experiment (launch's server too: it
        # says so with REPRO_ARTIFACT_LOCATION); another server keeps its own artifact store
        location = os.environ.get("REPRO_ARTIFACT_LOCATION") or (None if remote else artifact_location(project_root))
        experiment_id = ensure_experiment(mlflow, experiment, location, description)
        mlflow.set_experiment(experiment_id=experiment_id)
        all_tags = {
            "git.commit": git_commit(store_root(project_root)),
            "profile": profile,
            "stage": os.environ.get("DVC_STAGE", command),
            **({"dvc.exp_name": os.environ["DVC_EXP_NAME"]} if "DVC_EXP_NAME" in os.environ else {}),
            **(tags or {}),
        }
        active = _reopen(mlflow, run_id, all_tags, system_metrics) or mlflow.start_run(
            run_name=display_name(all_tags["stage"], experiment), tags=all_tags, log_system_metrics=system_metrics
        )
    except Exception as exc:
        _warn(f"cannot start a run at {uri} ({exc}); continuing without tracking")
        yield StageRun()
        return
    run = StageRun(mlflow)
    run.run_id, run.experiment_id = active.info.run_id, active.info.experiment_id
    status = "FINISHED"
    try:
        yield run
    except KeyboardInterrupt:
        status = "KILLED"
        raise
    except BaseException:
        status = "FAILED"
        raise
    finally:
        if run.mlflow is not None:
            try:
                mlflow.end_run(status=status)
            except Exception as exc:
                _warn(f"could not close run {run.run_id} ({exc})")
        else:
            with contextlib.suppress(Exception):
                mlflow.end_run(status=status)
