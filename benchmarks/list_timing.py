"""Wall time of `repro list` with an empty counts cache (every model counted, as before the cache) and
with a warm one (`.repro/costs.json`), in a throw-away project root. Writes benchmarks/list-cpu.json.

    PYTHONPATH=. .venv/bin/python benchmarks/list_timing.py [--out benchmarks/list-cpu.json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def timed(root: Path) -> float:
    t0 = time.perf_counter()
    cmd = [sys.executable, "-m", "pipeline", "--root", str(root), "list"]
    subprocess.run(cmd, check=True, capture_output=True, env=os.environ | {"PYTHONPATH": str(ROOT)})
    return round(time.perf_counter() - t0, 2)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "list-cpu.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        shutil.copy(ROOT / "params.yaml", root / "params.yaml")
        cold = timed(root)  # no cache: every distinct model counted on the meta device
        warm = [timed(root) for _ in range(3)]
    result = {
        "command": "repro list",
        "cold_seconds": cold,
        "warm_seconds": warm,
        "load_average": os.getloadavg()[0],
        "cpu_count": os.cpu_count(),
    }
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
