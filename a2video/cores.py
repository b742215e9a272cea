"""How many CPU cores this process can really use: its affinity mask and its cgroup's CPU quota.

``os.cpu_count()`` and the affinity mask both report the host's cores inside a container that
is limited by a CPU quota (``docker --cpus=2``, Kubernetes ``limits.cpu``, CI runners). Sizing
thread pools and worker counts by them on such a machine starts many times more busy threads
than the quota allows; the kernel then throttles the whole group every scheduling period, and
small training steps, which wait at every parallel region, slow down several-fold. Every place
in a2video that sizes threads or processes asks :func:`usable_cores`.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_CGROUP = Path("/proc/self/cgroup")


def usable_cores(cgroup_root: Path = CGROUP_ROOT, proc_cgroup: Path = PROC_CGROUP) -> int:
    """Cores this process may run on, limited by its cgroup's CPU quota (at least 1).

    A fractional quota is rounded down (1.5 CPUs keep one thread busy all the time, not two).

    Args:
        cgroup_root: Where the cgroup file system is mounted (tests pass a folder of their own).
        proc_cgroup: The process's cgroup membership file.
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    quota = cgroup_cpu_quota(cgroup_root, proc_cgroup)
    if quota is not None:
        cores = min(cores, math.floor(quota + 1e-6))
    return max(1, cores)


def cgroup_cpu_quota(cgroup_root: Path = CGROUP_ROOT, proc_cgroup: Path = PROC_CGROUP) -> float | None:
    """The tightest CPU quota (in CPUs) over this process's cgroup and its ancestors; None if unlimited.

    cgroup v2 keeps ``cpu.max`` ("QUOTA PERIOD" or "max PERIOD") in every group on the way from the
    process's own group up to the root; cgroup v1 keeps ``cpu.cfs_quota_us`` (-1: none) and
    ``cpu.cfs_period_us`` in the ``cpu`` controller's folder. Files that are missing, unreadable
    or malformed are ignored: a wrong guess here must never stop a run.
    """
    quotas = [q for q in (*_v2_quotas(cgroup_root, proc_cgroup), *_v1_quotas(cgroup_root)) if q > 0]
    return min(quotas) if quotas else None


def _v2_quotas(cgroup_root: Path, proc_cgroup: Path) -> list[float]:
    group = "/"
    try:
        for line in proc_cgroup.read_text().splitlines():
            if line.startswith("0::"):
                group = line[3:].strip() or "/"
    except OSError:
        pass
    root = cgroup_root.resolve()
    folder = (cgroup_root / group.lstrip("/")).resolve()
    if root not in folder.parents:
        folder = root  # a membership that leads outside the mount: only the root's limit is known
    quotas = []
    while True:
        values = _read_words(folder / "cpu.max")
        if len(values) == 2 and values[0] != "max":
            quotas.append(_ratio(values[0], values[1]))
        if folder == root:
            return quotas
        folder = folder.parent


def _v1_quotas(cgroup_root: Path) -> list[float]:
    quotas = []
    for controller in ("cpu", "cpu,cpuacct", "cpuacct,cpu"):
        quota = _read_words(cgroup_root / controller / "cpu.cfs_quota_us")
        period = _read_words(cgroup_root / controller / "cpu.cfs_period_us")
        if len(quota) == 1 and len(period) == 1:
            quotas.append(_ratio(quota[0], period[0]))
    return quotas


def _read_words(path: Path) -> list[str]:
    try:
        return path.read_text().split()
    except (OSError, UnicodeDecodeError):
        return []


def _ratio(quota: str, period: str) -> float:
    """quota / period, or -1 (ignored) for anything that is not two positive integers."""
    try:
        q, p = int(quota), int(period)
    except ValueError:
        return -1.0
    return q / p if q > 0 and p > 0 else -1.0
