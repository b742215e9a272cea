"""The `a2video lists` and `a2video synth` entry points: arguments, outputs, one-line errors."""

from a2video.cli import main
from a2video.data.lists import read_classes, read_list


def lists_main(argv):
    return main(["lists", *argv])


def synth_main(argv):
    return main(["synth", *argv])


def test_lists_folder_and_kinetics(tmp_path, capsys):
    videos = tmp_path / "videos"
    for name in ("b", "a"):
        (videos / name).mkdir(parents=True)
        for i in range(5):
            (videos / name / f"{name}{i}.mp4").write_bytes(b"x")
    assert lists_main(["folder", "--video-root", str(videos), "--out", str(tmp_path / "f"), "--val-fraction", "0.4"]) == 0
    assert read_classes(tmp_path / "f" / "classes.txt") == ["a", "b"]
    assert len(read_list(tmp_path / "f" / "val.txt")) == 4
    assert "videos -> " in capsys.readouterr().out

    (tmp_path / "k.csv").write_text("label,youtube_id,time_start,time_end,split\nabseiling,a0,0,10,train\n")
    (videos / "a0_000000_000010.mp4").write_bytes(b"x")
    status = lists_main(
        ["kinetics", "--csv", str(tmp_path / "k.csv"), "--video-root", str(videos), "--out", str(tmp_path / "k"),
         "--classes", "kinetics400"]
    )  # fmt: skip
    assert status == 0
    assert len(read_classes(tmp_path / "k" / "classes.txt")) == 400
    assert read_list(tmp_path / "k" / "train.txt") == [("a0_000000_000010.mp4", 0)]


def test_lists_errors_are_one_line(tmp_path, capsys):
    assert lists_main(["ucf101", "--splits-dir", str(tmp_path / "nope"), "--out", str(tmp_path / "o")]) == 1
    error = capsys.readouterr().err.strip()
    assert error.startswith("a2video: error:") and "classInd.txt" in error and "\n" not in error
    assert lists_main(["hmdb"]) == 2
    error = capsys.readouterr().err.strip()
    assert "invalid choice: 'hmdb'" in error and "a2video lists --help" in error and "\n" not in error
    assert lists_main(["--help"]) == 0


def test_synth_writes_a_set_and_skips_a_complete_one(tmp_path, capsys):
    argv = ["--out", str(tmp_path), "--set", "target", "--videos-per-class", "3", "--frames", "6", "--size", "16", "--workers", "1"]
    assert synth_main(argv) == 0
    assert "8 classes" in capsys.readouterr().out
    assert len(read_list(tmp_path / "target" / "train.txt")) == 8
    assert synth_main(argv) == 0
    assert synth_main(argv[:-4] + ["--size", "32"]) == 1
    assert "holds a synthetic set made with other parameters" in capsys.readouterr().err
