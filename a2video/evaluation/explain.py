"""``a2video explain VIDEO --ckpt X``: what a trained model's attention blocks look at on one clip.

For every double-attention block (SPEC §1) the gathering maps softmax_L(B) say where each of the
n global descriptors is gathered from; a map matters as much as the distribution step uses its
descriptor, measured here as its mean weight softmax_n(V) over all positions (the n weights sum to
1 at every position, so the usages sum to 1). The most used maps are upsampled to the clip and
overlaid on its frames. For non-local blocks, each of a few query positions has its own
attention over all positions; those rows are shown instead. The maps are captured with forward
hooks: the layers are not modified.

Outputs (``--out``): ``attention.mp4`` (every block, frame by frame), one PNG grid per block
(``attention_res3.1.png``: rows = the clip and the shown maps, columns = frames) and
``explain.json`` (predictions, per-block shapes, usages, peaks).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from a2video.errors import A2VideoError, ConfigError
from a2video.files import atomic_write
from a2video.layers import DoubleAttention3d, NonLocal3d
from a2video.layers.double_attention import stable_softmax

MP4_FILE = "attention.mp4"
JSON_FILE = "explain.json"
MP4_FPS = 2  # 8 frames of a clip: 4 seconds, slow enough to follow the maps
MIN_TILE = 128  # pixels: smaller crops are enlarged (nearest) in the pictures


@dataclass
class BlockAttention:
    """The attention of one block on one clip.

    Attributes:
        name: Module name in the model (``layer2.1.attention``).
        title: Short name (``res3.1``: stage res3, after unit 1).
        kind: ``"double_attention"`` or ``"non_local"``.
        shape: (d, h, w) of the positions the maps are over.
        maps: (S, d, h, w) the maps shown; each sums to 1 over its d·h·w positions.
        labels: (S,) what each shown map is.
        usage: (n,) mean distribution weight of every gathering map (double attention), else None.
        gather: (n, d·h·w) every gathering map (double attention), else None.
        queries: (S, 3) query positions (t, y, x) in the block's input grid (non-local), else None.
        query_shape: (d, h, w) of the grid the queries live in (non-local), else None.
    """

    name: str
    title: str
    kind: str
    shape: tuple[int, int, int]
    maps: np.ndarray
    labels: list[str]
    usage: np.ndarray | None = None
    gather: np.ndarray | None = None
    queries: np.ndarray | None = None
    query_shape: tuple[int, int, int] | None = None


def capture_attention(model: nn.Module, clip: torch.Tensor, *, top: int = 4,
                      queries: int = 4) -> tuple[torch.Tensor, list[BlockAttention]]:
    """Runs ``model`` on one clip and records the attention of its A² and non-local blocks.

    Args:
        model: A classifier in eval mode.
        clip: (1, C, T, H, W) normalised float clip.
        top: Gathering maps shown per double-attention block (the most used).
        queries: Query positions shown per non-local block.

    Returns:
        (K,) logits and one :class:`BlockAttention` per block, in forward order.
    """
    records: list[BlockAttention] = []

    def double_attention_hook(name: str):
        def hook(block: DoubleAttention3d, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
            x = inputs[0]
            _, gather, distribute = block.attention_maps(x)  # (1, n, L) each, the layer's own code
            usage = distribute[0].float().mean(dim=1)  # (n,) share of each descriptor, sums to 1
            order = torch.argsort(usage, descending=True, stable=True)[:top]
            shape = tuple(x.shape[2:])
            records.append(BlockAttention(
                name=name, title=_short_name(name), kind="double_attention", shape=shape,
                maps=gather[0, order].float().reshape(-1, *shape).numpy(),
                labels=[f"map {int(j)}, usage {100 * float(usage[j]):.1f}%" for j in order],
                usage=usage.numpy(), gather=gather[0].float().numpy()))
        return hook

    def non_local_hook(name: str):
        def hook(block: NonLocal3d, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
            x = inputs[0]
            attention, source_shape, where = _non_local_rows(block, x, queries)
            records.append(BlockAttention(
                name=name, title=_short_name(name), kind="non_local", shape=source_shape,
                maps=attention.reshape(-1, *source_shape).numpy(),
                labels=[f"query t={t} y={y} x={xx}" for t, y, xx in where.tolist()],
                queries=where, query_shape=tuple(x.shape[2:])))
        return hook

    handles = []
    for name, module in model.named_modules():
        if isinstance(module, DoubleAttention3d):
            handles.append(module.register_forward_hook(double_attention_hook(name)))
        elif isinstance(module, NonLocal3d):
            handles.append(module.register_forward_hook(non_local_hook(name)))
    try:
        with torch.no_grad():
            logits = model(clip)[0]
    finally:
        for handle in handles:
            handle.remove()
    return logits, records


def _non_local_rows(block: NonLocal3d, x: torch.Tensor, count: int) -> tuple[torch.Tensor, tuple, np.ndarray]:
    """Attention rows of ``count`` query positions: the centres of the quadrants of the middle
    time step (then its centre), computed as ``NonLocal3d.forward`` does but for those rows only."""
    _, _, d, h, w = x.shape
    spots = [(h // 4, w // 4), (h // 4, (3 * w) // 4), ((3 * h) // 4, w // 4), ((3 * h) // 4, (3 * w) // 4),
             (h // 2, w // 2)]
    where = np.array([(d // 2, y, xx) for y, xx in spots[:max(1, count)]], dtype=np.int64)  # (Q, 3)
    flat = torch.as_tensor(where[:, 0] * h * w + where[:, 1] * w + where[:, 2])
    theta = block.theta(x).flatten(2)[:, :, flat]  # (1, ci, Q)
    source = block.pool(x)
    phi = block.phi(source).flatten(2)  # (1, ci, Ls)
    affinity = torch.bmm(theta.transpose(1, 2), phi)  # (1, Q, Ls)
    if block.scale:
        affinity = affinity * block.inner_channels**-0.5
    rows = stable_softmax(affinity, dim=2)[0].float()  # (Q, Ls), each row sums to 1
    return rows, tuple(source.shape[2:]), where


def _short_name(module_name: str) -> str:
    # layer2.1.attention -> res3.1 (torchvision's layerK is the paper's res{K+1})
    parts = module_name.split(".")
    if len(parts) >= 2 and parts[0].startswith("layer") and parts[0][5:].isdigit():
        return f"res{int(parts[0][5:]) + 1}.{parts[1]}"
    return module_name


# ----------------------------------------------------------------------------------- rendering
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
    (H, W, 3) uint8 array with even sides. Drawn with Pillow: a matplotlib canvas per video frame
    cost seconds each for a full-size model's mosaics."""
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
        path = write_video(Path(folder) / "clip.mp4", np.stack(frames), fps=fps, threads=min(4, os.cpu_count() or 1))
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


# ------------------------------------------------------------------------------- model and clip
def _load_model(path: str | os.PathLike, model_name: str | None = None) -> tuple[nn.Module, dict, dict]:
    """Model, its hyperparameters and the data hyperparameters from a checkpoint of ``a2video fit``
    (or a plain state dict with ``model_name``). Kept in one function so the weight reader can change."""
    from a2video.engine.finetune import read_state_dict
    from a2video.models import create_model

    state = read_state_dict(path)
    checkpoint = torch.load(Path(path).expanduser(), map_location="cpu", weights_only=True)
    hp = checkpoint.get("hyper_parameters") if isinstance(checkpoint, dict) else None
    hp = dict(hp) if isinstance(hp, dict) else {}
    data = checkpoint.get("datamodule_hyper_parameters") if isinstance(checkpoint, dict) else None
    name = model_name or hp.get("model")
    if not name:
        raise ConfigError(f"{path} does not say which model it holds; pass --model NAME")
    if "fc.weight" not in state:
        raise A2VideoError(f"{path} has no classifier weights (fc.weight)")
    # A plain state dict does not say its width; the stem's channel count is the base width.
    width = hp.get("base_width") or (int(state["conv1.weight"].shape[0]) if "conv1.weight" in state else 64)
    model = create_model(name, num_classes=int(state["fc.weight"].shape[0]), base_width=width,
                         dropout=hp.get("dropout", 0.5), **(hp.get("model_kwargs") or {}))
    try:
        model.load_state_dict(state)
    except RuntimeError as error:
        first = " ".join(str(error).split())[:300]
        raise A2VideoError(f"checkpoint {path} does not fit model {name}: {first}") from None
    return model.eval(), hp, dict(data) if isinstance(data, dict) else {}


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


def _class_names(data: dict[str, Any], override: str | None, count: int) -> list[str]:
    from a2video.data.lists import read_classes

    candidates = [override] if override else [data.get("classes_file")] + [
        str(Path(data[key]).parent / "classes.txt") for key in ("train_list", "val_list", "test_list") if data.get(key)]
    for candidate in candidates:
        if candidate and os.path.isfile(candidate):
            try:
                names = read_classes(candidate)
            except A2VideoError:
                names = []
            if len(names) == count:
                return names
        if override:
            raise A2VideoError(f"--classes {override}: not a classes file with {count} names")
    return [f"class {c}" for c in range(count)]


# ------------------------------------------------------------------------------------- command
def configure_explain(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``a2video explain VIDEO --ckpt X [--out DIR]``."""
    parser.description = ("Run a trained model on one clip of a video and render the attention of its "
                          "double-attention (and non-local) blocks over the frames, as an MP4 and PNG grids.")
    parser.add_argument("video", help="video file")
    parser.add_argument("--ckpt", required=True, help="checkpoint of `a2video fit` (.ckpt)")
    parser.add_argument("--out", help="output folder (default: explain_<video name> in the current folder)")
    parser.add_argument("--top", type=int, default=4, help="gathering maps shown per A² block (most used first)")
    parser.add_argument("--queries", type=int, default=4, help="query positions shown per non-local block (1-5)")
    parser.add_argument("--clip", type=int, default=0, help="which of --clips uniformly spread clips (0-based)")
    parser.add_argument("--clips", type=int, default=1, help="clips the video is divided into (1: the middle clip)")
    parser.add_argument("--frames", type=int, help="frames per clip (default: the checkpoint's data.num_frames)")
    parser.add_argument("--stride", type=int, help="frame stride (default: the checkpoint's data.sampling_rate)")
    parser.add_argument("--size", type=int, help="crop side (default: the checkpoint's test crop, else 256)")
    parser.add_argument("--classes", help="classes.txt for the names (default: the checkpoint's data lists')")
    parser.add_argument("--model", help="model name, for a plain state dict without hyperparameters")


def run_explain(args: argparse.Namespace) -> None:
    """``a2video explain``: writes attention.mp4, one PNG per block and explain.json; prints a summary.

    Raises:
        A2VideoError: Unreadable checkpoint or video, or a model without attention blocks.
        ConfigError: Invalid option values.
    """
    if not 1 <= args.top <= 64 or not 1 <= args.queries <= 5 or not 0 <= args.clip < args.clips:
        raise ConfigError("need 1 <= --top <= 64, 1 <= --queries <= 5 and 0 <= --clip < --clips")
    if not os.path.isfile(args.video):
        raise A2VideoError(f"video not found: {args.video}")
    model, _, data = _load_model(args.ckpt, args.model)
    size = args.size or data.get("test_crop_size") or data.get("test_short_side") or 256
    frames = read_clip(args.video, num_frames=args.frames or data.get("num_frames", 8),
                       sampling_rate=args.stride or data.get("sampling_rate", 8), short_side=size, crop_size=size,
                       clip_index=args.clip, num_clips=args.clips)  # (T, H, W, 3) uint8
    from a2video.data.transforms import normalize_video

    clip = normalize_video(frames.permute(3, 0, 1, 2)[None])  # (1, C, T, H, W)
    logits, blocks = capture_attention(model, clip, top=args.top, queries=args.queries)
    if not blocks:
        raise A2VideoError(f"{args.ckpt}: the model has no double-attention or non-local block to show")
    probabilities = torch.softmax(logits.double(), dim=0).numpy()
    names = _class_names(data, args.classes, len(probabilities))
    title = prediction_title(probabilities, names)
    pngs, mp4 = render(frames.numpy(), blocks, title)

    out = Path(args.out) if args.out else Path(f"explain_{Path(args.video).stem}")
    for name, content in pngs.items():
        atomic_write(out / name, lambda f, data=content: f.write(data))
    atomic_write(out / MP4_FILE, lambda f: f.write(mp4))
    order = np.argsort(-probabilities, kind="stable")[:5]
    summary = {
        "video": str(args.video), "checkpoint": str(args.ckpt), "frames": list(frames.shape[:3]),
        "top5": [{"class": int(c), "name": names[c], "probability": float(probabilities[c])} for c in order],
        "blocks": [{"name": b.name, "title": b.title, "kind": b.kind, "positions": list(b.shape),
                    "shown": b.labels, "peak": [float(m.max()) for m in b.maps],
                    "usage": None if b.usage is None else [float(u) for u in b.usage]} for b in blocks],
    }
    atomic_write(out / JSON_FILE, lambda f: f.write((json.dumps(summary, indent=1) + "\n").encode()))
    print(title)
    for b in blocks:
        print(f"  {b.title:<8} {b.kind:<16} {'x'.join(map(str, b.shape)):>9} positions, shown: {'; '.join(b.labels)}")
    print(f"written to {out}: {MP4_FILE}, {', '.join(pngs)}, {JSON_FILE}")
