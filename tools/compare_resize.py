"""How far a2video's decoder-side resize is from the peers' bilinear ``interpolate`` (issue 21).

Writes a textured, panning H.264 video at two sizes, decodes 8 frames resized to short side 256
with each backend (the ``a2video`` protocol's path), and compares them with PySlowFast's resize of
the same frames decoded at the file's size (``interpolate(mode="bilinear", align_corners=False)``
on float, no antialiasing), and with a2video's ``bilinear`` filter (the peers' protocols).

Usage::

    python tools/compare_resize.py
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from a2video.data.decoding import probe_video, read_frames
from a2video.data.encoding import write_video
from a2video.data.transforms import resize_short_side, short_side_size


def texture(height: int, width: int, frames: int = 16) -> np.ndarray:
    coarse = torch.from_numpy(np.random.default_rng(0).integers(0, 256, (3, 90, 120)).astype(np.float32))
    image = F.interpolate(coarse[None], size=(height, width), mode="bicubic", align_corners=False)[0]
    image = image.clamp(0, 255).permute(1, 2, 0).numpy()
    return np.stack([np.roll(image, 3 * i, axis=1) for i in range(frames)]).astype(np.uint8)


def main() -> None:
    print("| file | backend | a2video path vs peers: mean | p99 | max | bilinear filter vs peers: max |")
    print("|---|---|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as folder:
        for height, width in ((360, 480), (240, 320)):
            path = write_video(Path(folder) / f"{width}x{height}.mp4", texture(height, width), fps=30, crf=18)
            info = probe_video(path)
            size = short_side_size(info.height, info.width, 256, "floor")
            for backend in ("decord", "pyav"):
                ours = read_frames(path, np.arange(8), size, info=info, backend=backend).astype(np.float32)
                full = read_frames(path, np.arange(8), None, info=info, backend=backend)
                planes = torch.from_numpy(full).permute(0, 3, 1, 2).float() / 255
                peers = F.interpolate(planes, size=size, mode="bilinear", align_corners=False)
                peers = peers.permute(0, 2, 3, 1).numpy() * 255
                diff = np.abs(ours - peers)
                mine = resize_short_side(torch.from_numpy(full), 256, "floor", "bilinear").numpy().astype(np.float32)
                print(f"| {width}x{height} | {backend} | {diff.mean():.2f} | {np.percentile(diff, 99):.1f} | "
                      f"{diff.max():.0f} | {np.abs(mine - peers).max():.2f} |")
    print("levels of 0-255")


if __name__ == "__main__":
    main()
