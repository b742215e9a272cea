"""Public Kinetics checkpoints by name: ``init_from: pytorchvideo:i3d_r50_k400``.

The table says where each file comes from, its format (read by :mod:`a2video.models.foreign`),
the a2video model it loads into, the preprocessing it was trained with and its published accuracy
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
from a2video.models.preprocessing import KINETICS_SLOWFAST, Preprocessing


@dataclass(frozen=True)
class KnownCheckpoint:
    """One published checkpoint."""

    name: str
    source: str  # the project that trained and publishes it
    url: str
    format: str
    model: str  # the a2video model it loads into (an A² model takes it too: blocks start at identity)
    preprocessing: Preprocessing
    top1: float  # published Kinetics-400 top-1 / top-5 (%)
    top5: float
    zoo_page: str

    @property
    def file_name(self) -> str:
        return os.path.basename(self.url)


KNOWN_CHECKPOINTS: dict[str, KnownCheckpoint] = {entry.name: entry for entry in (
    KnownCheckpoint(
        name="pytorchvideo:i3d_r50_k400", source="pytorchvideo model zoo",
        url="https://dl.fbaipublicfiles.com/pytorchvideo/model_zoo/kinetics/I3D_8x8_R50.pyth",
        format="pytorchvideo .pyth (model_state, blocks.N...)", model="i3d_r50", preprocessing=KINETICS_SLOWFAST,
        top1=73.27, top5=90.70, zoo_page="pytorchvideo docs/source/model_zoo.md (Kinetics-400, I3D R50 8x8)"),
    KnownCheckpoint(
        name="pyslowfast:i3d_r50_k400", source="PySlowFast model zoo (Caffe2-trained)",
        url="https://dl.fbaipublicfiles.com/pyslowfast/model_zoo/kinetics400/I3D_8x8_R50.pkl",
        format="PySlowFast Caffe2 .pkl (blobs)", model="i3d_r50", preprocessing=KINETICS_SLOWFAST,
        top1=73.5, top5=90.8, zoo_page="PySlowFast MODEL_ZOO.md (Kinetics/c2/I3D_8x8_R50)"),
    KnownCheckpoint(
        name="pyslowfast:i3d_nln_r50_k400", source="PySlowFast model zoo (Caffe2-trained)",
        url="https://dl.fbaipublicfiles.com/pyslowfast/model_zoo/kinetics400/I3D_NLN_8x8_R50.pkl",
        format="PySlowFast Caffe2 .pkl (blobs, non-local)", model="nl_r50", preprocessing=KINETICS_SLOWFAST,
        top1=74.0, top5=91.1, zoo_page="PySlowFast MODEL_ZOO.md (Kinetics/c2/I3D_NLN_8x8_R50)"),
)}


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
