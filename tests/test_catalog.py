"""Catalog and params validation: every error names file, line and key."""

import textwrap

import pytest

from pipeline.catalog import CatalogError, all_configurations, check_references, load_source
from pipeline.settings import Project, load_params
from pipeline.stages.common import profile_recipe
from pipeline.sync import sync_params
from tests.conftest import ROOT

GOOD = textwrap.dedent(
    """\
    id: demo
    title: t
    citation: c
    recipe:
      lr: 0.1
      epochs: 2
    configurations:
      demo-a:
        dataset: cifar10
        model: preresnet-164
        reported:
          - {metric: top1_error, value: 5.0, meaning: m, table: t1, row: A, column: C}
    tables:
      t1: {caption: T, rows: [A], columns: [C]}
    """
)


def write(tmp_path, text, name="demo.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_a_good_file_loads(tmp_path):
    source = load_source(write(tmp_path, GOOD))
    assert list(source.configurations) == ["demo-a"]


def test_negative_learning_rate_names_file_line_and_key(tmp_path):
    path = write(tmp_path, GOOD.replace("lr: 0.1", "lr: -0.1"))
    with pytest.raises(CatalogError) as info:
        load_source(path)
    assert str(info.value).startswith(f"{path}:5: configurations.demo-a.recipe.lr:")


def test_a_bad_recipe_key_is_refused(tmp_path):
    path = write(tmp_path, GOOD.replace("  epochs: 2", "  epochs: 2\n  learning_rate: 3"))
    with pytest.raises(CatalogError, match=r"demo.yaml:7: configurations.demo-a.recipe.learning_rate: Extra inputs"):
        load_source(path)


def test_unknown_model_suggests_names(tmp_path):
    path = write(tmp_path, GOOD.replace("model: preresnet-164", "model: preresnet-165"))
    with pytest.raises(CatalogError, match=r"demo.yaml:10: configurations.demo-a.model: unknown model 'preresnet-165'"):
        check_references(load_source(path), path)


def test_reported_cell_must_exist_in_the_table_layout(tmp_path):
    path = write(tmp_path, GOOD.replace("row: A,", "row: B,"))
    with pytest.raises(CatalogError, match="reported cell t1/B/C is not in tables"):
        load_source(path)


def test_id_must_match_the_file_name(tmp_path):
    with pytest.raises(CatalogError, match="must equal the file name"):
        load_source(write(tmp_path, GOOD, "other.yaml"))


def test_malformed_yaml_names_the_line(tmp_path):
    path = write(tmp_path, GOOD.replace("  lr: 0.1", "  lr: [0.1"))
    with pytest.raises(CatalogError, match=r"demo.yaml:\d+: not valid YAML"):
        load_source(path)


def test_params_yaml_out_of_range_value(tmp_path):
    (tmp_path / "params.yaml").write_text("profile: full\nsmoke:\n  batch_size: 0\n")
    with pytest.raises(CatalogError, match=r"params.yaml:3: smoke.batch_size: Input should be greater than 0"):
        load_params(tmp_path / "params.yaml")


def test_committed_params_are_in_sync_with_the_catalog():
    assert not sync_params(ROOT / "params.yaml", "full", write=False), "run `repro sync` and commit params.yaml"


def test_smoke_recipe_keeps_the_schedule_shape(tmp_path):
    run = all_configurations()["wang2017-resnet164-c10"]
    (tmp_path / "params.yaml").write_text("profile: smoke\nsmoke: {iterations: 100, batch_size: 4}\n")
    recipe = profile_recipe(Project(tmp_path), run.recipe)
    assert recipe.iterations == 100 and recipe.batch_size == 4
    assert recipe.schedule.milestones == [40, 60]  # 64k/160k and 96k/160k of the run
    assert recipe.nesterov and recipe.lr == pytest.approx(1e-4)  # 0.1 × 4/64, capped at smoke.max_lr
