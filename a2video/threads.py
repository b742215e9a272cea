"""How many compute threads torch gets: the cores this process may use, minus what others keep busy.

OpenMP threads wait for each other at the end of every parallel region (every convolution, every
matmul). When a core is shared with another busy process, the thread on it is descheduled for a
whole time slice while the others wait, so each region costs milliseconds instead of
microseconds: with one busy process on a 2-core box, torch's default of 2 threads made
``a2video predict``'s network many times slower per view than one thread (measured by
``tools/bench_threads.py``, figures in docs/PERFORMANCE.md). So the default is sized to what is
free when the command starts:

    threads = max(1, min(usable cores, affinity cores - busy cores) // processes - workers)

- usable cores: the affinity mask within the cgroup's CPU quota (:func:`a2video.cores.usable_cores`);
- busy cores: the cores of the affinity mask that other processes kept busy over a 0.1 s sample
  of ``/proc/stat`` (this process's own CPU time taken out), rounded; 0 where it cannot be read,
  and not sampled where the count without it is already 1;
- workers: the command's loader (decoding) processes, each of which keeps a core busy;
- processes: training processes on this machine (DDP on a CPU).

``--threads N`` (predict, features, explain, export, flops, fit, validate, test) chooses the
count instead, never above the usable cores; an ``OMP_NUM_THREADS`` the user set is left alone
unless ``--threads`` is given. Work that starts on the machine after the command has started is
not seen: pass ``--threads``. :func:`choose_threads` decides; :func:`compute_threads` applies it
around the argparse commands (``a2video.cli.run``), ``engine.runtime.CpuThreads`` around fit /
validate / test.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch

from a2video.cores import usable_cores
from a2video.errors import ConfigError

PROC_STAT = Path("/proc/stat")
SAMPLE_SECONDS = 0.1


@dataclass(frozen=True)
class ThreadChoice:
    """The compute threads of one command and why.

    Attributes:
        threads: Threads to give torch; None leaves torch as it is (``OMP_NUM_THREADS`` chose).
        source: ``"--threads"``, ``"OMP_NUM_THREADS"`` or ``"default"``.
        cores: Usable cores (affinity mask within the CPU quota).
        busy: Usable cores that other processes keep busy (0 when not measured or not in the way).
        requested: The ``--threads`` asked for (above ``cores`` it was lowered to them).
    """

    threads: int | None
    source: str
    cores: int
    busy: int = 0
    requested: int | None = None

    def describe(self) -> str:
        """E.g. ``1 compute thread (2 cores, 1 busy with other work)``, for a command's summary."""
        count = self.threads if self.threads is not None else torch.get_num_threads()
        text = f"{count} compute thread{'s' if count != 1 else ''}"
        if self.requested is not None and self.requested != count:
            return f"{text} (--threads {self.requested}: only {self.cores} usable cores)"
        if self.source != "default":
            return f"{text} ({self.source})"
        return f"{text} ({self.cores} cores, {self.busy} busy with other work)" if self.busy else text


def check_threads(value: int | None, option: str = "--threads") -> None:
    """A requested count below 1 is a one-line :class:`ConfigError`."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ConfigError(f"{option} must be a whole number >= 1 (compute threads), got {value!r}")


def _cpu_ticks(stat: Path, cpus: set[int]) -> tuple[int, int, int] | None:
    """(busy ticks, all ticks, CPUs found) summed over ``cpus`` from the kernel's per-CPU counters."""
    busy = total = seen = 0
    try:
        lines = stat.read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        name, _, rest = line.partition(" ")
        if not name.startswith("cpu") or not name[3:].isdigit() or int(name[3:]) not in cpus:
            continue  # the "cpu" total line, other counters, CPUs outside the affinity mask
        try:
            values = [int(v) for v in rest.split()]
        except ValueError:
            return None
        if len(values) < 4:
            return None
        # user nice system idle iowait irq softirq steal (guest time is inside user already)
        idle = values[3] + (values[4] if len(values) > 4 else 0)
        work = sum(values[:3]) + sum(values[5:8])
        busy += work
        total += work + idle
        seen += 1
    return (busy, total, seen) if seen else None


def other_busy_cores(seconds: float = SAMPLE_SECONDS, stat: Path = PROC_STAT) -> float:
    """Cores of this process's affinity mask that other processes keep busy, over ``seconds``.

    The kernel's per-CPU busy share during a short sleep times the CPUs counted, less this
    process's own CPU time in that time (its threads; child processes count as others). 0.0
    where ``stat`` cannot be read.
    """
    if not hasattr(os, "sched_getaffinity"):
        return 0.0
    cpus = os.sched_getaffinity(0)
    before, own_before, start = _cpu_ticks(stat, cpus), time.process_time(), time.monotonic()
    if before is None:
        return 0.0
    time.sleep(seconds)
    after, own_after, end = _cpu_ticks(stat, cpus), time.process_time(), time.monotonic()
    if after is None or after[2] != before[2] or after[1] <= before[1] or end <= start:
        return 0.0
    busy_cores = (after[0] - before[0]) / (after[1] - before[1]) * after[2]
    return max(0.0, busy_cores - (own_after - own_before) / (end - start))


def choose_threads(
    requested: int | None = None,
    *,
    workers: int = 0,
    processes: int = 1,
    cores: int | None = None,
    affinity: int | None = None,
    busy: float | None = None,
    environ: Mapping[str, str] = os.environ,
) -> ThreadChoice:
    """The compute threads of one process (see the module's docstring for the rule).

    Args:
        requested: ``--threads`` (None: the default).
        workers: Loader or decoding processes beside this one.
        processes: Compute processes sharing the machine's cores (DDP ranks on a CPU).
        cores: Usable cores (default: :func:`usable_cores`).
        affinity: Cores of the affinity mask (default: ``os.sched_getaffinity``).
        busy: Cores busy with other processes (default: measured by :func:`other_busy_cores`,
            only when it can change the answer).
        environ: Where ``OMP_NUM_THREADS`` is looked up.

    Raises:
        ConfigError: If ``requested`` is below 1.
    """
    check_threads(requested)
    cores = usable_cores() if cores is None else max(1, cores)
    if requested is not None:
        return ThreadChoice(min(requested, cores), "--threads", cores, requested=requested)
    if environ.get("OMP_NUM_THREADS"):
        return ThreadChoice(None, "OMP_NUM_THREADS", cores)
    processes, workers = max(1, processes), max(0, workers)
    static = max(1, cores // processes - workers)
    if busy is None:
        busy = other_busy_cores() if static > 1 else 0.0  # one thread cannot be fewer: no sample
    if affinity is None:
        affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cores
    free = max(0, min(cores, affinity - int(busy + 0.5)))
    return ThreadChoice(max(1, max(1, free) // processes - workers), "default", cores, cores - free)


@contextmanager
def compute_threads(requested: int | None = None, *, workers: int = 0, processes: int = 1) -> Iterator[ThreadChoice]:
    """torch's intra-op threads for the duration, then as they were (yields the :class:`ThreadChoice`)."""
    choice = choose_threads(requested, workers=workers, processes=processes)
    previous = torch.get_num_threads()
    if choice.threads is not None:
        torch.set_num_threads(choice.threads)
    try:
        yield choice
    finally:
        if choice.threads is not None:
            torch.set_num_threads(previous)


def positive_int(text: str) -> int:
    """argparse type of ``--threads``: a whole number >= 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1 (compute threads), got {text!r}")
    return value


def add_threads_argument(parser: argparse.ArgumentParser) -> None:
    """``--threads N`` of the commands that run the network (applied by ``a2video.cli.run``)."""
    parser.add_argument("--threads", type=positive_int, default=None, metavar="N",
                        help="compute threads (default: the free cores, less --workers; at most the usable cores)")


def threads_note(args: argparse.Namespace) -> str:
    """What a command's summary says of its threads: the choice ``a2video.cli.run`` made, or torch's count."""
    choice = getattr(args, "thread_choice", None)
    if choice is not None:
        return choice.describe()
    count = torch.get_num_threads()
    return f"{count} compute thread{'s' if count != 1 else ''}"
