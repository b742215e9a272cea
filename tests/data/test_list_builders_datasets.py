"""HMDB-51, Something-Something v2, generic CSV and grouped folder lists, on files in the official layouts."""

import json
import re
from pathlib import Path

import pytest

from a2video.cli import main
from a2video.errors import A2VideoError
from a2video.preparation.folder import build_folder_lists, split_groups_per_class
from a2video.preparation.generic_csv import build_csv_lists
from a2video.preparation.hmdb51 import build_hmdb51_lists
from a2video.data.lists import ListFileError, read_classes, read_list
from a2video.preparation.ssv2 import build_ssv2_lists, template_class


def lists_main(argv):
    return main(["lists", *argv])


def touch(root: Path, *relative: str) -> None:
    for path in relative:
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(b"not decoded by the list builders")


# --- HMDB-51 ---------------------------------------------------------------------------------

# Real HMDB-51 names carry characters that break naive splitting or globbing.
ODD = "(Rad)Schlag_die_Bank!_cartwheel_f_cm_np1_le_med_0.avi"
HMDB = {
    # class: [(video, [id in split 1, split 2, split 3])]
    "brush_hair": [
        ("April_09_brush_hair_u_nm_np1_ba_goo_0.avi", ["1", "2", "1"]),
        ("Brushing_Hair_with_Beth_brush_hair_h_nm_np1_le_goo_0.avi", ["2", "1", "0"]),
        ("Aussie_Brush_[sic]_&_Co_brush_hair_u_cm_np1_fr_med_1.avi", ["0", "1", "2"]),
    ],
    "cartwheel": [
        (ODD, ["1", "1", "2"]),
        ("#122_Cleaning_Up_The_Beach_cartwheel_f_cm_np1_ba_bad_0.avi", ["2", "0", "1"]),
        ("Bob's_Ladder;_cartwheel+@_f_cm_np1_ri_med_2.avi", ["1", "2", "1"]),
    ],
}


@pytest.fixture
def hmdb_tree(tmp_path):
    splits = tmp_path / "testTrainMulti_7030_splits"
    splits.mkdir()
    for name, videos in HMDB.items():
        for split in (1, 2, 3):
            # Official files: a trailing blank after the id, and here CRLF line ends as in some copies.
            lines = "".join(f"{video} {ids[split - 1]} \r\n" for video, ids in videos)
            (splits / f"{name}_test_split{split}.txt").write_bytes(lines.encode())
    videos_root = tmp_path / "hmdb51_org"
    for name, videos in HMDB.items():
        for video, _ in videos:
            if video != HMDB["brush_hair"][1][0]:  # one video never downloaded
                touch(videos_root, f"{name}/{video}")
    return splits, videos_root


def expected_hmdb(split: int, use: str) -> list[tuple[str, int]]:
    wanted = {"train": "1", "test": "2"}[use]
    classes = sorted(HMDB)
    return [
        (f"{name}/{video}", classes.index(name))
        for name in classes
        for video, ids in HMDB[name]
        if ids[split - 1] == wanted
    ]


def test_hmdb51_three_splits_odd_names_unused_and_missing(hmdb_tree, tmp_path):
    splits, videos = hmdb_tree
    out = tmp_path / "lists"
    report = build_hmdb51_lists(splits, out, videos)

    assert read_classes(out / "classes.txt") == ["brush_hair", "cartwheel"]
    missing_video = f"brush_hair/{HMDB['brush_hair'][1][0]}"
    for split in (1, 2, 3):
        for use in ("train", "test"):
            expected = expected_hmdb(split, use)
            listed = read_list(out / f"{use}_split{split}.txt", 2)
            assert listed == [entry for entry in expected if entry[0] != missing_video]
            if missing_video in dict(expected):
                assert read_list(out / f"missing_{use}_split{split}.txt") == [(missing_video, 0)]
    # id 0 = unused: the third brush_hair video is in neither list of split 1.
    split1 = {path for use in ("train", "test") for path, _ in read_list(out / f"{use}_split1.txt")}
    assert f"brush_hair/{HMDB['brush_hair'][2][0]}" not in split1
    assert f"cartwheel/{ODD}" in split1
    assert report.num_missing == 2  # the lost video is used in split 1 (test) and 2 (train), not in 3
    assert report.written["train_split1.txt"] == 3


def test_hmdb51_without_video_root_writes_official_layout(hmdb_tree, tmp_path):
    splits, _ = hmdb_tree
    report = build_hmdb51_lists(splits, tmp_path / "lists")
    assert report.num_missing == 0
    assert read_list(tmp_path / "lists" / "test_split1.txt") == expected_hmdb(1, "test")


def test_hmdb51_bad_id_names_file_and_line(hmdb_tree, tmp_path):
    splits, _ = hmdb_tree
    (splits / "cartwheel_test_split2.txt").write_text("a.avi 1\nb.avi 3\n")
    with pytest.raises(ListFileError, match=r"cartwheel_test_split2.txt:2: expected '<video>.avi <0\|1\|2>'"):
        build_hmdb51_lists(splits, tmp_path / "lists")


def test_hmdb51_class_missing_a_split_file(hmdb_tree, tmp_path):
    splits, _ = hmdb_tree
    (splits / "cartwheel_test_split3.txt").unlink()
    with pytest.raises(A2VideoError, match="split 3 has no file for class.*cartwheel"):
        build_hmdb51_lists(splits, tmp_path / "lists")


def test_hmdb51_video_in_two_classes_of_one_split(hmdb_tree, tmp_path):
    splits, _ = hmdb_tree
    with open(splits / "cartwheel_test_split1.txt", "a") as handle:
        handle.write(f"{HMDB['brush_hair'][0][0]} 1\n")
    with pytest.raises(ListFileError, match=r"cartwheel_test_split1.txt:4: .* listed twice in split 1 \(also brush_hair_test_split1.txt:1\)"):
        build_hmdb51_lists(splits, tmp_path / "lists")


# --- Something-Something v2 ------------------------------------------------------------------

SSV2_LABELS = {
    "Pushing something from left to right": "1",
    "Putting something, something and something on the table": "2",
    "Something falling like a feather or paper": "0",
    "Tearing something into two pieces": "3",
}
SSV2_TRAIN = [
    {"id": "78687", "label": "pushing a book from left to right", "template": "Pushing [something] from left to right",
     "placeholders": ["a book"]},
    {"id": "42326", "label": "putting a pen, a cup and a key on the table",
     "template": "Putting [something], [something] and [something] on the table", "placeholders": ["a pen", "a cup", "a key"]},
    {"id": "100", "label": "paper falling like a feather or paper", "template": "[Something] falling like a feather or paper",
     "placeholders": ["paper"]},
    # This copy spells the template with other case and no comma: matched on the normalised form.
    {"id": "7", "label": "putting a, b and c on the table", "template": "putting [something] [something] and [something] on the table",
     "placeholders": ["a", "b", "c"]},
    {"id": "555", "label": "tearing a sheet into two pieces", "template": "Tearing [something] into two pieces",
     "placeholders": ["a sheet"]},
]  # fmt: skip
SSV2_VALIDATION = [
    {"id": "9", "label": "tearing paper into two pieces", "template": "Tearing [something] into two pieces", "placeholders": ["paper"]},
    {"id": "31", "label": "pushing a cup from left to right", "template": "Pushing [something] from left to right", "placeholders": ["a cup"]},
]  # fmt: skip


@pytest.fixture
def ssv2_tree(tmp_path):
    annotations = tmp_path / "labels"
    annotations.mkdir()
    (annotations / "labels.json").write_text(json.dumps(SSV2_LABELS, indent=1))
    (annotations / "train.json").write_text(json.dumps(SSV2_TRAIN, indent=1))
    (annotations / "validation.json").write_text(json.dumps(SSV2_VALIDATION, indent=1))
    (annotations / "test.json").write_text(json.dumps([{"id": "1420"}]))
    videos = tmp_path / "20bn-something-something-v2"
    touch(videos, *(f"{entry['id']}.webm" for entry in SSV2_TRAIN + SSV2_VALIDATION if entry["id"] != "555"))
    return annotations, videos


def test_template_class_drops_brackets_not_words():
    assert template_class("Putting [something similar to other things] on [part]") == (
        "Putting something similar to other things on part"
    )
    assert template_class("[Something] falling like a feather or paper") == "Something falling like a feather or paper"


def test_ssv2_labels_from_templates_not_filled_labels(ssv2_tree, tmp_path):
    annotations, videos = ssv2_tree
    out = tmp_path / "lists"
    report = build_ssv2_lists(annotations, out, videos)

    classes = read_classes(out / "classes.txt")
    assert classes == sorted(SSV2_LABELS, key=lambda name: int(SSV2_LABELS[name]))
    expected_train = [(f"{e['id']}.webm", classes.index(e["template"].replace("[", "").replace("]", "")))
                      for e in SSV2_TRAIN if e["id"] not in ("7", "555")]  # fmt: skip
    train = read_list(out / "train.txt", 4)
    assert train[:3] == expected_train
    assert train[3] == ("7.webm", 2)  # the loosely spelled template
    assert read_list(out / "val.txt", 4) == [("9.webm", 3), ("31.webm", 1)]
    assert report.written == {"train.txt": 4, "val.txt": 2}
    assert read_list(out / "missing_train.txt") == [("555.webm", 3)]


def test_ssv2_finds_converted_videos_by_stem(ssv2_tree, tmp_path):
    annotations, _ = ssv2_tree
    converted = tmp_path / "prepared"
    touch(converted, "78687.mp4", "9.mp4")
    build_ssv2_lists(annotations, tmp_path / "lists", converted)
    assert read_list(tmp_path / "lists" / "train.txt") == [("78687.mp4", 1)]
    assert read_list(tmp_path / "lists" / "val.txt") == [("9.mp4", 3)]


@pytest.mark.parametrize(
    ("file_name", "content", "message"),
    [
        ("train.json", [{"id": "1", "template": "Pushing [something] from left to right"},
                        {"id": "2", "template": "Juggling [something]"}], r"train.json:2: template 'Juggling \[something\]' \(id 2\) matches no class"),  # fmt: skip
        ("train.json", [{"id": "1", "template": "Pushing [something] from left to right"},
                        {"id": "1", "template": "Pushing [something] from left to right"}], r"train.json:2: id 1 repeats entry 1"),  # fmt: skip
        ("validation.json", [{"id": "1", "label": "pushing a cup"}], r"validation.json:1: entry \(id 1\) has no 'template'"),
        ("labels.json", {"Pushing something": "0", "Pulling something": "0"}, r"labels.json:2: label 0 is used by"),
    ],
)
def test_ssv2_errors_name_file_and_entry(ssv2_tree, tmp_path, file_name, content, message):
    annotations, _ = ssv2_tree
    (annotations / file_name).write_text(json.dumps(content))
    with pytest.raises(ListFileError, match=message):
        build_ssv2_lists(annotations, tmp_path / "lists")


# --- generic CSV -----------------------------------------------------------------------------


def test_csv_lists_header_quoting_classes_and_missing(tmp_path):
    videos = tmp_path / "videos"
    touch(videos, "a, b/clip1.mp4", "walk/w1.mp4", "run/r 1.mp4", "walk/w2.mp4")
    (tmp_path / "train.csv").write_text('path,label\n"a, b/clip1.mp4",waving hands\nwalk/w1.mp4, walk \nrun/r 1.mp4,run\n')
    (tmp_path / "val.csv").write_bytes(b"\xef\xbb\xbfwalk/w2.mp4,walk\r\nwalk/w9.mp4,walk\r\n")  # BOM, CRLF, no header
    out = tmp_path / "lists"
    report = build_csv_lists([tmp_path / "train.csv", tmp_path / "val.csv"], out, videos)

    assert read_classes(out / "classes.txt") == ["run", "walk", "waving hands"]
    assert read_list(out / "train.txt", 3) == [("a, b/clip1.mp4", 2), ("walk/w1.mp4", 1), ("run/r 1.mp4", 0)]
    assert read_list(out / "val.txt", 3) == [("walk/w2.mp4", 1)]
    assert read_list(out / "missing_val.txt") == [("walk/w9.mp4", 1)]
    assert report.num_missing == 1


def test_csv_lists_with_given_classes_and_errors(tmp_path):
    (tmp_path / "classes.txt").write_text("walk\nrun\n")
    (tmp_path / "train.csv").write_text("w.mp4,walk\nr.mp4,run\n")
    cli = ["csv", "--csv", str(tmp_path / "train.csv"), "--out", str(tmp_path / "o"), "--classes", str(tmp_path / "classes.txt")]
    assert lists_main(cli) == 0
    assert read_list(tmp_path / "o" / "train.txt") == [("w.mp4", 0), ("r.mp4", 1)]

    (tmp_path / "train.csv").write_text("w.mp4,walk\nj.mp4,jump\n")
    with pytest.raises(ListFileError, match=r"train.csv:2: class 'jump' is not one of the 2 classes"):
        build_csv_lists([tmp_path / "train.csv"], tmp_path / "o", classes=["walk", "run"])
    (tmp_path / "train.csv").write_text("w.mp4,walk\nw.mp4,run\n")
    with pytest.raises(ListFileError, match=r"train.csv:2: 'w.mp4' is listed twice"):
        build_csv_lists([tmp_path / "train.csv"], tmp_path / "o")
    (tmp_path / "train.csv").write_text("w.mp4,walk,extra\n")
    with pytest.raises(ListFileError, match=r"train.csv:1: expected 'path,label'"):
        build_csv_lists([tmp_path / "train.csv"], tmp_path / "o")


# --- folder --group-regex --------------------------------------------------------------------


def ucf_style_tree(root: Path) -> None:
    for name in ("Walk", "Jump"):
        for group in range(1, 11):
            clips = 3 + group % 3  # 3 to 5 clips cut from each source video
            touch(root, *(f"{name}/v_{name}_g{group:02d}_c{clip:02d}.avi" for clip in range(1, clips + 1)))


def group_of(path: str) -> tuple[str, str]:
    return path.split("/")[0], re.search(r"_g(\d+)_", path).group(1)


def test_group_regex_keeps_clips_of_one_source_together(tmp_path):
    videos = tmp_path / "videos"
    ucf_style_tree(videos)
    status = lists_main(["folder", "--video-root", str(videos), "--out", str(tmp_path / "lists"), "--val-fraction", "0.2",
                         "--test-fraction", "0.3", "--group-regex", r"_g(\d+)_", "--seed", "4"])  # fmt: skip
    assert status == 0
    parts = {name: read_list(tmp_path / "lists" / f"{name}.txt", 2) for name in ("train", "val", "test")}
    owner: dict[tuple[str, str], str] = {}
    for name, samples in parts.items():
        for path, _ in samples:
            assert owner.setdefault(group_of(path), name) == name, f"group of {path} is in {owner[group_of(path)]} and {name}"
    total = sum(len(samples) for samples in parts.values())
    assert total == 2 * sum(3 + group % 3 for group in range(1, 11))
    for name, share in (("val", 0.2), ("test", 0.3)):
        for label in (0, 1):
            count = sum(1 for _, sample_label in parts[name] if sample_label == label)
            # Whole groups of 3-5 clips: within half a group (2.5 clips) of the share of the 40 per class.
            assert abs(count - share * 40) <= 2.5, (name, label, count)


def test_ungrouped_split_does_straddle_sources(tmp_path):
    """The failure --group-regex prevents: a plain per-video split puts clips of one source in several parts."""
    videos = tmp_path / "videos"
    ucf_style_tree(videos)
    build_folder_lists(videos, tmp_path / "lists", val_fraction=0.2, test_fraction=0.3, seed=4)
    parts_of_group: dict[tuple[str, str], set[str]] = {}
    for name in ("train", "val", "test"):
        for path, _ in read_list(tmp_path / "lists" / f"{name}.txt"):
            parts_of_group.setdefault(group_of(path), set()).add(name)
    assert any(len(parts) > 1 for parts in parts_of_group.values())


def test_group_split_is_seeded_and_matches_counts_with_single_groups():
    samples = [(f"c{label}/v{i}.mp4", label) for label in (0, 1) for i in range(10)]
    one_per_video = split_groups_per_class(samples, lambda path: path, (0.3, 0.2), seed=1)
    assert [len(part) for part in one_per_video] == [10, 6, 4]
    assert one_per_video == split_groups_per_class(samples, lambda path: path, (0.3, 0.2), seed=1)
    assert one_per_video != split_groups_per_class(samples, lambda path: path, (0.3, 0.2), seed=2)


def test_group_regex_errors(tmp_path, capsys):
    videos = tmp_path / "videos"
    ucf_style_tree(videos)
    touch(videos, "Walk/holiday.avi")
    argv = ["folder", "--video-root", str(videos), "--out", str(tmp_path / "lists"), "--val-fraction", "0.2"]
    assert lists_main(argv + ["--group-regex", r"_g(\d+)_"]) == 1
    assert "Walk/holiday.avi does not match --group-regex" in capsys.readouterr().err
    assert lists_main(argv + ["--group-regex", r"_g(\d+_"]) == 2  # a usage error
    assert "is not a valid regular expression" in capsys.readouterr().err


def test_hmdb51_and_ssv2_through_the_command(hmdb_tree, ssv2_tree, tmp_path, capsys):
    splits, hmdb_videos = hmdb_tree
    assert lists_main(["hmdb51", "--splits-dir", str(splits), "--video-root", str(hmdb_videos), "--out", str(tmp_path / "h")]) == 0
    out = capsys.readouterr().out
    assert "2 classes" in out and "1 missing on disk" in out
    assert len(read_list(tmp_path / "h" / "train_split3.txt")) == 3
    annotations, ssv2_videos = ssv2_tree
    assert lists_main(["ssv2", "--annotations-dir", str(annotations), "--video-root", str(ssv2_videos), "--out", str(tmp_path / "s")]) == 0
    assert "4 classes" in capsys.readouterr().out
    assert lists_main(["ssv2", "--annotations-dir", str(tmp_path / "nothing"), "--out", str(tmp_path / "s")]) == 1
    error = capsys.readouterr().err
    assert error.startswith("a2video: error:") and "labels.json" in error and error.count("\n") == 1
