"""``a2video demo``: the whole workflow on a synthetic dataset, on a laptop CPU, in minutes.

1. Generate two disjoint synthetic sets (if absent): "source" stands in for Kinetics, "target" for
   UCF-101. Their classes differ only by the direction of motion, so one frame cannot tell them.
2. Pre-train a small A²-Net on source (``a2video fit`` with a generated config).
3. Fine-tune it on target: new classifier, backbone at 0.2× the learning rate.
4. Test on target with multi-view testing and print clip and video accuracy.

Every step goes through the same LightningCLI code path as real runs; the configs it writes
(``<out>/configs/*.yaml``) are ordinary configs that ``a2video fit --config`` accepts.

Before it starts, the demo times a few training steps and clip loads of this machine
(:mod:`a2video.demo.timing`) and prints an estimate of the total on every stage's line;
``<out>/timing.json`` keeps the measured costs and each stage's predicted and real time. Why the
recipe is what it is: docs/DEMO.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from a2video.files import atomic_write


@dataclass(frozen=True)
class DemoSize:
    """Knobs that trade time for accuracy.

    Pre-training validates once, after its last epoch (fine-tuning starts from its last checkpoint,
    and the summary quotes that accuracy); fine-tuning validates every ``finetune_val_every``
    epochs, to pick the checkpoint the test uses.
    """

    videos_per_class: int
    pretrain_epochs: int
    finetune_epochs: int
    test_clips: int
    test_crops: int
    finetune_val_every: int = 1


SIZES = {
    # CI smoke test: proves the pipeline end to end, not the accuracy.
    "tiny": DemoSize(videos_per_class=5, pretrain_epochs=1, finetune_epochs=1, test_clips=2, test_crops=1),
    # The default: >= 90 % video top-1 on the target set in < 5 minutes on 2 CPU cores (docs/DEMO.md).
    "small": DemoSize(videos_per_class=150, pretrain_epochs=14, finetune_epochs=12, test_clips=2, test_crops=3,
                      finetune_val_every=2),  # 2 clips: 16-frame videos hold two 15-frame spans, 0 and 1
    # More data and epochs, for a machine with more cores or a GPU.
    "large": DemoSize(videos_per_class=300, pretrain_epochs=40, finetune_epochs=30, test_clips=10, test_crops=3),
}

# The synthetic videos: 16 frames of 48x48. The network sees 8 frames at stride 2 (the whole
# video) at 32x32, as it saw 8 of 32 frames of 64x64 before: the same motion, a third of the
# rendering and encoding and less decoding (docs/DEMO.md).
VIDEO_FRAMES = 16
VIDEO_SIZE = 48
CLIP_FRAMES = 8
SAMPLING_RATE = 2
BATCH_SIZE = 16  # ~20 % dearer per epoch than 32 on a CPU, but twice the updates: learns more per epoch (docs/DEMO.md)


def model_config(model: str, *, lr: float, backbone_lr_mult: float = 1.0, init_from: str | None = None,
                 epochs: int) -> dict[str, Any]:
    """The ``model`` section: a narrow network, warm-up then cosine, per-batch-16 learning rate."""
    return {
        "model": model,
        "base_width": 8,
        "dropout": 0.2,
        # Every residual unit starts as the identity (its last BN at gamma = 0): from scratch this
        # cut the epochs spent at chance from about 5 to 1-3 (docs/DEMO.md).
        "model_kwargs": {"zero_init_residual": True},
        "init_from": init_from,
        "lr": lr,
        "reference_batch_size": 16,
        "momentum": 0.9,
        "nesterov": True,
        "weight_decay": 1e-4,
        "backbone_lr_mult": backbone_lr_mult,
        "schedule": "cosine",
        "warmup_epochs": min(1.0, epochs / 4),
        "label_smoothing": 0.0,
        "aggregate": "softmax",
        "channels_last": True,  # faster training steps on a CPU (measured in docs/DEMO.md)
        "compile": False,  # the compilation costs more than the demo's steps win back (docs/DEMO.md)
    }


def data_config(set_root: str, *, size: DemoSize, workers: int, seed: int = 0) -> dict[str, Any]:
    """The ``data`` section: 8 frames spanning the whole video, 32-pixel crops.

    No horizontal flip: it would turn "move right" into "move left" and keep the label.
    """
    return {
        "video_root": f"{set_root}/videos",
        "train_list": f"{set_root}/train.txt",
        "val_list": f"{set_root}/val.txt",
        "test_list": f"{set_root}/test.txt",
        "num_frames": CLIP_FRAMES,
        "sampling_rate": SAMPLING_RATE,
        "train_scale_range": [32, 40],
        "crop_size": 32,
        "horizontal_flip": False,
        "test_short_side": 32,
        "test_clips": size.test_clips,
        "test_crops": size.test_crops,
        "val_clips": 1,
        "val_crops": 1,
        "batch_size": BATCH_SIZE,
        "eval_batch_size": 4,
        "num_workers": workers,
        "seed": seed,
    }


def trainer_config(run_dir: str, *, epochs: int, val_every: int = 1) -> dict[str, Any]:
    """The ``trainer`` section: CPU or whatever accelerator there is, validation every ``val_every`` epochs."""
    return {
        "default_root_dir": run_dir,
        "max_epochs": epochs,
        "check_val_every_n_epoch": val_every,
        "accelerator": "auto",
        "devices": 1,
        "precision": "32-true",
        "log_every_n_steps": 10,
        "num_sanity_val_steps": 0,
    }


def demo_configs(out: str, *, model: str = "a2net_r26", size: str = "small", workers: int = 2,
                 seed: int = 0) -> dict[str, dict]:
    """The pre-training and fine-tuning configs the demo runs (paths relative to ``out``).

    ``seed`` seeds the initial weights, the data order and the augmentation (the synthetic videos
    take the same seed in ``run_demo``).
    """
    spec = SIZES[size]
    data = f"{out}/data"
    pretrain_dir, finetune_dir = f"{out}/runs/pretrain_source", f"{out}/runs/finetune_target"
    pretrain = {
        "seed_everything": seed,
        "model": model_config(model, lr=0.1, epochs=spec.pretrain_epochs),
        "data": data_config(f"{data}/source", size=spec, workers=workers, seed=seed),
        "trainer": trainer_config(pretrain_dir, epochs=spec.pretrain_epochs, val_every=spec.pretrain_epochs),
    }
    finetune = {
        "seed_everything": seed,
        "model": model_config(model, lr=0.05, backbone_lr_mult=0.2, epochs=spec.finetune_epochs,
                              init_from=f"{pretrain_dir}/checkpoints/last.ckpt"),
        "data": data_config(f"{data}/target", size=spec, workers=workers, seed=seed),
        "trainer": trainer_config(finetune_dir, epochs=spec.finetune_epochs, val_every=spec.finetune_val_every),
    }
    return {"pretrain": pretrain, "finetune": finetune}


def write_yaml(path: Path, config: dict) -> None:
    """Write a config atomically (a re-run must never find half a config)."""
    atomic_write(path, lambda f: f.write(yaml.safe_dump(config, sort_keys=False).encode()))
