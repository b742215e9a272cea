"""Frame-index samplers: bounds, stride, test clip placements, short videos, time-based sampling, seeding."""

from fractions import Fraction

import numpy as np
import pytest

from a2video.data.sampling import clip_span, clip_starts, random_clip_indices, resample_to_fps, uniform_clip_indices


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


# --- Test clip placement: each reference's formula, computed here with exact fractions ---

def _even_reference(frames, span, clips):
    """mmaction2 SampleFrames (test mode): round(k * Δ / (K - 1)) half to even; one clip: Δ // 2."""
    delta = max(frames - span, 0)
    if clips == 1:
        return [delta // 2]
    return [round(Fraction(delta, clips - 1) * k) for k in range(clips)]


CASES = [(300, 8, 8, 10), (250, 8, 8, 10), (101, 4, 2, 1), (64, 8, 8, 3), (57, 8, 8, 10), (1000, 16, 4, 7), (77, 8, 2, 2)]


@pytest.mark.parametrize(("frames", "num_frames", "stride", "clips"), CASES)
@pytest.mark.parametrize(("placement", "reference"), [("even", _even_reference)])
def test_clip_placements_follow_the_references(frames, num_frames, stride, clips, placement, reference):
    span = (num_frames - 1) * stride + 1
    starts = reference(frames, span, clips)
    assert clip_starts(frames, span, clips, placement).tolist() == starts
    indices = uniform_clip_indices(frames, num_frames, stride, clips, placement=placement)
    assert indices.tolist() == [[start + stride * j for j in range(num_frames)] for start in starts]


def test_even_placement_spans_the_video_from_first_to_last_frame():
    clips = uniform_clip_indices(300, 8, 8, 10)
    assert clips[:, 0].tolist() == [0, 27, 54, 81, 108, 135, 162, 189, 216, 243]
    assert clips[-1, -1] == 299  # the last clip ends on the last frame
    # The old placement (issue 10): 0, 17, 47, ... 227, 243, uneven at both ends.
    assert uniform_clip_indices(300, 8, 8, 10, placement="segments")[:, 0].tolist()[:3] == [0, 17, 47]
    with pytest.raises(ValueError, match="placement"):
        clip_starts(300, 57, 10, "middle")


@pytest.mark.parametrize("placement", ["even", "segments"])
def test_a_50_frame_video_repeats_its_last_frame_in_every_test_clip(placement):
    # 8 x 8 clips span 57 frames: every clip starts at 0 and the last frame fills the rest.
    clips = uniform_clip_indices(50, 8, 8, 10, placement=placement)
    assert clips.tolist() == [[0, 8, 16, 24, 32, 40, 48, 49]] * 10


def test_a_50_frame_video_repeats_its_last_frame_in_training_and_can_loop():
    rng = np.random.default_rng(0)
    assert random_clip_indices(50, 8, 8, rng).tolist() == [0, 8, 16, 24, 32, 40, 48, 49]  # the default
    looped = random_clip_indices(50, 8, 8, rng, short="loop")
    assert np.all((np.diff(looped) - 8) % 50 == 0) and np.all(looped < 50)
    looped_test = uniform_clip_indices(50, 8, 8, 5, short="loop")
    assert looped_test[:, 0].tolist() == [0, 10, 20, 30, 40]


# --- Time-based sampling ---

def _nearest(times, instants):
    """Brute force: for each instant, the frame whose time is nearest (the earlier one on a tie)."""
    return [min(range(len(times)), key=lambda k: (abs(times[k] - t), k)) for t in instants]


@pytest.mark.parametrize("fps", [30, 25, 60, 29.97])
def test_resampling_a_constant_rate_video_picks_the_nearest_frames(fps):
    times = np.arange(int(10 * fps)) / fps
    grid = resample_to_fps(times, 30)
    instants = np.arange(grid.size) / 30
    assert instants[-1] <= times[-1] < instants[-1] + 1 / 30  # covers the video, never past its end
    assert grid.tolist() == _nearest(times.tolist(), instants.tolist())
    if fps == 30:
        assert grid.tolist() == list(range(times.size))


def test_resampling_a_variable_rate_video_uses_its_timestamps():
    rng = np.random.default_rng(3)
    times = np.concatenate([[0.0], np.cumsum(rng.choice([0.01, 0.033, 0.1], size=80))])
    grid = resample_to_fps(times, 30)
    assert grid.tolist() == _nearest(times.tolist(), (np.arange(grid.size) / 30).tolist())
    with pytest.raises(ValueError, match="target_fps"):
        resample_to_fps(times, 0)


@pytest.mark.parametrize("fps", [25, 30, 50])
def test_a_clip_at_a_target_rate_covers_the_same_time_whatever_the_file_rate(fps):
    times = np.arange(10 * fps) / fps
    grid = resample_to_fps(times, 30)
    clip = grid[uniform_clip_indices(grid.size, 8, 8, 1)[0]]
    covered = times[clip[-1]] - times[clip[0]]
    assert abs(covered - 56 / 30) <= 1 / fps  # 8 frames every 8th at 30 fps, to within a frame
