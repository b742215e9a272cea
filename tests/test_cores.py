"""usable_cores: the affinity mask, limited by a cgroup v1 or v2 CPU quota written into a fake /sys/fs/cgroup."""

from pathlib import Path

import pytest

from a2video import cores
from a2video.cores import cgroup_cpu_quota, usable_cores
from a2video.engine.runtime import cpu_threads


@pytest.fixture
def eight_cores(monkeypatch):
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: set(range(8)))


def _fake_cgroup(tmp_path: Path, files: dict[str, str], membership: str = "0::/\n") -> tuple[Path, Path]:
    root = tmp_path / "cgroup"
    for relative, text in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(text)
    root.mkdir(exist_ok=True)
    proc = tmp_path / "proc_self_cgroup"
    proc.write_text(membership)
    return root, proc


@pytest.mark.parametrize(("files", "membership", "expected"), [
    ({}, "0::/\n", 8),  # no controller files at all: the affinity mask
    ({"cpu.max": "max 100000\n"}, "0::/\n", 8),  # v2, unlimited
    ({"cpu.max": "200000 100000\n"}, "0::/\n", 2),  # v2, docker --cpus=2
    ({"cpu.max": "150000 100000\n"}, "0::/\n", 1),  # 1.5 CPUs: one thread busy all the time
    ({"cpu.max": "50000 100000\n"}, "0::/\n", 1),  # half a CPU: still at least one
    ({"cpu.max": "3200000 100000\n"}, "0::/\n", 8),  # a quota above the mask changes nothing
    # v2 nested: the tightest group on the way up to the root counts
    ({"cpu.max": "max 100000\n", "job/cpu.max": "max 100000\n", "job/step/cpu.max": "max 100000\n",
      "kubepods/cpu.max": "300000 100000\n"}, "0::/kubepods/pod/c1\n", 3),
    ({"job/cpu.max": "400000 100000\n", "job/step/cpu.max": "200000 100000\n"}, "0::/job/step\n", 2),
    # v1: cfs quota and period in the cpu controller's folder; -1 is no quota
    ({"cpu/cpu.cfs_quota_us": "200000\n", "cpu/cpu.cfs_period_us": "100000\n"}, "", 2),
    ({"cpu,cpuacct/cpu.cfs_quota_us": "400000\n", "cpu,cpuacct/cpu.cfs_period_us": "100000\n"}, "", 4),
    ({"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"}, "", 8),
    # malformed files are ignored, never an error
    ({"cpu.max": "lots\n"}, "0::/\n", 8),
    ({"cpu.max": "200000 0\n"}, "0::/\n", 8),
    ({"cpu/cpu.cfs_quota_us": "200000\n"}, "", 8),  # period missing
])
def test_usable_cores_follows_the_tightest_quota(tmp_path, eight_cores, files, membership, expected):
    root, proc = _fake_cgroup(tmp_path, files, membership)
    assert usable_cores(root, proc) == expected


def test_quota_is_reported_in_cpus_and_missing_files_mean_none(tmp_path):
    root, proc = _fake_cgroup(tmp_path, {"cpu.max": "250000 100000\n"})
    assert cgroup_cpu_quota(root, proc) == pytest.approx(2.5)
    assert cgroup_cpu_quota(tmp_path / "nowhere", tmp_path / "no_proc_file") is None


def test_membership_outside_the_mount_stops_at_the_root(tmp_path, eight_cores):
    # A group path that resolves outside the mount ("..") is not followed: the root's limit counts.
    root, proc = _fake_cgroup(tmp_path, {"cpu.max": "200000 100000\n"}, "0::/../elsewhere\n")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "cpu.max").write_text("100000 100000\n")
    assert usable_cores(root, proc) == 2


def test_compute_threads_count_the_quota_not_the_host(monkeypatch, eight_cores):
    # Eight host cores but a 2-CPU quota and 2 loader workers: one compute thread, not six.
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(cores, "cgroup_cpu_quota", lambda *a, **k: 2.0)
    assert cpu_threads(num_workers=2) == 1
    monkeypatch.setattr(cores, "cgroup_cpu_quota", lambda *a, **k: None)
    assert cpu_threads(num_workers=2) == 6
