"""``a2video export``: a trained network as TorchScript, ONNX and ``torch.export`` files.

Each file takes float clips ``(N, 3, T, H, W)`` already normalised and returns ``(N, K)`` logits;
``preprocessing.json`` beside them says how to make those clips (mean/std, value range, frames ×
stride, crop) and names the classes. After writing, each file is loaded back and run on a random
clip; the command fails if its output differs from the eager model's by more than ``--rtol``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from a2video.errors import A2VideoError
from a2video.files import atomic_path, atomic_write
from a2video.models.trained import TrainedModel

FORMATS = ("torchscript", "onnx", "export")
FILE_NAMES = {"torchscript": "model.torchscript.pt", "onnx": "model.onnx", "export": "model.pt2"}
ONNX_OPSET = 17


class ExportError(A2VideoError):
    """An exported file could not be written or does not reproduce the eager model."""


def relative_difference(output: torch.Tensor, reference: torch.Tensor) -> float:
    return float((output - reference).abs().max() / reference.abs().max().clamp_min(1e-12))


def export_metadata(trained: TrainedModel, shape: torch.Size) -> str:
    """preprocessing.json: how to build the input, and what the outputs are."""
    return json.dumps({
        "preprocessing": trained.preprocessing.to_dict(),
        "input": {"name": "clips", "layout": "NCTHW", "dtype": "float32",
                  "shape": ["batch", *shape[1:]], "note": "uint8 RGB frames / 255 * value_range, minus mean, over std"},
        "output": {"name": "logits", "shape": ["batch", trained.num_classes], "apply": "softmax for probabilities"},
        "class_names": trained.class_names,
        "model": trained.model_name,
        "source": trained.report.source,
    }, indent=2) + "\n"


def _torchscript(net: nn.Module, example: torch.Tensor, path: Path) -> Callable[[torch.Tensor], torch.Tensor]:
    with torch.no_grad():
        traced = torch.jit.trace(net, example, check_trace=False)
    atomic_write(path, lambda f: torch.jit.save(traced, f))
    loaded = torch.jit.load(str(path))
    return lambda x: loaded(x).detach()


def _onnx(net: nn.Module, example: torch.Tensor, path: Path) -> Callable[[torch.Tensor], torch.Tensor]:
    try:
        import onnx  # noqa: F401  (the exporter needs it)
    except ImportError:
        raise ExportError("ONNX export needs the onnx package (pip install onnx onnxruntime)") from None
    with atomic_path(path) as tmp, torch.no_grad():
        # The TorchScript-based exporter: seconds on a CPU where the dynamo one takes minutes, same graph.
        torch.onnx.export(net, (example,), str(tmp), opset_version=ONNX_OPSET, dynamo=False, input_names=["clips"],
                          output_names=["logits"], dynamic_axes={"clips": {0: "batch"}, "logits": {0: "batch"}})
    try:
        import onnxruntime
    except ImportError:
        print("onnxruntime is not installed: the ONNX file is compared with itself only after you install it")
        return lambda x: net(x).detach()
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return lambda x: torch.from_numpy(session.run(None, {"clips": x.numpy()})[0])


def _torch_export(net: nn.Module, example: torch.Tensor, path: Path) -> Callable[[torch.Tensor], torch.Tensor]:
    batch = torch.export.Dim("batch", min=1, max=1024)
    program = torch.export.export(net, (example,), dynamic_shapes=({0: batch},))
    atomic_write(path, lambda f: torch.export.save(program, f))
    loaded = torch.export.load(str(path)).module()
    return lambda x: loaded(x).detach()


EXPORTERS = {"torchscript": _torchscript, "onnx": _onnx, "export": _torch_export}
