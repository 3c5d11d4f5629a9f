"""The ``repro`` command line: parse arguments, call a stage or a tool, print the result.

DVC stages call these same commands (see dvc.yaml); the stage bodies are plain functions in
``pipeline/stages/``. Errors the user can fix (``errors.ReproError``) are one line on stderr with a
non-zero exit; machine-readable output goes to stdout. ``base`` holds the app and what commands
share; each module beside it registers a group of commands.
"""

# isort: off
from . import stages, tools, launch, doctor, sources  # noqa: F401  (registers the commands, in this order in --help)
from .base import app

# isort: on

__all__ = ["app"]
