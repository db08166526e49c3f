"""Checkpoint averaging: the mean weights of the last epochs, which Trainer cannot do."""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file as load_safetensors


def average_checkpoints(model: torch.nn.Module, work_dir: Path, k: int) -> list[str]:
    """Load the mean weights of the last ``k`` checkpoints in ``work_dir`` into ``model``.

    Trainer has no checkpoint averaging. The checkpoints are its own
    safetensors files, so we read those, average the floating-point tensors
    and leave integer buffers (position ids) as the model has them.
    """
    # Sort by step number, not by name: "checkpoint-100" < "checkpoint-20" as strings.
    found = sorted(work_dir.glob("checkpoint-*"), key=lambda p: int(p.name.rsplit("-", 1)[1]))
    chosen = found[-k:]
    if len(chosen) < k:
        raise RuntimeError(f"train.average_checkpoints={k}, but training left {len(found)} checkpoints in {work_dir}")
    # Sum in float64: its rounding errors stay far below what the float32 mean can show.
    sums: dict[str, torch.Tensor] = {}
    for ckpt in chosen:
        for name, tensor in load_safetensors(str(ckpt / "model.safetensors")).items():
            if tensor.is_floating_point():
                sums[name] = sums.get(name, 0) + tensor.double()
    own = model.state_dict()
    mean = {name: (total / k).to(own[name].dtype) for name, total in sums.items()}
    result = model.load_state_dict(mean, strict=False)
    if result.unexpected_keys:
        raise RuntimeError(f"checkpoint weights not in the model: {result.unexpected_keys[:5]}")
    return [c.name for c in chosen]
