"""Pictures of captured attention: heat maps over the clip's frames, PNG grids and an MP4.

Pixels are composed with NumPy and labelled with Pillow (matplotlib's bundled DejaVu font): a
matplotlib canvas per video frame took seconds each for a full-size model's mosaics.
"""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from a2video.cores import usable_cores
from a2video.evaluation.attention_capture import BlockAttention

MP4_FPS = 2  # 8 frames of a clip: 4 seconds, slow enough to follow the maps
MIN_TILE = 128  # pixels: smaller crops are enlarged (nearest) in the pictures


def overlay(frames: np.ndarray, volume: np.ndarray, alpha: float = 0.6) -> np.ndarray:
    """Heat map of a (d, h, w) map upsampled to the clip, over its (T, H, W, 3) uint8 frames.

    The map is scaled to its own maximum over the whole clip, so frames of one map compare.
    """
    t, height, width, _ = frames.shape
    up = F.interpolate(torch.from_numpy(np.ascontiguousarray(volume, dtype=np.float32))[None, None],
                       size=(t, height, width), mode="trilinear", align_corners=False)[0, 0].numpy()
    up = np.clip(up / max(float(up.max()), 1e-12), 0.0, 1.0)  # (T, H, W)
    heat = _inferno()[(up * 255).round().astype(np.uint8)]  # (T, H, W, 3) through a 256-entry table
    weight = (alpha * np.sqrt(up))[..., None]  # strong where the map is, the frame shows elsewhere
    blended = (1 - weight) * (frames / np.float32(255)) + weight * heat
    return (255 * blended + 0.5).astype(np.uint8)


def _inferno() -> np.ndarray:
    from matplotlib import colormaps

    return colormaps["inferno"](np.linspace(0.0, 1.0, 256))[:, :3].astype(np.float32)  # (256, 3)


def _mark_query(tiles: np.ndarray, where: np.ndarray, grid: tuple[int, int, int]) -> np.ndarray:
    """Draws a small cyan square at a query position on the frames of its time step."""
    t, height, width, _ = tiles.shape
    d, h, w = grid
    qt, qy, qx = (int(v) for v in where)
    y, x = int((qy + 0.5) * height / h), int((qx + 0.5) * width / w)
    r = max(2, height // 64)
    frames = range(qt * t // d, (qt + 1) * t // d)
    tiles = tiles.copy()
    for f in frames:
        tiles[f, max(0, y - r):y + r + 1, max(0, x - r):x + r + 1] = (0, 255, 255)
    return tiles


def block_tiles(frames: np.ndarray, block: BlockAttention) -> list[np.ndarray]:
    """One (T, H, W, 3) overlay per shown map of a block."""
    tiles = []
    for i, volume in enumerate(block.maps):
        tile = overlay(frames, volume)
        if block.queries is not None:
            tile = _mark_query(tile, block.queries[i], block.query_shape)
        tiles.append(tile)
    return tiles


def mosaic(rows: list[list[np.ndarray]], pad: int = 4) -> tuple[np.ndarray, list[float], list[float]]:
    """Tiles of equal size (H, W, 3) in a grid on white; returns the image and the row and
    column centres in pixels."""
    height, width = rows[0][0].shape[:2]
    columns = max(len(r) for r in rows)
    image = np.full((len(rows) * (height + pad) + pad, columns * (width + pad) + pad, 3), 255, np.uint8)
    for i, row in enumerate(rows):
        for j, tile in enumerate(row):
            top, left = pad + i * (height + pad), pad + j * (width + pad)
            image[top:top + height, left:left + width] = tile
    rows_at = [pad + i * (height + pad) + height / 2 for i in range(len(rows))]
    columns_at = [pad + j * (width + pad) + width / 2 for j in range(columns)]
    return image, rows_at, columns_at


def labelled_image(image: np.ndarray, rows_at: list[float], row_labels: list[str], columns_at: list[float],
                   column_labels: list[str], title: str) -> np.ndarray:
    """The mosaic with row labels on the left, column labels below and title lines above, as a
    (H, W, 3) uint8 array with even sides."""
    from matplotlib.font_manager import findfont
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype(findfont("DejaVu Sans"), size=13)
    lines = title.split("\n")
    left = int(max(font.getlength(label) for label in row_labels)) + 12
    top, bottom = 20 * len(lines) + 8, 24
    height, width = image.shape[:2]
    canvas = Image.new("RGB", (left + width + 8, top + height + bottom), "white")
    canvas.paste(Image.fromarray(image), (left, top))
    draw = ImageDraw.Draw(canvas)
    for i, line in enumerate(lines):
        draw.text(((canvas.width - font.getlength(line)) / 2, 4 + 20 * i), line, fill="black", font=font)
    for y, label in zip(rows_at, row_labels):
        draw.text((left - 6 - font.getlength(label), top + y - 8), label, fill="black", font=font)
    for x, label in zip(columns_at, column_labels):
        draw.text((left + x - font.getlength(label) / 2, top + height + 4), label, fill="black", font=font)
    pixels = np.asarray(canvas)
    return np.ascontiguousarray(pixels[: pixels.shape[0] // 2 * 2, : pixels.shape[1] // 2 * 2])


def png_bytes(image: np.ndarray) -> bytes:
    """(H, W, 3) uint8 as PNG bytes."""
    from PIL import Image

    buf = io.BytesIO()
    # Level 1: a few percent larger than the default and several times faster on these mosaics.
    Image.fromarray(image).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def mp4_bytes(frames: list[np.ndarray], fps: int = MP4_FPS) -> bytes:
    """Frames of equal even size encoded as H.264 MP4 (through ``a2video.data.encoding``)."""
    from a2video.data.encoding import write_video

    with tempfile.TemporaryDirectory() as folder:
        path = write_video(Path(folder) / "clip.mp4", np.stack(frames), fps=fps, threads=min(4, usable_cores()))
        return path.read_bytes()


def prediction_title(probabilities: np.ndarray, class_names: list[str], count: int = 3) -> str:
    """``"predicted: a 61.2% | b 20.1% | c 3.0%"``."""
    order = np.argsort(-probabilities, kind="stable")[:count]
    return "predicted: " + " | ".join(f"{class_names[c]} {100 * probabilities[c]:.1f}%" for c in order)


def render(frames: np.ndarray, blocks: list[BlockAttention], title: str) -> tuple[dict[str, bytes], bytes]:
    """PNG grid per block and the MP4 of all blocks.

    Args:
        frames: (T, H, W, 3) uint8 frames the model saw.
        blocks: From :func:`capture_attention`.
        title: Title line (the predictions).

    Returns:
        ``({file name: PNG bytes}, MP4 bytes)``.
    """
    t = len(frames)
    scale = max(1, -(-MIN_TILE // frames.shape[1]))  # small clips are enlarged to be readable
    frames = frames.repeat(scale, axis=1).repeat(scale, axis=2)  # (T, H', W', 3)
    tiles = {block.name: block_tiles(frames, block) for block in blocks}
    pngs = {}
    for block in blocks:
        rows = [list(frames)] + [list(tile) for tile in tiles[block.name]]
        image, rows_at, columns_at = mosaic(rows)
        what = ("gathering maps softmax(B), most used first" if block.kind == "double_attention"
                else "non-local attention of query positions (cyan)")
        pngs[f"attention_{block.title}.png"] = png_bytes(labelled_image(
            image, rows_at, ["clip"] + block.labels, columns_at, [f"frame {i + 1}" if t <= 8 else str(i + 1)
                                                                  for i in range(t)],
            f"{title}\n{block.title} ({'x'.join(map(str, block.shape))} positions): {what}"))
    shown = max(len(block.maps) for block in blocks)
    video = []
    for f in range(t):
        rows = [[frames[f]] + [tile[f] for tile in tiles[block.name]] for block in blocks]
        image, rows_at, columns_at = mosaic(rows)
        video.append(labelled_image(
            image, rows_at, [f"{b.title} ({'A2' if b.kind == 'double_attention' else 'NL'})" for b in blocks],
            columns_at, ["clip"] + [f"#{i + 1}" for i in range(shown)], f"{title}\nframe {f + 1}/{t}"))
    return pngs, mp4_bytes(video)
