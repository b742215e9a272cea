"""Models as data: each registered name's spec is what its builder builds, and the one table
holds the backbone, the blocks, the ImageNet counterpart and the known checkpoints."""

import pytest
import torch
import torchvision

from a2video.cli import main
from a2video.errors import WeightsError
from a2video.models import ResNet3d, create_model, get_spec, hub, list_models
from a2video.models.inflate import counterpart_2d
from a2video.models.registry import Backbone, ModelSpec, register_model
from a2video.models.resnet3d import STAGES
from a2video.models.weights import load_weights


def _block_class(spec: ModelSpec) -> str:
    return spec.block.__qualname__.split(".")[0]


@pytest.mark.parametrize("name", list_models())
def test_the_builder_builds_its_spec(name):
    spec = get_spec(name)
    model = create_model(name, num_classes=3, base_width=4)
    units = [len(getattr(model, f"layer{k}")) for k in range(1, 5)]
    temporal = [tuple(int(u.conv1.kernel_size[0] == 3) for u in getattr(model, f"layer{k}")) for k in range(1, 5)]
    assert tuple(units) == spec.backbone.layers and tuple(temporal) == spec.backbone.temporal_kernels
    found = {(STAGES[k - 1], i): type(u.attention).__name__ for k in range(1, 5)
             for i, u in enumerate(getattr(model, f"layer{k}")) if u.attention is not None}
    expected = {(stage, i) for stage, indices in spec.placement.items() for i in indices}
    assert set(found) == (expected if spec.block is not None else set())
    if spec.block is not None:
        assert set(found.values()) == {_block_class(spec)}
    assert model.layers == spec.backbone.layers


def test_counterpart_2d_matches_torchvision():
    """The units per stage of torchvision's bottleneck ResNets, read from the networks themselves."""
    for arch in ("resnet50", "resnet101", "resnet152"):
        with torch.device("meta"):
            net = getattr(torchvision.models, arch)()
        layers = tuple(len(getattr(net, f"layer{k}")) for k in range(1, 5))
        assert counterpart_2d(layers) == arch
    assert counterpart_2d((2, 2, 2, 2)) is None
    assert get_spec("a2net_r50").backbone.imagenet_arch == "resnet50"
    assert get_spec("a2net_r26").backbone.imagenet_arch is None


def test_a_resnet101_shaped_net_asks_for_resnet101_weights(monkeypatch, tmp_path):
    import torchvision.models._api as api

    def offline(*args, **kwargs):
        raise OSError("Network is unreachable")

    monkeypatch.setattr(api, "load_state_dict_from_url", offline)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    temporal = ((1, 1, 1), (1, 0, 1, 0), (1, 0) * 11 + (1,), (0, 1, 0))
    with torch.device("meta"):
        model = ResNet3d(layers=(3, 4, 23, 3), temporal_kernels=temporal, base_width=4)
    with pytest.raises(WeightsError, match="torchvision resnet101 .*/models/resnet101-"):
        load_weights(model, "imagenet")


def test_known_checkpoints_come_from_the_model_tables():
    listed = {entry.name: name for name in list_models() for entry in get_spec(name).checkpoints}
    assert listed == {name: entry.model for name, entry in hub.KNOWN_CHECKPOINTS.items()}
    assert listed["pyslowfast:i3d_nln_r50_k400"] == "nl_r50" and listed["pytorchvideo:i3d_r50_k400"] == "i3d_r50"


def test_register_refuses_a_wrong_name_a_second_model_and_a_checkpoint_listed_twice():
    before = (list_models(), dict(hub.KNOWN_CHECKPOINTS))
    spec = ModelSpec("toy_r50", Backbone("R50", (3, 4, 6, 3), get_spec("i3d_r50").backbone.temporal_kernels))

    def not_toy_r50(num_classes=400, **kwargs):
        return ResNet3d(num_classes=num_classes, **kwargs)

    with pytest.raises(ValueError, match="'not_toy_r50' registered for model 'toy_r50'"):
        register_model(spec)(not_toy_r50)

    def i3d_r50(num_classes=400, **kwargs):
        return ResNet3d(num_classes=num_classes, **kwargs)

    with pytest.raises(ValueError, match="'i3d_r50' is registered twice"):
        register_model(get_spec("i3d_r50"))(i3d_r50)
    taken = ModelSpec("toy_r50", spec.backbone, checkpoints=get_spec("nl_r50").checkpoints)

    def toy_r50(num_classes=400, **kwargs):
        return ResNet3d(num_classes=num_classes, **kwargs)

    with pytest.raises(ValueError, match="pyslowfast:i3d_nln_r50_k400.* under two models"):
        register_model(taken)(toy_r50)
    assert (list_models(), dict(hub.KNOWN_CHECKPOINTS)) == before


def test_a_placement_for_a_model_without_blocks_is_an_error():
    with pytest.raises(ValueError, match="attention_layer is None"):
        create_model("i3d_r50", base_width=4, attention_placement={"res3": [0]})


def test_flops_list_prints_the_table(capsys):
    assert main(["flops", "--list"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split()[0] for line in lines] == list_models()
    table = {line.split()[0]: line for line in lines}
    assert "5 x DoubleAttention3d (res3 [1, 3], res4 [1, 3, 5]); ImageNet: resnet50" in table["a2net_r50"]
    assert "2 x DoubleAttention3d (res3 [1], res4 [1]); ImageNet: none" in table["a2net_r26"]
    assert "16 x SqueezeExcitation3d (every unit)" in table["se_r50"]
    assert "pytorchvideo:i3d_r50_k400, pyslowfast:i3d_r50_k400" in table["i3d_r50"]
    assert "no attention blocks" in table["i3d_r26"]
