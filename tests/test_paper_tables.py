"""The real catalog renders every source table in its declared layout, each reported figure in
exactly one cell."""

from collections import Counter

import pytest

from pipeline.catalog import load_catalog
from pipeline.report.results import Results
from pipeline.report.tables import render_all

SOURCES = load_catalog()


def test_every_reported_figure_has_exactly_one_cell():
    cells = Counter(
        (source.id, rep.table, rep.row, rep.column)
        for source in SOURCES.values()
        for cfg in source.configurations.values()
        for rep in cfg.reported
    )
    assert cells and max(cells.values()) == 1, [c for c, n in cells.items() if n > 1]
    for source in SOURCES.values():
        for key, table in source.tables.items():
            for row, cols in table.cited.items():
                for col in cols:
                    assert (source.id, key, row, col) not in cells, (
                        f"{source.id}/{key}/{row}/{col} is cited and reported"
                    )


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    out = tmp_path_factory.mktemp("tables")
    render_all(SOURCES, Results(out / "runs", {}), out, {"profile": "full", "commit": "test"})
    return out


@pytest.mark.parametrize("source_id,key", [(s.id, k) for s in SOURCES.values() for k in s.tables])
def test_table_layout_matches_the_catalog(rendered, source_id, key):
    table = SOURCES[source_id].tables[key]
    lines = (rendered / f"{source_id}-{key}.md").read_text().splitlines()
    header_at = next(i for i, line in enumerate(lines) if line.startswith("|  |"))
    header = [c.strip() for c in lines[header_at].strip("|").split("|")]
    assert header == ["", *[f"{c} (reported / reproduced)" for c in table.columns], "verdict"]
    body = [line for line in lines[header_at + 2 :] if line.startswith("|")]
    assert [line.strip("|").split("|")[0].strip() for line in body] == table.rows
    assert all(len(line.strip("|").split("|")) == len(header) for line in body)
    reported = [r for cfg in SOURCES[source_id].configurations.values() for r in cfg.reported if r.table == key]
    text = "\n".join(body)
    assert text.count(" / not run") == len(reported)  # nothing has run in this fixture


def test_summary_lists_every_claim(rendered):
    readme = (rendered / "README.md").read_text()
    for source in SOURCES.values():
        for claim in source.claims:
            assert claim.text in readme
