"""``a2video explain VIDEO -c X``: what a trained model's attention blocks look at on one clip.

The checkpoint's model runs on one test clip (centre crop, sampled as ``a2video test`` does);
:mod:`a2video.evaluation.attention_capture` records the maps of its double-attention and non-local
blocks and :mod:`a2video.evaluation.attention_render` draws them. Outputs (``--out``):
``attention.mp4`` (every block, frame by frame), one PNG grid per block (``attention_res3.1.png``:
rows = the clip and the shown maps, columns = frames) and ``explain.json`` (predictions, per-block
shapes, usages, peaks).
"""

from __future__ import annotations

import torch

from a2video.data.clips import ClipSpec
from a2video.errors import A2VideoError

MP4_FILE = "attention.mp4"
JSON_FILE = "explain.json"


def read_clip(video: str, clip: ClipSpec, *, clip_index: int = 0, num_clips: int = 1) -> torch.Tensor:
    """The centre crop of one test clip as uint8 (T, H, W, 3), sampled as ``a2video test`` samples
    with ``clip`` (its protocol, ``target_fps``, short side and crop).

    Args:
        video: Video file.
        clip: The clip spec (a checkpoint's, with the command's changes).
        clip_index: Which of ``num_clips`` test clips, placed by ``clip.protocol``.
        num_clips: Clips the video is divided into.

    Raises:
        A2VideoError: If the video cannot be decoded.
    """
    from a2video.data.datasets import eval_transform
    from a2video.data.decoding import VideoDecodeError, probe_video, read_frames
    from a2video.data.protocols import eval_clip_indices

    transform = eval_transform(clip, 1)
    try:
        info = probe_video(video)
        indices = eval_clip_indices(clip, info, num_clips)[clip_index]  # (T,)
        frames = read_frames(video, indices[None], transform.frame_size(info.height, info.width), info=info)
    except VideoDecodeError as error:
        raise A2VideoError(f"cannot decode {video}: {error.reason}") from None
    views = transform(torch.from_numpy(frames))  # (1, C, T, h, w)
    return views[0].permute(1, 2, 3, 0).contiguous()  # (T, h, w, C)
