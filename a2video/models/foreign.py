"""Other toolkits' I3D-R50 checkpoints, renamed to a2video's parameter names.

Each format is recognised by its layout and translated by one small table of name rules; what is
left untranslated keeps its name, so :func:`a2video.models.weights.load_weights` reports it as a
tensor the model does not have (never a silent partial load). Formats:

- **PySlowFast** ``.pyth`` (``model_state``; ``s1.pathway0_stem``, ``s2.pathway0_res0.branch2.a``,
  ``s3.pathway0_nonlocal1.conv_theta``, ``head.projection``) and its model zoo's Caffe2 ``.pkl``
  (``blobs``; ``res2_0_branch2a_w``, ``nonlocal_conv3_1_theta_w``, ``pred_w``);
- **pytorchvideo** model zoo ``.pyth`` (``model_state``; ``blocks.N.res_blocks.i.branch2.conv_a``);
- **mmaction2** ``.pth`` (``state_dict``; ``backbone.layer1.0.conv1.conv``, ``cls_head.fc_cls``).

The networks must be the same, not only the tensor shapes: strides and pooling carry no weights, so
they are compared with the target model here (mmaction2's I3D is a 32×2 network with temporal
stride 4 in its stem), and non-local blocks only map onto ``nl_r50``'s embedded-Gaussian blocks.
"""

from __future__ import annotations

import os
import pickle
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from a2video.errors import WeightsError
from a2video.models.preprocessing import KINETICS_SLOWFAST, MMACTION2_IMAGENET, Preprocessing

Rules = list[tuple[str, str]]
"""(regular expression on the source name, replacement giving our name); the first match wins."""


@dataclass
class Translation:
    """A foreign checkpoint in a2video's names."""

    format: str
    state: dict[str, torch.Tensor]
    preprocessing: Preprocessing
    left_out: list[str] = field(default_factory=list)  # source tensors with no effect on the output


def _rename(names: list[str], rules: Rules) -> dict[str, str]:
    """Source name → our name; names no rule matches keep theirs (and are reported as unknown)."""
    compiled = [(re.compile(pattern), replacement) for pattern, replacement in rules]
    renamed = {}
    for name in names:
        for pattern, replacement in compiled:
            if pattern.fullmatch(name):
                renamed[name] = pattern.sub(replacement, name)
                break
        else:
            renamed[name] = name
    return renamed


def _stage(number: str) -> str:
    return str(int(number) - 1)  # their s2..s5 / res2..res5 are our layer1..layer4


# ---------------------------------------------------------------- PySlowFast
_BN = r"(weight|bias|running_mean|running_var|num_batches_tracked)"
_SLOWFAST_RULES: Rules = [
    (r"s1\.pathway0_stem\.conv\.weight", r"conv1.weight"),
    (rf"s1\.pathway0_stem\.bn\.{_BN}", r"bn1.\1"),
    (r"s([2-5])\.pathway0_res(\d+)\.branch1\.weight", r"layer<\1>.\2.downsample.0.weight"),
    (rf"s([2-5])\.pathway0_res(\d+)\.branch1_bn\.{_BN}", r"layer<\1>.\2.downsample.1.\3"),
    (r"s([2-5])\.pathway0_res(\d+)\.branch2\.a\.weight", r"layer<\1>.\2.conv1.weight"),
    (r"s([2-5])\.pathway0_res(\d+)\.branch2\.b\.weight", r"layer<\1>.\2.conv2.weight"),
    (r"s([2-5])\.pathway0_res(\d+)\.branch2\.c\.weight", r"layer<\1>.\2.conv3.weight"),
    (rf"s([2-5])\.pathway0_res(\d+)\.branch2\.a_bn\.{_BN}", r"layer<\1>.\2.bn1.\3"),
    (rf"s([2-5])\.pathway0_res(\d+)\.branch2\.b_bn\.{_BN}", r"layer<\1>.\2.bn2.\3"),
    (rf"s([2-5])\.pathway0_res(\d+)\.branch2\.c_bn\.{_BN}", r"layer<\1>.\2.bn3.\3"),
    (r"s([2-5])\.pathway0_nonlocal(\d+)\.conv_theta\.(weight|bias)", r"layer<\1>.\2.attention.theta.\3"),
    (r"s([2-5])\.pathway0_nonlocal(\d+)\.conv_phi\.(weight|bias)", r"layer<\1>.\2.attention.phi.\3"),
    (r"s([2-5])\.pathway0_nonlocal(\d+)\.conv_g\.(weight|bias)", r"layer<\1>.\2.attention.g.\3"),
    (r"s([2-5])\.pathway0_nonlocal(\d+)\.conv_out\.(weight|bias)", r"layer<\1>.\2.attention.proj.\3"),
    (rf"s([2-5])\.pathway0_nonlocal(\d+)\.bn\.{_BN}", r"layer<\1>.\2.attention.norm.\3"),
    (r"head\.projection\.(weight|bias)", r"fc.\1"),
]

# Caffe2 blob names of the PySlowFast model zoo (``I3D_8x8_R50.pkl``), to the PyTorch names above.
_CAFFE2_BN = {"s": "weight", "b": "bias", "rm": "running_mean", "riv": "running_var"}
_CAFFE2_RULES: Rules = [
    (r"conv1_w", r"s1.pathway0_stem.conv.weight"),
    (r"res_conv1_bn_(s|b|rm|riv)", r"s1.pathway0_stem.bn.<\1>"),
    (r"res(\d)_(\d+)_branch1_w", r"s\1.pathway0_res\2.branch1.weight"),
    (r"res(\d)_(\d+)_branch1_bn_(s|b|rm|riv)", r"s\1.pathway0_res\2.branch1_bn.<\3>"),
    (r"res(\d)_(\d+)_branch2([abc])_w", r"s\1.pathway0_res\2.branch2.\3.weight"),
    (r"res(\d)_(\d+)_branch2([abc])_bn_(s|b|rm|riv)", r"s\1.pathway0_res\2.branch2.\3_bn.<\4>"),
    (r"nonlocal_conv(\d)_(\d+)_(theta|phi|g|out)_w", r"s\1.pathway0_nonlocal\2.conv_\3.weight"),
    (r"nonlocal_conv(\d)_(\d+)_(theta|phi|g|out)_b", r"s\1.pathway0_nonlocal\2.conv_\3.bias"),
    (r"nonlocal_conv(\d)_(\d+)_bn_(s|b|rm|riv)", r"s\1.pathway0_nonlocal\2.bn.<\3>"),
    (r"pred_w", r"head.projection.weight"),
    (r"pred_b", r"head.projection.bias"),
]
_CAFFE2_SKIPPED = re.compile(r".*_momentum|lr|model_iter")  # optimiser state and counters


def _apply_stage_numbers(names: dict[str, str]) -> dict[str, str]:
    return {k: re.sub(r"layer<(\d)>", lambda m: "layer" + _stage(m.group(1)), v) for k, v in names.items()}


def _slowfast_names(names: list[str]) -> dict[str, str]:
    return _apply_stage_numbers(_rename(names, _SLOWFAST_RULES))


def _caffe2_to_slowfast(names: list[str]) -> dict[str, str]:
    renamed = _rename(names, _CAFFE2_RULES)
    return {k: re.sub(r"<(s|b|rm|riv)>", lambda m: _CAFFE2_BN[m.group(1)], v) for k, v in renamed.items()}


def _fold_nonlocal_biases(state: dict[str, torch.Tensor]) -> list[str]:
    """PySlowFast's non-local φ, g and output convolutions have biases that nl_r50's do not need.

    φ's bias adds the same number to a whole row of affinities (softmax ignores it); g's and the
    output convolution's add one constant vector at every position, which the following BatchNorm
    removes in training and which folds exactly into its running mean in eval. Returns the removed
    names.
    """
    removed = []
    blocks = sorted({k.rsplit(".", 2)[0] for k in state if re.search(r"\.attention\.(phi|g|proj)\.bias$", k)})
    for block in blocks:  # "layer2.1.attention"
        g_bias, out_bias = state.pop(f"{block}.g.bias", None), state.pop(f"{block}.proj.bias", None)
        if state.pop(f"{block}.phi.bias", None) is not None:
            removed.append(f"{block}.phi.bias")
        constant = out_bias if out_bias is not None else 0.0
        if g_bias is not None:
            constant = constant + state[f"{block}.proj.weight"].flatten(1) @ g_bias  # (c,)
            removed.append(f"{block}.g.bias")
        if out_bias is not None:
            removed.append(f"{block}.proj.bias")
        if f"{block}.norm.running_mean" in state:
            state[f"{block}.norm.running_mean"] = state[f"{block}.norm.running_mean"] - constant
    return sorted(removed)


def _check_nonlocal(state: Mapping[str, torch.Tensor], model: nn.Module, cfg: Any, what: str) -> None:
    """Non-local tensors must land on embedded-Gaussian blocks (softmax, scaled, φ/g pooled 1×2×2)."""
    from a2video.layers import NonLocal3d

    places = sorted({k.split(".attention.")[0] for k in state if ".attention." in k})
    if not places:
        return
    instantiation = _cfg_value(cfg, ("NONLOCAL", "INSTANTIATION"), "softmax")
    if instantiation != "softmax":
        raise WeightsError(f"{what}: its non-local blocks are NONLOCAL.INSTANTIATION={instantiation}; a2video's "
                           "nl_r50 blocks are embedded-Gaussian (softmax): not the same network")
    modules = dict(model.named_modules())
    for place in places:
        block = modules.get(place + ".attention")
        if not isinstance(block, NonLocal3d):
            kind = "no attention block" if block is None else type(block).__name__
            raise WeightsError(f"{what} has a non-local block after {place}, the model has {kind} there "
                               "(use --model nl_r50 / model: nl_r50)")
        if not (block.scale and block.subsample):
            raise WeightsError(f"{what}: non-local blocks scale the affinities and pool φ and g by 1×2×2; the "
                               f"model's block at {place} has scale={block.scale}, subsample={block.subsample}")


def _cfg_value(cfg: Any, keys: tuple[str, ...], default: Any) -> Any:
    """A value of a PySlowFast config (a YAML string or a dict) saved in the checkpoint."""
    if isinstance(cfg, str):
        import yaml

        try:
            cfg = yaml.safe_load(cfg)
        except yaml.YAMLError:
            return default
    for key in keys:
        if not isinstance(cfg, Mapping) or key not in cfg:
            return default
        cfg = cfg[key]
    return cfg


def _translate_slowfast(state: dict[str, torch.Tensor], model: nn.Module, what: str, fmt: str,
                        cfg: Any = None) -> Translation:
    if any(".pathway1_" in k or k.startswith("s1_fuse") for k in state):
        raise WeightsError(f"{what} is a two-pathway SlowFast network; a2video models have one pathway")
    renamed = _slowfast_names(list(state))
    ours = {renamed[k]: v for k, v in state.items()}
    _check_nonlocal(ours, model, cfg, what)
    left_out = _fold_nonlocal_biases(ours)
    return Translation(fmt, ours, KINETICS_SLOWFAST, left_out)


# ---------------------------------------------------------------- pytorchvideo
def _translate_pytorchvideo(state: dict[str, torch.Tensor], what: str) -> Translation:
    blocks = sorted({int(k.split(".")[1]) for k in state if k.startswith("blocks.") and ".res_blocks." in k})
    if len(blocks) != 4:
        raise WeightsError(f"{what} has {len(blocks)} residual stages; a2video's ResNets have 4")
    layer = {str(block): str(index + 1) for index, block in enumerate(blocks)}
    rules: Rules = [
        (r"blocks\.\d+\.conv\.weight", "conv1.weight"),
        (rf"blocks\.\d+\.norm\.{_BN}", r"bn1.\1"),
        (r"blocks\.(\d+)\.res_blocks\.(\d+)\.branch1_conv\.weight", r"layer<\1>.\2.downsample.0.weight"),
        (rf"blocks\.(\d+)\.res_blocks\.(\d+)\.branch1_norm\.{_BN}", r"layer<\1>.\2.downsample.1.\3"),
        (r"blocks\.(\d+)\.res_blocks\.(\d+)\.branch2\.conv_a\.weight", r"layer<\1>.\2.conv1.weight"),
        (r"blocks\.(\d+)\.res_blocks\.(\d+)\.branch2\.conv_b\.weight", r"layer<\1>.\2.conv2.weight"),
        (r"blocks\.(\d+)\.res_blocks\.(\d+)\.branch2\.conv_c\.weight", r"layer<\1>.\2.conv3.weight"),
        (rf"blocks\.(\d+)\.res_blocks\.(\d+)\.branch2\.norm_a\.{_BN}", r"layer<\1>.\2.bn1.\3"),
        (rf"blocks\.(\d+)\.res_blocks\.(\d+)\.branch2\.norm_b\.{_BN}", r"layer<\1>.\2.bn2.\3"),
        (rf"blocks\.(\d+)\.res_blocks\.(\d+)\.branch2\.norm_c\.{_BN}", r"layer<\1>.\2.bn3.\3"),
        (r"blocks\.\d+\.proj\.(weight|bias)", r"fc.\1"),
    ]
    renamed = _rename(list(state), rules)
    ours = {re.sub(r"layer<(\d+)>", lambda m: "layer" + layer.get(m.group(1), "?"), renamed[k]): v
            for k, v in state.items()}
    return Translation("pytorchvideo model zoo checkpoint", ours, KINETICS_SLOWFAST)


# ---------------------------------------------------------------- mmaction2
_MMACTION2_RULES: Rules = [
    (r"backbone\.conv1\.conv\.weight", "conv1.weight"),
    (rf"backbone\.conv1\.bn\.{_BN}", r"bn1.\1"),
    (r"backbone\.layer(\d)\.(\d+)\.conv([123])\.conv\.weight", r"layer\1.\2.conv\3.weight"),
    (rf"backbone\.layer(\d)\.(\d+)\.conv([123])\.bn\.{_BN}", r"layer\1.\2.bn\3.\4"),
    (r"backbone\.layer(\d)\.(\d+)\.downsample\.conv\.weight", r"layer\1.\2.downsample.0.weight"),
    (rf"backbone\.layer(\d)\.(\d+)\.downsample\.bn\.{_BN}", r"layer\1.\2.downsample.1.\3"),
    (r"cls_head\.fc_cls\.(weight|bias)", r"fc.\1"),
]
# mmaction2's ResNet3d defaults, used where the checkpoint carries no config.
_MMACTION2_DEFAULTS = {"conv1_stride_t": 2, "pool1_stride_t": 2, "with_pool2": True}


def _mmaction2_setting(config: str, key: str) -> Any:
    match = re.search(rf"['\"]?{key}['\"]?\s*[=:]\s*(\w+)", config)
    if match is None:
        return _MMACTION2_DEFAULTS[key]
    value = match.group(1)
    return {"True": True, "False": False}.get(value, int(value) if value.isdigit() else value)


def _model_temporal_layout(model: nn.Module) -> dict[str, Any]:
    """The weightless part of the model that mmaction2 configs set: temporal strides and pooling."""
    pool = getattr(model, "maxpool", None)
    return {"conv1_stride_t": model.conv1.stride[0],
            "pool1_stride_t": pool.stride[0] if isinstance(pool, nn.MaxPool3d) else 1,
            "with_pool2": isinstance(getattr(model, "tpool1", None), nn.MaxPool3d)}


def _translate_mmaction2(obj: Mapping[str, Any], state: dict[str, torch.Tensor], model: nn.Module,
                         what: str) -> Translation:
    non_local = sorted(k for k in state if ".non_local_block." in k)
    if non_local:
        raise WeightsError(f"{what} has mmaction2 non-local blocks ({non_local[0]}, ...), whose layout a2video's "
                           "nl_r50 does not share; use its plain I3D R50")
    meta = obj.get("meta") if isinstance(obj.get("meta"), Mapping) else {}
    config = next((str(meta[k]) for k in ("cfg", "config") if k in meta), "")
    ours = _model_temporal_layout(model)
    for key, value in ours.items():
        theirs = _mmaction2_setting(config, key)
        if theirs != value:
            origin = "its config" if config else "mmaction2's default; the checkpoint carries no config"
            raise WeightsError(f"{what}: mmaction2 ResNet3d {key}={theirs} ({origin}), the a2video model has "
                               f"{key}={value}: not the same network (its I3D R50 is a 32×2 model)")
    renamed = _rename(list(state), _MMACTION2_RULES)
    return Translation("mmaction2 checkpoint", {renamed[k]: v for k, v in state.items()}, MMACTION2_IMAGENET)


# ---------------------------------------------------------------- detection
def translate(obj: Mapping[str, Any], model: nn.Module, path: str | os.PathLike) -> Translation | None:
    """The checkpoint in a2video names when it is one of the foreign formats, else None.

    Raises:
        WeightsError: it is a foreign format whose network differs from ``model``'s.
    """
    what = str(path)
    if isinstance(obj.get("blobs"), Mapping):
        blobs = {k: v for k, v in obj["blobs"].items() if not _CAFFE2_SKIPPED.fullmatch(k)}
        state = {name: torch.from_numpy(np.ascontiguousarray(value))
                 for name, value in zip(_caffe2_to_slowfast(list(blobs)).values(), blobs.values())}
        return _translate_slowfast(state, model, what, "PySlowFast Caffe2 checkpoint (.pkl)")
    model_state = obj.get("model_state")
    if isinstance(model_state, Mapping) and model_state:
        state = dict(model_state)
        if any(k.startswith("s1.pathway0_stem.") for k in state):
            return _translate_slowfast(state, model, what, "PySlowFast checkpoint", obj.get("cfg"))
        if any(k.startswith("blocks.") for k in state):
            return _translate_pytorchvideo(state, what)
    state_dict = obj.get("state_dict")
    if isinstance(state_dict, Mapping) and any(str(k).startswith("backbone.") for k in state_dict):
        return _translate_mmaction2(obj, dict(state_dict), model, what)
    return None


# ---------------------------------------------------------------- Caffe2 pickles
class _ArraysOnly(pickle.Unpickler):
    """Unpickles dicts, lists, strings, numbers and NumPy arrays; any other class is refused, so a
    crafted file cannot run code."""

    _ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
                ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
                ("numpy", "ndarray"), ("numpy", "dtype"),
                ("_codecs", "encode")}  # how protocol 2 stores bytes (the arrays' raw data)

    def find_class(self, module: str, name: str) -> Callable[..., Any]:
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        if module.startswith("numpy.core"):
            module = "numpy._core" + module[len("numpy.core"):]  # NumPy 2 moved it; old pickles name the old place
        return super().find_class(module, name)


def read_caffe2_pickle(path: str | os.PathLike) -> dict[str, Any] | None:
    """A Python pickle of NumPy blobs (the PySlowFast zoo's ``.pkl``), or None when it is not one."""
    try:
        with open(Path(path), "rb") as f:
            obj = _ArraysOnly(f, encoding="latin1").load()
    except Exception:  # not a pickle, or one holding other classes: the caller reports the torch error
        return None
    return obj if isinstance(obj, dict) and isinstance(obj.get("blobs"), Mapping) else None
