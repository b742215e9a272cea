"""report.html opened in a real headless Chromium: it renders, with no console error and every
image loaded. CI installs Debian's ``chromium`` and sets A2VIDEO_REQUIRE_BROWSER=1, so there a
missing browser fails instead of skipping."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from a2video.data.encoding import write_video
from a2video.evaluation import write_evaluation
from a2video.evaluation.report import CONFUSION_FULL_FILE, WORST_VIDEOS, write_report
from headless_browser import find_browser, load_page

K = 101  # UCF-101 size: the page shows the most confused block and links the full matrix


@pytest.fixture(scope="module")
def browser() -> str:
    path = find_browser()
    if path is None:
        if os.environ.get("A2VIDEO_REQUIRE_BROWSER") == "1":
            pytest.fail("no chromium on PATH although A2VIDEO_REQUIRE_BROWSER=1")
        pytest.skip("no chromium on PATH (apt-get install chromium)")
    return path


def ucf_like_run(root: Path) -> Path:
    """A 101-class test folder inside a run folder whose config points at real tiny videos."""
    rng = np.random.default_rng(0)
    n, clips, crops = 2 * K, 2, 3
    labels = np.arange(n) % K
    logits = rng.normal(size=(n, clips * crops, K)).astype(np.float32)
    logits[np.arange(n), :, labels] += 2.5
    for i in range(20):  # 20 videos confidently taken for the next class
        logits[i, :, (labels[i] + 1) % K] += 4.0
    ok = np.ones(n, bool)
    ok[7] = False
    paths = [f"class_{labels[i]:03d}/v_{i:03d}.avi" for i in range(n)]
    frames = np.zeros((12, 32, 48, 3), np.uint8)
    for i, path in enumerate(paths):
        frames[:] = (37 * i) % 256, 90, 160
        frames[:, 8:24, (2 * i) % 40:(2 * i) % 40 + 8] = 255  # a bright block, placed per video
        write_video(root / "videos" / path, frames)
    (root / "run").mkdir(parents=True)
    (root / "run" / "test_config.yaml").write_text(f"data:\n  video_root: {root / 'videos'}\n")
    write_evaluation(root / "run" / "test", paths=paths, labels=labels, ok=ok,
                     errors=["" if good else "truncated" for good in ok], view_logits=logits,
                     class_names=[f"Class{c:03d}" for c in range(K)], clips=clips, crops=crops)
    return root / "run" / "test"


def test_report_renders_in_chromium_with_every_image(browser, tmp_path):
    report = write_report(ucf_like_run(tmp_path))
    page = load_page(browser, report.resolve().as_uri())
    assert page.errors == []
    assert page.title.startswith("a2video report")
    plots = [i for i in page.images if i["src"].startswith("data:image/png")]
    thumbs = [i for i in page.images if i["src"].startswith("data:image/jpeg")]
    assert [i["alt"] for i in plots] == ["views curve", "per-class accuracy", "most confused classes",
                                         "reliability diagram"]
    assert len(thumbs) == WORST_VIDEOS
    for image in page.images:
        assert image["complete"] and image["width"] > 0 and image["height"] > 0, image
    assert all(i["width"] == 4 * i["height"] * 48 // 32 for i in thumbs)  # 4 frames of 3:2 video
    assert "Full confusion matrix" in page.text and "Failed videos (1)" in page.text
    assert (report.parent / CONFUSION_FULL_FILE).read_bytes()[:4] == b"\x89PNG"


def test_the_browser_check_catches_a_broken_page(browser, tmp_path):
    broken = tmp_path / "broken.html"
    broken.write_text('<!DOCTYPE html><html><head><link rel="icon" href="data:,"><title>x</title></head><body>'
                      '<img alt="gone" src="missing.png"><script>console.error("boom")</script></body></html>')
    page = load_page(browser, broken.as_uri())
    assert any("boom" in e for e in page.errors)
    assert any("missing.png" in e or "ERR_FILE_NOT_FOUND" in e for e in page.errors)
    assert page.images[0]["width"] == 0
