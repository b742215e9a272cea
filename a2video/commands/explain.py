"""``a2video explain``: the A² attention maps of a trained model on one video (MP4 and PNG)."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np
import torch

from a2video.errors import A2VideoError, ConfigError
from a2video.evaluation.attention_capture import capture_attention
from a2video.evaluation.attention_render import prediction_title, render
from a2video.evaluation.explain import JSON_FILE, MP4_FILE, read_clip
from a2video.files import atomic_write
from a2video.inference.runner import add_checkpoint_argument, add_clip_arguments, view_spec
from a2video.models.trained import load_trained
from a2video.threads import add_threads_argument


# ------------------------------------------------------------------------------------- command
def configure_explain(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``a2video explain VIDEO -c X [--out DIR]``."""
    parser.description = ("Run a trained model on one clip of a video and render the attention of its "
                          "double-attention (and non-local) blocks over the frames, as an MP4 and PNG grids.")
    parser.add_argument("video", help="video file")
    add_checkpoint_argument(parser)
    parser.add_argument("--out", help="output folder (default: explain_<video name> in the current folder)")
    parser.add_argument("--top", type=int, default=4, help="gathering maps shown per A² block (most used first)")
    parser.add_argument("--queries", type=int, default=4, help="query positions shown per non-local block (1-5)")
    parser.add_argument("--clip", type=int, default=0, help="which of --clips uniformly spread clips (0-based)")
    parser.add_argument("--clips", type=int, default=1, help="clips the video is divided into, placed by the checkpoint's protocol "
                        "(1: the a2video protocol's middle clip; slowfast's starts at frame 0)")
    add_clip_arguments(parser, ("num_frames", "sampling_rate", "target_fps", "protocol", "test_clip_placement",
                                "short_video", "test_short_side", "test_crop_size"),
                       aliases={"num_frames": ["--frames"], "sampling_rate": ["--stride"]})
    parser.add_argument("--size", type=int, help="short side and crop side at once (default: the checkpoint's test "
                        "short side and crop)")
    parser.add_argument("--classes", help="classes.txt for the names (default: the names saved in the checkpoint)")
    parser.add_argument("--model", help="model name, for weights that do not name their network")
    add_threads_argument(parser)


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
    trained = load_trained(args.checkpoint, model=args.model, classes_file=args.classes)
    if args.size is not None:
        args.test_short_side = args.test_crop_size = args.size
    spec = view_spec(trained, args)
    frames = read_clip(args.video, spec, clip_index=args.clip, num_clips=args.clips)  # (T, H, W, 3) uint8
    clip = trained.preprocessing.normalize(frames.permute(3, 0, 1, 2)[None])  # (1, C, T, H, W), the weights' mean/std
    logits, blocks = capture_attention(trained.net, clip, top=args.top, queries=args.queries)
    if not blocks:
        raise A2VideoError(f"{args.checkpoint}: the model has no double-attention or non-local block to show")
    probabilities = torch.softmax(logits.double(), dim=0).numpy()
    names = trained.class_names
    title = prediction_title(probabilities, names)
    pngs, mp4 = render(frames.numpy(), blocks, title)

    out = Path(args.out) if args.out else Path(f"explain_{Path(args.video).stem}")
    for name, content in pngs.items():
        atomic_write(out / name, lambda f, data=content: f.write(data))
    atomic_write(out / MP4_FILE, lambda f: f.write(mp4))
    order = np.argsort(-probabilities, kind="stable")[:5]
    summary = {
        "video": str(args.video), "checkpoint": str(args.checkpoint), "frames": list(frames.shape[:3]),
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
