"""Run-time video data: list files, frame samplers, decoding, transforms, datasets, the loader.

Modules, in the order data flows through them:

- ``lists``: read/write ``path label`` list files and ``classes.txt``.
- ``sampling``: which frame numbers make up a clip (no I/O).
- ``decoding``: read those frames (decord, PyAV fallback) as uint8 (T, H, W, C).
- ``transforms``: crops/flips to uint8 (C, T, H, W); normalisation on the device.
- ``datasets``: training and multi-view evaluation datasets, bad-video handling.
- ``encoding``: write uint8 frames as a video file (the synthetic sets, attention videos, tests).

Building list files and preparing a dataset offline is :mod:`a2video.preparation`.
"""

from a2video.data.datasets import EvalVideoDataset, TrainVideoDataset, collate_train
from a2video.data.loader import EpochSampler, ResumableLoader
from a2video.data.decoding import NoFramesError, VideoDecodeError, VideoInfo, probe_video, read_frames
from a2video.data.encoding import write_video
from a2video.data.lists import ListFileError, read_classes, read_list, write_classes, write_list
from a2video.data.transforms import normalize_video

__all__ = [
    "EvalVideoDataset",
    "ListFileError",
    "EpochSampler",
    "ResumableLoader",
    "TrainVideoDataset",
    "NoFramesError",
    "VideoDecodeError",
    "VideoInfo",
    "collate_train",
    "normalize_video",
    "probe_video",
    "read_classes",
    "read_frames",
    "read_list",
    "write_classes",
    "write_list",
    "write_video",
]
