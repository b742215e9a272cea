"""Errors caused by the user's input (files, configs, weights), not by bugs.

The command line prints these as one line (no traceback); library callers can catch them.
"""


class A2VideoError(Exception):
    """A problem the user can fix: a missing file, a bad config value, unreadable weights."""


class WeightsError(A2VideoError):
    """Pretrained weights that cannot be found, downloaded or matched to the model."""
