"""A configuration's identity: the hash covers the canonical form (fields at their default left out),
so a new backward-compatible recipe field keeps every hash; a changed hash on resume names its fields."""

import pytest
from pydantic import create_model

from pipeline.catalog import Recipe, all_configurations, changed_fields
from pipeline.rundir import CHECKPOINT
from pipeline.training import train
from tests.test_training import CPU, make_run


def _hashes(recipe_model=None) -> dict[str, str]:
    out = {}
    for name, c in all_configurations().items():
        if recipe_model is not None:  # the same YAML validated against the extended schema
            c = c.model_copy(update={"recipe": recipe_model.model_validate(c.recipe.model_dump(exclude_unset=True))})
        out[name] = c.config_hash()
    return out


def test_a_new_recipe_field_with_a_default_keeps_all_69_hashes():
    before = _hashes()
    Extended = create_model("Recipe", __base__=Recipe, grad_clip=(float | None, None))
    after = _hashes(Extended)
    print("\n".join(f"{name}  {before[name]}  {after[name]}" for name in sorted(before)))
    assert len(before) == 69 and len(set(before.values())) == 69
    assert after == before


def test_a_changed_default_changes_the_hash_of_configurations_that_rely_on_it():
    before = _hashes()
    Changed = create_model("Recipe", __base__=Recipe, label_noise=(float, 0.5))  # today's default is 0.0
    after = _hashes(Changed)
    relying = [n for n, c in all_configurations().items() if "label_noise" not in c.recipe.model_fields_set]
    assert relying and all(after[n] != before[n] for n in relying)


def test_changed_fields_lists_dotted_paths_old_to_new():
    old = {"recipe": {"lr": 0.1, "schedule": {"milestones": [10]}}, "model": "a"}
    new = {"recipe": {"lr": 0.05, "schedule": {"milestones": [10]}, "nesterov": True}, "model": "a"}
    assert changed_fields(old, new) == ["recipe.lr: 0.1 → 0.05", "recipe.nesterov: (default) → True"]


def test_resume_with_a_changed_recipe_names_fields_and_keeps_the_checkpoint(tiny_model, smoke_data, tmp_path, capsys):
    run, recipe = make_run(tiny_model, epochs=3)

    def stop(metrics, epoch):  # called before the epoch's checkpoint: epoch 1's is on disk
        if epoch == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):  # interrupted after its first checkpoint
        train(run, recipe, 0, smoke_data, tmp_path, CPU, log_metrics=stop)
    old_hash = run.config_hash()
    changed = run.model_copy(update={"recipe": run.recipe.model_copy(update={"lr": run.recipe.lr / 2})})
    result = train(changed, recipe, 0, smoke_data, tmp_path, CPU)
    err = capsys.readouterr().err
    assert f"recipe.lr: {run.recipe.lr} → {run.recipe.lr / 2}" in err and old_hash in err
    assert (tmp_path / f"{CHECKPOINT}.{old_hash}").is_file()
    assert len(result.history) == 3  # started over


def test_a_stage_command_with_another_configuration_hash_is_refused_in_one_line(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from pipeline.cli import app

    monkeypatch.chdir(tmp_path)
    name = "columbia-a56-c10-spatial-arl"
    actual = all_configurations()[name].config_hash()
    for command in ("train", "evaluate"):
        result = CliRunner().invoke(app, [command, name, "--config-hash", "0123456789ab"])
        assert result.exit_code != 0
        assert result.stderr.strip().splitlines() == [
            f"error: params.yaml lists {name} with configuration hash 0123456789ab, the catalog gives {actual}; "
            "run `repro sync`"
        ]
