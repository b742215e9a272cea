"""UCF-101, Kinetics and folder-tree list builders on small fake datasets."""

from pathlib import Path

import pytest

from a2video.preparation.folder import build_folder_lists, split_per_class
from a2video.preparation.kinetics import build_kinetics_lists, kinetics400_classes
from a2video.data.lists import ListFileError, read_classes, read_list
from a2video.preparation.ucf101 import build_ucf101_lists
from a2video.errors import ConfigError


def touch(root: Path, *relative: str) -> None:
    for path in relative:
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(b"not decoded by the list builders")


def write_crlf(path: Path, lines: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes("".join(f"{line}\r\n" for line in lines).encode())


@pytest.fixture
def ucf_tree(tmp_path):
    splits = tmp_path / "ucfTrainTestlist"
    write_crlf(splits / "classInd.txt", ["1 ApplyEyeMakeup", "2 HandstandPushups", "3 YoYo"])
    write_crlf(
        splits / "trainlist01.txt",
        [
            "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1",
            "HandstandPushups/v_HandStandPushups_g08_c01.avi 2",
            "YoYo/v_YoYo_g08_c01.avi 3",
            "YoYo/v_YoYo_g09_c01.avi 3",  # not on disk
        ],
    )
    write_crlf(
        splits / "testlist01.txt",
        [
            "ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi",
            "HandstandPushups/v_HandStandPushups_g01_c01.avi",
            "YoYo/v_YoYo_g01_c01.avi",
        ],
    )
    write_crlf(splits / "trainlist02.txt", ["YoYo/v_YoYo_g01_c01.avi 3"])
    write_crlf(splits / "testlist02.txt", ["ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi"])
    videos = tmp_path / "UCF-101"
    touch(
        videos,
        "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi",
        "ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi",
        # This copy spells the folder like the files; the official lists do not.
        "HandStandPushups/v_HandStandPushups_g08_c01.avi",
        "HandStandPushups/v_HandStandPushups_g01_c01.avi",
        # Converted to mp4 after download.
        "YoYo/v_YoYo_g08_c01.mp4",
        "YoYo/v_YoYo_g01_c01.mp4",
    )
    return splits, videos


def test_ucf101_lists_with_crlf_handstand_quirk_and_missing_videos(ucf_tree, tmp_path):
    splits, videos = ucf_tree
    out = tmp_path / "lists"
    report = build_ucf101_lists(splits, out, videos)

    assert read_classes(out / "classes.txt") == ["ApplyEyeMakeup", "HandstandPushups", "YoYo"]
    assert read_list(out / "train_split1.txt", 3) == [
        ("ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi", 0),
        ("HandStandPushups/v_HandStandPushups_g08_c01.avi", 1),
        ("YoYo/v_YoYo_g08_c01.mp4", 2),
    ]
    # Test lists carry no label: it comes from the folder name.
    assert [label for _, label in read_list(out / "test_split1.txt", 3)] == [0, 1, 2]
    assert read_list(out / "train_split2.txt") == [("YoYo/v_YoYo_g01_c01.mp4", 2)]
    assert report.written == {"train_split1.txt": 3, "test_split1.txt": 3, "train_split2.txt": 1, "test_split2.txt": 1}
    assert report.num_missing == 1
    assert read_list(out / "missing_train_split1.txt") == [("YoYo/v_YoYo_g09_c01.avi", 2)]
    assert "1 missing on disk" in report.summary()


def test_ucf101_without_video_root_writes_official_paths(ucf_tree, tmp_path):
    splits, _ = ucf_tree
    report = build_ucf101_lists(splits, tmp_path / "lists")
    assert report.num_missing == 0
    listed = read_list(tmp_path / "lists" / "train_split1.txt")
    assert listed[1] == ("HandstandPushups/v_HandStandPushups_g08_c01.avi", 1)
    assert len(listed) == 4


def test_ucf101_label_that_disagrees_with_its_folder_is_an_error(ucf_tree, tmp_path):
    splits, _ = ucf_tree
    write_crlf(splits / "trainlist03.txt", ["YoYo/v_YoYo_g08_c01.avi 3", "YoYo/v_YoYo_g10_c01.avi 1"])
    with pytest.raises(ListFileError, match=r"trainlist03.txt:2: label 1 is 'ApplyEyeMakeup' but the folder is 'YoYo'"):
        build_ucf101_lists(splits, tmp_path / "lists")


KINETICS_CSV = """label,youtube_id,time_start,time_end,split,is_cc
"passing American football (in game)",abc,10,20,train,0
abseiling,def,0,10,train,0
abseiling,mis,1,11,train,0
"tying knot (not on a tie)",ghi,5,15,validate,0
abseiling,-xy,30,40,validate,1
"""


@pytest.fixture
def kinetics_tree(tmp_path):
    csv_path = tmp_path / "kinetics.csv"
    csv_path.write_text(KINETICS_CSV)
    videos = tmp_path / "videos"
    touch(
        videos,
        "passing_American_football_(in_game)/abc_000010_000020.mp4",  # class folder, underscores
        "def_000000_000010.mp4",  # flat
        "tying knot (not on a tie)/ghi_000005_000015.mkv",  # class folder with spaces
        "-xy_000030_000040.mp4",
    )
    return csv_path, videos


def test_kinetics_lists_quoted_labels_layouts_and_missing_side_file(kinetics_tree, tmp_path):
    csv_path, videos = kinetics_tree
    out = tmp_path / "lists"
    report = build_kinetics_lists([csv_path], videos, out)

    assert read_classes(out / "classes.txt") == [
        "abseiling",
        "passing American football (in game)",
        "tying knot (not on a tie)",
    ]
    assert read_list(out / "train.txt", 3) == [
        ("passing_American_football_(in_game)/abc_000010_000020.mp4", 1),
        ("def_000000_000010.mp4", 0),
    ]
    assert read_list(out / "val.txt", 3) == [
        ("tying knot (not on a tie)/ghi_000005_000015.mkv", 2),
        ("-xy_000030_000040.mp4", 0),
    ]
    assert report.num_missing == 1
    assert read_list(out / "missing_train.txt") == [("mis_000001_000011", 0)]
    assert not (out / "missing_val.txt").exists()


def test_kinetics400_label_order_comes_from_torchvision(kinetics_tree, tmp_path):
    csv_path, videos = kinetics_tree
    names = kinetics400_classes()
    build_kinetics_lists([csv_path], videos, tmp_path / "lists", classes=names)
    labels = dict(read_list(tmp_path / "lists" / "train.txt", 400))
    assert labels["def_000000_000010.mp4"] == names.index("abseiling") == 0
    abc = "passing_American_football_(in_game)/abc_000010_000020.mp4"
    assert labels[abc] == names.index("passing American football (in game)")


@pytest.mark.parametrize(
    ("csv_text", "message"),
    [
        ("label,youtube_id,time_start,split\nx,a,1,train\n", "missing column(s) time_end"),
        ("label,youtube_id,time_start,time_end,split\nx,a,1,2,train\nx,b,1,2,holdout\n", ":3: unknown split"),
        ("label,youtube_id,time_start,time_end,split\nx,a,1,2,train\nx,a,1,2,train\n", ":3: clip a_000001_000002"),
        ("label,youtube_id,time_start,time_end,split\nx,a,one,2,train\n", ":2: bad times"),
    ],
)
def test_kinetics_csv_errors_name_the_line(tmp_path, csv_text, message):
    (tmp_path / "k.csv").write_text(csv_text)
    (tmp_path / "videos").mkdir()
    with pytest.raises(ListFileError, match=message.replace("(", r"\(").replace(")", r"\)")):
        build_kinetics_lists([tmp_path / "k.csv"], tmp_path / "videos", tmp_path / "out")


def test_kinetics_label_outside_given_classes(kinetics_tree, tmp_path):
    csv_path, videos = kinetics_tree
    with pytest.raises(ListFileError, match=r"kinetics.csv:2: label 'passing American football \(in game\)'"):
        build_kinetics_lists([csv_path], videos, tmp_path / "out", classes=["abseiling"])


def test_folder_lists_split_every_class_disjointly(tmp_path):
    videos = tmp_path / "videos"
    for name in ("walk", "run", "jump"):
        touch(videos, *(f"{name}/sub/{name}{i}.mp4" for i in range(10)))
    touch(videos, "stray.mp4", "walk/notes.txt")  # not inside a class folder / not a video
    report = build_folder_lists(videos, tmp_path / "lists", val_fraction=0.2, test_fraction=0.1, seed=1)

    assert read_classes(tmp_path / "lists" / "classes.txt") == ["jump", "run", "walk"]
    parts = {name: read_list(tmp_path / "lists" / f"{name}.txt", 3) for name in ("train", "val", "test")}
    assert report.written == {"train.txt": 21, "val.txt": 6, "test.txt": 3}
    for name, expected in (("train", 7), ("val", 2), ("test", 1)):
        assert sorted(label for _, label in parts[name]) == sorted([0, 1, 2] * expected)
    everything = [path for part in parts.values() for path, _ in part]
    assert len(set(everything)) == 30
    for path, label in parts["train"]:
        assert path.split("/")[0] == ["jump", "run", "walk"][label]


def test_split_per_class_is_seeded():
    samples = [(f"v{i}.mp4", i % 2) for i in range(20)]
    assert split_per_class(samples, (0.3,), seed=5) == split_per_class(samples, (0.3,), seed=5)
    assert split_per_class(samples, (0.3,), seed=5) != split_per_class(samples, (0.3,), seed=6)
    with pytest.raises(ConfigError):
        split_per_class(samples, (0.7, 0.4))
