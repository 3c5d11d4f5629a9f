"""What the MLflow UI shows about a source and a dataset: the experiment's description (the source's
citation and its rendered tables) and the data a run used (``tracking.StageRun.log_dataset``)."""

from __future__ import annotations

from ..catalog import Source


def source_note(source: Source, links: dict[str, str] | None = None) -> str:
    """Markdown for the source's experiment (MLflow's ``mlflow.note.content``): title, citation, link and
    its tables; ``links`` maps a table key to the UI address of its rendered file (the render run)."""
    lines = [f"{source.title} ({source.id})", "", source.citation + (f" — <{source.url}>" if source.url else ""), ""]
    lines += ["Rendered tables (`repro render` → `paper_tables/`, reported beside reproduced, with verdicts):", ""]
    for key, table in source.tables.items():
        path = f"paper_tables/{source.id}-{key}.md"
        target = f"[{path}]({links[key]})" if links and key in links else f"`{path}`"
        lines.append(f"- {table.caption}: {target}")
    lines += [
        "",
        "Runs: one `<config>-s<seed> · train` and one `… · evaluate` per seed (the configuration's name without"
        " the words it shares with this experiment's), tagged `stage` (`train@<config>-s<seed>`), `run_key`,"
        " `config`, `seed`.",
    ]
    return "\n".join(lines)


TABLES_NOTE = (
    "Every source's rendered tables and figures: each `render` run's artifacts, `paper_tables/` "
    "(README.md lists the tables with their verdicts). Each source's experiment links to its own tables."
)


def dataset_name(dataset: str, profile: str) -> str:
    """The dataset's name in the MLflow UI: the smoke profile's generated stand-in says so."""
    return dataset if profile == "full" else f"{dataset}-{profile}"
