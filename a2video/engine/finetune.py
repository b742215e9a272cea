"""Start a model from another run's weights (e.g. Kinetics → UCF-101), replacing the classifier."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from a2video.errors import A2VideoError

# Prefixes under which our own and common checkpoints keep the network's weights.
_PREFIXES = ("module.", "net.", "model.")


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The network weights in a Lightning ``.ckpt`` of this toolkit or a plain state dict file."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise A2VideoError(f"checkpoint not found: {path}")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # corrupt file, foreign pickle, truncated download ...
        raise A2VideoError(f"cannot read checkpoint {path}: {type(error).__name__}: {error}") from None
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise A2VideoError(f"{path} holds no state dict of tensors")
    for prefix in _PREFIXES:
        if all(k.startswith(prefix) for k in obj):
            obj = {k[len(prefix):]: v for k, v in obj.items()}
    return obj


def load_backbone_weights(model: nn.Module, path: str | Path, replace_classifier: bool = False) -> str:
    """Load ``path`` into ``model``; keep ``model``'s fresh classifier when classes differ.

    Attention blocks missing from the checkpoint (an I3D checkpoint into an A²-Net) stay at their
    identity initialisation. Any other missing or unexpected tensor is an error: it means the
    checkpoint belongs to another architecture.

    Returns:
        A one-line summary of what was loaded.
    """
    state = read_state_dict(path)
    own = model.state_dict()
    head = {k for k in own if k.startswith("fc.")}
    dropped_head = replace_classifier or any(k in state and state[k].shape != own[k].shape for k in head)
    if dropped_head:
        state = {k: v for k, v in state.items() if not k.startswith("fc.")}
    mismatched = [k for k, v in state.items() if k in own and v.shape != own[k].shape]
    missing = [k for k in own if k not in state and not (dropped_head and k in head)]
    fresh_blocks = [k for k in missing if ".attention." in k]
    missing = [k for k in missing if ".attention." not in k]
    unexpected = [k for k in state if k not in own]
    if mismatched or missing or unexpected:
        details = "; ".join(
            f"{label}: {', '.join(names[:3])}{' ...' if len(names) > 3 else ''}"
            for label, names in (("shape mismatch", mismatched), ("missing", missing), ("unexpected", unexpected))
            if names
        )
        raise A2VideoError(f"checkpoint {path} does not fit model {type(model).__name__} ({details})")
    model.load_state_dict(state, strict=False)
    notes = [f"loaded {len(state)} tensors"]
    if dropped_head:
        notes.append("new classifier")
    if fresh_blocks:
        notes.append(f"{len(fresh_blocks)} attention tensors left at identity init")
    return ", ".join(notes)
