"""Errors caused by the user's input (files, configs, weights), not by bugs.

The command line prints these as one line (no traceback); library callers can catch them.
"""


class A2VideoError(Exception):
    """A problem the user can fix: a missing file, a bad config value, unreadable weights."""

    exit_code = 1


class WeightsError(A2VideoError):
    """Pretrained weights that cannot be found, downloaded or matched to the model."""


class ConfigError(A2VideoError):
    """A config file or command line the parser rejects (unknown key, wrong type, ...)."""

    exit_code = 2
