"""Video data: list files and builders, frame samplers, decoding, transforms, datasets, synthetic set.

Modules, in the order data flows through them:

- ``lists``: read/write ``path label`` list files and ``classes.txt``.
- ``ucf101``, ``kinetics``, ``hmdb51``, ``ssv2``, ``generic_csv``, ``folder`` (with ``scan``): build
  list files for a dataset.
- ``prepare`` (with ``transcode``): re-encode a dataset for fast decoding (``a2video prepare``).
- ``sampling``: which frame numbers make up a clip (no I/O).
- ``decoding``: read those frames (decord, PyAV fallback) as uint8 (T, H, W, C).
- ``transforms``: crops/flips to uint8 (C, T, H, W); normalisation on the device.
- ``datasets``: training and multi-view evaluation datasets, bad-video handling.
- ``check``: the ``a2video check`` scan for unreadable, empty, too-short and odd videos.
- ``synthetic`` (with ``encoding``): a motion-only synthetic dataset.
- ``commands``: the ``a2video lists`` and ``a2video synth`` subcommands.
"""

from a2video.data.datasets import EvalVideoDataset, TrainVideoDataset, collate_train
from a2video.data.loader import EpochSampler, ResumableLoader
from a2video.data.decoding import NoFramesError, VideoDecodeError, VideoInfo, probe_video, read_frames
from a2video.data.encoding import write_video
from a2video.data.lists import ListFileError, read_classes, read_list, write_classes, write_list
from a2video.data.synthetic import SyntheticSet, make_synthetic_set
from a2video.data.transforms import normalize_video

__all__ = [
    "EvalVideoDataset",
    "ListFileError",
    "EpochSampler",
    "ResumableLoader",
    "SyntheticSet",
    "TrainVideoDataset",
    "NoFramesError",
    "VideoDecodeError",
    "VideoInfo",
    "collate_train",
    "make_synthetic_set",
    "normalize_video",
    "probe_video",
    "read_classes",
    "read_frames",
    "read_list",
    "write_classes",
    "write_list",
    "write_video",
]
