"""`repro check-source` on the guide's minimal source (reproduce/README.md): it passes end to end in a
scratch folder and leaves the checkout as it was; broken copies fail with file:line."""

import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipeline.cli import app

ROOT = Path(__file__).resolve().parent.parent
runner = CliRunner()


def guide_example() -> str:
    """The first ```yaml block of reproduce/README.md (the guide's minimal source)."""
    text = (ROOT / "reproduce" / "README.md").read_text()
    return re.search(r"```yaml\n(.*?)```", text, re.S).group(1)


def git_status() -> str:
    return subprocess.run(
        ["git", "-C", str(ROOT), "status", "--porcelain", "--ignored"], capture_output=True, text=True
    ).stdout


def test_check_source_passes_on_the_guide_example_and_leaves_the_checkout_alone(tmp_path):
    source = tmp_path / "example.yaml"
    source.write_text(guide_example())
    before = git_status()
    done = subprocess.run(
        [sys.executable, "-m", "pipeline", "check-source", str(source), "--scratch", str(tmp_path / "scratch")],
        cwd=ROOT, capture_output=True, text=True, timeout=1200,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert git_status() == before  # nothing written to the checkout, not even ignored files
    out = done.stdout
    assert re.search(r"example-resnet18-c10: [\d,]+ parameters, [\d,]+ MACs per image", out)
    assert re.search(r"example-resnet18-cbam-c10: [\d,]+ parameters", out)  # every model built and counted
    table = tmp_path / "scratch" / "smoke" / "paper_tables" / "example-table1.md"
    assert f"table: {table}" in out and "ResNet-18 + CBAM" in table.read_text()
    run = tmp_path / "scratch" / "smoke" / "runs" / "example-resnet18-c10-s0"
    assert (run / "eval.json").is_file() and (run / "train.json").is_file()  # trained and evaluated
    assert [p.name for p in (tmp_path / "scratch" / "smoke" / "data" / "prepared").iterdir()] == ["cifar10"]  # fetched
    for step in ("sync", "fetch", "train", "evaluate", "render"):
        assert f"check-source: {step}" in done.stderr


def check(path: Path, *extra: str):
    return runner.invoke(app, ["--root", str(ROOT), "check-source", str(path), *extra])


@pytest.mark.parametrize(
    ("old", "new", "key", "message"),
    [
        ("  epochs: 200 ", "  epoch: 200 ", "  epoch: 200", "recipe.epoch: Extra inputs are not permitted"),
        ("    model: resnet18 ", "    model: resnet81 ", "    model: resnet81", "unknown model 'resnet81'"),
        ("table: table1, row: ResNet-18,", "table: table2, row: ResNet-18,", "  example-resnet18-c10:", "table2"),
    ],
)
def test_a_broken_copy_fails_with_file_and_line(tmp_path, old, new, key, message):
    text = guide_example()
    assert old in text
    path = tmp_path / "example.yaml"
    path.write_text(text.replace(old, new, 1))
    line = next(i for i, ln in enumerate(path.read_text().splitlines(), start=1) if ln.startswith(key))
    result = check(path, "--scratch", str(tmp_path / "scratch"))
    assert result.exit_code != 0
    assert f"{path}:" in result.stderr and message in result.stderr
    if key != "  example-resnet18-c10:":  # cell errors name the configuration's line or the file's first
        assert f"{path}:{line}:" in result.stderr, result.stderr


def test_a_model_that_does_not_build_names_its_configuration_line(tmp_path):
    path = tmp_path / "example.yaml"
    path.write_text(
        guide_example().replace(
            "    model: resnet18-cbam\n", "    model: resnet18-cbam\n    model_options: {wdith: 2}\n"
        )
    )
    line = next(i for i, ln in enumerate(path.read_text().splitlines(), start=1) if "wdith" in ln)
    result = check(path, "--scratch", str(tmp_path / "scratch"))
    assert result.exit_code == 1
    assert f"{path}:{line}: example-resnet18-cbam-c10: model 'resnet18-cbam' does not build" in result.stderr


def test_names_already_in_the_catalog_and_a_scratch_folder_in_the_checkout_are_refused(tmp_path):
    path = tmp_path / "example.yaml"
    path.write_text(guide_example().replace("example-resnet18-c10", "zam-resnet18"))
    result = check(path, "--scratch", str(tmp_path / "scratch"))
    assert result.exit_code != 0 and "configuration 'zam-resnet18' is already defined in zam.yaml" in result.stderr
    path.write_text(guide_example())
    result = check(path, "--scratch", str(ROOT / "scratch-here"))
    assert result.exit_code == 1 and "must be outside the checkout" in result.stderr
    assert not (ROOT / "scratch-here").exists()
