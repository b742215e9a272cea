"""The torchcodec backend's own logic: missing-package errors, the checks against the probe, the CUDA branch.

Tests marked ``needs_torchcodec`` decode with the real torchcodec (CI installs it and FFmpeg's
libraries, tests/conftest.py): a thin subclass of its ``VideoDecoder`` records the arguments it was
given and can be told to misbehave the way real decoders did (frames one picture off, a frame too
many). Only the CUDA branch, which needs a GPU, runs against a stand-in built on PyAV. The odd files
through the real torchcodec are in test_odd_videos.py.
"""

from __future__ import annotations

import subprocess
import sys
import types
from pathlib import Path
from types import SimpleNamespace

import av
import numpy as np
import pytest
import torch

import a2video.data.decoding as decoding
from a2video.data.datasets import EvalVideoDataset, TrainVideoDataset
from a2video.data.decoding import VideoDecodeError, check_backend, probe_video, read_frames, resize_frames
from a2video.engine.datamodule import VideoDataModule
from a2video.errors import ConfigError
from video_codes import read_codes


@pytest.fixture
def watched(monkeypatch):
    """torchcodec's own ``VideoDecoder``, subclassed to record its arguments and torch's thread count
    while frames are fetched, and to misbehave on request."""
    VideoDecoder, Resize = decoding._torchcodec()

    class Watched(VideoDecoder):
        calls: list[dict] = []
        torch_threads: list[int] = []
        shift = 0  # after frame 0, return the picture `shift` frames later than asked, with its true time
        extra_frames = 0  # claim this many more frames than torchcodec counts

        def __init__(self, source, **options):
            transforms = options.get("transforms") or []
            Watched.calls.append(dict(stream_index=options["stream_index"], threads=options["num_ffmpeg_threads"],
                                      device=options["device"], resize=[type(t) for t in transforms] == [Resize]))  # fmt: skip
            super().__init__(source, **options)
            self.frames = super().__len__()

        def __len__(self) -> int:
            return self.frames + self.extra_frames

        def get_frames_at(self, indices):
            Watched.torch_threads.append(torch.get_num_threads())
            return super().get_frames_at([min(i + self.shift, self.frames - 1) if i else 0 for i in indices])

    monkeypatch.setattr(decoding, "_torchcodec_loaded", (Watched, Resize))
    return Watched


class StandInResize:
    def __init__(self, size):
        self.size = tuple(size)


class StandInDecoder:
    """torchcodec's ``VideoDecoder`` as read_frames uses it, decoding with PyAV: for the CUDA branch only.

    Like torchcodec, it resizes only on the CPU (transforms are CPU-only there), and returns
    NHWC uint8 frames with their presentation times in seconds.
    """

    calls: list[dict] = []
    torch_threads: list[int] = []  # torch's thread count while frames were fetched
    shift = 0  # after frame 0, return the picture `shift` frames later than asked, with its true time
    extra_frames = 0  # claim this many more frames than the file has

    def __init__(self, source, *, stream_index, dimension_order, num_ffmpeg_threads, device, transforms):
        assert dimension_order == "NHWC"
        StandInDecoder.calls.append(dict(stream_index=stream_index, threads=num_ffmpeg_threads, device=device,
                                         size=transforms[0].size if transforms else None))  # fmt: skip
        size = transforms[0].size if transforms else None
        with av.open(source) as container:
            frames = list(container.decode(video=stream_index))
        self.times = [float(frame.pts * frame.time_base) for frame in frames]
        self.pictures = [frame.to_ndarray(format="rgb24", **({} if size is None else
                                                             {"height": size[0], "width": size[1]})) for frame in frames]  # fmt: skip

    def __len__(self) -> int:
        return len(self.pictures) + self.extra_frames

    def get_frames_at(self, indices: list[int]):
        StandInDecoder.torch_threads.append(torch.get_num_threads())
        picked = [min(i + self.shift, len(self.pictures) - 1) if i else 0 for i in indices]
        return SimpleNamespace(data=torch.from_numpy(np.stack([self.pictures[i] for i in picked])),
                               pts_seconds=torch.tensor([self.times[i] for i in picked], dtype=torch.float64))  # fmt: skip


@pytest.fixture
def stand_in(monkeypatch):
    monkeypatch.setattr(decoding, "_torchcodec_loaded", (StandInDecoder, StandInResize))
    monkeypatch.setattr(StandInDecoder, "calls", [])
    monkeypatch.setattr(StandInDecoder, "torch_threads", [])
    return StandInDecoder


def _forget_torchcodec(monkeypatch, module) -> None:
    """Makes ``import torchcodec`` give ``module`` (None: ImportError) and the backend look again."""
    monkeypatch.setattr(decoding, "_torchcodec_loaded", None)
    for name in ("torchcodec", "torchcodec.decoders", "torchcodec.transforms"):
        monkeypatch.setitem(sys.modules, name, module if name == "torchcodec" else getattr(module, name[11:], None))


def test_a_missing_torchcodec_is_one_config_error_naming_the_extra(monkeypatch, coded_video):
    _forget_torchcodec(monkeypatch, None)
    with pytest.raises(ConfigError) as caught:
        read_frames(coded_video, np.array([0, 5]), backend="torchcodec")  # not silently PyAV instead
    message = caught.value.message()
    assert "torchcodec" in message and "a2video[torchcodec]" in message and "ffmpeg" in message
    assert "\n" not in str(caught.value) and caught.value.exit_code == 2
    assert not decoding.torchcodec_available()
    with pytest.raises(ConfigError, match="a2video\\[torchcodec\\]"):
        EvalVideoDataset([("coded.mp4", 0)], coded_video.parent, backend="torchcodec")
    with pytest.raises(ConfigError, match="a2video\\[torchcodec\\]"):
        TrainVideoDataset([("coded.mp4", 0)], coded_video.parent, backend="torchcodec")
    # The other backends never need it.
    assert read_codes(read_frames(coded_video, np.array([5]), backend="decord")).tolist() == [5]


def test_torchcodec_without_ffmpeg_libraries_says_so(monkeypatch, coded_video):
    # torchcodec >= 0.8 imports without FFmpeg and sets ffmpeg_major_version to None.
    package = types.ModuleType("torchcodec")
    package.ffmpeg_major_version = None
    package.decoders = SimpleNamespace(VideoDecoder=StandInDecoder)
    package.transforms = SimpleNamespace(Resize=StandInResize)
    _forget_torchcodec(monkeypatch, package)
    with pytest.raises(ConfigError, match="cannot load FFmpeg's shared libraries.*apt-get install ffmpeg"):
        read_frames(coded_video, np.array([0]), backend="torchcodec")


def test_the_package_imports_without_torchcodec():
    code = ("import sys; sys.modules['torchcodec'] = None\n"
            "import a2video.data.decoding, a2video.data.datasets, a2video.preparation.check, a2video.engine.datamodule\n"
            "import a2video.inference.runner\n"
            "assert not a2video.data.decoding.torchcodec_available()\n"
            "print('ok')")  # fmt: skip
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr


@pytest.mark.needs_torchcodec
def test_torchcodec_decodes_like_the_other_backends(watched, coded_video):
    indices = np.array([[50, 3, 99, 99], [0, 17, 64, 65]])
    frames = read_frames(coded_video, indices, (24, 64), backend="torchcodec", fallback=False, num_threads=1)
    assert frames.shape == (2, 4, 24, 64, 3)
    assert np.array_equal(read_codes(frames), indices)
    assert watched.calls == [dict(stream_index=0, threads=1, device="cpu", resize=True)]
    frames = read_frames(coded_video, np.array([3, 98]), backend="torchcodec", fallback=False)
    assert watched.calls[-1]["resize"] is False  # no resize asked: no transform
    assert frames.shape == (2, 48, 128, 3) and read_codes(frames).tolist() == [3, 98]


@pytest.mark.needs_torchcodec
def test_frames_whose_times_are_not_those_asked_for_are_refused(watched, coded_video, monkeypatch):
    # The MPEG-4 AVI case: frame 0 right, every later one a picture off (there: early; here: late).
    monkeypatch.setattr(watched, "shift", 1)
    indices = np.array([40, 10, 70])
    with pytest.raises(VideoDecodeError, match="torchcodec: .*timestamps are not those of the frames asked for"):
        read_frames(coded_video, indices, backend="torchcodec", fallback=False)
    assert read_codes(read_frames(coded_video, indices, backend="torchcodec")).tolist() == [40, 10, 70]  # PyAV


@pytest.mark.needs_torchcodec
def test_a_frame_count_that_differs_from_the_probe_is_refused(watched, coded_video, monkeypatch):
    monkeypatch.setattr(watched, "extra_frames", 1)  # the truncated MP4: an incomplete last packet counted
    with pytest.raises(VideoDecodeError, match="torchcodec counts 101 frames where a player shows 100"):
        read_frames(coded_video, np.array([99]), backend="torchcodec", fallback=False)
    assert read_codes(read_frames(coded_video, np.array([99, 2]), backend="torchcodec")).tolist() == [99, 2]


@pytest.mark.needs_torchcodec
def test_torchcodec_runs_with_one_torch_thread_and_restores_the_count(watched, coded_video, monkeypatch):
    # With 2 torch threads torchcodec's per-frame copies cost 2.1-2.4x the CPU (docs/PERFORMANCE.md).
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        read_frames(coded_video, np.array([5, 60]), (24, 64), backend="torchcodec", fallback=False)
        assert watched.torch_threads == [1] and torch.get_num_threads() == 2
        monkeypatch.setattr(watched, "extra_frames", 1)
        with pytest.raises(VideoDecodeError):  # refused inside: the count comes back all the same
            read_frames(coded_video, np.array([5]), backend="torchcodec", fallback=False)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(threads)


def test_the_cuda_branch_decodes_on_the_device_and_resizes_there(stand_in, coded_video):
    # No GPU in CI: the stand-in takes device="cuda:1" like torchcodec and, like torchcodec's
    # CUDA decoders, ignores transforms; read_frames must then resize the frames itself.
    info = probe_video(coded_video)
    indices = np.array([7, 93, 7])
    frames = read_frames(coded_video, indices, (24, 64), backend="torchcodec", fallback=False, info=info,
                         device="cuda:1")  # fmt: skip
    assert stand_in.calls == [dict(stream_index=0, threads=0, device="cuda:1", size=None)]
    assert frames.shape == (3, 24, 64, 3) and frames.dtype == np.uint8
    assert read_codes(frames).tolist() == [7, 93, 7]
    on_cpu = read_frames(coded_video, indices, (24, 64), backend="pyav", info=info)
    assert np.abs(frames.astype(int) - on_cpu).mean() < 4  # bilinear both, different rounding and filters


def test_resize_frames_matches_pyav_and_keeps_the_type():
    rng = np.random.default_rng(0)
    # Smooth pictures: both resamplers agree closely there (noise would measure their filters).
    y, x = np.mgrid[0:60, 0:100]
    pictures = np.stack([(127 + 100 * np.sin(x / 9 + k) * np.cos(y / 7)) for k in range(3)], axis=-1)
    frames = np.stack([pictures, pictures[::-1]]).astype(np.uint8) + rng.integers(0, 2, (2, 60, 100, 3), dtype=np.uint8)
    for height, width in ((30, 50), (90, 150)):  # down and up
        resized = resize_frames(torch.from_numpy(frames), height, width)
        assert resized.dtype == torch.uint8 and tuple(resized.shape) == (2, height, width, 3)
        reference = np.stack([av.VideoFrame.from_ndarray(frame, format="rgb24").reformat(
            width=width, height=height, interpolation="BILINEAR").to_ndarray() for frame in frames])  # fmt: skip
        assert np.abs(resized.numpy().astype(int) - reference).mean() < 2


@pytest.mark.needs_torchcodec
def test_backends_and_devices_are_checked_in_one_line(monkeypatch):
    with pytest.raises(ConfigError, match="one of decord, pyav, torchcodec"):
        check_backend("opencv")
    with pytest.raises(ConfigError, match="needs backend torchcodec"):
        check_backend("decord", "cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # a GPU machine too answers as CI does
    with pytest.raises(ConfigError, match="no CUDA device"):
        check_backend("torchcodec", "cuda")
    check_backend("torchcodec", "cpu")


@pytest.mark.needs_torchcodec
def test_the_data_module_takes_torchcodec_and_hands_the_device_to_its_datasets(watched, monkeypatch, tmp_path,
                                                                               coded_video):  # fmt: skip
    (tmp_path / "classes.txt").write_text("a\nb\n")
    (tmp_path / "test.txt").write_text("coded.mp4 1\n")
    options = dict(video_root=str(coded_video.parent), test_list=str(tmp_path / "test.txt"), num_frames=2,
                   sampling_rate=2, test_short_side=32, test_clips=2, test_crops=1, num_workers=0)  # fmt: skip
    data = VideoDataModule(**options, backend="torchcodec")
    data.setup("test")
    item = data.datasets["test"][0]
    assert bool(item["ok"]) and watched.calls and watched.calls[0]["device"] == "cpu"
    assert tuple(item["video"].shape[:3]) == (2, 3, 2)  # 2 clips x 1 crop, (V, C, T, H, W)
    with pytest.raises(ConfigError, match="needs backend torchcodec"):
        VideoDataModule(**options, backend="decord", decode_device="cuda")
    # A GPU machine, simulated: the datasets get the device; workers would be spawned (CUDA and fork do not mix).
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    data = VideoDataModule(**options, backend="torchcodec", decode_device="cuda:0")
    data.setup("test")
    assert data.datasets["test"].decode_device == "cuda:0"
    data.num_workers = 1
    assert data.test_dataloader().multiprocessing_context is not None


def test_the_config_names_the_backend_and_the_decoding_device(monkeypatch):
    from a2video.engine.lightning_cli import parse_config

    config = Path(__file__).resolve().parents[2] / "configs" / "ucf101_a2net_r50_split1.yaml"
    parsed = parse_config(["fit", "--config", str(config), "--data.backend", "torchcodec", "--data.decode_device", "cuda"])
    assert (parsed.data.backend, parsed.data.decode_device) == ("torchcodec", "cuda")
    with pytest.raises(ConfigError, match="backend"):
        parse_config(["fit", "--config", str(config), "--data.backend", "opencv"])
    # Building the data module is where a missing torchcodec or GPU is reported.
    monkeypatch.setattr(decoding, "_torchcodec_loaded", "it cannot be imported (simulated)")
    with pytest.raises(ConfigError, match="a2video\\[torchcodec\\]"):
        VideoDataModule(**parsed.data.as_dict())
