"""The MLflow store's set-up, safe under concurrency: many jobs, stages and launch's server share one store.

- ``ensure_store``: a SQLite store is created and migrated once, by one process, under a file lock
  beside it (``mlflow.db.lock``), before any writer or server opens it.
- ``ensure_experiment``: creating an experiment and setting its description are idempotent; a
  process that loses a race re-reads and carries on.
- Every experiment takes its artifacts in the project's ``mlartifacts/`` (an explicit ``file:`` location),
  whichever path created it (launch's server with ``--serve-artifacts`` or a stage writing to SQLite
  directly), so both kinds of writer can store artifacts in it.
- ``mark_killed``: close the runs a killed job left RUNNING.
"""

from __future__ import annotations

import contextlib
import fcntl
import sqlite3
import sys
import time
from pathlib import Path

NOTE = "mlflow.note.content"  # the experiment's (or run's) description in the MLflow UI
KIND = ("mlflow.experimentKind", "custom_model_development")  # the UI opens it as model training, not GenAI
SERVED = "mlflow-artifacts:"  # what launch's server gives experiments it creates without a location
_READY: set[str] = set()


def sqlite_path(uri: str) -> Path | None:
    return Path(uri[len("sqlite:///") :]) if uri.startswith("sqlite:///") else None


def artifact_root(db: Path) -> str:
    """Where a store's artifacts live: ``mlartifacts/`` beside ``mlflow.db`` (launch's server serves the same)."""
    return (db.resolve().parent / "mlartifacts").as_uri()


@contextlib.contextmanager
def store_lock(db: Path):
    db.parent.mkdir(parents=True, exist_ok=True)
    with open(db.with_name(db.name + ".lock"), "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def ensure_store(uri: str) -> None:
    """Create and migrate the SQLite store at ``uri`` once (other URIs: the server's business)."""
    db = sqlite_path(uri)
    if db is None or uri in _READY:
        return
    with store_lock(db):
        from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

        store = SqlAlchemyStore(uri, artifact_root(db))  # creates the tables or migrates them to head
        store.engine.dispose()
        _relocate_served(db)
    _READY.add(uri)


def _relocate_served(db: Path) -> None:
    """Experiments created through launch's server before this fix point at ``mlflow-artifacts:/<id>``,
    which only the server can resolve; the server stores them in ``mlartifacts/<id>``: say so directly."""
    with contextlib.closing(sqlite3.connect(db, timeout=60)) as con, con:
        con.execute(
            "UPDATE experiments SET artifact_location = ? || substr(artifact_location, ?) "
            "WHERE artifact_location LIKE ?",
            (artifact_root(db), len(SERVED) + 1, f"{SERVED}%"),
        )


def ensure_experiment(mlflow, name: str, location: str | None, description: str | None = None, tries: int = 8):
    """The id of experiment ``name``, created with ``location`` if missing and described by ``description``;
    concurrent callers all succeed (a lost race is re-read and retried)."""
    error = None
    for attempt in range(tries):
        try:
            exp = mlflow.get_experiment_by_name(name)
            if exp is None:
                with contextlib.suppress(Exception):  # another process may create it first: re-read
                    mlflow.create_experiment(name, artifact_location=location)
                continue
            wanted = ([(NOTE, description)] if description is not None else []) + [KIND]
            for key, value in wanted:
                if exp.tags.get(key) != value:
                    mlflow.MlflowClient().set_experiment_tag(exp.experiment_id, key, value)
            return exp.experiment_id
        except Exception as exc:  # e.g. two writers inserting the same tag: the loser re-reads
            error = exc
            time.sleep(0.1 * (attempt + 1))
    raise RuntimeError(f"could not set up experiment {name!r} ({error})")


def mark_killed(uri: str, tags: dict[str, str]) -> int:
    """Mark KILLED the RUNNING runs tagged with ``tags`` (a job that was killed outright); how many."""
    db = sqlite_path(uri)
    if db is not None and not db.exists():
        return 0
    try:
        ensure_store(uri)
        from mlflow.tracking import MlflowClient

        client = MlflowClient(uri)
        where = " and ".join([f"tags.{k} = '{v}'" for k, v in tags.items()] + ["attributes.status = 'RUNNING'"])
        ids = [e.experiment_id for e in client.search_experiments()]
        runs = client.search_runs(ids, where, max_results=1000) if ids else []
        for run in runs:
            client.set_terminated(run.info.run_id, "KILLED")
        return len(runs)
    except Exception as exc:  # tracking never stops a launch or a job
        print(f"warning: MLflow: could not close the runs of {tags} ({exc})", file=sys.stderr)
        return 0
