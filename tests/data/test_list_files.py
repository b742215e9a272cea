"""List files and classes.txt: parsing, errors naming file and line, round trips."""

from pathlib import Path

import pytest

from a2video.preparation.kinetics import kinetics400_classes
from a2video.data.lists import ListFileError, read_classes, read_list, write_classes, write_list

REPO = Path(__file__).resolve().parents[2]


def test_reads_paths_with_spaces_crlf_and_blank_lines(tmp_path):
    path = tmp_path / "train.txt"
    path.write_bytes(b"a/v1.mp4 0\r\n\r\nplaying cards/x y.mp4 2\r\n  b/v3.avi\t1  \n")
    assert read_list(path, num_classes=3) == [("a/v1.mp4", 0), ("playing cards/x y.mp4", 2), ("b/v3.avi", 1)]


@pytest.mark.parametrize(
    ("content", "line", "message"),
    [
        ("a.mp4 0\nb.mp4\n", 2, "expected 'path label'"),
        ("a.mp4 0\nb.mp4 one\n", 2, "not an integer"),
        ("a.mp4 -1\n", 1, "negative"),
        ("a.mp4 0\n\nb.mp4 3\n", 3, "out of range for 3 classes"),
        ("a.mp4 0\nb.mp4 1\na.mp4 2\n", 3, "duplicate video 'a.mp4' (first on line 1)"),
    ],
)
def test_bad_lines_are_reported_with_file_and_line(tmp_path, content, line, message):
    path = tmp_path / "list.txt"
    path.write_text(content)
    with pytest.raises(ListFileError) as caught:
        read_list(path, num_classes=3)
    assert str(caught.value).startswith(f"{path}:{line}: ")
    assert message in str(caught.value)
    assert caught.value.line == line


def test_label_range_is_only_checked_when_the_class_count_is_known(tmp_path):
    path = tmp_path / "list.txt"
    path.write_text("a.mp4 7\n")
    assert read_list(path) == [("a.mp4", 7)]


def test_list_round_trip_and_unwritable_paths(tmp_path):
    samples = [("class a/v 1.mp4", 4), ("b/v2.mp4", 0)]
    write_list(tmp_path / "deep" / "l.txt", samples)
    assert read_list(tmp_path / "deep" / "l.txt") == samples
    with pytest.raises(ValueError, match="cannot be written"):
        write_list(tmp_path / "x.txt", [("bad\nname.mp4", 0)])
    with pytest.raises(ValueError, match="negative"):
        write_list(tmp_path / "x.txt", [("v.mp4", -2)])


def test_classes_round_trip_and_errors(tmp_path):
    names = ["abseiling", "air drumming", "passing American football (in game)"]
    write_classes(tmp_path / "classes.txt", names)
    assert read_classes(tmp_path / "classes.txt") == names
    (tmp_path / "dup.txt").write_text("a\nb\na\n")
    with pytest.raises(ListFileError, match=r"dup.txt:3: duplicate class 'a' \(first on line 1\)"):
        read_classes(tmp_path / "dup.txt")
    (tmp_path / "empty.txt").write_text("\n")
    with pytest.raises(ListFileError, match="no class names"):
        read_classes(tmp_path / "empty.txt")
    with pytest.raises(ValueError):
        write_classes(tmp_path / "c.txt", ["a", "a"])


def test_committed_kinetics400_classes_match_torchvision():
    from torchvision.models.video import R3D_18_Weights

    committed = read_classes(REPO / "data_lists" / "kinetics400" / "classes.txt")
    categories = R3D_18_Weights.KINETICS400_V1.meta["categories"]
    assert len(committed) == 400
    assert committed == sorted(categories)
    assert kinetics400_classes() == committed
