"""How long ``a2video demo`` takes on this machine: its work counted, its unit costs measured here.

The demo's time is a handful of kinds of work, each counted from the recipe (``demo.demo_configs``):
rendering and encoding the synthetic videos, training steps (forward, backward, SGD) fed by clips
that loader workers decode in parallel, validation passes, and the multi-view test. The cost of one
unit of each kind is measured in this process (:func:`measure_costs`, a few seconds), and
:func:`predict_seconds` turns counts and costs into seconds per stage. ``tools/bench_demo.py``
runs the same measurement at length and prints the breakdown.

The per-unit costs are what differs between machines, and whether the loader workers really run
beside the training process (docs/DEMO.md: on this box they do, and the step is bound by its
convolutions and the clips by decoding).
"""

from __future__ import annotations

import math
import os
import resource
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from a2video.cores import usable_cores
from a2video.engine.runtime import cpu_threads

# What a real run adds to the unit costs measured in isolation, fitted to the CPU-time breakdown of
# full demo runs on the 2-core development box (docs/DEMO.md, "What the time is made of").
STEP_OVERHEAD = 0.2  # Lightning's work per training step (three self.log calls, hooks, the loop)
LOAD_OVERHEAD = 0.25  # a loader worker's own work per clip (sampler, collate, hand-over)
EPOCH_OVERHEAD_STEPS = 2.0  # end of an epoch (checkpoint files written), in training steps
STAGE_OVERHEAD_STEPS = 35.0  # one `fit` or `test` launch (config parsing, trainer, loggers, workers)
WRITE_OVERHEAD = 0.4  # writing the synthetic set: process pool start-up, list files, uneven chunks


@dataclass(frozen=True)
class Costs:
    """Seconds per unit of the demo's work on this machine (wall clock, one process unless said).

    Attributes:
        cores: CPU cores this process may use.
        threads: compute threads of the training process (the cores the loader workers leave).
        workers: loader worker processes.
        train_step: forward, loss, backward and SGD step of one training batch.
        eval_view: forward pass of one evaluation view (no gradient).
        train_clip_load: decoding and augmenting one training clip (one decoder thread).
        val_video_load: decoding one validation video and cutting its views.
        test_video_load: decoding one test video and cutting all its views.
        video_write: rendering and encoding one synthetic video.
    """

    cores: int
    threads: int
    workers: int
    train_step: float
    eval_view: float
    train_clip_load: float
    val_video_load: float
    test_video_load: float
    video_write: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class StageWork:
    """What one stage of the demo does, counted."""

    name: str
    videos_written: int = 0
    epochs: int = 0
    steps_per_epoch: int = 0
    batch_size: int = 0
    val_passes: int = 0
    val_videos: int = 0
    val_views: int = 0
    test_videos: int = 0
    test_views: int = 0

    @property
    def train_steps(self) -> int:
        return self.epochs * self.steps_per_epoch



def _split_sizes(set_name: str, videos_per_class: int) -> dict[str, int]:
    """Videos per split of a synthetic set (``make_synthetic_set``'s rule: ``vpc // 5`` held out twice)."""
    from a2video.preparation.synthetic import class_names

    classes = len(class_names(set_name))
    held_out = max(1, videos_per_class // 5)
    return {"train": classes * (videos_per_class - 2 * held_out), "val": classes * held_out,
            "test": classes * held_out, "all": classes * videos_per_class}


def _val_passes(trainer: dict[str, Any]) -> int:
    every = trainer.get("check_val_every_n_epoch") or 1
    return trainer["max_epochs"] // every


def demo_work(configs: dict[str, dict], videos_per_class: int) -> list[StageWork]:
    """The demo's four stages, counted from its configs (``demo.demo_configs``)."""
    source, target = _split_sizes("source", videos_per_class), _split_sizes("target", videos_per_class)
    stages = [StageWork("data", videos_written=source["all"] + target["all"])]
    for name, sizes in (("pretrain", source), ("finetune", target)):
        data, trainer = configs[name]["data"], configs[name]["trainer"]
        batch = data["batch_size"]
        steps = sizes["train"] // batch if sizes["train"] > batch else math.ceil(sizes["train"] / batch)
        stages.append(StageWork(name, epochs=trainer["max_epochs"], steps_per_epoch=steps, batch_size=batch,
                                val_passes=_val_passes(trainer), val_videos=sizes["val"],
                                val_views=data["val_clips"] * data["val_crops"]))
    data = configs["finetune"]["data"]
    stages.append(StageWork("test", test_videos=target["test"], test_views=data["test_clips"] * data["test_crops"]))
    return stages


def _fed(compute: float, load: float, costs: Costs) -> float:
    """Wall seconds of ``compute`` seconds in the training process while the loader workers do ``load``.

    Bounded by the training process itself, by the workers, and by the cores all of them share.
    """
    if costs.workers == 0:
        return compute + load
    return max(compute, load / costs.workers, (compute * costs.threads + load) / costs.cores)


def _evaluation(videos: int, views: int, load: float, costs: Costs) -> float:
    return _fed(videos * views * costs.eval_view, videos * load, costs)


def predict_seconds(stage: StageWork, costs: Costs) -> float:
    """Predicted wall-clock seconds of one stage on the machine ``costs`` were measured on."""
    if stage.name == "data":
        return stage.videos_written * costs.video_write * (1 + WRITE_OVERHEAD) / costs.cores
    if stage.name == "test":
        return (_evaluation(stage.test_videos, stage.test_views, costs.test_video_load, costs)
                + STAGE_OVERHEAD_STEPS * costs.train_step)
    step = _fed(costs.train_step * (1 + STEP_OVERHEAD), stage.batch_size * costs.train_clip_load * (1 + LOAD_OVERHEAD),
                costs)
    validation = stage.val_passes * _evaluation(stage.val_videos, stage.val_views, costs.val_video_load, costs)
    fixed = (stage.epochs * EPOCH_OVERHEAD_STEPS + STAGE_OVERHEAD_STEPS) * costs.train_step
    return stage.train_steps * step + validation + fixed


# ------------------------------------------------------------------ measuring
def timed(fn: Callable[[], Any], repeats: int, warmup: int = 1) -> float:
    """Median wall seconds of ``fn()`` over ``repeats`` calls after ``warmup``."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure_network(config: dict[str, Any], *, threads: int, repeats: int) -> tuple[float, float]:
    """(seconds per training step, seconds per evaluation view) of the config's network.

    Random clips of the config's shape, the demo's optimiser, ``threads`` compute threads.
    """
    from a2video.engine.module import VideoClassifier

    model, data = config["model"], config["data"]
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        module = VideoClassifier(model=model["model"], base_width=model["base_width"], dropout=model["dropout"],
                                 channels_last=model.get("channels_last", False), compile=model.get("compile", False))
        module.build(10, load_initial_weights=False)
        optimizer = torch.optim.SGD(module.parameters(), lr=0.01, momentum=model["momentum"],
                                    nesterov=model["nesterov"], weight_decay=model["weight_decay"])
        side, frames, batch = data["crop_size"], data["num_frames"], data["batch_size"]
        clips = torch.randn(batch, 3, frames, side, side)  # (N, C, T, H, W)
        labels = torch.arange(batch) % 10

        def train_step() -> None:
            optimizer.zero_grad(set_to_none=True)
            torch.nn.functional.cross_entropy(module(clips), labels).backward()
            optimizer.step()

        module.train()
        step = timed(train_step, repeats, warmup=2)
        views = min(module.hparams.view_chunk, data["eval_batch_size"] * data["test_clips"] * data["test_crops"])
        eval_side = data.get("test_crop_size") or data["test_short_side"]
        eval_clips = torch.randn(views, 3, frames, eval_side, eval_side)
        module.eval()
        with torch.no_grad():
            view = timed(lambda: module(eval_clips), max(2, repeats // 2)) / views
        return step, view
    finally:
        torch.set_num_threads(previous)


def measure_loading(config: dict[str, Any], *, num_frames: int, size: int, folder: Path,
                    repeats: int) -> dict[str, float]:
    """Seconds to write one video and to load one training clip, validation and test video, one thread.

    Writes ``repeats`` videos of the demo's format into ``folder`` and reads them back the way the
    loader workers do (one decoder thread, the config's clip and view settings).
    """
    from a2video.data.clips import ClipSpec
    from a2video.data.datasets import EvalVideoDataset, TrainVideoDataset
    from a2video.data.encoding import write_video
    from a2video.preparation.synthetic import class_names, render_clip

    data = config["data"]
    names = class_names("source")
    paths = []
    write_times = []
    for number in range(repeats):
        path = folder / f"probe_{number}.mp4"
        start = time.perf_counter()
        write_video(path, render_clip(names[number % len(names)], np.random.default_rng(number), num_frames, size))
        write_times.append(time.perf_counter() - start)
        paths.append((path.name, 0))
    clip = ClipSpec.from_dict(data)
    train = TrainVideoDataset(paths, folder, clip=clip, flip_probability=0.0, decode_threads=1)
    evaluation = {stage: EvalVideoDataset(paths, folder, clip=clip, stage=stage, decode_threads=1)
                  for stage in ("val", "test")}
    items = iter(range(10**9))
    return {"video_write": statistics.median(write_times),
            "train_clip_load": timed(lambda: train[(next(items) % repeats, 0)], 2 * repeats),
            "val_video_load": timed(lambda: evaluation["val"][next(items) % repeats], repeats),
            "test_video_load": timed(lambda: evaluation["test"][next(items) % repeats], repeats)}


def measure_costs(config: dict[str, Any], *, num_frames: int, size: int, repeats: int = 3) -> Costs:
    """Unit costs of the demo's work on this machine, for a training config of the demo.

    Args:
        config: ``demo.demo_configs(...)["pretrain"]`` (model, data and clip settings).
        num_frames: Frames of the synthetic videos.
        size: Side of the synthetic videos.
        repeats: Timed repetitions of each unit (the median is kept); 3 takes a few seconds.
    """
    workers = config["data"]["num_workers"]
    cores = usable_cores()
    threads = cpu_threads(workers) or torch.get_num_threads()
    step, view = measure_network(config, threads=threads, repeats=repeats)
    with tempfile.TemporaryDirectory(prefix="a2video_demo_probe_") as folder:
        loading = measure_loading(config, num_frames=num_frames, size=size, folder=Path(folder), repeats=repeats)
    return Costs(cores=cores, threads=threads, workers=workers, train_step=step, eval_view=view, **loading)


# ------------------------------------------------------------------ the clock
def cpu_seconds() -> tuple[float, float]:
    """(this process's CPU seconds, finished child processes' CPU seconds: loader workers, encoders)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime


def process_age() -> float:
    """Seconds since this process started (Linux; 0.0 where /proc cannot tell): interpreter start-up
    and imports, when asked before any work."""
    try:
        with open("/proc/self/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()  # after the command name, which may hold spaces
        with open("/proc/uptime") as handle:
            uptime = float(handle.read().split()[0])
        return max(0.0, uptime - int(fields[19]) / os.sysconf("SC_CLK_TCK"))  # field 22: start time in ticks
    except (OSError, ValueError, IndexError):
        return 0.0


def clock(seconds: float) -> str:
    """``m:ss``."""
    minutes, rest = divmod(int(round(seconds)), 60)
    return f"{minutes}:{rest:02d}"


class StageClock:
    """Elapsed time per stage and a running estimate of the total.

    The estimate is the time spent so far plus the prediction for the stages still to run, scaled by
    how the finished stages' real times compared with their predictions (so a machine that is busier
    than during the measurement is caught after the first long stage).

    Args:
        predicted: Predicted seconds per stage name (0 for a stage that will be skipped).
        now: The clock (seconds); tests pass a fake one.
    """

    def __init__(self, predicted: dict[str, float], now: Callable[[], float] = time.perf_counter) -> None:
        self.predicted = dict(predicted)
        self.now = now
        self.start = now()
        self.records: dict[str, dict[str, float]] = {}
        self._current: tuple[str, float, tuple[float, float]] | None = None

    def elapsed(self) -> float:
        return self.now() - self.start

    def correction(self) -> float:
        """Real over predicted seconds of the finished training and test stages that were predicted to take a while."""
        # Writing the data is other work than training (encoding in a process pool), so its
        # error says little about the training stages': it is not counted.
        done = [(r["wall_s"], r["predicted_s"]) for name, r in self.records.items()
                if r["predicted_s"] > 1.0 and name != "data"]
        if not done:
            return 1.0
        return sum(wall for wall, _ in done) / sum(predicted for _, predicted in done)

    def estimated_total(self) -> float:
        remaining = sum(p for name, p in self.predicted.items() if name not in self.records)
        return self.elapsed() + remaining * self.correction()

    def begin(self, name: str) -> str:
        """End the running stage, start ``name``; returns the ``[elapsed, estimate]`` note for its line."""
        self.end()
        note = f"[{clock(self.elapsed())} elapsed, about {clock(self.estimated_total())} in all]"
        self._current = (name, self.now(), cpu_seconds())
        return note

    def end(self) -> None:
        """End the running stage (if any) and record its wall and CPU seconds."""
        if self._current is None:
            return
        name, started, (own, children) = self._current
        now_own, now_children = cpu_seconds()
        self.records[name] = {"wall_s": self.now() - started, "predicted_s": self.predicted.get(name, 0.0),
                              "cpu_main_s": now_own - own, "cpu_children_s": now_children - children}
        self._current = None
