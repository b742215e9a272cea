"""Writing files so that an interruption never leaves a half-written one under the final name."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
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
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
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
