"""The launcher's user-facing error (its settings are params.yaml's ``launch:``, ``settings.LaunchSettings``)."""

from __future__ import annotations

from ..errors import ReproError
from ..settings import LaunchSettings

__all__ = ["LaunchError", "LaunchSettings"]


class LaunchError(ReproError):
    """A launch, status or cancel request that cannot be carried out; the message names the fix."""
