"""What the showroom refuses or cannot do, one class per answer a caller gives."""

from __future__ import annotations


class DeploymentError(Exception):
    """A demo was not deployed; nothing of it is left but its deploy log."""

    def __init__(self, message: str, log: str = ""):
        super().__init__(message)
        self.log = log  # the end of the recipe's output, when the recipe ran


class DestructionError(Exception):
    """A demo was not destroyed."""


class ShowroomUnavailable(Exception):
    """The showroom's own supervisord does not answer on its socket."""


class NoSuchDemo(LookupError):
    """No demo of that name to start, stop or read the logs of."""
