"""Batching: pad a list of features (from ``InputBuilder.encode``) into tensors.

Inputs are padded to the longest one in the batch, target lists to the most
targets; padded targets get ``IGNORE_INDEX`` labels so the loss and the metrics
skip them.
"""

from __future__ import annotations

from typing import Any

import torch

from stance.labels import IGNORE_INDEX

# Distillation's per-target teacher probabilities: a feature's key and the batch's (see stance.training.distill).
SOFT_LABELS = "soft_labels"


def collate(features: list[dict[str, Any]], pad_id: int = 0) -> dict[str, torch.Tensor]:
    """Pad token ids to the longest input and target lists to the most targets."""
    width = max(len(f["input_ids"]) for f in features)
    n_targets = max(len(f["labels"]) for f in features)

    def pad(key: str, size: int, value: int) -> torch.Tensor:
        return torch.tensor([list(f[key]) + [value] * (size - len(f[key])) for f in features], dtype=torch.long)

    batch = {
        "input_ids": pad("input_ids", width, pad_id),
        "token_type_ids": pad("token_type_ids", width, 0),
        "attention_mask": torch.tensor(
            [[1] * len(f["input_ids"]) + [0] * (width - len(f["input_ids"])) for f in features], dtype=torch.long
        ),
        "target_open": pad("target_open", n_targets, 0),
        "target_start": pad("target_start", n_targets, 0),
        "target_end": pad("target_end", n_targets, 1),
        "labels": pad("labels", n_targets, IGNORE_INDEX),
    }
    if SOFT_LABELS in features[0]:  # zeros in padded target slots, which the loss masks out
        n_labels = len(features[0][SOFT_LABELS][0])
        batch[SOFT_LABELS] = torch.tensor(
            [list(f[SOFT_LABELS]) + [[0.0] * n_labels] * (n_targets - len(f[SOFT_LABELS])) for f in features],
            dtype=torch.float32)
    return batch


class Collator:
    """Picklable collator for Trainer's DataLoader workers."""

    def __init__(self, pad_id: int) -> None:
        self.pad_id = pad_id

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        return collate(features, self.pad_id)
