"""Compute threads (issue 23 item 2): the rule of :func:`a2video.threads.choose_threads`, the busy
cores read from ``/proc/stat``, a real competing process seen, and ``--threads`` on the argparse
commands and on fit / validate / test (accepted, refused in one line, applied, then undone)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import pytorch_lightning as pl
import torch
import yaml

from a2video import threads
from a2video.cli import build_parser, main
from a2video.demo import recipe
from a2video.engine.lightning_cli import parse_config
from a2video.errors import ConfigError
from a2video.threads import choose_threads, other_busy_cores

NO_OMP: dict[str, str] = {}


# ------------------------------------------------------------------------------ the rule
# threads = max(1, min(cores, affinity - round(busy)) // processes - workers), written out per case.
@pytest.mark.parametrize(("cores", "affinity", "busy", "workers", "processes", "expected", "reported_busy"), [
    (2, 2, 0.0, 0, 1, 2, 0),  # idle 2-core box: both cores
    (2, 2, 1.0, 0, 1, 1, 1),  # the case: one other busy process, 2 - 1 = 1 thread
    (2, 2, 0.4, 0, 1, 2, 0),  # 0.4 busy cores round to none
    (2, 2, 0.6, 0, 1, 1, 1),  # 0.6 round to one
    (2, 2, 2.0, 0, 1, 1, 2),  # everything busy: still one thread
    (8, 8, 3.0, 2, 1, 3, 3),  # min(8, 8 - 3) = 5 free, less 2 workers
    (8, 8, 0.0, 2, 2, 2, 0),  # two ranks: 8 // 2 = 4 each, less 2 workers
    (8, 8, 1.0, 2, 2, 1, 1),  # min(8, 7) // 2 = 3, less 2 workers
    (8, 8, 0.0, 12, 1, 1, 0),  # more workers than cores: one thread
    (2, 8, 5.0, 0, 1, 2, 0),  # a 2-CPU quota on 8 host cores, 3 of them free: the quota's 2
    (2, 8, 7.0, 0, 1, 1, 1),  # only 1 host core free: min(2, 1) = 1, one of the 2 taken
    (8, 8, 12.0, 0, 1, 1, 8),  # more busy than the mask (a stale sample): all 8 taken, one thread
])
def test_default_follows_the_documented_rule(cores, affinity, busy, workers, processes, expected, reported_busy):
    choice = choose_threads(workers=workers, processes=processes, cores=cores, affinity=affinity, busy=busy,
                            environ=NO_OMP)
    assert (choice.threads, choice.source, choice.cores, choice.busy) == (expected, "default", cores, reported_busy)


def test_busy_cores_are_sampled_only_when_they_can_change_the_count(monkeypatch):
    calls = []
    monkeypatch.setattr(threads, "other_busy_cores", lambda: calls.append(1) or 1.0)
    # 2 cores, 1 worker: one thread whatever is busy, so no 0.1 s sample.
    assert choose_threads(workers=1, cores=2, affinity=2, environ=NO_OMP).threads == 1 and not calls
    choice = choose_threads(cores=2, affinity=2, environ=NO_OMP)
    assert (choice.threads, choice.busy, len(calls)) == (1, 1, 1)
    assert choice.describe() == "1 compute thread (2 cores, 1 busy with other work)"


def test_threads_option_and_omp_num_threads(monkeypatch):
    monkeypatch.setattr(threads, "other_busy_cores", lambda: pytest.fail("--threads and OMP_NUM_THREADS measure nothing"))
    omp = {"OMP_NUM_THREADS": "3"}
    assert choose_threads(1, cores=8, affinity=8, environ=omp).threads == 1  # --threads wins over the variable
    asked_too_many = choose_threads(5, cores=2, affinity=2, environ=NO_OMP)
    assert (asked_too_many.threads, asked_too_many.requested) == (2, 5)  # never above the usable cores
    assert asked_too_many.describe() == "2 compute threads (--threads 5: only 2 usable cores)"
    assert choose_threads(2, cores=4, affinity=4, environ=NO_OMP).describe() == "2 compute threads (--threads)"
    left_alone = choose_threads(cores=8, affinity=8, environ=omp)
    assert (left_alone.threads, left_alone.source) == (None, "OMP_NUM_THREADS")
    for bad in (0, -1, True, 1.5):
        with pytest.raises(ConfigError, match=r"--threads must be a whole number >= 1"):
            choose_threads(bad, cores=2, affinity=2, environ=NO_OMP)


# -------------------------------------------------------------------- busy cores, /proc/stat
_BEFORE = """cpu  900000 0 90000 9000000 0 0 0 0 0 0
cpu0 100 0 50 1000 10 0 0 0 0 0
cpu1 200 0 20 3000 5 0 0 0 0 0
cpu2 300 0 30 4000 0 0 0 0 0 0
intr 12345 0 0
"""
# Over the sample: cpu0 did 7 user + 1 nice + 1 system + 1 steal ticks and idled 0; cpu1 did 1 user
# tick and idled 6 + 3 iowait; cpu2 (outside the affinity mask) was all busy and does not count.
_AFTER = """cpu  990000 0 99000 9900000 0 0 0 0 0 0
cpu0 107 1 51 1000 10 0 0 1 0 0
cpu1 201 0 20 3006 8 0 0 0 0 0
cpu2 310 0 30 4000 0 0 0 0 0 0
intr 23456 0 0
"""


def _fake_clock(monkeypatch, stat: Path, after: str, *, own_cpu: float, seconds: float = 0.1,
                affinity: frozenset[int] = frozenset({0, 1})) -> None:
    """time.sleep writes the second snapshot; the wall clock moves ``seconds``, this process's CPU ``own_cpu``."""
    now = {"wall": 1000.0, "cpu": 5.0}

    def sleep(duration: float) -> None:
        assert duration == pytest.approx(seconds)
        stat.write_text(after)
        now["wall"] += seconds
        now["cpu"] += own_cpu

    clock = SimpleNamespace(sleep=sleep, monotonic=lambda: now["wall"], process_time=lambda: now["cpu"])
    monkeypatch.setattr(threads, "time", clock)
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: set(affinity))


# CPU 5 of the mask has no line (offline): the share is of the CPUs counted.
@pytest.mark.parametrize("affinity", [frozenset({0, 1}), frozenset({0, 1, 5})])
def test_busy_cores_from_two_proc_stat_snapshots(monkeypatch, tmp_path, affinity):
    stat = tmp_path / "stat"
    stat.write_text(_BEFORE)
    _fake_clock(monkeypatch, stat, _AFTER, own_cpu=0.01, affinity=affinity)
    # cpu0 + cpu1: 11 busy ticks of 20, i.e. 1.1 of the 2 cores; this process used 0.01 s of
    # CPU in 0.1 s (0.1 core), which is not someone else's: 1.0 core busy with other work.
    assert other_busy_cores(stat=stat) == pytest.approx(1.0)


def test_own_cpu_time_is_not_counted_as_other_work(monkeypatch, tmp_path):
    stat = tmp_path / "stat"
    stat.write_text(_BEFORE)
    _fake_clock(monkeypatch, stat, _AFTER, own_cpu=0.5)  # more than all the busy time: 0, never negative
    assert other_busy_cores(stat=stat) == 0.0


@pytest.mark.parametrize("after", ["", "cpu0 1 2\ncpu1 1 2\n", "cpu0 a b c d\n", "cpu7 1 1 1 1\n"])
def test_unreadable_or_odd_stat_files_mean_nothing_busy(monkeypatch, tmp_path, after):
    stat = tmp_path / "stat"
    stat.write_text(_BEFORE)
    _fake_clock(monkeypatch, stat, after, own_cpu=0.0)
    assert other_busy_cores(stat=stat) == 0.0
    assert other_busy_cores(stat=tmp_path / "missing") == 0.0


def test_a_real_busy_process_is_seen():
    cpus = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else set()
    if len(cpus) < 2 or not Path("/proc/stat").is_file():
        pytest.skip("needs /proc/stat and at least 2 cores in the affinity mask")
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        os.sched_setaffinity(spinner.pid, cpus)  # on the cores this process may use
        time.sleep(0.3)  # the interpreter has started and spins
        assert other_busy_cores() >= 0.5
    finally:
        spinner.kill()
        spinner.wait()


# ------------------------------------------------------------------ the argparse commands
@pytest.mark.parametrize("command", ["predict", "features", "explain", "export", "flops"])
def test_commands_that_run_the_network_take_threads(command):
    parser, _ = build_parser(command)
    option = next(a for a in parser._actions if "--threads" in a.option_strings)
    assert option.default is None and option.type("3") == 3


@pytest.mark.parametrize("value", ["0", "-2", "abc", "1.5"])
def test_bad_threads_is_one_line(capsys, value):
    assert main(["flops", "--model", "a2net_r26", "--threads", value]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--threads" in err and "whole number >= 1" in err and repr(value) in err


@pytest.fixture
def flops_threads(monkeypatch) -> list[int]:
    """torch's thread count while ``a2video flops`` does its work (the table is not computed)."""
    seen: list[int] = []
    monkeypatch.setattr("a2video.commands.flops.cost_table",
                        lambda names, **kw: seen.append(torch.get_num_threads()) or "table")
    previous = torch.get_num_threads()
    torch.set_num_threads(3)
    yield seen
    torch.set_num_threads(previous)


def test_threads_applies_inside_the_command_and_is_undone(flops_threads, capsys):
    assert main(["flops", "--model", "a2net_r26", "--threads", "1"]) == 0
    assert main(["flops", "--model", "a2net_r26", "--threads", "2"]) == 0
    assert flops_threads == [1, 2] and torch.get_num_threads() == 3


@pytest.mark.parametrize(("busy", "expected"), [(0.0, 2), (1.0, 1)])
def test_default_leaves_the_busy_core_alone(flops_threads, monkeypatch, capsys, busy, expected):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(threads, "usable_cores", lambda: 2)
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0, 1})
    monkeypatch.setattr(threads, "other_busy_cores", lambda: busy)
    assert main(["flops", "--model", "a2net_r26"]) == 0
    assert flops_threads == [expected] and torch.get_num_threads() == 3


# -------------------------------------------------------------------- fit / validate / test
def _fit_config(dataset, folder: Path, **top) -> Path:
    """A 1-epoch, 2-step fit of a 4-wide A²-Net on 4-frame 32-pixel clips."""
    size = recipe.DemoSize(videos_per_class=0, pretrain_epochs=1, finetune_epochs=1, test_clips=1, test_crops=1)
    config = {
        "seed_everything": 0,
        "model": {**recipe.model_config("a2net_r26", lr=0.05, epochs=1), "base_width": 4},
        "data": {**recipe.data_config(dataset.root, size=size, workers=0), "num_frames": 4, "sampling_rate": 2,
                 "train_scale_range": [32, 36], "batch_size": 4, "val_list": None},
        "trainer": {**recipe.trainer_config(str(folder / "run"), epochs=1), "accelerator": "cpu", "logger": False,
                    "enable_progress_bar": False, "enable_model_summary": False},
        **top,
    }
    path = folder / "fit.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


class RecordThreads(pl.Callback):
    """torch's thread count at every training step, into a class-level list."""

    seen: list[int] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        RecordThreads.seen.append(torch.get_num_threads())


@pytest.mark.parametrize("subcommand", ["fit", "validate", "test"])
def test_lightning_commands_parse_threads(synthetic, tmp_path, subcommand):
    config = _fit_config(synthetic.source, tmp_path)
    assert parse_config([subcommand, "--config", str(config), "--threads", "2"]).threads == 2
    assert parse_config([subcommand, "--config", str(config)]).threads is None


@pytest.mark.parametrize("args", [["--threads", "0"], ["--threads", "abc"], ["--threads=-1"]])
def test_fit_refuses_bad_threads_in_one_line(synthetic, tmp_path, capsys, args):
    config = _fit_config(synthetic.source, tmp_path)
    assert main(["fit", "--config", str(config), *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("a2video: error: --threads must be a whole number >= 1")


def test_fit_refuses_threads_zero_in_the_config_file(synthetic, tmp_path, capsys):
    config = _fit_config(synthetic.source, tmp_path, threads=0)
    assert main(["fit", "--config", str(config)]) == 2
    assert capsys.readouterr().err.startswith("a2video: error: --threads must be a whole number >= 1")


@pytest.fixture
def fit_threads(monkeypatch) -> list[int]:
    monkeypatch.setattr(RecordThreads, "seen", [])
    previous = torch.get_num_threads()
    torch.set_num_threads(3)
    yield RecordThreads.seen
    torch.set_num_threads(previous)


def test_fit_trains_with_threads_and_restores_them(synthetic, tmp_path, fit_threads):
    config = _fit_config(synthetic.source, tmp_path)
    assert main(["fit", "--config", str(config), "--threads", "1",
                 f"--trainer.callbacks+={__name__}.RecordThreads"]) == 0
    assert fit_threads == [1, 1] and torch.get_num_threads() == 3


def test_fit_default_leaves_the_busy_core_alone(synthetic, tmp_path, fit_threads, monkeypatch, capsys):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(threads, "usable_cores", lambda: 2)
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0, 1})
    monkeypatch.setattr(threads, "other_busy_cores", lambda: 1.0)
    config = _fit_config(synthetic.source, tmp_path)
    assert main(["fit", "--config", str(config), f"--trainer.callbacks+={__name__}.RecordThreads"]) == 0
    assert fit_threads == [1, 1] and torch.get_num_threads() == 3
    assert "a2video: 1 compute thread (2 cores, 1 busy with other work)" in capsys.readouterr().err


def test_the_readme_names_the_commands_that_take_threads(synthetic, tmp_path):
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    sentence = next(line for line in readme.splitlines() if line.startswith("`--threads N` ("))
    named = re.findall(r"`([a-z]+)`", sentence.split(")")[0])
    assert set(named) == {"predict", "features", "explain", "export", "flops", "fit", "validate", "test"}
    config = _fit_config(synthetic.source, tmp_path)
    for command in named:
        if command in ("fit", "validate", "test"):
            assert parse_config([command, "--config", str(config), "--threads", "1"]).threads == 1
        else:
            parser, _ = build_parser(command)
            assert any("--threads" in action.option_strings for action in parser._actions), command
