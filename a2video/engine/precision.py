"""Evaluation precision, set apart from the training precision.

Training usually runs in ``bf16-mixed`` (``trainer.precision``); the reference toolkits test in
fp32, and a few tenths of a point of top-1 can hang on it. Lightning wraps validation and test
steps in the training precision's autocast; :func:`eval_autocast` opens a context inside it that
replaces it with the evaluation precision.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Literal

import torch

from a2video.errors import ConfigError

EvalPrecision = Literal["32-true", "bf16-mixed", "16-mixed", "train"]

_AUTOCAST_TYPES = {"bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}


def eval_autocast(precision: str, *, device_type: str, weights_dtype: torch.dtype) -> AbstractContextManager:
    """The autocast context evaluation forwards run in.

    Args:
        precision: "32-true" (fp32, autocast off), "bf16-mixed" or "16-mixed" (autocast to that
            type), or "train" (whatever ``trainer.precision`` set up).
        device_type: the model's device type ("cuda", "cpu").
        weights_dtype: the type of the model's weights; a mixed or fp32 evaluation needs fp32 weights.

    Raises:
        ConfigError: for fp32 or mixed evaluation of weights kept in another type (``*-true``
            training precisions such as ``bf16-true``).
    """
    if precision == "train":
        return nullcontext()
    if precision != "32-true" and precision not in _AUTOCAST_TYPES:
        raise ConfigError(f"model.eval_precision must be 32-true, bf16-mixed, 16-mixed or train, got {precision!r}")
    if weights_dtype != torch.float32:
        raise ConfigError(f"model.eval_precision {precision} needs float32 weights, the model's are {weights_dtype} "
                          "(trainer.precision *-true); set model.eval_precision: train")
    if precision == "32-true":
        return torch.autocast(device_type, enabled=False)
    return torch.autocast(device_type, dtype=_AUTOCAST_TYPES[precision])
