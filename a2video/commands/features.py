"""``a2video features``: per-video pre-logit embeddings of a trained model, to ``.npz``."""

from __future__ import annotations

import argparse
import io
import sys
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from a2video.files import atomic_write, check_writable
from a2video.inference.inputs import collect_videos
from a2video.inference.runner import (
    Scorer,
    add_view_arguments,
    pick_device,
    video_views,
    view_spec,
)
from a2video.models.trained import load_trained
from a2video.threads import threads_note


def configure_features(parser: argparse.ArgumentParser) -> None:
    parser.description = "Per-video pre-logit embeddings (views averaged) to an .npz, with the video paths."
    parser.add_argument("inputs", nargs="+", help="video files, folders and list files (.txt)")
    add_view_arguments(parser)
    parser.add_argument("--out", default="features.npz", help="the .npz to write (default: ./features.npz)")


def run_features(args: argparse.Namespace) -> None:
    videos = collect_videos(args.inputs, args.video_root)
    check_writable(args.out)  # found now, not after every video
    device = pick_device(args.device)
    trained = load_trained(args.checkpoint, model=args.model, classes_file=args.classes, device=device)
    spec = view_spec(trained, args)
    clips, crops = spec.views("test")
    scorer = Scorer(trained, device, args.view_chunk)
    width = trained.net.num_features
    features = np.full((len(videos), width), np.nan, dtype=np.float32)
    ok = np.zeros(len(videos), dtype=bool)
    errors = [""] * len(videos)
    start = time.perf_counter()
    items = video_views(videos, spec, backend=args.backend, workers=args.workers)
    for i, (path, views, error) in enumerate(tqdm(items, total=len(videos), unit="video", file=sys.stderr,
                                                  disable=None)):
        if views is None:
            errors[i] = error
            continue
        features[i] = scorer.features(views).mean(axis=0)  # (V, F) → (F,)
        ok[i] = True
    elapsed = time.perf_counter() - start
    buffer = io.BytesIO()
    np.savez(buffer, paths=np.array(videos, dtype=str), features=features, ok=ok,
             errors=np.array(errors, dtype=str), views_per_video=np.array(clips * crops))
    path = atomic_write(Path(args.out), lambda f: f.write(buffer.getvalue()))
    print(f"{len(videos)} videos ({int((~ok).sum())} failed), {width}-d features, {clips}x{crops} "
          f"views each: {elapsed:.1f} s, {ok.sum() / elapsed if elapsed else 0:.3g} videos/s, {threads_note(args)} → {path}")
