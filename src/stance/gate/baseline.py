"""The baseline's predictions: a version's evaluation folder, a version folder, or one predictions file.

A baseline kept as a CI artifact is a version folder; a baseline committed to a
repository is a predictions file, anonymised (``scripts/quality_gate.py
baseline``) so that it holds no text of the evaluation data. Either way the
rows are read with the predictions checks, and the comparison refuses them
unless they score exactly the candidate's pairs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stance.errors import StanceError
from stance.evaluation.predictions import PREDICTIONS_JSONL, read_predictions
from stance.version_format import EVAL_DIR, EVALUATIONS_DIR, MANIFEST


class GateError(StanceError):
    """The gate cannot judge: a missing or foreign input (exit 2)."""


def eval_folders(version_dir: Path, data: str | None) -> list[Path]:
    """Where a version keeps predictions: its ``stance-evaluate`` results for ``data``, then its training run's."""
    folders = [version_dir / EVALUATIONS_DIR / data] if data else []
    return [*folders, version_dir / EVAL_DIR]


def baseline_file(ref: Path, split: str, data: str | None) -> Path:
    """The predictions file of ``split`` in a baseline reference (file, eval folder or version folder)."""
    if ref.is_file():
        return ref
    if not ref.is_dir():
        raise GateError(f"baseline {ref}: no such file or folder")
    if (ref / MANIFEST).is_file():
        candidates = [folder / split / PREDICTIONS_JSONL for folder in eval_folders(ref, data)]
    else:
        candidates = [ref / split / PREDICTIONS_JSONL, ref / f"{split}.jsonl"]
    found = next((c for c in candidates if c.is_file()), None)
    if found is None:
        raise GateError(f"baseline {ref} has no predictions for split {split!r} "
                        f"(looked for {', '.join(str(c) for c in candidates)})")
    return found


def read_baseline(ref: Path, split: str, data: str | None) -> tuple[list[dict[str, Any]], Path]:
    path = baseline_file(ref, split, data)
    try:
        return read_predictions(path), path
    except StanceError as err:
        raise GateError(f"baseline: {err}") from None
