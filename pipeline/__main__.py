import os
import sys
from importlib.util import find_spec

# Before any heavy import: a stage started outside the project's environment (e.g. `dvc repro` typed
# without `source .venv/bin/activate`) gets one line naming the fix, not a traceback.
_missing = next((m for m in ("typer", "rich", "pydantic", "yaml", "torch") if find_spec(m) is None), None)
if _missing is not None:
    print(
        f"error: this project's Python environment is not active (No module named '{_missing}'); "
        "run `source .venv/bin/activate` or use `make repro`",
        file=sys.stderr,
    )
    sys.exit(2)

if os.environ.get("REPRO_PRELOAD"):  # `repro demo`: a preloaded server runs the command (pipeline/preload.py)
    from .dev.preload import run_via_server

    code = run_via_server(os.environ["REPRO_PRELOAD"], sys.argv[1:])
    if code is not None:
        sys.exit(code)

from .cli import app  # noqa: E402

app(prog_name="repro")
