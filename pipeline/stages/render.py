"""Stage ``render``: every run's results → ``paper_tables/`` (tables, figures, README) and the summary."""

from __future__ import annotations

from pathlib import Path

from ..catalog import load_catalog
from ..errors import ReproError
from ..report.curves import render_curves
from ..report.figures import render_figures
from ..report.results import Results
from ..report.tables import render_all
from ..rundir import TRAIN_METRICS
from ..settings import Project
from ..tracking import git_commit, stage_run
from .notes import TABLES_NOTE, source_note


def check_profiles(project: Project, results: Results) -> None:
    """Refuse a run recorded under another profile in this profile's runs folder (one line, the fix)."""
    for config in results.seeds:
        for run in results.runs(config):
            recorded = results.metrics(run).get("profile")
            if recorded is not None and recorded != project.profile:
                raise ReproError(
                    f"{run.file(TRAIN_METRICS)} is a {recorded}-profile run, refused by the {project.profile} render; "
                    f"move {run.path} away or retrain it with `repro train {run.config} --seed {run.seed} --retrain`"
                )


def render(project: Project) -> list[Path]:
    """Render the tables and figures of every source from the runs params.yaml lists; return the files."""
    sources = load_catalog()
    results = Results.of(project)
    check_profiles(project, results)  # before anything is written
    context = {"profile": project.profile, "commit": git_commit(project.root)}
    with stage_run(project.root, "tables", "render", project.profile, description=TABLES_NOTE) as tracker:
        curves, curve_index = render_curves(sources, results, project.tables_dir, context)
        written = curves + render_all(sources, results, project.tables_dir, context, project.summary_path, curve_index)
        tracker.log_artifact(project.summary_path)
        figures = render_figures(sources, results, project.tables_dir / "figures", project.profile)
        for path in written:
            tracker.log_artifact(path, "paper_tables")
        for path in figures:
            tracker.log_artifact(path, "paper_tables/figures")
        if tracker.run_id is not None:  # each source's experiment links to its tables in this run
            base = f"#/experiments/{tracker.experiment_id}/runs/{tracker.run_id}/artifactPath/paper_tables"
            for source in sources.values():
                links = {key: f"{base}/{source.id}-{key}.md" for key in source.tables}
                tracker.describe_experiment(source.id, source_note(source, links))
    return written + figures
