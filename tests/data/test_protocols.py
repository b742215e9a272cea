"""The peers' test protocols, frame for frame (a2video.data.protocols).

Each peer is simulated here the way its own code works, step by step (PySlowFast's PyAV reader
from presentation timestamps, pytorchvideo's clip sampler in exact fractions of a second,
mmaction2's ``SampleFrames`` with its float offsets), independently of a2video's code, and the
literal arrays come from the issue's reading of the peers' sources and tests.
"""

from __future__ import annotations

import dataclasses
import math
from fractions import Fraction

import numpy as np
import pytest
import torch

from a2video.data.clips import ClipSpec, ClipSpecError
from a2video.data.datasets import EvalVideoDataset, TrainVideoDataset
from a2video.data.decoding import StreamHeader, VideoInfo, probe_video, read_frames
from a2video.data.encoding import write_video
from a2video.data.protocols import (
    crop_style,
    eval_clip_indices,
    mmaction2_clip_indices,
    resize_rounding,
    train_clip_indices,
)
from a2video.data.transforms import crop_offsets, short_side_size
from video_codes import coded_frames, read_codes


def info(num_frames: int, fps: float) -> VideoInfo:
    return VideoInfo(num_frames=num_frames, height=256, width=340, fps=fps, last_time=(num_frames - 1) / fps)


def spec(protocol: str, **values) -> ClipSpec:
    return ClipSpec(protocol=protocol, **{"num_frames": 8, "sampling_rate": 8, "target_fps": 30, **values})


# ----------------------------------------------------------------------------- PySlowFast


def slowfast_temporal_sampling(length: int, start: float, end: float, num_frames: int) -> list[int]:
    """``temporal_sampling``: float32 ``torch.linspace``, clamped to the frames there are, truncated."""
    index = torch.linspace(start, end, num_frames)
    return torch.clamp(index, 0, length - 1).long().tolist()


def slowfast_decode_all(frames: int, fps: float, num_frames: int, rate: int, target: float, k: int, clips: int):
    """Every frame decoded, then ``get_start_end_idx`` on the whole video and ``temporal_sampling``."""
    clip_size = rate * num_frames / target * fps
    delta = max(frames - clip_size, 0)
    start = delta * k / clips
    return slowfast_temporal_sampling(frames, start, start + clip_size - 1, num_frames)


def slowfast_selective(frames: int, fps: float, num_frames: int, rate: int, target: float, k: int, clips: int,
                       ticks_per_frame: int | None = None, start_idx: float | None = None):
    """``pyav_decode``: the clip's start and end frame become pts (``int(idx * duration / frames)``); the
    decoder keeps the frames with ``start_pts <= pts <= end_pts`` and one more (``buffer_size`` 0);
    those are sampled again as a video of their own, its clip starting at 0. ``start_idx``: a
    training clip's start (``clip_idx = -1`` draws it uniformly in ``[0, delta]``)."""
    ticks_per_frame = ticks_per_frame or round(90_000 / fps)  # a stream on the 90 kHz clock
    pts = [i * ticks_per_frame for i in range(frames)]
    timebase = frames * ticks_per_frame / frames  # stream duration / stream frames
    clip_size = rate * num_frames / target * fps
    delta = max(frames - clip_size, 0)
    start_idx = delta * k / clips if start_idx is None else start_idx
    end_idx = start_idx + clip_size - 1
    start_pts, end_pts = int(start_idx * timebase), int(end_idx * timebase)
    kept = []
    for number, p in enumerate(pts):
        if p < start_pts:
            continue
        kept.append(number)
        if p > end_pts:  # the first frame past the end is kept, then decoding stops
            break
    inner = slowfast_temporal_sampling(len(kept), 0, clip_size - 1, num_frames)
    return [kept[i] for i in inner]


def test_slowfast_literal_arrays():
    # 300 frames at 30 fps, 8x8, 10 clips: a clip spans 64 file frames, sampled by linspace, not a stride of 8.
    first = [0, 9, 18, 27, 36, 45, 54, 63]
    for protocol in ("slowfast", "slowfast-decode-all"):
        clips = eval_clip_indices(spec(protocol), info(300, 30.0), 10)
        assert clips.shape == (10, 8)
        assert clips[0].tolist() == first
        # A 50-frame video is shorter than a clip: the indices past the end are clamped to the last frame.
        assert eval_clip_indices(spec(protocol), info(50, 30.0), 10)[0].tolist() == [0, 9, 18, 27, 36, 45, 49, 49]
    # Clip 3 starts at 236 * 3 / 10 = 70.8: decoding everything truncates, PyAV starts at the next frame.
    assert eval_clip_indices(spec("slowfast-decode-all"), info(300, 30.0), 10)[3].tolist() == [
        70, 79, 88, 97, 106, 115, 124, 133]
    assert eval_clip_indices(spec("slowfast"), info(300, 30.0), 10)[3].tolist() == [
        71, 80, 89, 98, 107, 116, 125, 134]


@pytest.mark.parametrize("fps", [25.0, 30.0, 60.0, 30000 / 1001])
@pytest.mark.parametrize("frames", [20, 50, 64, 65, 100, 251, 300])
def test_slowfast_matches_its_reader(frames, fps):
    for clips in (1, 3, 10):
        for protocol, simulate in (("slowfast", slowfast_selective), ("slowfast-decode-all", slowfast_decode_all)):
            expected = [simulate(frames, fps, 8, 8, 30.0, k, clips) for k in range(clips)]
            got = eval_clip_indices(spec(protocol), info(frames, fps), clips)
            assert got.tolist() == expected, (protocol, frames, fps, clips)


def with_header(frames: int, *, header_frames: int, duration: int | None, first_pts: int = 0) -> VideoInfo:
    """``frames`` frames at 30 fps, 512 ticks apart on a 1/15360 clock, and what the header says."""
    header = StreamHeader(frames=header_frames, duration=duration, time_base=(1, 15360), average_rate=30.0,
                          first_pts=first_pts)
    return dataclasses.replace(info(frames, 30.0), header=header)


def test_slowfast_follows_the_header_and_the_pts():
    # A first pts 10 frames late: clip 0 keeps pts <= int(63 · 512) = 32256, frames 0-53 and 54 past the end.
    late = with_header(300, header_frames=300, duration=300 * 512, first_pts=10 * 512)
    assert eval_clip_indices(spec("slowfast"), late, 10)[0].tolist() == [0, 9, 18, 27, 36, 45, 54, 54]
    # The header counts 300 frames where 100 remain (a cut file): clip 9 starts at pts 212.4 · 512,
    # past every frame; PySlowFast gets no frame there, we show the last.
    cut = with_header(100, header_frames=300, duration=300 * 512)
    assert eval_clip_indices(spec("slowfast"), cut, 10)[9].tolist() == [99] * 8
    assert eval_clip_indices(spec("slowfast"), cut, 10)[0].tolist() == [0, 9, 18, 27, 36, 45, 54, 63]
    # No duration (MKV, WebM) or no frame count: every frame decoded, as PySlowFast does then.
    for header_frames, duration in ((0, None), (300, None), (0, 300 * 512)):
        odd = with_header(300, header_frames=header_frames, duration=duration)
        assert np.array_equal(eval_clip_indices(spec("slowfast"), odd, 10),
                              eval_clip_indices(spec("slowfast-decode-all"), info(300, 30.0), 10))


def test_slowfast_clip_size_follows_the_file_rate():
    # 8 x 8 frames of 30 fps time: 53.3 frames of a 25 fps file, 128 of a 60 fps one.
    at_25 = eval_clip_indices(spec("slowfast-decode-all"), info(1000, 25.0), 1)[0]
    at_60 = eval_clip_indices(spec("slowfast-decode-all"), info(1000, 60.0), 1)[0]
    assert at_25[-1] - at_25[0] == math.floor(8 * 8 / 30 * 25 - 1)  # 52
    assert at_60[-1] - at_60[0] == 127


# ---------------------------------------------------------------------------- pytorchvideo


def pytorchvideo_clips(frames: int, fps: int, num_frames: int, rate: int, target: int, clips: int, main: bool,
                       train_draw: float | None = None):
    """``ConstantClipsPerVideoSampler``, ``EncodedVideoPyAV.get_clip``, ``UniformTemporalSubsample``
    on a stream at ``fps`` on the 90 kHz clock, in exact fractions: the clip duration is
    ``Fraction`` of PySlowFast's float ``T * s / TARGET_FPS``, and a frame is in a clip when
    ``ceil(start / tb) <= pts < ceil(end / tb)``."""
    tb = Fraction(1, 90_000)
    pts = [i * 90_000 // fps for i in range(frames)]
    duration = frames * (90_000 // fps) * tb  # the header's duration, in seconds
    clip_duration = Fraction(num_frames * rate / target)  # the float's exact value, as the sampler keeps it
    largest_start = Fraction(max(duration - clip_duration, 0))
    step = Fraction(largest_start, max(clips - 1, 1) if main else clips)
    result = []
    for k in range(clips):
        start = step * k
        if train_draw is not None:  # RandomClipSampler: Fraction(random.uniform(0, largest start))
            start = Fraction(train_draw)
        end = start + clip_duration
        inside = [i for i, p in enumerate(pts) if math.ceil(start / tb) <= p < math.ceil(end / tb)]
        picked = torch.clamp(torch.linspace(0, len(inside) - 1, num_frames), 0, len(inside) - 1).long()
        result.append([inside[i] for i in picked.tolist()])
    return result


def test_pytorchvideo_literal_arrays():
    # A video shorter than a clip: T frames spread over the whole video.
    for protocol in ("pytorchvideo", "pytorchvideo-0.1.5"):
        assert eval_clip_indices(spec(protocol), info(50, 30.0), 10)[0].tolist() == [0, 7, 14, 21, 28, 35, 42, 49]
    # 300 frames, 10 clips: main spaces the starts by delta / 9, 0.1.5 by delta / 10.
    assert eval_clip_indices(spec("pytorchvideo"), info(300, 30.0), 10)[1].tolist() == [
        27, 36, 45, 54, 63, 72, 81, 90]
    assert eval_clip_indices(spec("pytorchvideo-0.1.5"), info(300, 30.0), 10)[1].tolist() == [
        24, 33, 42, 51, 60, 69, 78, 87]
    # Main's last clip ends on the last frame; 0.1.5's never reaches it.
    assert eval_clip_indices(spec("pytorchvideo"), info(300, 30.0), 10)[-1, -1] == 299
    assert eval_clip_indices(spec("pytorchvideo-0.1.5"), info(300, 30.0), 10)[-1, -1] < 299


@pytest.mark.parametrize("fps", [25, 30, 60])
@pytest.mark.parametrize("frames", [20, 50, 64, 65, 100, 251, 300])
def test_pytorchvideo_matches_its_sampler(frames, fps):
    for clips in (1, 3, 10):
        for protocol, main in (("pytorchvideo", True), ("pytorchvideo-0.1.5", False)):
            expected = pytorchvideo_clips(frames, fps, 8, 8, 30, clips, main)
            got = eval_clip_indices(spec(protocol), info(frames, float(fps)), clips)
            assert got.tolist() == expected, (protocol, frames, fps, clips)


# --------------------------------------------------------------------------- training clips


@pytest.mark.parametrize("frames, fps", [(300, 30), (250, 25), (50, 30), (1000, 60)])
def test_training_clips_follow_the_peers_random_samplers(frames, fps):
    """PySlowFast's ``clip_idx = -1`` (a start uniform in [0, delta] frames, then the test-time
    reader) and pytorchvideo's ``RandomClipSampler`` (uniform in [0, largest start] seconds)."""
    for seed in range(25):
        draw = np.random.default_rng(seed)
        start = draw.uniform(0, max(frames - 64 / 30 * fps, 0))
        expected = slowfast_selective(frames, fps, 8, 8, 30.0, 0, 1, start_idx=start)
        got = train_clip_indices(spec("slowfast"), info(frames, float(fps)), np.random.default_rng(seed))
        assert got.tolist() == expected, (frames, fps, seed)
        duration = Fraction(frames * (90_000 // fps), 90_000)
        largest = Fraction(max(duration - Fraction(64 / 30), 0))
        draw = np.random.default_rng(seed).uniform(0, largest)
        for protocol in ("pytorchvideo", "pytorchvideo-0.1.5"):
            expected = pytorchvideo_clips(frames, fps, 8, 8, 30, 1, protocol == "pytorchvideo", train_draw=draw)[0]
            got = train_clip_indices(spec(protocol), info(frames, float(fps)), np.random.default_rng(seed))
            assert got.tolist() == expected, (protocol, frames, fps, seed)


def test_training_clips_span_the_test_clips_time():
    """8 x 8 at 30 fps: PySlowFast's and pytorchvideo's training clips, like their test clips, spread
    8 frames over 64 (steps of 9); a2video's and mmaction2's take every 8th frame."""
    video = info(300, 30.0)
    for seed in range(10):
        for protocol in ("slowfast", "slowfast-decode-all", "pytorchvideo", "pytorchvideo-0.1.5"):
            clip = train_clip_indices(spec(protocol), video, np.random.default_rng(seed))
            assert np.diff(clip).tolist() == [9] * 7 and 0 <= clip[0] and clip[-1] < 300, protocol
        for protocol in ("a2video", "mmaction2"):
            clip = train_clip_indices(spec(protocol), video, np.random.default_rng(seed))
            assert np.diff(clip).tolist() == [8] * 7, protocol
    starts = {int(train_clip_indices(spec("slowfast"), video, np.random.default_rng(seed))[0]) for seed in range(200)}
    assert min(starts) < 20 and max(starts) > 216  # the whole of [0, 236] is reachable


def test_validation_clips_of_the_peers_protocols_are_centred_and_fixed():
    """One validation clip: the centre of the span a clip can start in, read by the peer's reader."""
    video = info(300, 30.0)
    one = spec("slowfast", val_clips=1)
    assert eval_clip_indices(one, video, 1, stage="val").tolist() == [
        slowfast_selective(300, 30.0, 8, 8, 30.0, 0, 1, start_idx=236 / 2)]
    assert eval_clip_indices(one, video, 1, stage="test")[0, 0] == 0  # PySlowFast's one test clip: the start
    largest = Fraction(max(Fraction(300 * 3000, 90_000) - Fraction(64 / 30), 0))
    for protocol in ("pytorchvideo", "pytorchvideo-0.1.5"):
        expected = pytorchvideo_clips(300, 30, 8, 8, 30, 1, False, train_draw=largest / 2)
        assert eval_clip_indices(spec(protocol), video, 1, stage="val").tolist() == expected
    three = eval_clip_indices(spec("slowfast"), video, 3, stage="val")
    assert three[0, 0] == 0 and three[-1, -1] == 299  # even: the first at the start, the last at the end


def test_the_training_dataset_reads_the_protocols_clip(tmp_path):
    write_video(tmp_path / "v.mp4", coded_frames(120, height=32, width=32), fps=30, gop_size=10)
    for protocol, step in (("slowfast", 10), ("a2video", 8)):
        clip = ClipSpec(num_frames=4, sampling_rate=8, target_fps=30, protocol=protocol, train_scale_range=(32, 32),
                        crop_size=32)
        dataset = TrainVideoDataset([("v.mp4", 0)], tmp_path, clip=clip, flip_probability=0.0)
        for seed in range(5):
            video = dataset[(0, seed)]["video"].permute(1, 2, 3, 0).numpy()  # (T, 32, 32, C)
            codes = read_codes(video)
            # slowfast: linspace(0, 31, 4) over a 32-frame span; a2video: every 8th frame.
            assert np.diff(codes).tolist() == ([10, 10, 11] if step == 10 else [8, 8, 8]), protocol


# ------------------------------------------------------------------------------- mmaction2


def mmaction2_sample_frames(total: int, clip_len: int, interval: int, num_clips: int, out_of_bound: str = "loop",
                            twice: bool = False) -> np.ndarray:
    """mmaction2 1.x ``SampleFrames(test_mode=True)`` on a video without ``target_fps``."""
    clip_span = (clip_len - 1) * interval + 1
    if clip_len == 1:
        average = total / float(num_clips)
        offsets = np.arange(num_clips) * average + average / 2.0
        if twice:
            offsets = np.concatenate([offsets, np.arange(num_clips) * average])
    else:
        largest = max(total - clip_span, 0)
        count = num_clips * 2 if twice else num_clips
        if count > 1:
            offsets = np.round(np.arange(count) * (largest / float(num_clips - 1)))
        else:
            offsets = np.array([largest // 2])
    inds = (offsets[:, None] + np.arange(clip_len)[None, :] * interval).reshape(-1, clip_len)
    if out_of_bound == "loop":
        inds = np.mod(inds, total)
    else:
        safe = inds < total
        last = np.max(safe * inds, axis=1)
        inds = safe * inds + ((1 - safe).T * last).T
    return inds.astype(np.int32)


def test_mmaction2_short_video_rules():
    short = info(50, 30.0)
    loop = eval_clip_indices(spec("mmaction2", target_fps=None), short, 10)
    assert loop.shape == (10, 8) and (loop == loop[0]).all()  # every clip starts at 0
    assert loop[0].tolist() == [0, 8, 16, 24, 32, 40, 48, 6]
    last = eval_clip_indices(spec("mmaction2", target_fps=None, short_video="repeat_last"), short, 10)
    assert last[0].tolist() == [0, 8, 16, 24, 32, 40, 48, 48]


@pytest.mark.parametrize("frames", [1, 20, 50, 57, 58, 100, 300])
def test_mmaction2_matches_sample_frames(frames):
    for clips in (1, 3, 10):
        for rule in ("loop", "repeat_last"):
            got = eval_clip_indices(spec("mmaction2", target_fps=None, short_video=rule), info(frames, 30.0), clips)
            assert got.tolist() == mmaction2_sample_frames(frames, 8, 8, clips, rule).tolist()


def test_mmaction2_twice_sample():
    # mmaction2's own test: 40 frames, clip_len 12, interval 1, 2 clips, twice -> 48 indices inside the video.
    twice = mmaction2_clip_indices(40, 12, 1, 2, "loop", twice_sample=True)
    assert twice.size == 48 and twice.min() >= 0 and twice.max() < 40
    assert twice.tolist() == mmaction2_sample_frames(40, 12, 1, 2, twice=True).tolist()
    # mmaction2 spaces the 2K clips by delta / (K - 1): the second half runs past the end and wraps.
    assert twice[:, 0].tolist() == [0, 28, 16, 4]
    # Its 2D path (clip_len 1, TSN/TSM): segment centres, then segment starts.
    flat = mmaction2_clip_indices(100, 1, 1, 8, "loop", twice_sample=True)
    assert flat[:, 0].tolist() == [6, 18, 31, 43, 56, 68, 81, 93, 0, 12, 25, 37, 50, 62, 75, 87]
    # Through a ClipSpec: twice the test clips, validation unchanged.
    clip = spec("mmaction2", target_fps=None, test_clips=5, twice_sample=True)
    assert clip.views("test") == (10, 3) and clip.views("val") == (1, 1)
    got = eval_clip_indices(clip, info(300, 30.0), 10)
    assert got.tolist() == mmaction2_sample_frames(300, 8, 8, 5, twice=True).tolist()
    with pytest.raises(ClipSpecError, match="twice_sample needs test_clips >= 2"):
        spec("mmaction2", test_clips=1, twice_sample=True)
    with pytest.raises(ClipSpecError, match="twice_sample is mmaction2's option"):
        spec("slowfast", twice_sample=True)


def test_mmaction2_target_fps_scales_the_clip():
    # 60 fps file, 8 x 8 at 30 fps: a clip spans 128 file frames, linspace'd; starts floor(172 / 9) * k.
    got = eval_clip_indices(spec("mmaction2"), info(300, 60.0), 10)
    assert got[0].tolist() == [0, 18, 36, 54, 72, 90, 108, 127]
    assert got[1].tolist() == [19 + i for i in got[0].tolist()]
    assert (np.diff(got[:, 0]) == 19).all()


# --------------------------------------------------------------------------- pixels


def test_crops_and_resize_follow_the_protocol():
    # Centre crop of 256 from 256 x 341: SlowFast and pytorchvideo ceil, a2video and mmaction2 floor.
    assert crop_offsets(256, 341, 256, 1, crop_style("slowfast")) == [(0, 43)]
    assert crop_offsets(256, 341, 256, 1, crop_style("pytorchvideo-0.1.5")) == [(0, 43)]
    assert crop_offsets(256, 341, 256, 1, crop_style("a2video")) == [(0, 42)]
    assert crop_offsets(256, 341, 256, 1, crop_style("mmaction2")) == [(0, 42)]
    # Three crops: SlowFast left, centre, right; mmaction2's ThreeCrop left, 2 * w_step, w_step.
    assert crop_offsets(256, 341, 256, 3, crop_style("slowfast")) == [(0, 0), (0, 43), (0, 85)]
    assert crop_offsets(256, 341, 256, 3, crop_style("mmaction2")) == [(0, 0), (0, 84), (0, 42)]
    # Portrait frames are cut along the height.
    assert crop_offsets(341, 256, 256, 3, crop_style("slowfast")) == [(0, 0), (43, 0), (85, 0)]
    # Short side 256 of 288 x 352: 312.9 -> SlowFast / pytorchvideo floor, a2video and mmaction2 round.
    assert short_side_size(288, 352, 256, resize_rounding("slowfast")) == (256, 312)
    assert short_side_size(288, 352, 256, resize_rounding("pytorchvideo")) == (256, 312)
    assert short_side_size(288, 352, 256, resize_rounding("a2video")) == (256, 313)
    assert short_side_size(288, 352, 256, resize_rounding("mmaction2")) == (256, 313)
    # A long side of exactly 6.5 (4 x 13 at short side 2): mmaction2 rounds half up, a2video to even.
    assert short_side_size(4, 13, 2, resize_rounding("mmaction2")) == (2, 7)
    assert short_side_size(4, 13, 2, resize_rounding("a2video")) == (2, 6)
    assert short_side_size(4, 13, 2, resize_rounding("slowfast")) == (2, 6)


def test_a_protocol_cannot_be_mixed_with_another():
    with pytest.raises(ClipSpecError, match="places its clips itself"):
        spec("slowfast", test_clip_placement="segments")
    with pytest.raises(ClipSpecError, match="set protocol: slowfast instead"):
        ClipSpec(test_clip_placement="slowfast")
    with pytest.raises(ClipSpecError, match="set protocol: pytorchvideo-0.1.5 instead"):
        ClipSpec(test_clip_placement="pytorchvideo")
    with pytest.raises(ClipSpecError, match="fills short videos itself"):
        spec("slowfast", short_video="loop")


# ------------------------------------------------------------------- decoded, end to end


@pytest.mark.parametrize("protocol", ["slowfast", "slowfast-decode-all", "pytorchvideo", "mmaction2"])
def test_the_dataset_decodes_the_protocols_frames(tmp_path, protocol):
    # 120 coded frames at 30 fps, 32 x 64: the left and right crops of 32 tile the frame.
    write_video(tmp_path / "v.mp4", coded_frames(120, height=32, width=64), fps=30, gop_size=10)
    clip = ClipSpec(num_frames=8, sampling_rate=4, target_fps=None if protocol == "mmaction2" else 30,
                    protocol=protocol, test_clips=3, test_crops=3, test_short_side=32)
    item = EvalVideoDataset([("v.mp4", 0)], tmp_path, clip=clip)[0]
    assert bool(item["ok"]), item["error"]
    views = item["video"].permute(0, 2, 3, 4, 1).numpy().reshape(3, 3, 8, 32, 32, 3)  # (K, crops, T, h, w, C)
    right = 1 if protocol == "mmaction2" else 2  # mmaction2's ThreeCrop: left, right, centre
    whole = np.concatenate([views[:, 0], views[:, right]], axis=-2)  # (K, T, 32, 64, C)
    if protocol == "slowfast":
        expected = [slowfast_selective(120, 30.0, 8, 4, 30.0, k, 3) for k in range(3)]
    elif protocol == "slowfast-decode-all":
        expected = [slowfast_decode_all(120, 30.0, 8, 4, 30.0, k, 3) for k in range(3)]
    elif protocol == "pytorchvideo":
        expected = pytorchvideo_clips(120, 30, 8, 4, 30, 3, main=True)
    else:
        expected = mmaction2_sample_frames(120, 8, 4, 3).tolist()
    assert read_codes(whole).tolist() == expected
    # Clip 1 starts at 88 / 3 = 29.3 frames: PyAV's reader starts at frame 30, decoding everything at 29.
    if protocol.startswith("slowfast"):
        assert expected[1][0] == (30 if protocol == "slowfast" else 29)


def test_the_peers_resize_without_antialiasing(tmp_path):
    # A 64 x 96 file to short side 48: the peers interpolate bilinearly (align_corners False, no
    # antialiasing) from the decoded frames; a2video lets the decoder resize with antialiasing.
    rng = np.random.default_rng(0)
    frames = np.repeat(rng.integers(0, 256, (1, 16, 24, 3)).repeat(4, axis=1).repeat(4, axis=2), 20, axis=0)
    write_video(tmp_path / "v.mp4", frames.astype(np.uint8), fps=30, crf=0)
    clip = ClipSpec(num_frames=4, sampling_rate=1, protocol="slowfast", target_fps=30, test_clips=1, test_crops=1,
                    test_short_side=48, test_crop_size=48)
    view = EvalVideoDataset([("v.mp4", 0)], tmp_path, clip=clip)[0]["video"][0]  # (C, T, 48, 48)
    whole = torch.from_numpy(read_frames_native(tmp_path / "v.mp4")).permute(0, 3, 1, 2).float()  # (T, C, 64, 96)
    expected = torch.nn.functional.interpolate(whole, size=(48, 72), mode="bilinear", align_corners=False)
    left = math.ceil((72 - 48) / 2)
    expected = expected[..., left:left + 48].round().permute(1, 0, 2, 3)  # (C, T, 48, 48)
    assert (view.float() - expected).abs().max() <= 1  # rounding of the same float image
    smoothed = EvalVideoDataset([("v.mp4", 0)], tmp_path, clip=clip.with_values(protocol="a2video"))[0]["video"][0]
    assert (smoothed.float() - expected).abs().mean() > 1  # the decoder's antialiased filter is another one


def read_frames_native(path) -> np.ndarray:
    """The first 4 frames at the file's size, (T, H, W, 3)."""
    return read_frames(path, np.arange(4), None, info=probe_video(path))
