"""Public Kinetics checkpoints by name: ``init_from: pytorchvideo:i3d_r50_k400``.

Each entry is listed in the table of the model it loads into (:mod:`a2video.models.builders`) and
gathered here when that model registers. An entry says where the file comes from, its format (read
by :mod:`a2video.models.foreign`), the preprocessing it was trained with and its published accuracy
(Kinetics-400 validation, 10 clips × 3 crops, as quoted by its model zoo). A file is downloaded
once into the torch hub cache (``$TORCH_HOME/hub/checkpoints``, like torchvision's weights); on a
machine without internet the error gives the URL to fetch by hand and the ``init_from`` to use.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

from a2video.errors import WeightsError, one_line
from a2video.files import atomic_path
from a2video.models.preprocessing import Preprocessing


@dataclass(frozen=True)
class KnownCheckpoint:
    """One published checkpoint."""

    name: str
    source: str  # the project that trained and publishes it
    url: str
    format: str
    preprocessing: Preprocessing
    top1: float  # published Kinetics-400 top-1 / top-5 (%)
    top5: float
    zoo_page: str
    # The a2video model whose table lists it (set when that model registers); an A² model takes
    # it too, its blocks starting at identity.
    model: str = ""

    @property
    def file_name(self) -> str:
        return os.path.basename(self.url)


# Filled as the models register (each model's table lists the files that load into it).
KNOWN_CHECKPOINTS: dict[str, KnownCheckpoint] = {}


def add_known(entry: KnownCheckpoint) -> None:
    """Put ``entry`` in the table (:func:`a2video.models.registry.register_model` does it)."""
    if entry.name in KNOWN_CHECKPOINTS:
        raise ValueError(f"checkpoint {entry.name!r} is listed twice")
    KNOWN_CHECKPOINTS[entry.name] = entry


def is_known(source: str | os.PathLike | None) -> bool:
    """Whether ``source`` names a table entry (``project:name``)."""
    return str(source) in KNOWN_CHECKPOINTS


def cached_path(name: str) -> Path:
    """Where the file of entry ``name`` lives once downloaded."""
    return Path(torch.hub.get_dir()) / "checkpoints" / KNOWN_CHECKPOINTS[name].file_name


def fetch(name: str, *, progress: bool = False) -> Path:
    """The local file of a known checkpoint, downloaded into the torch hub cache if not there yet.

    Raises:
        WeightsError: the download failed (offline, ...): one line with the URL to fetch by hand,
            where to put it, and the ``init_from`` that uses a copy elsewhere.
    """
    entry = KNOWN_CHECKPOINTS[name]
    path = cached_path(name)
    if path.is_file():
        return path
    try:
        with atomic_path(path) as tmp:  # a cut download never sits under the final name
            torch.hub.download_url_to_file(entry.url, str(tmp), progress=progress)
    except Exception as error:  # URLError, socket and SSL errors, HTTP errors ...
        reason = one_line(error, limit=120)
        raise WeightsError(
            f"cannot download {name} ({type(error).__name__}: {reason}). Download {entry.url} on a machine with "
            f"internet and either put it at {path} or give the path of the copy instead of the name "
            f"(/path/to/{entry.file_name})") from None
    return path


def known_checkpoints_table() -> str:
    """The table as text, for ``a2video convert --list``."""
    lines = [f"{'name':<30} {'model':<8} {'K400 top-1/top-5':>17}  source, url"]
    for entry in KNOWN_CHECKPOINTS.values():
        lines.append(f"{entry.name:<30} {entry.model:<8} {entry.top1:>8.2f} / {entry.top5:<6.2f}  "
                     f"{entry.source}, {entry.url}")
    return "\n".join(lines)
