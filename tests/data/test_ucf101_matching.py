"""UCF-101 list building: class folders and file names in another case, and ``classInd.txt`` numbering.

Copies of UCF-101 differ in case (``HandstandPushups`` vs ``HandStandPushups``, lower-cased file
names after some conversions); the official numbering ``1 .. 101`` is what labels are built on.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from a2video.cli import main
from a2video.data.lists import ListFileError, read_list
from a2video.preparation.ucf101 import build_ucf101_lists

CLASSES = ["1 ApplyEyeMakeup", "2 HandstandPushups", "3 YoYo"]


def write_lines(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{line}\n" for line in lines))
    return path


def test_class_folders_are_matched_whatever_their_case(tmp_path):
    splits = tmp_path / "ucfTrainTestlist"
    write_lines(splits / "classInd.txt", CLASSES)
    write_lines(splits / "trainlist01.txt", [
        "HandStandPushups/v_HandStandPushups_g08_c01.avi 2",  # folder spelled like the files
        "yoyo/v_YoYo_g08_c01.avi 3",
    ])  # fmt: skip
    write_lines(splits / "testlist01.txt", ["HANDSTANDPUSHUPS/v_HandStandPushups_g01_c01.avi", "applyeyemakeup/x.avi"])
    build_ucf101_lists(splits, tmp_path / "lists")
    assert read_list(tmp_path / "lists" / "train_split1.txt", 3) == [
        ("HandStandPushups/v_HandStandPushups_g08_c01.avi", 1),
        ("yoyo/v_YoYo_g08_c01.avi", 2),
    ]
    assert [label for _, label in read_list(tmp_path / "lists" / "test_split1.txt", 3)] == [1, 0]


def test_video_files_are_found_whatever_their_case(tmp_path):
    splits = tmp_path / "ucfTrainTestlist"
    write_lines(splits / "classInd.txt", CLASSES)
    write_lines(splits / "trainlist01.txt", [
        "HandstandPushups/v_HandStandPushups_g08_c01.avi 2",
        "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1",
    ])  # fmt: skip
    write_lines(splits / "testlist01.txt", ["YoYo/v_YoYo_g01_c01.avi"])
    videos = tmp_path / "UCF-101"
    on_disk = ["HandstandPushups/v_HandstandPushups_g08_c01.avi",  # files renamed to the folder's spelling
               "ApplyEyeMakeup/v_applyeyemakeup_g08_c01.mp4",  # lower-cased by a conversion
               "YoYo/V_YOYO_G01_C01.AVI"]
    for path in on_disk:
        (videos / path).parent.mkdir(parents=True, exist_ok=True)
        (videos / path).write_bytes(b"not decoded by the list builders")
    report = build_ucf101_lists(splits, tmp_path / "lists", videos)
    assert report.num_missing == 0
    assert read_list(tmp_path / "lists" / "train_split1.txt", 3) == [(on_disk[0], 1), (on_disk[1], 0)]
    assert read_list(tmp_path / "lists" / "test_split1.txt", 3) == [(on_disk[2], 2)]


@pytest.mark.parametrize(
    "lines, where, message",
    [
        (["1 ApplyEyeMakeup", "3 HandstandPushups", "4 YoYo"], 2, "expected class index 2, got 3"),
        (["0 ApplyEyeMakeup", "1 HandstandPushups"], 1, "expected class index 1, got 0"),
        (["2 HandstandPushups", "1 ApplyEyeMakeup"], 1, "expected class index 1, got 2"),
        (["1 ApplyEyeMakeup", "1 HandstandPushups"], 2, "expected class index 2, got 1"),
    ],
)
def test_class_index_numbers_must_count_from_one(tmp_path, lines, where, message):
    splits = tmp_path / "ucfTrainTestlist"
    class_ind = write_lines(splits / "classInd.txt", lines)
    write_lines(splits / "trainlist01.txt", ["ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1"])
    with pytest.raises(ListFileError, match=f"^{class_ind}:{where}: {message}$"):
        build_ucf101_lists(splits, tmp_path / "lists")
    assert not (tmp_path / "lists").exists(), "nothing is written from a bad class index"


def test_the_command_reports_a_bad_class_index_in_one_line(tmp_path, capsys):
    splits = tmp_path / "ucfTrainTestlist"
    class_ind = write_lines(splits / "classInd.txt", ["1 ApplyEyeMakeup", "3 YoYo"])
    write_lines(splits / "trainlist01.txt", ["ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1"])
    status = main(["lists", "ucf101", "--splits-dir", str(splits), "--out", str(tmp_path / "lists")])
    [line] = capsys.readouterr().err.strip().splitlines()
    assert status == 1
    assert "error" in line and line.endswith(f": {class_ind}:2: expected class index 2, got 3")
