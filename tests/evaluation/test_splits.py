"""Split averaging and the `a2video average-splits` command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from a2video.cli import main
from a2video.errors import ConfigError
from a2video.evaluation import MetricsFileError, average_splits, format_split_table

KEYS = ("clip_top1", "clip_top5", "video_top1", "video_top5", "mean_class_accuracy")
SPLITS = {
    "split1": dict(zip(KEYS, (80.0, 95.0, 90.0, 99.0, 89.5)), num_videos=3783, num_failed_videos=1),
    "split2": dict(zip(KEYS, (82.0, 96.0, 91.0, 98.0, 90.0)), num_videos=3734, num_failed_videos=0),
    "split3": dict(zip(KEYS, (78.5, 94.5, 92.5, 97.5, 91.25)), num_videos=3696, num_failed_videos=2),
}


def write_splits(root: Path, splits=SPLITS) -> list[Path]:
    files = []
    for name, values in splits.items():
        path = root / "runs" / name / "metrics.json"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps({**values, "views_per_video": 30, "aggregate": "softmax"}))
        files.append(path)
    return files


def test_average_of_three_splits(tmp_path):
    result = average_splits(write_splits(tmp_path))
    assert [s["name"] for s in result["splits"]] == ["split1", "split2", "split3"]
    assert result["num_splits"] == 3
    # Hand-computed means, e.g. video@1 (90 + 91 + 92.5) / 3.
    assert result["mean"]["video_top1"] == pytest.approx(91.1666666667)
    assert result["mean"]["clip_top1"] == pytest.approx(80.1666666667)
    assert result["mean"]["mean_class_accuracy"] == pytest.approx(90.25)
    for key in KEYS:
        assert [s[key] for s in result["splits"]] == [v[key] for v in SPLITS.values()]
        assert result["mean"][key] == pytest.approx(sum(v[key] for v in SPLITS.values()) / 3)
    assert result["total"] == {"num_videos": 3783 + 3734 + 3696, "num_failed_videos": 3}


def test_names_can_be_given(tmp_path):
    result = average_splits(write_splits(tmp_path), names=["a", "b", "c"])
    assert [s["name"] for s in result["splits"]] == ["a", "b", "c"]
    with pytest.raises(ConfigError, match="2 names for 3"):
        average_splits(write_splits(tmp_path / "x"), names=["a", "b"])


def test_missing_file_is_named(tmp_path):
    files = write_splits(tmp_path)
    files[1].unlink()
    with pytest.raises(MetricsFileError, match=f"{files[1]}: no such metrics file"):
        average_splits(files)


@pytest.mark.parametrize("broken", [{"video_top5": None}, {"video_top5": "97"}, {"video_top5": True}, "drop"])
def test_missing_or_bad_key_is_named_with_its_file(tmp_path, broken):
    files = write_splits(tmp_path)
    data = json.loads(files[2].read_text())
    if broken == "drop":
        del data["video_top5"]
    else:
        data.update(broken)
    files[2].write_text(json.dumps(data))
    with pytest.raises(MetricsFileError) as info:
        average_splits(files)
    assert str(files[2]) in str(info.value) and "'video_top5'" in str(info.value)


def test_unreadable_json_is_named(tmp_path):
    files = write_splits(tmp_path)
    files[0].write_text("{not json")
    with pytest.raises(MetricsFileError, match="split1/metrics.json: cannot read"):
        average_splits(files)


def test_table_has_a_row_per_split_and_a_mean_row(tmp_path):
    table = format_split_table(average_splits(write_splits(tmp_path)))
    lines = table.splitlines()
    assert [c.strip() for c in lines[0].split("|")] == [
        "split", "clip@1", "clip@5", "video@1", "video@5", "mean class", "videos", "failed"
    ]
    rows = {l.split("|")[0].strip(): [c.strip() for c in l.split("|")[1:]] for l in lines if "|" in l}
    assert rows["split3"] == ["78.50", "94.50", "92.50", "97.50", "91.25", "3696", "2"]
    assert rows["mean"] == ["80.17", "95.17", "91.17", "98.17", "90.25", "11213", "3"]
    assert len({len(l) for l in lines}) == 1  # aligned columns


def test_command_prints_the_table_and_writes_json(tmp_path, capsys):
    files = write_splits(tmp_path)
    out = tmp_path / "ucf101_mean.json"
    assert main(["average-splits"] + [str(f) for f in files] + ["--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "video@1" in printed and "91.17" in printed and str(out) in printed
    assert json.loads(out.read_text()) == json.loads(json.dumps(average_splits(files)))


def test_command_reports_a_missing_file_in_one_line(tmp_path, capsys):
    files = write_splits(tmp_path)
    missing = tmp_path / "runs" / "split4" / "metrics.json"
    assert main(["average-splits"] + [str(f) for f in files] + [str(missing)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(missing) in err and err.startswith("a2video: error")


def test_command_without_files_is_a_usage_error(capsys):
    assert main(["average-splits"]) == 2
    err = capsys.readouterr().err.strip()
    assert "a2video average-splits --help" in err and len(err.splitlines()) == 1
