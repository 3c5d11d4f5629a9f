import os
import sys

if os.environ.get("REPRO_PRELOAD"):  # `repro demo`: a preloaded server runs the command (pipeline/preload.py)
    from .dev.preload import run_via_server

    code = run_via_server(os.environ["REPRO_PRELOAD"], sys.argv[1:])
    if code is not None:
        sys.exit(code)

from .cli import app  # noqa: E402

app(prog_name="repro")
