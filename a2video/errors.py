"""Errors caused by the user's input (files, configs, weights), not by bugs.

Every ``a2video`` command raises these for what the user can fix; ``a2video.cli.main`` prints them
as one line (no traceback) with their ``exit_code``. Library callers can catch them.
"""


class A2VideoError(Exception):
    """A problem the user can fix: a missing file, a bad config value, unreadable weights."""

    exit_code = 1

    def message(self) -> str:
        """The text the command line prints: one line."""
        return one_line(self)


def one_line(error: BaseException | str, *, limit: int | None = None, with_type: bool = False) -> str:
    """An error (or a message) on one line: whitespace collapsed, cut at ``limit`` characters,
    prefixed by the exception's type with ``with_type`` (just the type when the message is empty)."""
    text = " ".join(str(error).split())
    if limit is not None:
        text = text[:limit]
    if with_type and isinstance(error, BaseException):
        return f"{type(error).__name__}: {text}" if text else type(error).__name__
    return text


class ConfigError(A2VideoError):
    """A config file or command line the parser rejects (unknown key, wrong type, ...)."""

    exit_code = 2


class WeightsError(A2VideoError):
    """Pretrained weights that cannot be found, downloaded or matched to the model."""
