"""The catalog's JSON Schema (reproduce/schema.json): current, every field described, named by every
catalog file for editors; the generic figure kinds and their old names."""

import json
import re

import jsonschema
import yaml
from typer.testing import CliRunner

from pipeline.catalog import CATALOG_DIR, CATALOG_MODELS, Table, catalog_schema
from pipeline.cli import app
from pipeline.cli.sources import schema_text

HEADER = "# yaml-language-server: $schema=schema.json"


def test_committed_schema_is_current():
    assert (CATALOG_DIR / "schema.json").read_text() == schema_text(), "run `repro schema` and commit it"


def test_repro_schema_writes_it(tmp_path):
    out = tmp_path / "schema.json"
    result = CliRunner().invoke(app, ["schema", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text()) == catalog_schema()


def test_every_field_has_a_description():
    schema = catalog_schema()
    described = {name: schema["$defs"][name]["properties"] for name in schema["$defs"]} | {
        "Source": schema["properties"]
    }
    assert set(described) >= {m.__name__ for m in CATALOG_MODELS}
    missing = [f"{m}.{p}" for m, props in described.items() for p, spec in props.items() if not spec.get("description")]
    assert missing == []
    recipe = schema["$defs"]["Recipe"]["properties"]
    assert "1-based" in recipe["best_window"]["description"]
    assert "0-based" in schema["$defs"]["Schedule"]["properties"]["milestones"]["description"]
    assert "Default 128" in recipe["batch_size"]["description"]
    # a recipe in a file is a (partial) Recipe: editors complete and check its keys
    assert schema["properties"]["recipe"]["$ref"] == "#/$defs/Recipe"
    assert schema["$defs"]["ConfigEntry"]["properties"]["recipe"]["$ref"] == "#/$defs/Recipe"
    assert schema["$defs"]["Recipe"]["additionalProperties"] is False


def test_every_catalog_file_names_the_schema():
    for path in sorted(CATALOG_DIR.glob("*.yaml")):
        assert path.read_text().splitlines()[0] == HEADER, path.name


def test_figure_kinds_have_generic_names_and_keep_the_old_ones():
    base = {"caption": "c", "rows": ["a"], "columns": ["b"]}
    assert Table(**base, figure="arl-vs-nal").figure == "two-arm"
    assert Table(**base, figure="label-noise").figure == "sweep"
    assert Table(**base, figure="two-arm", x_label="network").x_label == "network"
    kinds = catalog_schema()["$defs"]["Table"]["properties"]["figure"]["anyOf"][0]["enum"]
    assert {"two-arm", "sweep", "strip", "curves", "arl-vs-nal", "label-noise"} == set(kinds)
    assert re.search(
        r"two-arm .*old name\s+arl-vs-nal", catalog_schema()["$defs"]["Table"]["properties"]["figure"]["description"]
    )


def test_catalog_files_validate_against_the_schema_and_it_catches_typos():
    validator = jsonschema.Draft202012Validator(catalog_schema())
    for path in sorted(CATALOG_DIR.glob("*.yaml")):
        assert [e.message for e in validator.iter_errors(yaml.safe_load(path.read_text()))] == [], path.name
    broken = yaml.safe_load((CATALOG_DIR / "zam.yaml").read_text())
    broken["recipe"]["schedule"]["milestone"] = [60]  # typo: milestones
    broken["configurations"]["zam-resnet18"]["recipe"] = {"epoch": 10}  # typo: epochs
    messages = [e.message for e in validator.iter_errors(broken)]
    assert any("'milestone' was unexpected" in m for m in messages)
    assert any("'epoch' was unexpected" in m for m in messages)
