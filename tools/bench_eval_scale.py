"""``a2video test``'s result path at Kinetics-400 size: time and rank 0's peak memory (issue 11).

The Kinetics-400 validation set is ~20,000 videos × 30 views × 400 classes: ~1 GB of float32
logits to collect, gather to rank 0 and write. Decoding and the network are not what is measured:
the data module hands out empty one-pixel clips and the network is replaced by one that returns
random logits, so what remains is exactly the path from ``test_step`` to ``metrics.json``
(collecting per-view logits, gathering them over processes, scoring, writing the four files).

    python tools/bench_eval_scale.py                        # 20,000 videos, 1 and 2 processes
    python tools/bench_eval_scale.py --videos 2000 --processes 1
    python tools/bench_eval_scale.py --baseline /tmp/a2video_old   # also time another checkout

Each measurement runs in a fresh process (``ru_maxrss`` is per process); the table gives the
wall time of ``trainer.test`` (the whole test loop), of its end (gather + scoring + writing), and
rank 0's peak resident memory, before and during the test.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def child(args: argparse.Namespace) -> None:
    """One measurement (this process is rank 0; DDP launches the others itself)."""
    import pytorch_lightning as pl
    import torch
    from torch import nn
    from torch.utils.data import DataLoader, Dataset

    from a2video.engine.module import VideoClassifier

    class Views(Dataset):
        def __len__(self) -> int:
            return args.videos

        def __getitem__(self, index: int) -> dict:
            return {"video": torch.zeros(args.views, 3, 1, 1, 1, dtype=torch.uint8),
                    "label": torch.tensor(index % args.classes), "index": torch.tensor(index),
                    "ok": torch.tensor(index % 1000 != 7), "error": "" if index % 1000 != 7 else "fake failure"}

    class Data(pl.LightningDataModule):
        class_names = [f"class_{k:03d}" for k in range(args.classes)]
        num_classes = args.classes
        views = {"test": (args.views // 3, 3) if args.views % 3 == 0 else (args.views, 1)}
        video_root = None

        def eval_samples(self, stage: str) -> list[tuple[str, int]]:
            return [(f"video_{i:06d}.mp4", i % args.classes) for i in range(args.videos)]

        def test_dataloader(self) -> DataLoader:
            return DataLoader(Views(), batch_size=args.batch)

    class RandomLogits(nn.Module):
        def forward(self, clips: torch.Tensor) -> torch.Tensor:
            return torch.randn(clips.shape[0], args.classes)

    class ResultPathTimer(pl.Callback):
        """Callbacks' on_test_epoch_end runs before the module's (gather + write), on_test_end after."""

        def on_test_epoch_end(self, trainer, pl_module) -> None:
            self.start = time.perf_counter()

        def on_test_end(self, trainer, pl_module) -> None:
            self.seconds = time.perf_counter() - self.start

    timer = ResultPathTimer()
    # Versions before report.html have no test_report option.
    report = {"test_report": args.report} if "test_report" in inspect.signature(VideoClassifier).parameters else {}
    module = VideoClassifier(model="i3d_r26", num_classes=args.classes, eval_dir=str(Path(args.out) / "test"),
                             view_chunk=args.views * args.batch, **report)
    module.net = RandomLogits()
    trainer = pl.Trainer(accelerator="cpu", devices=args.processes, strategy="ddp" if args.processes > 1 else "auto",
                         logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, default_root_dir=args.out, callbacks=[timer])
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB → GiB
    start = time.perf_counter()
    trainer.test(module, datamodule=Data(), verbose=False)
    seconds = time.perf_counter() - start
    if trainer.is_global_zero:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
        metrics = json.loads((Path(args.out) / "test" / "metrics.json").read_text())
        assert metrics["num_videos"] == args.videos, metrics["num_videos"]
        print("RESULT " + json.dumps({"seconds": seconds, "result_path": timer.seconds, "peak_gib": peak,
                                      "before_gib": before}), flush=True)


def measure(python_path: str, processes: int, args: argparse.Namespace) -> dict:
    with tempfile.TemporaryDirectory() as out:
        command = [sys.executable, __file__, "--child", "--videos", str(args.videos), "--views", str(args.views),
                   "--classes", str(args.classes), "--batch", str(args.batch), "--processes", str(processes),
                   "--out", out] + (["--report"] if args.report else [])
        env = {**os.environ, "PYTHONPATH": python_path, "OMP_NUM_THREADS": "1"}
        done = subprocess.run(command, env=env, capture_output=True, text=True)
        lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
        if done.returncode or not lines:
            raise SystemExit(f"measurement failed ({processes} processes, {python_path}):\n{done.stderr[-3000:]}")
        return json.loads(lines[-1][len("RESULT "):])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--videos", type=int, default=20000)
    parser.add_argument("--views", type=int, default=30)
    parser.add_argument("--classes", type=int, default=400)
    parser.add_argument("--batch", type=int, default=64, help="videos per test batch")
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--baseline", help="another checkout of the repository to measure the same way")
    parser.add_argument("--report", action="store_true", help="also write report.html (this checkout only)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        args.processes = args.processes[0]
        child(args)
        return
    gib = args.videos * args.views * args.classes * 4 / 2**30
    print(f"{args.videos} videos x {args.views} views x {args.classes} classes = {gib:.2f} GiB of float32 logits; "
          f"{os.cpu_count()} CPUs")
    versions = [("this checkout", str(REPO))] + ([("baseline", args.baseline)] if args.baseline else [])
    print(f"{'version':<15} {'processes':>9} {'test (s)':>9} {'gather+write (s)':>17} {'rank-0 peak RSS (GiB)':>22} "
          f"{'before test (GiB)':>18}")
    for processes in args.processes:
        for name, path in versions:
            result = measure(path, processes, args)
            print(f"{name:<15} {processes:>9} {result['seconds']:>9.1f} {result['result_path']:>17.1f} "
                  f"{result['peak_gib']:>22.2f} "
                  f"{result['before_gib']:>18.2f}", flush=True)


if __name__ == "__main__":
    main()
