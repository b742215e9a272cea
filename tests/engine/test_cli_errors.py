"""Mistakes in configs and inputs: a non-zero exit and one clear line naming the culprit, no traceback,
no usage dump, and (for parse errors) nothing written."""

from __future__ import annotations

import shutil

import pytest

from a2video.cli import main
from engine_helpers import tiny_config, write_config


def _fails(capsys, *args, code: int | None = None) -> str:
    """Run ``a2video <args>``; return its error line after checking it is the only one."""
    capsys.readouterr()
    rc = main([str(a) for a in args])
    err = capsys.readouterr().err
    assert rc != 0 and (code is None or rc == code), (rc, err)
    assert "Traceback" not in err and "usage:" not in err, err
    errors = [line for line in err.splitlines() if "error" in line.lower()]
    assert len(errors) == 1 and errors[0].startswith("a2video: error: "), err
    assert err.rstrip().splitlines()[-1] == errors[0]
    if rc == 2:  # rejected by the parser: nothing else was printed
        assert len(err.splitlines()) == 1, err
    return errors[0]


@pytest.fixture
def config(synthetic, tmp_path):
    return write_config(tmp_path / "c.yaml", tiny_config(synthetic.source, tmp_path / "run", epochs=1))


def test_unknown_key_on_the_command_line(config, tmp_path, capsys):
    line = _fails(capsys, "fit", "--config", config, "--model.not_a_key", "1", code=2)
    assert "--model.not_a_key" in line and "a2video fit --help" in line
    assert not (tmp_path / "run").exists(), "nothing is run or written"


def test_unknown_key_in_a_config_file_suggests_the_right_one(synthetic, tmp_path, capsys):
    raw = tiny_config(synthetic.source, tmp_path / "run")
    raw["model"]["dropuot"] = 0.1
    path = write_config(tmp_path / "typo.yaml", raw)
    line = _fails(capsys, "fit", "--config", path, code=2)
    assert "unknown config key 'model.dropuot'" in line and "did you mean 'model.dropout'" in line
    assert not (tmp_path / "run").exists()


def test_wrong_type_and_missing_config_file(config, tmp_path, capsys):
    assert "model.lr" in _fails(capsys, "fit", "--config", config, "--model.lr", "fast", code=2)
    assert "nope.yaml" in _fails(capsys, "fit", "--config", tmp_path / "nope.yaml", code=2)


def test_lightning_optimizer_options_are_not_accepted(config, capsys):
    """The optimiser is VideoClassifier's (groups, scaling); --optimizer would silently replace it."""
    assert "--optimizer" in _fails(capsys, "fit", "--config", config, "--optimizer", "Adam", code=2)


def test_missing_checkpoint(config, tmp_path, capsys):
    line = _fails(capsys, "test", "--config", config, "--ckpt_path", "/nope.ckpt")
    assert "checkpoint not found: /nope.ckpt" in line
    line = _fails(capsys, "fit", "--config", config, "--ckpt_path", "/nope.ckpt")
    assert "/nope.ckpt" in line


def test_missing_init_from(config, tmp_path, capsys):
    line = _fails(capsys, "fit", "--config", config, "--model.init_from", tmp_path / "source.ckpt")
    assert line == f"a2video: error: model.init_from: checkpoint not found: {tmp_path / 'source.ckpt'}"


def test_missing_video_root(config, tmp_path, capsys):
    line = _fails(capsys, "fit", "--config", config, "--data.video_root", tmp_path / "videos")
    assert "video root" in line and str(tmp_path / "videos") in line


def test_missing_list_and_classes_files(config, synthetic, tmp_path, capsys):
    line = _fails(capsys, "fit", "--config", config, "--data.train_list", tmp_path / "train.txt",
                  "--data.classes_file", synthetic.source.classes_file)
    assert line == f"a2video: error: train list not found: {tmp_path / 'train.txt'}"
    line = _fails(capsys, "test", "--config", config, "--data.test_list", "null")
    assert "data.test_list" in line
    line = _fails(capsys, "fit", "--config", config, "--data.classes_file", tmp_path / "classes.txt")
    assert str(tmp_path / "classes.txt") in line


def test_settings_the_classes_reject(config, tmp_path, capsys):
    line = _fails(capsys, "fit", "--config", config, "--data.train_list", "null", "--data.val_list", "null",
                  "--data.test_list", "null", code=2)
    assert "give classes_file or at least one list file" in line
    line = _fails(capsys, "fit", "--config", config, "--trainer.accelerator", "mps", code=2)
    assert "MPS" in line  # no Apple GPU on the machines this runs on
    assert not (tmp_path / "run").exists()


def test_malformed_classes_file(config, synthetic, tmp_path, capsys):
    classes = tmp_path / "classes.txt"
    classes.write_text("a\nb\na\n")
    line = _fails(capsys, "fit", "--config", config, "--data.classes_file", classes)
    assert f"{classes}:3: duplicate class 'a' (first on line 1)" in line


@pytest.mark.parametrize("bad_line, message", [
    ("nolabel", "expected 'path label'"),
    ("move_up/move_up_0002.mp4 x", "label 'x' is not an integer"),
    ("move_up/move_up_0002.mp4 77", "label 77 out of range for 10 classes"),
])
def test_malformed_list_line_names_file_and_line(config, synthetic, tmp_path, capsys, bad_line, message):
    lists = tmp_path / "lists"
    lists.mkdir()
    shutil.copy(synthetic.source.classes_file, lists / "classes.txt")
    good = open(synthetic.source.train_list).read().splitlines()
    (lists / "train.txt").write_text("\n".join(good[:2] + [bad_line] + good[2:]) + "\n")
    line = _fails(capsys, "fit", "--config", config, "--data.train_list", lists / "train.txt",
                  "--data.classes_file", lists / "classes.txt")
    assert f"{lists / 'train.txt'}:3: {message}" in line


def test_checkpoint_of_another_network(source_run, capsys):
    line = _fails(capsys, "test", "--config", source_run.config, "--ckpt_path", source_run.last,
                  "--model.base_width", "8")
    assert "model.base_width: config 8, checkpoint 4" in line


def test_unknown_subcommand(capsys):
    assert main(["fot"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("a2video: error: unknown command 'fot'") and len(err.splitlines()) == 1


def test_help_still_works(capsys):
    assert main(["fit", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--model.backbone_lr_mult" in out and "--data.video_root" in out and "--resume" in out
    assert "--optimizer" not in out



def test_too_many_bad_training_videos(config, synthetic, tmp_path, capsys):
    """Stopped with the list of unreadable videos (one per line), not a traceback."""
    root = tmp_path / "videos"
    shutil.copytree(synthetic.source.video_root, root)
    samples = [line.split() for line in open(synthetic.source.train_list).read().splitlines()]
    broken = [path for path, _ in samples[:5]]
    for path in broken:
        (root / path).write_bytes(b"")
    capsys.readouterr()
    rc = main(["fit", "--config", str(config), "--data.video_root", str(root), "--data.max_failed_fraction", "0"])
    err = capsys.readouterr().err
    assert rc == 1 and "Traceback" not in err
    message = err[err.index("a2video: error: "):]
    assert "training videos could not be decoded, more than the allowed fraction 0" in message.splitlines()[0]
    listed = message.splitlines()[1:]
    assert listed and all(line.strip().split(": ")[0] in {str(root / p) for p in broken} for line in listed)
