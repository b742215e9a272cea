"""Shared by every test folder: the tiny synthetic video sets (one builder, cached per session), the
``needs_torchcodec`` mark, and the closing list of what was skipped and why.

A test marked ``needs_torchcodec`` is skipped where torchcodec or FFmpeg's shared libraries are
missing, and fails instead where ``A2VIDEO_REQUIRE_TORCHCODEC=1`` (``.ci/run`` sets it), so CI cannot
quietly stop testing the real decoder. The suite ends with one line per distinct skip reason.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable
from types import SimpleNamespace

import pytest

from a2video.data import decoding
from a2video.preparation.synthetic import SyntheticSet, make_synthetic_set

REQUIRE_TORCHCODEC = "A2VIDEO_REQUIRE_TORCHCODEC"
SKIPPED_HEADING = "optional parts skipped (one line per reason)"
_torchcodec_missing: list[str | None] = []  # [why torchcodec cannot be used here, or None], once known


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "needs_torchcodec: runs the real torchcodec decoder (package and FFmpeg's "
                                       f"libraries); skipped without them, failed without them if {REQUIRE_TORCHCODEC}=1")  # fmt: skip


def torchcodec_missing() -> str | None:
    """Why the torchcodec backend cannot be used here (one line), or None where it can."""
    if not _torchcodec_missing:
        why = None if decoding.torchcodec_available() else decoding._torchcodec_loaded
        _torchcodec_missing.append(None if why is None else f"torchcodec or FFmpeg's libraries missing: {why} "
                                                              "(to have both: bash .ci/run)")  # fmt: skip
    return _torchcodec_missing[0]


@pytest.hookimpl(tryfirst=True)  # before any fixture of the test is set up
def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("needs_torchcodec") is None or (why := torchcodec_missing()) is None:
        return
    if os.environ.get(REQUIRE_TORCHCODEC) == "1":
        pytest.fail(f"{why}; {REQUIRE_TORCHCODEC}=1 makes that a failure", pytrace=False)
    pytest.skip(why)


def _skip_reason(report: pytest.TestReport) -> str:
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    return reason.removeprefix("Skipped: ")


@pytest.hookimpl(wrapper=True, tryfirst=True)  # outermost: after the short test summary
def pytest_terminal_summary(terminalreporter) -> None:
    """After pytest's own summaries: each distinct skip reason once, with how many tests it skipped."""
    result = yield
    reasons = Counter(_skip_reason(report) for report in terminalreporter.stats.get("skipped", []))
    if reasons:
        terminalreporter.write_sep("=", SKIPPED_HEADING)
        for reason, count in sorted(reasons.items(), key=lambda item: (-item[1], item[0])):
            terminalreporter.write_line(f"{count:4d} skipped: {reason}")
    else:
        terminalreporter.write_sep("=", "optional parts: none skipped, every test ran")
    return result


@pytest.fixture(scope="session")
def synthetic_sets(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., SyntheticSet]:
    """``make(set_name, videos_per_class, seed)``: a set of 16-frame 32-pixel videos, made once per session."""
    made: dict[tuple, SyntheticSet] = {}

    def make(set_name: str, videos_per_class: int, seed: int) -> SyntheticSet:
        key = (set_name, videos_per_class, seed)
        if key not in made:
            root = tmp_path_factory.mktemp(f"synth_{set_name}_{videos_per_class}_{seed}")
            made[key] = make_synthetic_set(root, set_name, videos_per_class=videos_per_class, num_frames=16,
                                           size=32, seed=seed, workers=1)
        return made[key]

    return make


@pytest.fixture(scope="session")
def synthetic(synthetic_sets) -> SimpleNamespace:
    """The source (10 classes) and target (8 classes) sets with 3 videos per class: one train, one
    val and one test video per class, so in a training list a label names its video."""
    return SimpleNamespace(source=synthetic_sets("source", 3, 11), target=synthetic_sets("target", 3, 11))


@pytest.fixture(scope="session")
def tiny_source_set(synthetic_sets) -> SyntheticSet:
    """A source set with 5 videos per class (3 train, 1 val, 1 test): 30 training videos."""
    return synthetic_sets("source", 5, 3)
