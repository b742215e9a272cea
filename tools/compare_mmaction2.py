"""a2video's ``mmaction2`` protocol against mmaction2's own ``SampleFrames`` (test mode).

mmaction2 cannot be imported without mmcv (compiled), but ``SampleFrames`` itself needs only
NumPy: this script takes its class from an mmaction2 wheel (``pip download --no-deps mmaction2``),
runs that code as it is (on a bare base class instead of mmcv's ``BaseTransform``, which only
adds ``__call__``), and compares its ``frame_inds`` with :func:`a2video.data.protocols.eval_clip_indices`
over a grid of video lengths, frame rates, clip lengths, strides, clip counts, both
``out_of_bound_opt`` rules, ``twice_sample`` and ``target_fps``. Prints the count and the first
differences.

Usage::

    pip download --no-deps mmaction2==1.2.0 -d /tmp/mmaction2
    python tools/compare_mmaction2.py /tmp/mmaction2/mmaction2-1.2.0-py2.py3-none-any.whl
"""

from __future__ import annotations

import argparse
import ast
import itertools
import zipfile
from typing import Optional

import numpy as np

from a2video.data.clips import ClipSpec
from a2video.data.decoding import VideoInfo
from a2video.data.protocols import eval_clip_indices

LOADING = "mmaction/datasets/transforms/loading.py"


def sample_frames_class(wheel: str) -> type:
    """mmaction2's ``SampleFrames``, its source taken from the wheel and run unchanged."""
    with zipfile.ZipFile(wheel) as archive:
        source = archive.read(LOADING).decode()
    tree = ast.parse(source)
    node = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "SampleFrames")
    node.decorator_list = []  # the registry decorator needs mmengine
    namespace = {"np": np, "Optional": Optional, "BaseTransform": object}
    exec(compile(ast.Module(body=[node], type_ignores=[]), LOADING, "exec"), namespace)
    return namespace["SampleFrames"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("wheel", help="an mmaction2 wheel (pip download --no-deps mmaction2)")
    args = parser.parse_args()
    sample_frames = sample_frames_class(args.wheel)
    grid = itertools.product([1, 5, 20, 50, 63, 64, 65, 100, 251, 300], [25.0, 30.0, 30000 / 1001, 60.0],
                             [1, 8, 32], [1, 2, 8], [1, 3, 10], ["loop", "repeat_last"], [False, True], [None, 30])
    checked, differences = 0, []
    for frames, fps, length, stride, clips, rule, twice, target in grid:
        if (twice and clips < 2 and length > 1) or (length == 1 and (stride != 1 or target)):
            continue  # settings mmaction2 divides by zero on, or that mean nothing for its 2D path
        theirs = sample_frames(clip_len=length, frame_interval=stride, num_clips=clips, twice_sample=twice,
                               out_of_bound_opt=rule, test_mode=True, target_fps=target)
        expected = theirs.transform({"total_frames": frames, "start_index": 0, "avg_fps": fps})["frame_inds"]
        expected = expected.reshape(-1, length)
        spec = ClipSpec(num_frames=length, sampling_rate=stride, test_clips=clips, protocol="mmaction2",
                        short_video=rule, twice_sample=twice, target_fps=target)
        info = VideoInfo(num_frames=frames, height=256, width=340, fps=fps, last_time=(frames - 1) / fps)
        ours = eval_clip_indices(spec, info, clips * 2 if twice else clips)
        checked += 1
        if ours.shape != expected.shape or not np.array_equal(ours, expected):
            differences.append((frames, fps, length, stride, clips, rule, twice, target, ours, expected))
    print(f"{checked} settings compared with mmaction2's SampleFrames ({args.wheel}): {len(differences)} differ")
    for frames, fps, length, stride, clips, rule, twice, target, ours, expected in differences[:5]:
        print(f"  {frames} frames {fps:g} fps, {length}x{stride}, {clips} clips, {rule}, twice {twice}, "
              f"target_fps {target}:\n    ours   {ours.tolist()}\n    theirs {expected.tolist()}")


if __name__ == "__main__":
    main()
