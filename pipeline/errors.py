"""The one base class of every error a user can fix; the CLI prints it as one line and exits 2."""

from __future__ import annotations


class ReproError(Exception):
    """A problem with the user's input, files or environment, with its fix in the message."""

    def __str__(self) -> str:  # KeyError-style subclasses would quote the message
        return str(self.args[0]) if self.args else ""


class TrainingDiverged(ReproError, FloatingPointError):
    """The loss became NaN or infinite."""
