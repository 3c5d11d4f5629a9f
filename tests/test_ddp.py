"""Multi-process training: `torchrun --nproc_per_node=2` with the gloo backend on CPU keeps the
global batch and follows the single-process loss trajectory."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

from pipeline.rundir import HISTORY
from pipeline.training import train
from tests.conftest import register_tiny
from tests.test_training import CPU, make_run

SCRIPT = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    sys.path.insert(0, {root!r})
    from tests.conftest import register_tiny
    from tests.test_training import CPU, make_run
    from pipeline.training import train

    run, recipe = make_run(register_tiny(batchnorm=False), epochs=3, augment={{}})
    train(run, recipe, 0, Path({data!r}), Path({out!r}), CPU)
    """
)


def test_two_gloo_processes_follow_the_single_process_run(smoke_data, tmp_path):
    # no BatchNorm: with it each process normalises over its half batch, so only the loss scale matches
    run, recipe = make_run(register_tiny(batchnorm=False), epochs=3, augment={})
    single = train(run, recipe, 0, smoke_data, tmp_path / "single", CPU)

    script = tmp_path / "ddp.py"
    script.write_text(SCRIPT.format(root=os.getcwd(), data=str(smoke_data), out=str(tmp_path / "ddp")))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(script)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = (tmp_path / "ddp" / HISTORY).read_text().splitlines()[1:]
    ddp_steps = [int(r.split(",")[1]) for r in rows]
    assert ddp_steps == [r["step"] for r in single.history]  # same global batch → same steps per epoch
    metrics = json.loads((tmp_path / "ddp" / "train.json").read_text())
    ddp_losses = [float(r.split(",")[3]) for r in rows]
    for a, b in zip(ddp_losses, [r["train_loss"] for r in single.history], strict=True):
        assert a == pytest.approx(b, rel=1e-3)  # same global batch, averaged gradients: only summation order differs
    assert metrics["epochs"] == 3
