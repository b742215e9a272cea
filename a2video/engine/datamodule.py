"""``VideoDataModule``: train / val / test loaders from list files, a video root and a clip spec.

Its ``__init__`` arguments are the ``data`` section of the LightningCLI config.
Batches leave the workers as uint8 and are normalised to float on the device in
:meth:`VideoDataModule.on_after_batch_transfer` (batch keys: docs/DESIGN.md).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Literal

import pytorch_lightning as pl
import torch
from torch.utils.data import default_collate

from a2video.data.decoding import check_backend
from a2video.data.datasets import BadVideoLog, EvalVideoDataset, TrainVideoDataset, collate_train
from a2video.data.lists import Sample, read_classes, read_list
from a2video.data.loader import EpochSampler, ResumableLoader
from a2video.data.clips import DEFAULT_CLIP, ClipSpec, Placement, Protocol, ShortVideo
from a2video.errors import A2VideoError, ConfigError
from a2video.models.preprocessing import IMAGENET, Preprocessing

log = logging.getLogger(__name__)

EvalStage = Literal["validate", "val", "test"]


def _existing(path: str | None, what: str) -> Path:
    """``path`` as a Path, or a one-line error naming it."""
    if path is None:
        raise ConfigError(f"no {what} given")
    if not os.path.exists(path):
        raise A2VideoError(f"{what} not found: {path}")
    return Path(path)


def _check_loading(batch_size: int, eval_batch_size: int, max_failed_fraction: float) -> None:
    """Reject settings that would only fail later, inside a worker, with a traceback."""
    if min(batch_size, eval_batch_size) < 1:
        raise ValueError("batch sizes must be >= 1")
    if not 0.0 <= max_failed_fraction <= 1.0:
        raise ValueError(f"max_failed_fraction must be in [0, 1], got {max_failed_fraction}")


_C = DEFAULT_CLIP  # the defaults below are ClipSpec's: written once, there


class VideoDataModule(pl.LightningDataModule):
    """Video clips for training and multi-view evaluation.

    Args:
        video_root: Folder that the paths in the list files are relative to.
        train_list: Training list (``path label`` per line); needed for ``fit``.
        val_list: Validation list; optional for ``fit``, needed for ``validate``.
        test_list: Test list; needed for ``test``.
        classes_file: ``classes.txt``; by default the one beside the first given list.
        num_frames, sampling_rate, target_fps, short_video, train_scale_range, crop_size,
        test_short_side, test_crop_size, test_clips, test_crops, test_clip_placement, val_clips,
        val_crops, protocol, twice_sample: The clip and its views, as
            :class:`a2video.data.clips.ClipSpec` defines and checks them (``self.clip``; saved in
            every checkpoint, so ``predict``, ``features`` and ``explain`` sample as ``test`` did).
            ``protocol`` (``a2video``, ``slowfast``, ``slowfast-decode-all``, ``pytorchvideo``,
            ``pytorchvideo-0.1.5``, ``mmaction2``) sets the evaluation clips, the frames inside them,
            short videos and crop/resize rounding together, and the training clips of the
            PySlowFast and pytorchvideo protocols (:mod:`a2video.data.protocols`).
        horizontal_flip: Flip training clips left-right half of the time. Turn it off when a
            class is defined by a direction (move left / move right, Something-Something, the
            synthetic set): a flip would give the clip the other class's motion and keep its label.
        batch_size: Training clips per batch.
        eval_batch_size: Videos per validation/test batch (each with all its views).
        num_workers: DataLoader worker processes.
        backend: Video decoder: ``decord`` (default), ``torchcodec`` (optional extra: ``pip install
            'a2video[torchcodec]'`` and FFmpeg's shared libraries) or ``pyav``. decord and torchcodec
            fall back to PyAV for files they cannot read or disagree about (docs/DESIGN.md, "Decoding").
        decode_device: Where torchcodec decodes: ``cpu``, or ``cuda`` (the GPU of each process, by
            NVDEC; workers are then spawned, not forked) / ``cuda:N``.
        max_failed_fraction: Training stops when more than this fraction of the
            training videos cannot be decoded.
        seed: Seed of the training order and augmentation (with the epoch number).
        pin_memory: Pin host memory for faster copies (only when CUDA is available).
        persistent_workers: Keep workers between epochs (only when ``num_workers > 0``).
    """

    def __init__(
        self,
        video_root: str,
        train_list: str | None = None,
        val_list: str | None = None,
        test_list: str | None = None,
        classes_file: str | None = None,
        num_frames: int = _C.num_frames,
        sampling_rate: int = _C.sampling_rate,
        train_scale_range: tuple[int, int] = _C.train_scale_range,
        crop_size: int = _C.crop_size,
        horizontal_flip: bool = True,
        test_short_side: int = _C.test_short_side,
        test_crop_size: int | None = _C.test_crop_size,
        test_clips: int = _C.test_clips,
        test_clip_placement: Placement | None = _C.test_clip_placement,
        test_crops: int = _C.test_crops,
        val_clips: int = _C.val_clips,
        val_crops: int = _C.val_crops,
        protocol: Protocol = _C.protocol,
        twice_sample: bool = _C.twice_sample,
        batch_size: int = 8,
        eval_batch_size: int = 1,
        num_workers: int = 4,
        backend: Literal["decord", "pyav", "torchcodec"] = "decord",
        decode_device: str = "cpu",
        short_video: ShortVideo | None = _C.short_video,
        target_fps: float | None = _C.target_fps,
        max_failed_fraction: float = 0.05,
        seed: int = 0,
        pin_memory: bool = True,
        persistent_workers: bool = True,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.clip = ClipSpec(num_frames=num_frames, sampling_rate=sampling_rate, target_fps=target_fps,
                             short_video=short_video, train_scale_range=tuple(train_scale_range), crop_size=crop_size,
                             test_short_side=test_short_side, test_crop_size=test_crop_size, test_clips=test_clips,
                             test_crops=test_crops, test_clip_placement=test_clip_placement, val_clips=val_clips,
                             val_crops=val_crops, protocol=protocol, twice_sample=twice_sample)
        _check_loading(batch_size, eval_batch_size, max_failed_fraction)
        self.video_root = video_root
        self.lists: dict[str, str | None] = {"train": train_list, "val": val_list, "test": test_list}
        if classes_file is None:
            first_list = next((path for path in self.lists.values() if path is not None), None)
            if first_list is None:
                raise ValueError("give classes_file or at least one list file")
            classes_file = str(Path(first_list).parent / "classes.txt")
        self.classes_file = classes_file
        self.horizontal_flip = horizontal_flip
        self.views = {stage: self.clip.views(stage) for stage in ("val", "test")}
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size
        self.num_workers = num_workers
        check_backend(backend, decode_device)
        self.backend = backend
        self.decode_device = decode_device
        self.max_failed_fraction = max_failed_fraction
        self.seed = seed
        self.pin_memory = pin_memory
        self.persistent_workers = persistent_workers
        self._class_names: list[str] | None = None
        self._samples: dict[str, list[Sample]] = {}
        self.datasets: dict[str, TrainVideoDataset | EvalVideoDataset] = {}
        self.bad_train_videos: BadVideoLog | None = None
        # Mean/std/value range of the model's weights: VideoClassifier sets it at the start of each
        # run (the weights decide, not this config); ImageNet until then.
        self.preprocessing: Preprocessing = IMAGENET

    @property
    def class_names(self) -> list[str]:
        """Class names in label order (read from ``classes_file`` on first use)."""
        if self._class_names is None:
            self._class_names = read_classes(_existing(self.classes_file, "classes file"))
        return self._class_names

    @property
    def num_classes(self) -> int:
        """Number of classes."""
        return len(self.class_names)

    def has_split(self, split: Literal["train", "val", "test"]) -> bool:
        """Whether a list file was given for ``split``."""
        return self.lists[split] is not None

    def samples(self, split: Literal["train", "val", "test"]) -> list[Sample]:
        """(path, label) rows of a split's list file, checked against the classes."""
        if split not in self._samples:
            _existing(self.video_root, "video root")
            path = _existing(self.lists[split], f"{split} list")
            self._samples[split] = read_list(path, self.num_classes)
        return self._samples[split]

    def eval_samples(self, stage: EvalStage) -> list[Sample]:
        """(path relative to the video root, label) of the val or test list, in file order.

        Row i matches ``batch["index"] == i`` of that stage's batches.
        """
        return self.samples("test" if stage == "test" else "val")

    def setup(self, stage: str | None = None) -> None:
        """Reads the lists the stage needs and builds the datasets (errors name missing files)."""
        fit_splits = ["train"] + (["val"] if self.lists["val"] is not None else [])
        needed = {"fit": fit_splits, "validate": ["val"], "test": ["test"]}.get(stage or "", [])
        for split in needed:
            if split not in self.datasets:
                self.datasets[split] = self._make_dataset(split)

    def _decode_threads(self) -> int:
        # Inside workers one decoder thread each keeps the cores for parallel items.
        return 1 if self.num_workers > 0 else 0

    def _decode_device(self) -> str:
        """``decode_device``, with a plain ``cuda`` made this process's own GPU (each DDP rank decodes on its own)."""
        trainer = self.trainer
        if self.decode_device == "cuda" and trainer is not None and trainer.strategy.root_device.type == "cuda":
            return str(trainer.strategy.root_device)
        return self.decode_device

    def _make_dataset(self, split: str) -> TrainVideoDataset | EvalVideoDataset:
        samples = self.samples(split)
        if split == "train":
            dataset = TrainVideoDataset(
                samples,
                self.video_root,
                clip=self.clip,
                flip_probability=0.5 if self.horizontal_flip else 0.0,
                backend=self.backend,
                max_failed_fraction=self.max_failed_fraction,
                seed=self.seed,
                decode_threads=self._decode_threads(),
                decode_device=self._decode_device(),
            )
            self.bad_train_videos = BadVideoLog(len(samples), self.max_failed_fraction)
            return dataset
        return EvalVideoDataset(
            samples,
            self.video_root,
            clip=self.clip,
            stage=split,
            backend=self.backend,
            decode_threads=self._decode_threads(),
            decode_device=self._decode_device(),
        )

    def _rank(self) -> tuple[int, int]:
        trainer = self.trainer
        return (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)

    def _loader(self, split: str, *, batch_size: int, shuffle: bool, collate_fn: Any) -> ResumableLoader:
        if split not in self.datasets:
            self.datasets[split] = self._make_dataset(split)
        dataset = self.datasets[split]
        rank, world_size = self._rank()
        if not shuffle and len(dataset) < world_size:
            # A rank with no batch would never join the metric reduction the others wait in.
            raise A2VideoError(f"the {split} list {self.lists[split]} has {len(dataset)} videos, fewer than the "
                               f"{world_size} processes; give it at least {world_size} or run on fewer devices")
        # Our sampler splits the data by rank itself (the CLI sets use_distributed_sampler=False):
        # training pads so every rank takes the same number of steps; evaluation never repeats a
        # video, so no view is counted twice.
        sampler = EpochSampler(len(dataset), shuffle=shuffle, seed=self.seed, rank=rank, world_size=world_size,
                               pad=shuffle, with_item_seeds=shuffle)
        workers = self.num_workers
        return ResumableLoader(
            dataset,
            sampler=sampler,
            progress=self._train_progress if split == "train" else None,
            batch_size=batch_size,
            collate_fn=collate_fn,
            # A lone last batch of one clip breaks BatchNorm and adds noise; drop it when there is more.
            drop_last=shuffle and len(sampler) > batch_size,
            num_workers=workers,
            pin_memory=self.pin_memory and torch.cuda.is_available(),
            persistent_workers=self.persistent_workers and workers > 0,
            # CUDA cannot be initialised again in a forked child: GPU-decoding workers start fresh.
            multiprocessing_context="spawn" if workers > 0 and self.decode_device != "cpu" else None,
            # Its own generator: creating worker seeds must not consume the global RNG, which the
            # model's dropout draws from (exact resume depends on it).
            generator=torch.Generator().manual_seed(self.seed),
        )

    def _train_progress(self) -> int:
        """Training batches finished in the current epoch (what a checkpoint must remember)."""
        if self.trainer is None:
            return 0
        return self.trainer.fit_loop.epoch_loop.batch_progress.current.processed

    def train_dataloader(self) -> ResumableLoader:
        """Shuffled random clips; order and augmentation seeded by (seed, epoch, position)."""
        return self._loader("train", batch_size=self.batch_size, shuffle=True, collate_fn=collate_train)

    def val_dataloader(self) -> ResumableLoader | list:
        """Validation videos in list order, ``val_clips x val_crops`` views each (none without a val list)."""
        if self.lists["val"] is None:
            return []  # Lightning then skips validation
        return self._loader("val", batch_size=self.eval_batch_size, shuffle=False, collate_fn=default_collate)

    def test_dataloader(self) -> ResumableLoader:
        """Test videos in list order, ``test_clips x test_crops`` views each."""
        return self._loader("test", batch_size=self.eval_batch_size, shuffle=False, collate_fn=default_collate)

    def on_after_batch_transfer(self, batch: dict[str, Any], dataloader_idx: int) -> dict[str, Any]:
        """Normalises ``batch["video"]`` to float on its device; tracks bad training videos.

        Raises:
            TooManyBadVideos: When, over all workers, more than ``max_failed_fraction``
                of the training videos have failed.
        """
        failures = batch.pop("failed_videos", None)
        if failures:
            if self.bad_train_videos is None:
                self.bad_train_videos = BadVideoLog(len(self.samples("train")), self.max_failed_fraction)
            for path, reason in failures:
                if self.bad_train_videos.add(path, reason):
                    log.warning("skipping unreadable training video %s (%s); drew another one", path, reason)
            self.bad_train_videos.check()
        batch["video"] = self.preprocessing.normalize(batch["video"])
        return batch
