"""Odd but ordinary files (tests/odd_videos.py) come back as a player shows them, with every backend.

Each frame carries its picture number, so every check reads what was decoded, not what the
decoder says it decoded.
"""

from __future__ import annotations

import math
from fractions import Fraction

import av
import numpy as np
import pytest
import torch

from a2video.data.clips import ClipSpec
from a2video.data.datasets import EvalVideoDataset, TrainVideoDataset
from a2video.data.decoding import VideoDecodeError, probe_video, read_frames, torchcodec_available
from a2video.data.encoding import write_video
from a2video.data.protocols import eval_clip_indices
from a2video.data.transforms import crop_offsets, short_side_size
from odd_videos import encoder_exists, make_odd_videos, marked_frames, read_marks

# torchcodec is an optional extra that needs FFmpeg's shared libraries; .ci/run installs both.
needs_torchcodec = pytest.mark.needs_torchcodec  # tests/conftest.py: skipped without it, failed in CI
BACKENDS = ["decord", "pyav", pytest.param("torchcodec", marks=needs_torchcodec)]
AVAILABLE = ["decord", "pyav"] + (["torchcodec"] if torchcodec_available() else [])
NAMES = ["rotated90", "rotated180", "rotated270", "offset_mkv", "offset_webm", "vfr_mkv", "vfr_mp4", "edit_list",
         "edit_list_one_key", "truncated_mp4", "truncated_mkv", "two_streams", "ten_bit", "mpeg4_avi"]  # fmt: skip
NAMES += ["av1_mkv"] if encoder_exists("libsvtav1") else []


@pytest.fixture(scope="module")
def odd(tmp_path_factory):
    av.logging.set_level(av.logging.PANIC)  # the truncated files make FFmpeg log
    return make_odd_videos(tmp_path_factory.mktemp("odd"))


def test_marks_survive_encoding_and_reveal_orientation():
    frames = marked_frames(np.array([0, 5, 200]), 48, 128)
    assert read_marks(frames).tolist() == [0, 5, 200]
    assert read_marks(frames[:, ::-1]).tolist() == [-1, -1, -1]  # upside down: no grey band at the bottom


@pytest.mark.parametrize("name", NAMES)
def test_probe_reports_what_a_player_shows(odd, name):
    video = odd[name]
    info = probe_video(video.path)
    assert info.num_frames == video.pictures.size
    assert (info.height, info.width) == (video.height, video.width)
    assert info.timestamps.shape == (info.num_frames,) and info.timestamps[0] == 0
    assert np.all(np.diff(info.timestamps) > 0)
    if video.timestamps is not None:
        assert np.allclose(info.timestamps, video.timestamps, atol=1e-3)


@pytest.mark.parametrize("name", NAMES)
def test_probe_keeps_the_header_and_every_frames_pts_as_pyav_reports_them(odd, name):
    """What the peers' readers place clips with: 90 header frames for 60 shown (edit list), no
    duration in MKV/WebM, a first pts of 5000 on a millisecond clock (33/34 ticks apart), 1 in AVI."""
    video = odd[name]
    info = probe_video(video.path)
    pts = []
    with av.open(str(video.path)) as container:
        stream = container.streams.video[info.stream_index]
        header = (stream.frames, stream.duration, (stream.time_base.numerator, stream.time_base.denominator),
                  float(stream.average_rate or 0), stream.start_time)
        try:
            for frame in container.decode(stream):
                pts.append(frame.pts)
        except av.error.InvalidDataError:  # the truncated MP4: PyAV stops inside the data
            pass
    ours = info.header
    assert (ours.frames, ours.duration, ours.time_base, ours.average_rate, ours.start_time) == header
    assert len(pts) >= info.num_frames - 2 and info.frame_pts()[: len(pts)].tolist() == pts[: info.num_frames]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("backend", BACKENDS)
def test_every_frame_is_the_picture_a_player_shows(odd, name, backend):
    video = odd[name]
    frames = read_frames(video.path, np.arange(video.pictures.size), backend=backend)
    assert frames.shape == (video.pictures.size, video.height, video.width, 3)
    assert np.array_equal(read_marks(frames), video.pictures)


@pytest.mark.parametrize("name", NAMES)
def test_both_backends_return_the_same_pictures_in_any_order_and_size(odd, name):
    video = odd[name]
    info = probe_video(video.path)
    rng = np.random.default_rng(0)
    indices = rng.integers(0, info.num_frames, size=(3, 5))  # any order, repeats
    size = short_side_size(info.height, info.width, 64)
    decoded = {backend: read_frames(video.path, indices, size, backend=backend, info=info) for backend in AVAILABLE}
    for frames in decoded.values():
        assert frames.shape == indices.shape + (*size, 3)
    for backend in AVAILABLE:
        assert np.array_equal(read_marks(decoded[backend]), read_marks(decoded["pyav"])), backend
    assert np.array_equal(read_marks(decoded["pyav"]), video.pictures[indices])


@pytest.mark.parametrize("name", ["edit_list", "edit_list_one_key", "vfr_mp4", "offset_mkv", "truncated_mkv"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_training_clip_positions_come_back_in_order(odd, name, backend):
    # The reported bug: decord returned pictures 30, 40, 50, 60, 70, 50 for frames 0, 10, ..., 50.
    video = odd[name]
    info = probe_video(video.path)
    for start in range(0, info.num_frames - 15, 3):
        indices = np.arange(start, start + 15, 3)
        pictures = read_marks(read_frames(video.path, indices, backend=backend, info=info))
        assert np.array_equal(pictures, video.pictures[indices]) and np.all(np.diff(pictures) > 0)


def test_two_streams_decode_the_first_stream_like_pyav_does(odd):
    video = odd["two_streams"]
    with av.open(str(video.path)) as container:  # PyAV alone, decoding stream 0 from the start
        reference = np.stack([frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)])
    info = probe_video(video.path)
    assert (info.num_video_streams, info.stream_index, info.fps) == (2, 0, 25.0)
    indices = np.array([0, 7, 33, 49])
    assert np.array_equal(read_frames(video.path, indices, backend="pyav"), reference[indices])
    decord_frames = read_frames(video.path, indices, backend="decord")  # decord alone would pick stream 1
    assert np.abs(decord_frames.astype(int) - reference[indices]).mean() < 1
    assert read_marks(decord_frames).tolist() == indices.tolist()


@pytest.mark.parametrize("name", ["truncated_mp4", "truncated_mkv"])
def test_truncated_files_give_one_answer_whatever_the_thread_count(odd, name):
    # The rule: the frames whose packets are complete exist; asking for more is an error.
    video = odd[name]
    count = video.pictures.size
    assert count < 90
    for backend in AVAILABLE:
        for threads in (0, 1, 2):
            frames = read_frames(video.path, np.arange(count), backend=backend, num_threads=threads)
            assert np.array_equal(read_marks(frames), video.pictures), (backend, threads)
            with pytest.raises(VideoDecodeError, match=f"frame {count} does not exist"):
                read_frames(video.path, np.array([0, count]), backend=backend, num_threads=threads)


def _whole_frames(views: torch.Tensor, height: int, width: int) -> np.ndarray:
    """Rebuilds (K, T, H, W, 3) frames from the 3 crops per clip (start, centre, end of the long side)."""
    views = views.permute(0, 2, 3, 4, 1).numpy()  # (V, T, side, side, C), clip-major
    side, long_side = views.shape[2], max(height, width)
    whole = np.zeros((views.shape[0] // 3, views.shape[1], height, width, 3), dtype=np.uint8)
    for crop, offset in enumerate((0, (long_side - side) // 2, long_side - side)):
        if width >= height:
            whole[:, :, :, offset : offset + side] = views[crop::3]
        else:
            whole[:, :, offset : offset + side] = views[crop::3]
    return whole


@pytest.mark.parametrize("name", NAMES)
def test_eval_dataset_views_show_the_pictures_of_evenly_placed_clips(odd, name):
    video = odd[name]
    side = min(video.height, video.width)
    dataset = EvalVideoDataset([(video.path.name, 0)], video.path.parent, clip=ClipSpec(
        num_frames=4, sampling_rate=3, test_clips=3, test_crops=3, test_short_side=side))
    item = dataset[0]
    assert bool(item["ok"]), item["error"]
    frames = _whole_frames(item["video"], video.height, video.width)
    # Even placement, computed here: clips start at 0, Δ/2 and Δ (Δ = frames - span), rounded half to even.
    delta = video.pictures.size - 10
    starts = [0, round(delta / 2), delta]
    expected = video.pictures[np.array(starts)[:, None] + 3 * np.arange(4)]
    assert np.array_equal(read_marks(frames), expected)


@pytest.mark.parametrize("name", NAMES)
def test_slowfast_protocol_views_of_odd_files(odd, name):
    """The peers' path (decode at the file's size, their crops) on rotated, offset, variable-rate,
    10-bit, AV1 and two-stream files: the views are the pictures a player shows at the protocol's frames."""
    video = odd[name]
    side = min(video.height, video.width)
    clip = ClipSpec(num_frames=4, sampling_rate=3, target_fps=30, protocol="slowfast", test_clips=3, test_crops=3,
                    test_short_side=side)
    item = EvalVideoDataset([(video.path.name, 0)], video.path.parent, clip=clip)[0]
    assert bool(item["ok"]), item["error"]
    info = probe_video(video.path)
    indices = eval_clip_indices(clip, info, 3)  # (K, T) frames of the file
    frames = read_frames(video.path, indices, info=info)  # (K, T, H, W, 3), displayed
    assert np.array_equal(read_marks(frames), video.pictures[indices])
    views = item["video"].permute(0, 2, 3, 4, 1).numpy().reshape(3, 3, 4, side, side, 3)  # (K, crops, T, s, s, C)
    for crop, (top, left) in enumerate(crop_offsets(video.height, video.width, side, 3, "ceil")):
        assert np.array_equal(views[:, crop], frames[:, :, top : top + side, left : left + side])


def pyslowfast_pyav_reader(path, num_frames: int, rate: int, target_fps: float, clip: int, clips: int) -> list[int]:
    """The pictures of PySlowFast's test clip ``clip`` with its PyAV reader, written from its
    description: the header's frames, duration and average rate place the clip in pts; every
    frame decoded from the seek point on is kept from the start pts up to and including the first
    one past the end pts; decode-all where the header has no duration. -1: no frame (PySlowFast
    gives up on the video)."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        fps = float(stream.average_rate)
        clip_size = rate * num_frames / target_fps * fps
        decode_all = stream.duration is None
        if decode_all:
            start_pts, end_pts = 0, math.inf
        else:
            start = max(stream.frames - clip_size, 0) * clip / clips
            ticks = stream.duration / stream.frames
            start_pts, end_pts = int(start * ticks), int((start + clip_size - 1) * ticks)
        container.seek(max(start_pts - 1024, 0), any_frame=False, backward=True, stream=stream)
        kept = {}
        for frame in container.decode(stream):
            if frame.pts < start_pts:
                continue
            kept[frame.pts] = frame.to_ndarray(format="rgb24")
            if frame.pts > end_pts:
                break
    if not kept:
        return [-1] * num_frames
    pictures = read_marks(np.stack([kept[pts] for pts in sorted(kept)]))
    start = max(len(pictures) - clip_size, 0) * clip / clips if decode_all else 0
    index = torch.clamp(torch.linspace(start, start + clip_size - 1, num_frames), 0, len(pictures) - 1).long()
    return pictures[index].tolist()


# Upright files PySlowFast's reader decodes to the end (truncated MP4: PyAV raises inside the data).
SLOWFAST_READER_NAMES = ["offset_mkv", "offset_webm", "vfr_mkv", "vfr_mp4", "edit_list", "edit_list_one_key",
                         "truncated_mkv", "two_streams", "ten_bit", "mpeg4_avi"]  # fmt: skip


@pytest.mark.parametrize("name", SLOWFAST_READER_NAMES)
@pytest.mark.parametrize("num_frames, rate, clips", [(4, 3, 3), (8, 2, 5), (8, 8, 10)])
def test_slowfast_protocol_picks_the_frames_of_pyslowfasts_pyav_reader(odd, name, num_frames, rate, clips):
    """From the file's pts and header, however wrong: an MP4 edit list that hides 30 of the 90
    frames its header counts, variable rates, a first pts of 1 (AVI), no duration (MKV, WebM)."""
    video = odd[name]
    clip = ClipSpec(num_frames=num_frames, sampling_rate=rate, target_fps=30, protocol="slowfast", test_clips=clips)
    ours = video.pictures[eval_clip_indices(clip, probe_video(video.path), clips)].tolist()
    theirs = [pyslowfast_pyav_reader(video.path, num_frames, rate, 30, k, clips) for k in range(clips)]
    assert ours == theirs


@pytest.mark.parametrize("clips", [3, 10])
def test_slowfast_protocol_on_29_97_fps_with_b_frames(tmp_path, clips):
    """Starts at fractions of a frame (a 63.94-frame span) on a 1/30000 clock, B-frames reordered."""
    path = tmp_path / "ntsc.mp4"
    write_video(path, marked_frames(150, 48, 128), fps=Fraction(30000, 1001), gop_size=12, preset="medium")
    clip = ClipSpec(num_frames=8, sampling_rate=8, target_fps=30, protocol="slowfast", test_clips=clips)
    ours = eval_clip_indices(clip, probe_video(path), clips).tolist()  # picture k is frame k
    assert ours == [pyslowfast_pyav_reader(path, 8, 8, 30, k, clips) for k in range(clips)]


def test_slowfast_protocol_follows_the_header_of_an_edit_list_file(odd):
    """The header counts 90 frames where 60 are shown: clip 9 of 10 lies where PySlowFast puts it,
    not at the start as the 60 frames alone would place it (64-frame span > 60)."""
    clip = ClipSpec(num_frames=8, sampling_rate=8, target_fps=30, protocol="slowfast", test_clips=10)
    indices = eval_clip_indices(clip, probe_video(odd["edit_list"].path), 10)
    assert indices[9].tolist() == [16, 25, 34, 43, 52, 58, 58, 58]
    # Clip 0 keeps the pts up to int(63 · 30720 / 90) = 21504: frames 0-42, and 43 past the end.
    assert indices[0].tolist() == [0, 9, 18, 27, 36, 43, 43, 43]


def pytorchvideo_clip_pictures(path, num_frames: int, rate: int, target_fps: float, clips: int, *,
                               main: bool) -> list[list[int]]:
    """The pictures of each test clip as pytorchvideo 0.1.5 itself gives them (``EncodedVideoPyAV``,
    video only as PySlowFast's pytorchvideo datasets decode it, and its ``ConstantClipsPerVideoSampler``),
    then ``UniformTemporalSubsample``'s ``linspace``. ``main``: the main branch's sampler, which
    divides by K - 1 (not released; its three lines written out here), on the same decoder."""
    pyav = pytest.importorskip("pytorchvideo.data.encoded_video_pyav")
    sampling = pytest.importorskip("pytorchvideo.data.clip_sampling")
    with open(path, "rb") as file:
        video = pyav.EncodedVideoPyAV(file, decode_audio=False)
        sampler = sampling.ConstantClipsPerVideoSampler(num_frames * rate / target_fps, clips)
        result = []
        for k in range(clips):
            start, end = sampler(None, video.duration, None)[:2]
            if main:
                largest = Fraction(max(video.duration - Fraction(num_frames * rate / target_fps), 0))
                start = Fraction(largest, max(clips - 1, 1)) * k
                end = start + Fraction(num_frames * rate / target_fps)
            frames = video.get_clip(start, end)["video"].permute(1, 2, 3, 0).numpy().astype(np.uint8)
            pictures = read_marks(frames)
            index = torch.clamp(torch.linspace(0, len(pictures) - 1, num_frames), 0, len(pictures) - 1).long()
            result.append(pictures[index].tolist())
        video.close()
    return result


@pytest.mark.parametrize("name", ["25fps", "29.97fps"] + SLOWFAST_READER_NAMES)
@pytest.mark.parametrize("protocol", ["pytorchvideo-0.1.5", "pytorchvideo"])
def test_pytorchvideo_protocols_pick_pytorchvideos_own_frames(odd, tmp_path, name, protocol):
    """Against the library (installed with the test extra): its header duration, its fractions,
    its [start, end) in pts, on clean 25 and 29.97 fps files and the odd ones."""
    if name.endswith("fps"):
        path = tmp_path / f"{name}.mp4"
        write_video(path, marked_frames(100, 48, 128), fps=25 if name == "25fps" else Fraction(30000, 1001),
                    gop_size=12, preset="medium")
        pictures = np.arange(100)
    else:
        path, pictures = odd[name].path, odd[name].pictures
    info = probe_video(path)
    for num_frames, rate, clips in [(8, 8, 10), (4, 3, 3), (8, 2, 5)]:
        clip = ClipSpec(num_frames=num_frames, sampling_rate=rate, target_fps=30, protocol=protocol, test_clips=clips)
        ours = pictures[eval_clip_indices(clip, info, clips)].tolist()
        assert ours == pytorchvideo_clip_pictures(path, num_frames, rate, 30, clips, main=protocol == "pytorchvideo")


@pytest.mark.parametrize("rotation", [90, 180, 270])
def test_training_crops_of_rotated_videos_are_upright(odd, rotation):
    video = odd[f"rotated{rotation}"]
    dataset = TrainVideoDataset([(video.path.name, 0)], video.path.parent, flip_probability=0.0, clip=ClipSpec(
        num_frames=4, sampling_rate=5, train_scale_range=(48, 48), crop_size=48))
    for seed in range(6):
        clip = dataset[(0, seed)]["video"].permute(1, 2, 3, 0).numpy()  # (T, 48, 48, C)
        if rotation == 180:
            # Landscape, 48 rows: each crop has all rows, so the grey band must be at the bottom only.
            band, bars = clip[:, 44].astype(int), clip[:, 4].astype(int)
            assert (np.abs(band - 128) < 40).all() and not (np.abs(bars - 128) < 40).all()
        else:
            # Portrait (80 x 48): each crop has the full width and starts within the bars.
            centres = ((np.arange(8) + 0.5) * 6).astype(int)
            numbers = ((clip[:, 1, centres].mean(-1) > 127) * (1 << np.arange(8))).sum(-1)
            assert np.all(np.diff(numbers) == 5) and 0 <= numbers[0] and numbers[-1] < 60


@pytest.mark.parametrize("backend", BACKENDS)
def test_time_based_sampling_of_a_variable_rate_file_uses_its_timestamps(odd, backend):
    video = odd["vfr_mkv"]  # frames shown for 100, 20, 20, 100, ... ms
    dataset = EvalVideoDataset([(video.path.name, 0)], video.path.parent, backend=backend, clip=ClipSpec(
        num_frames=6, sampling_rate=5, test_clips=1, test_crops=3, test_short_side=48, target_fps=30))
    frames = _whole_frames(dataset[0]["video"], 48, 128)[0]  # (T, H, W, C)
    # Independently: the 30 fps grid over 0 .. 2.78 s has 84 instants; the centre clip of 6 x 5
    # (span 26) starts at (84 - 26) // 2 = 29; each instant takes the frame shown nearest to it.
    instants = (29 + 5 * np.arange(6)) / 30
    nearest = [int(np.argmin(np.abs(video.timestamps - t))) for t in instants]
    assert read_marks(frames).tolist() == video.pictures[nearest].tolist()


@needs_torchcodec
@pytest.mark.parametrize("name", NAMES)
def test_torchcodec_alone_returns_the_pictures_a_player_shows_or_refuses(odd, name):
    # Without PyAV behind it, torchcodec either agrees with the probe or the read fails: a wrong
    # picture never comes back (MPEG-4 AVI gave pictures one early before its times were checked).
    video = odd[name]
    info = probe_video(video.path)
    rng = np.random.default_rng(1)
    requests = [np.arange(info.num_frames), rng.integers(0, info.num_frames, size=(2, 6)),
                np.array([info.num_frames - 1, 3, 3])]  # fmt: skip
    for size in (None, short_side_size(info.height, info.width, 40)):
        for indices in requests:
            try:
                frames = read_frames(video.path, indices, size, backend="torchcodec", fallback=False, info=info)
            except VideoDecodeError as error:
                assert error.reason.startswith("torchcodec: ")
                continue
            assert frames.shape[:-3] == indices.shape
            assert np.array_equal(read_marks(frames), video.pictures[indices])


@needs_torchcodec
def test_torchcodec_decodes_the_first_of_two_streams_itself(odd):
    video = odd["two_streams"]
    with av.open(str(video.path)) as container:
        reference = np.stack([frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)])
    indices = np.array([49, 0, 7, 33])
    frames = read_frames(video.path, indices, backend="torchcodec", fallback=False)  # no PyAV behind it
    assert np.array_equal(frames, reference[indices])
