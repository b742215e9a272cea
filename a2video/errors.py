"""Errors caused by the user's input (files, configs, weights), not by bugs.

Every ``a2video`` command raises these for what the user can fix; ``a2video.cli.main`` prints them
as one line (no traceback) with their ``exit_code``. Library callers can catch them.
"""


class A2VideoError(Exception):
    """A problem the user can fix: a missing file, a bad config value, unreadable weights."""

    exit_code = 1

    def message(self) -> str:
        """The text the command line prints: one line."""
        return " ".join(str(self).split())


class ConfigError(A2VideoError):
    """A config file or command line the parser rejects (unknown key, wrong type, ...)."""

    exit_code = 2


class WeightsError(A2VideoError):
    """Pretrained weights that cannot be found, downloaded or matched to the model."""
