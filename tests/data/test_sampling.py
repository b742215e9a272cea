"""Frame-index samplers: bounds, stride, uniform spread, short videos, seeded determinism."""

import numpy as np
import pytest

from a2video.data.sampling import clip_span, random_clip_indices, uniform_clip_indices


def test_clip_span():
    assert clip_span(8, 8) == 57
    assert clip_span(1, 5) == 1
    with pytest.raises(ValueError):
        clip_span(0, 2)


def test_random_clips_stay_inside_and_reach_both_ends():
    rng = np.random.default_rng(0)
    starts = set()
    for _ in range(2000):
        clip = random_clip_indices(100, 8, 8, rng)
        assert clip.dtype == np.int64 and clip.shape == (8,)
        assert np.all(np.diff(clip) == 8)
        assert 0 <= clip[0] and clip[-1] <= 99
        starts.add(int(clip[0]))
    assert starts == set(range(100 - 57 + 1))  # every legal start, no other


def test_random_clips_are_seeded():
    first = [random_clip_indices(300, 8, 4, np.random.default_rng(7)) for _ in range(2)]
    assert np.array_equal(*first)
    others = {tuple(random_clip_indices(300, 8, 4, np.random.default_rng(seed))) for seed in range(20)}
    assert len(others) > 10


def test_video_exactly_one_span_long_has_one_clip():
    clip = random_clip_indices(57, 8, 8, np.random.default_rng(1))
    assert clip.tolist() == list(range(0, 57, 8))


@pytest.mark.parametrize("video_frames", [1, 5, 20, 56])
def test_short_videos_loop(video_frames):
    rng = np.random.default_rng(2)
    for _ in range(50):
        clip = random_clip_indices(video_frames, 8, 8, rng, short="loop")
        assert np.all((0 <= clip) & (clip < video_frames))
        # Looping keeps the stride modulo the video length.
        assert np.all((np.diff(clip) - 8) % video_frames == 0)


def test_short_videos_clamp_to_the_last_frame():
    clip = random_clip_indices(20, 8, 8, np.random.default_rng(0), short="clamp")
    assert clip.tolist() == [0, 8, 16, 19, 19, 19, 19, 19]
    with pytest.raises(ValueError, match="loop"):
        random_clip_indices(20, 8, 8, np.random.default_rng(0), short="wrap")
    with pytest.raises(ValueError, match="no frames"):
        random_clip_indices(0, 8, 8, np.random.default_rng(0))


def test_segment_placement_centres_clips_on_segments():
    clips = uniform_clip_indices(250, 8, 8, 10, placement="segments")
    assert clips.shape == (10, 8)
    assert np.all(np.diff(clips, axis=1) == 8)
    assert clips[0, 0] == 0 and clips[-1, -1] == 249  # first and last clip touch the ends
    starts = clips[:, 0]
    assert np.all(np.diff(starts) > 0)
    # Clip centres sit at the segment centres (k + 0.5) * 25 where the clip fits there.
    centres = starts + 28
    inner = slice(2, 8)
    assert np.allclose(centres[inner], (np.arange(10)[inner] + 0.5) * 25, atol=1)


def test_one_uniform_clip_is_the_centre_clip():
    clip = uniform_clip_indices(101, 4, 2, 1)[0]
    assert clip.tolist() == [47, 49, 51, 53]
    assert (clip[0] + clip[-1]) / 2 == 50


def test_uniform_clips_of_a_short_video():
    looped = uniform_clip_indices(10, 4, 4, 5, short="loop")
    assert np.all((0 <= looped) & (looped < 10))
    assert looped[:, 0].tolist() == [0, 2, 4, 6, 8]
    clamped = uniform_clip_indices(10, 4, 4, 3, short="clamp")
    assert clamped.tolist() == [[0, 4, 8, 9]] * 3
