"""The test Slurm cluster itself (tests/_slurm.py): a job array gets one fake GPU per task, two at once."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slurm


def test_array_tasks_get_distinct_gpus_and_run_two_at_once(slurm, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    script = 'echo "$SLURM_ARRAY_TASK_ID $CUDA_VISIBLE_DEVICES $(date +%s.%N)"; sleep 2; date +%s.%N'
    slurm.run("sbatch", "--array=0-3", "--gres=gpu:1", "-c", "1", f"--output={out}/%a.log", "--wrap", script)
    slurm.wait_idle(timeout=90)
    rows = {}
    for i in range(4):
        task, gpu, start, end = (out / f"{i}.log").read_text().split()
        rows[int(task)] = (gpu, float(start), float(end))
    assert sorted(rows) == [0, 1, 2, 3]
    assert {gpu for gpu, _, _ in rows.values()} == {"0", "1"}  # one index each, both GPUs used
    overlapping = [
        (a, b)
        for a in rows
        for b in rows
        if a < b and rows[a][1] < rows[b][2] and rows[b][1] < rows[a][2]
    ]  # fmt: skip
    assert overlapping, rows
    for a, b in overlapping:  # tasks that ran together never shared a GPU
        assert rows[a][0] != rows[b][0], rows
