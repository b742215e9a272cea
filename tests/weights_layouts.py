"""Other toolkits' parameter names, written from their projects' naming for the tests: a2video name →
theirs. Independent of ``a2video.models.foreign`` (which maps the other way with its own rules)."""

from __future__ import annotations

ABC = {"1": "a", "2": "b", "3": "c"}


def to_pytorchvideo(name: str) -> str:
    """pytorchvideo's create_resnet names: blocks.0 stem, 1 res2, (2 = the pool after res2), 3-5 res3-res5, 6 head."""
    parts = name.split(".")
    if parts[0] == "conv1":
        return "blocks.0.conv.weight"
    if parts[0] == "bn1":
        return f"blocks.0.norm.{parts[1]}"
    if parts[0] == "fc":
        return f"blocks.6.proj.{parts[1]}"
    block = {"layer1": 1, "layer2": 3, "layer3": 4, "layer4": 5}[parts[0]]
    unit, module, rest = parts[1], parts[2], parts[3:]
    prefix = f"blocks.{block}.res_blocks.{unit}"
    if module == "downsample":
        return f"{prefix}.branch1_{'conv' if rest[0] == '0' else 'norm'}.{rest[1]}"
    kind, index = module[:-1], module[-1]
    return f"{prefix}.branch2.{'conv' if kind == 'conv' else 'norm'}_{ABC[index]}.{rest[0]}"


def to_pyslowfast(name: str) -> str:
    """PySlowFast's ResNet (s1 stem, s2-s5 stages, pathway0, nonlocal after unit i, head.projection)."""
    parts = name.split(".")
    if parts[0] == "conv1":
        return "s1.pathway0_stem.conv.weight"
    if parts[0] == "bn1":
        return f"s1.pathway0_stem.bn.{parts[1]}"
    if parts[0] == "fc":
        return f"head.projection.{parts[1]}"
    stage = int(parts[0][len("layer"):]) + 1
    unit, module, rest = parts[1], parts[2], parts[3:]
    if module == "attention":
        sub = {"theta": "conv_theta", "phi": "conv_phi", "g": "conv_g", "proj": "conv_out", "norm": "bn"}[rest[0]]
        return f"s{stage}.pathway0_nonlocal{unit}.{sub}.{rest[1]}"
    prefix = f"s{stage}.pathway0_res{unit}"
    if module == "downsample":
        return f"{prefix}.branch1.{rest[1]}" if rest[0] == "0" else f"{prefix}.branch1_bn.{rest[1]}"
    if module.startswith("conv"):
        return f"{prefix}.branch2.{ABC[module[-1]]}.{rest[0]}"
    return f"{prefix}.branch2.{ABC[module[-1]]}_bn.{rest[0]}"


def to_caffe2(name: str) -> str | None:
    """The Caffe2 blob names of PySlowFast's zoo files (BN: _s, _b, _rm, _riv; no step counters)."""
    if name.endswith("num_batches_tracked"):
        return None
    suffix = {"weight": "w", "bias": "b"}
    bn = {"weight": "s", "bias": "b", "running_mean": "rm", "running_var": "riv"}
    parts = name.split(".")
    if parts[0] == "conv1":
        return "conv1_w"
    if parts[0] == "bn1":
        return f"res_conv1_bn_{bn[parts[1]]}"
    if parts[0] == "fc":
        return f"pred_{suffix[parts[1]]}"
    stage = int(parts[0][len("layer"):]) + 1
    unit, module, rest = parts[1], parts[2], parts[3:]
    if module == "attention":
        if rest[0] == "norm":
            return f"nonlocal_conv{stage}_{unit}_bn_{bn[rest[1]]}"
        sub = {"theta": "theta", "phi": "phi", "g": "g", "proj": "out"}[rest[0]]
        return f"nonlocal_conv{stage}_{unit}_{sub}_{suffix[rest[1]]}"
    if module == "downsample":
        return f"res{stage}_{unit}_branch1_w" if rest[0] == "0" else f"res{stage}_{unit}_branch1_bn_{bn[rest[1]]}"
    if module.startswith("conv"):
        return f"res{stage}_{unit}_branch2{ABC[module[-1]]}_w"
    return f"res{stage}_{unit}_branch2{ABC[module[-1]]}_bn_{bn[rest[0]]}"


def to_mmaction2(name: str) -> str:
    """mmaction2's Recognizer3D: backbone.<ResNet3d with ConvModule(conv, bn)>, cls_head.fc_cls."""
    parts = name.split(".")
    if parts[0] == "conv1":
        return "backbone.conv1.conv.weight"
    if parts[0] == "bn1":
        return f"backbone.conv1.bn.{parts[1]}"
    if parts[0] == "fc":
        return f"cls_head.fc_cls.{parts[1]}"
    layer, unit, module, rest = parts[0], parts[1], parts[2], parts[3:]
    if module == "downsample":
        return f"backbone.{layer}.{unit}.downsample.{'conv' if rest[0] == '0' else 'bn'}.{rest[1]}"
    if module.startswith("conv"):
        return f"backbone.{layer}.{unit}.{module}.conv.{rest[0]}"
    return f"backbone.{layer}.{unit}.conv{module[-1]}.bn.{rest[0]}"
