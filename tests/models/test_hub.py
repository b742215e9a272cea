"""Known public checkpoints by name: downloaded into the torch hub cache (here from a local file://
URL; no test reaches the internet), one line with the URL and the init_from to use when offline,
and ``a2video convert`` / ``load_trained`` on them."""

from __future__ import annotations

import argparse
import dataclasses
import urllib.error

import pytest
import torch

from a2video.cli import main
from a2video.errors import WeightsError
from a2video.models import create_model, hub
from a2video.commands.convert import configure_convert, run_convert
from a2video.models.preprocessing import KINETICS_SLOWFAST
from a2video.models.trained import load_trained
from a2video.models.weights import load_weights
from weights_layouts import to_pytorchvideo

NAME = "pytorchvideo:i3d_r50_k400"


@pytest.fixture
def local_zoo(tmp_path, monkeypatch):
    """The pytorchvideo entry pointing at a tiny file in that layout; an empty torch hub folder."""
    torch.manual_seed(0)
    source = create_model("i3d_r50", num_classes=6, base_width=4).eval()
    for module in source.modules():
        if isinstance(module, torch.nn.BatchNorm3d):
            module.running_mean.normal_(0, 0.2)
    zoo = tmp_path / "zoo"
    zoo.mkdir()
    file = zoo / "I3D_8x8_R50.pyth"
    torch.save({"model_state": {to_pytorchvideo(k): v for k, v in source.state_dict().items()}}, file)
    entry = dataclasses.replace(hub.KNOWN_CHECKPOINTS[NAME], url=file.as_uri())
    monkeypatch.setitem(hub.KNOWN_CHECKPOINTS, NAME, entry)
    hub_dir = tmp_path / "torch_hub"
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(hub_dir))
    return source, file, hub_dir


def test_table_entries_are_complete():
    for name, entry in hub.KNOWN_CHECKPOINTS.items():
        assert name == entry.name and ":" in name
        assert entry.url.startswith("https://") and entry.file_name in entry.url
        assert 60 < entry.top1 < entry.top5 < 100
        create_model(entry.model, num_classes=400, base_width=4)  # a registered model


def test_download_into_the_hub_cache_then_reuse(local_zoo):
    source, file, hub_dir = local_zoo
    model = create_model("i3d_r50", num_classes=6, base_width=4)
    report = load_weights(model, NAME)
    cached = hub_dir / "checkpoints" / "I3D_8x8_R50.pyth"
    assert cached.is_file() and cached.read_bytes() == file.read_bytes()
    assert not [p for p in cached.parent.iterdir() if p.name.startswith(".")]  # no temporary left behind
    assert report.preprocessing == KINETICS_SLOWFAST
    clip = torch.randn(1, 3, 4, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(model.eval()(clip), source(clip))
    file.unlink()  # from now on only the cache has it
    assert load_weights(create_model("a2net_r50", num_classes=6, base_width=4), NAME).new


def test_offline_is_one_line_with_the_url_and_where_to_put_a_copy(local_zoo, monkeypatch, capsys):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    with pytest.raises(WeightsError) as info:
        load_weights(create_model("i3d_r50", num_classes=6, base_width=4), NAME)
    message = str(info.value)
    assert hub.KNOWN_CHECKPOINTS[NAME].url in message and "/path/to/I3D_8x8_R50.pyth" in message
    assert "init_from" not in message  # no config key: the same line is printed by predict, export, convert
    assert "\n" not in message
    assert main(["convert", NAME, "out.ckpt"]) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "instead of the name (/path/to/" in err


def test_convert_known_name_then_load_trained(local_zoo, tmp_path):
    source, _, _ = local_zoo
    classes = tmp_path / "classes.txt"
    classes.write_text("".join(f"action {i}\n" for i in range(6)))
    out = tmp_path / "k400_a2net.ckpt"
    parser = argparse.ArgumentParser()
    configure_convert(parser)
    run_convert(parser.parse_args([NAME, str(out), "--model", "a2net_r50", "--classes", str(classes)]))
    trained = load_trained(out)
    assert trained.model_name == "a2net_r50" and trained.class_names[5] == "action 5"
    assert trained.preprocessing.mean == (0.45, 0.45, 0.45) and trained.preprocessing.std == (0.225,) * 3
    clip = torch.randn(1, 3, 4, 32, 32)
    with torch.no_grad():  # A² blocks added at identity: still the I3D's function
        torch.testing.assert_close(trained.net(clip), source(clip))
    # The converted file is an ordinary init_from for fine-tuning (another number of classes).
    target = create_model("a2net_r50", num_classes=3, base_width=4)
    report = load_weights(target, out)
    assert report.format == "a2video checkpoint" and set(report.left_out) == {"fc.weight", "fc.bias"}
    assert report.preprocessing == trained.preprocessing


def test_classes_file_of_the_wrong_size(local_zoo, tmp_path):
    classes = tmp_path / "classes.txt"
    classes.write_text("a\nb\n")
    with pytest.raises(WeightsError, match="has 2 classes, the classifier .* has 6"):
        load_trained(NAME, classes_file=classes)
