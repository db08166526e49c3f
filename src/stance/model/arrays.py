"""Padding features into numpy arrays: ``collate`` without torch, for the ONNX path.

The values are those of :func:`stance.model.batches.collate` (tests compare them);
that function stays as it is because training batches go through it.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def pad_arrays(features: list[dict[str, Any]], pad_id: int = 0) -> dict[str, np.ndarray]:
    """Token ids padded to the longest input, target positions to the most targets (no labels)."""
    width = max(len(f["input_ids"]) for f in features)
    n_targets = max(len(f["target_start"]) for f in features)

    def pad(key: str, size: int, value: int) -> np.ndarray:
        return np.array([list(f[key]) + [value] * (size - len(f[key])) for f in features], dtype=np.int64)

    return {
        "input_ids": pad("input_ids", width, pad_id),
        "token_type_ids": pad("token_type_ids", width, 0),
        "attention_mask": np.array([[1] * len(f["input_ids"]) + [0] * (width - len(f["input_ids"]))
                                    for f in features], dtype=np.int64),
        "target_open": pad("target_open", n_targets, 0),
        "target_start": pad("target_start", n_targets, 0),
        "target_end": pad("target_end", n_targets, 1),
    }
