"""``a2video explain VIDEO --ckpt X``: what a trained model's attention blocks look at on one clip.

The checkpoint's model runs on one test clip (centre crop, sampled as ``a2video test`` does);
:mod:`a2video.evaluation.attention_capture` records the maps of its double-attention and non-local
blocks and :mod:`a2video.evaluation.attention_render` draws them. Outputs (``--out``):
``attention.mp4`` (every block, frame by frame), one PNG grid per block (``attention_res3.1.png``:
rows = the clip and the shown maps, columns = frames) and ``explain.json`` (predictions, per-block
shapes, usages, peaks).
"""

from __future__ import annotations

import torch

from a2video.errors import A2VideoError

MP4_FILE = "attention.mp4"
JSON_FILE = "explain.json"


def read_clip(video: str, *, num_frames: int, sampling_rate: int, short_side: int, crop_size: int,
              clip_index: int = 0, num_clips: int = 1) -> torch.Tensor:
    """The centre crop of one test clip as uint8 (T, H, W, 3), as ``a2video test`` samples it.

    Args:
        video: Video file.
        num_frames: T.
        sampling_rate: Stride between frames.
        short_side: Short side after resizing.
        crop_size: Side of the centre crop.
        clip_index: Which of ``num_clips`` uniformly spread clips (default: the middle one of 1).
        num_clips: Clips the video is divided into.

    Raises:
        A2VideoError: If the video cannot be decoded.
    """
    from a2video.data.decoding import VideoDecodeError, probe_video, read_frames
    from a2video.data.sampling import uniform_clip_indices
    from a2video.data.transforms import EvalClipTransform, short_side_size

    try:
        info = probe_video(video)
        indices = uniform_clip_indices(info.num_frames, num_frames, sampling_rate, num_clips)[clip_index]  # (T,)
        size = short_side_size(info.height, info.width, short_side)
        frames = read_frames(video, indices[None], size)  # (1, T, H, W, 3)
    except VideoDecodeError as error:
        raise A2VideoError(f"cannot decode {video}: {error.reason}") from None
    views = EvalClipTransform(short_side, crop_size, 1)(torch.from_numpy(frames))  # (1, C, T, h, w)
    return views[0].permute(1, 2, 3, 0).contiguous()  # (T, h, w, C)
