"""``segments`` placement: test clips centred on their segments to the nearest frame (rounded, not
truncated). (The other placements are checked against their references in test_sampling.py.)

Clip k of K should cover its segment's middle, ``(k + 0.5) * F / K`` in frame units (frame i
spans [i, i + 1)); a clip of ``span`` frames starting at s is centred at ``s + span / 2``. So the
start is that middle minus ``span / 2``, kept inside the video, rounded to the nearest frame: at
most half a frame off, computed here with exact fractions.
"""

from __future__ import annotations

import itertools
from fractions import Fraction

import numpy as np

from a2video.data.sampling import clip_span, uniform_clip_indices


def test_clip_starts_are_the_nearest_frame_to_the_exact_start():
    checked = off_by_more_than_a_third = 0
    for video_frames, num_frames, stride, num_clips in itertools.product(
        range(20, 140, 7), (1, 4, 8), (1, 2, 5), (1, 2, 3, 5, 10)
    ):
        span = clip_span(num_frames, stride)
        latest = video_frames - span
        if latest < 0:
            continue  # short videos loop or clamp: another rule
        starts = uniform_clip_indices(video_frames, num_frames, stride, num_clips, placement="segments")[:, 0]
        for k, start in enumerate(starts.tolist()):
            exact = Fraction(2 * k + 1, 2) * video_frames / num_clips - Fraction(span, 2)
            exact = min(max(exact, Fraction(0)), Fraction(latest))
            assert abs(start - exact) <= Fraction(1, 2), (video_frames, num_frames, stride, num_clips, k, start, exact)
            checked += 1
            off_by_more_than_a_third += exact - int(exact) > Fraction(1, 3)
    assert checked > 1000 and off_by_more_than_a_third > 100  # many starts where truncating is a frame off


def test_three_clips_of_a_hundred_frames():
    # Exact starts 16 2/3 - 5 = 11 2/3, 50 - 5 = 45, 83 1/3 - 5 = 78 1/3.
    clips = uniform_clip_indices(100, 4, 3, 3, placement="segments")
    assert clips[:, 0].tolist() == [12, 45, 78]
    assert np.array_equal(clips, clips[:, :1] + 3 * np.arange(4))
