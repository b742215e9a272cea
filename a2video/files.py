"""Writing files so that an interruption never leaves a half-written one under the final name."""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any


def atomic_write(path: str | os.PathLike, write: Callable[[IO[bytes]], Any]) -> Path:
    """Call ``write`` on a temporary file beside ``path``, fsync it, then rename it to ``path``.

    The destination is always either its old content or the complete new one. The temporary
    file is in the same folder so ``os.replace`` is a rename, never a cross-device copy; it is
    opened with ``open(..., "xb")`` rather than ``mkstemp`` so it gets the user's umask, not 0600.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_path(path)
    try:
        with open(tmp, "xb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """:func:`atomic_write` for a library that writes to a file name itself (PyAV, ...).

    Yields a temporary path beside ``path`` with the same suffix (so a muxer still infers the
    container from it); when the block ends without an exception the file is fsynced and renamed
    to ``path``, otherwise it is deleted.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_path(path)
    try:
        yield tmp
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


_TEMPORARY = re.compile(r"^\..*\.\d+\.[0-9a-f]{8}\.tmp(\.[^.]*)?$")


def temporary_path(path: str | os.PathLike) -> Path:
    """A hidden name beside ``path``, unique per process and call, with ``path``'s suffix last
    (so a muxer still infers the container from it)."""
    path = Path(path)
    return path.with_name(f".{path.stem}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp{path.suffix}")


def is_temporary(name: str) -> bool:
    """Whether a file name is one :func:`temporary_path` makes (what a killed writer leaves behind)."""
    return _TEMPORARY.match(name) is not None


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """:func:`atomic_write` of a UTF-8 text."""
    return atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def check_writable(path: str | os.PathLike, *, folder: bool = False, option: str = "--out") -> None:
    """Before a long job: fail now where its final write would fail (no folder, no permission).

    ``folder=True``: ``path`` is an output folder, created here if needed. Otherwise ``path`` is a
    file whose folder must exist (or be creatable) and accept a new file.

    Raises:
        A2VideoError: one line naming the option, the path and the reason.
    """
    from a2video.errors import A2VideoError

    path = Path(path)
    where = path if folder else path.parent
    if path.is_dir() and not folder:
        raise A2VideoError(f"{option} {path} is a folder; give a file name")
    try:
        where.mkdir(parents=True, exist_ok=True)
        probe = temporary_path(where / ".write-check")
        with open(probe, "xb"):
            pass
        probe.unlink()
    except OSError as error:
        raise A2VideoError(f"cannot write {option} {path}: {error.strerror or error} ({error.filename or where})") from None
