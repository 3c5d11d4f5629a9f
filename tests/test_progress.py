"""Progress in logs: outside a terminal, a plain line every N seconds within an epoch (step k/n,
images/s, time left in the epoch and the run); the rich bar stays for a terminal."""

import re

from pipeline import progress
from pipeline.progress import EpochReporter
from pipeline.training import train
from tests.test_training import CPU, make_run

LINE = re.compile(
    r"^t-run seed 0: epoch (\d+)/3 step (\d+)/(\d+), [\d,.]+ img/s, epoch left \d+:\d\d:\d\d, run left \d+:\d\d:\d\d$"
)


def test_a_line_every_n_seconds_within_the_epoch(tiny_model, smoke_data, tmp_path, capsys):
    run, recipe = make_run(tiny_model)  # 3 epochs
    train(run, recipe, 0, smoke_data, tmp_path, CPU, log_every=0.0)  # N = 0: a line after every step
    lines = capsys.readouterr().err.splitlines()
    within = [LINE.match(line) for line in lines if " img/s, " in line]
    assert within and all(within), lines
    steps = [(int(m[1]), int(m[2]), int(m[3])) for m in within]
    n = steps[0][2]
    assert n > 1
    assert steps == [(e, k, n) for e in (1, 2, 3) for k in range(1, n + 1)]
    assert sum(line.startswith("t-run seed 0: epoch 3 step") for line in lines) == 1  # the epoch line stays


def test_no_line_within_an_epoch_shorter_than_n(tiny_model, smoke_data, tmp_path, capsys):
    run, recipe = make_run(tiny_model, epochs=1)
    train(run, recipe, 0, smoke_data, tmp_path, CPU, log_every=3600.0)
    err = capsys.readouterr().err
    assert "img/s" not in err and "t-run seed 0: epoch 1 step" in err


def test_the_line_estimates_rate_and_time_left(monkeypatch, capsys):
    clock = iter([0.0, 100.0, 110.0])  # __init__, begin_epoch, within
    monkeypatch.setattr(progress.time, "perf_counter", lambda: next(clock))
    reporter = EpochReporter("cfg seed 1", total=3, every=60.0)
    reporter.begin_epoch()
    reporter.within(epoch=1, k=10, n=100, step=10, total_steps=300, images=1280, eval_seconds=5.0)
    # 1 s per step: 90 steps left in the epoch; 290 steps + 3 epoch-end evaluations of 5 s left in the run
    assert capsys.readouterr().err == (
        "cfg seed 1: epoch 1/3 step 10/100, 128.0 img/s, epoch left 0:01:30, run left 0:05:05\n"
    )
    assert reporter.next_at == 170.0  # the next line is due N seconds later


def test_a_terminal_gets_the_bar_and_no_plain_lines(monkeypatch):
    from rich.console import Console

    monkeypatch.setattr(progress, "console", Console(stderr=True, force_terminal=True))
    reporter = EpochReporter("cfg seed 0", total=2, every=0.0)
    try:
        reporter.begin_epoch()
        assert reporter.progress is not None and not reporter.due()
    finally:
        reporter.close()
