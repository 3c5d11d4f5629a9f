"""The real catalog renders every source table in its declared layout, each reported figure in
exactly one cell."""

import csv
from collections import Counter

import pytest

from pipeline.catalog import load_catalog
from pipeline.report.published import public_text
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
    body = []
    for line in lines[header_at + 2 :]:  # the table runs to the first line that is not a row (ratios follow)
        if not line.startswith("|"):
            break
        body.append(line)
    assert [line.strip("|").split("|")[0].strip() for line in body] == table.rows
    assert all(len(line.strip("|").split("|")) == len(header) for line in body)
    reported = [r for cfg in SOURCES[source_id].configurations.values() for r in cfg.reported if r.table == key]
    text = "\n".join(body)
    assert text.count(" / not run") == len(reported)  # nothing has run in this fixture


@pytest.mark.parametrize("source_id,key", [(s.id, k) for s in SOURCES.values() for k in s.tables])
def test_one_metric_line_under_the_title_and_every_printed_cell_in_the_csv(rendered, source_id, key):
    source, table = SOURCES[source_id], SOURCES[source_id].tables[key]
    lines = (rendered / f"{source_id}-{key}.md").read_text().splitlines()
    assert lines[0].startswith("# ") and [i for i, x in enumerate(lines) if x.startswith("Metric:")] == [2]
    with open(rendered / f"{source_id}-{key}.csv") as f:
        records = list(csv.DictReader(f))
    kinds = {(r["row"], r["column"]): r["kind"] for r in records if r["kind"] != "ratio"}
    expected = {(row, col): "cited" for row, cols in table.cited.items() for col in cols}
    expected |= {(r.row, r.column): "compared" for _, r in source.reported_cells().values() if r.table == key}
    assert kinds == expected
    assert sum(r["kind"] == "ratio" for r in records) == len(table.ratios)
    for r in records:  # printed forms: the source's decimals and units
        if r["kind"] == "cited" and (r["row"], r["column"]) in table.printed:
            assert r["reported"] == table.printed[r["row"]][r["column"]]


def test_printed_forms_keep_the_sources_decimals_and_units(rendered):
    def cell(stem, row, col):
        with open(rendered / f"{stem}.csv") as f:
            return next(r["reported"] for r in csv.DictReader(f) if r["row"] == row and r["column"] == col)

    assert cell("wang2017-table6", "Attention-452", "CIFAR-10") == "3.90"
    assert cell("zam-resnet18", "with ZAM(Max)", "Best Acc") == "76.20"
    assert cell("jay4869-keras-performance", "Attention-56", "Train Time") == "337 min"
    assert cell("wang2017-table7", "ResNet-200", "Test size") == "320×320"
    assert (
        cell("columbia-e4040-parameters", "CIFAR-10, Attention-56, Adam, Spatial, ARL", "Total params") == "2,893,866"
    )


def test_summary_lists_every_claim(rendered):
    readme = (rendered / "README.md").read_text()
    for source in SOURCES.values():
        for claim in source.claims:
            assert public_text(claim.text) in readme  # as a reader sees it: no internal references
