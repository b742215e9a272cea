"""The suite's own conftest (tests/conftest.py), run on a small suite: skips are listed at the end,
one line per reason, and ``A2VIDEO_REQUIRE_TORCHCODEC=1`` turns a missing torchcodec into failures."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

CONFTEST = Path(__file__).with_name("conftest.py")

SMALL_SUITE = """
import pytest
import a2video.data.decoding as decoding

decoding._torchcodec_loaded = "it cannot be imported (simulated)"  # as on a machine without it


@pytest.mark.needs_torchcodec
@pytest.mark.parametrize("n", range(3))
def test_decodes_with_torchcodec(n):
    pass


@pytest.mark.parametrize("n", range(2))
def test_opens_a_browser(n):
    pytest.skip("no chromium on PATH (apt-get install chromium)")


def test_plain():
    pass
"""


def _run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    pytester.makeconftest(CONFTEST.read_text())  # the real one, not a copy of its hooks
    pytester.makepyfile(test_small=SMALL_SUITE)
    # A subprocess: in this process the name ``conftest`` already belongs to tests/conftest.py.
    return pytester.runpytest_subprocess("-q", "-ra", "-p", "no:cacheprovider", *args)


def _summary(result: pytest.RunResult) -> list[str]:
    """The lines after the skip heading, up to pytest's closing counts line."""
    lines = result.outlines
    start = next(i for i, line in enumerate(lines) if "optional parts skipped (one line per reason)" in line)
    assert start < len(lines) - 1 and " in " in lines[-1]  # the counts line still closes the output
    return lines[start + 1 : -1]


def test_each_skip_reason_is_one_line_with_its_count_at_the_end(pytester, monkeypatch):
    monkeypatch.delenv("A2VIDEO_REQUIRE_TORCHCODEC", raising=False)
    result = _run(pytester)
    assert result.ret == 0
    result.assert_outcomes(passed=1, skipped=5)
    summary = _summary(result)
    assert len(summary) == 2, summary
    assert summary[0].startswith("   3 skipped: torchcodec or FFmpeg's libraries missing: it cannot be imported "
                                 "(simulated)")  # fmt: skip
    assert summary[0].endswith("(to have both: bash .ci/run)")
    assert summary[1] == "   2 skipped: no chromium on PATH (apt-get install chromium)"
    # After pytest's own per-location list (-ra), so it is what the output ends with.
    short = next(i for i, line in enumerate(result.outlines) if "short test summary info" in line)
    assert short < result.outlines.index(summary[0])


def test_required_torchcodec_that_is_missing_fails_the_run(pytester, monkeypatch):
    monkeypatch.setenv("A2VIDEO_REQUIRE_TORCHCODEC", "1")
    result = _run(pytester)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.assert_outcomes(passed=1, skipped=2, errors=3)
    result.stdout.fnmatch_lines(["*it cannot be imported (simulated)*A2VIDEO_REQUIRE_TORCHCODEC=1 makes that a failure*"])
    assert _summary(result) == ["   2 skipped: no chromium on PATH (apt-get install chromium)"]


def test_a_run_without_skips_says_so(pytester, monkeypatch):
    monkeypatch.delenv("A2VIDEO_REQUIRE_TORCHCODEC", raising=False)
    result = _run(pytester, "-k", "plain")
    assert result.ret == 0
    result.assert_outcomes(passed=1, deselected=5)
    assert "optional parts: none skipped, every test ran" in result.outlines[-2]
