"""Test helpers: videos whose frames carry their own frame number, and bad video files."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from a2video.data.encoding import write_video

CODE_BITS = 8
CODE_HEIGHT, CODE_WIDTH = 48, 128  # 8 bars of 16 pixels: flat enough that H.264 keeps them


def coded_frames(num_frames: int, height: int = CODE_HEIGHT, width: int = CODE_WIDTH) -> np.ndarray:
    """uint8 (F, H, W, 3): frame i shows the bits of i as black/white vertical bars (bit 0 left)."""
    bits = (np.arange(num_frames)[:, None] >> np.arange(CODE_BITS)[None, :]) & 1  # (F, 8)
    bars = np.repeat(bits * 255, width // CODE_BITS, axis=1)  # (F, W)
    return np.broadcast_to(bars[:, None, :, None], (num_frames, height, width, 3)).astype(np.uint8)


def read_codes(frames: np.ndarray) -> np.ndarray:
    """Frame numbers shown by coded frames (..., H, W, 3) of any size; shape (...)."""
    height, width = frames.shape[-3:-1]
    centres = ((np.arange(CODE_BITS) + 0.5) * width / CODE_BITS).astype(int)
    bits = frames[..., height // 2, centres, :].mean(axis=-1) > 127  # (..., 8)
    return (bits * (1 << np.arange(CODE_BITS))).sum(axis=-1)



def make_bad_videos(folder: Path) -> dict[str, Path]:
    """A zero-byte file, a truncated mp4 and a text file, all named ``.mp4``."""
    folder.mkdir(parents=True, exist_ok=True)
    good = write_video(folder / "whole.mp4", coded_frames(40), fps=25)
    truncated = folder / "truncated.mp4"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    empty = folder / "empty.mp4"
    empty.write_bytes(b"")
    text = folder / "text.mp4"
    text.write_text("this is a text file, not a video\n")
    return {"empty": empty, "truncated": truncated, "text": text}
