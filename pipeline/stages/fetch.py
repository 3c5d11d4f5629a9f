"""Stage ``fetch``: an official archive (or the smoke fixture) → ``data/prepared/<dataset>``."""

from __future__ import annotations

from pathlib import Path

from ..data import DataError, archive_digest, dataset_source, register_imagefolder
from ..data import fetch as prepare
from ..settings import Project
from ..tracking import stage_run


def fetch(project: Project, dataset: str, archive: Path | None = None) -> tuple[Path, dict]:
    """Verify, extract safely and parse ``dataset``; return the prepared folder and its manifest.
    ``archive`` (else params.yaml ``fetch.<dataset>.archive``) is a pre-downloaded official archive."""
    settings = project.params.fetch.get(dataset)
    if settings is not None and settings.imagefolder:  # a user's own image-folder dataset
        register_imagefolder(dataset, project.root / settings.imagefolder)
    dataset_source(dataset)  # unknown name: one line with the closest ones, before MLflow opens a run
    if archive is None and settings is not None and settings.archive:
        archive = project.root / settings.archive
    if project.profile == "full" and archive is not None and not Path(archive).exists():  # before a run opens
        raise DataError(f"archive {archive} not found; check the path given to --archive or fetch.{dataset}.archive")
    with stage_run(project.root, "data", f"fetch@{dataset}", project.profile, {"dataset": dataset}) as tracker:
        path, manifest = prepare(
            dataset, project.data_root, project.profile, archive, settings.mirrors if settings else []
        )
        digest_key, digest = archive_digest(manifest)
        tracker.log_params(
            {"dataset": dataset, "archive": manifest["archive"], digest_key: digest, "profile": project.profile}
        )
        tracker.log_metrics({f"{s}_images": c["images"] for s, c in manifest["splits"].items()})
        tracker.set_tags({"dataset.digest": digest})
        tracker.log_artifact(path / "manifest.json")
    return path, manifest
