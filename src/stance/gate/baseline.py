"""The baseline's predictions: a version's evaluation folder, a version folder, or one predictions file.

A baseline kept as a CI artifact is a version folder; a baseline committed to a
repository is a predictions file, anonymised (``scripts/quality_gate.py
baseline``) so that it holds no text of the evaluation data. Either way the
rows are read with the predictions checks, and the comparison refuses them
unless they score exactly the candidate's pairs.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from stance.errors import RegistryError, StanceError
from stance.evaluation.predictions import PREDICTIONS_JSONL, read_predictions
from stance.registry import Registry
from stance.version_format import EVAL_DIR, EVALUATIONS_DIR, MANIFEST

PREDICTION_SUFFIXES = (".json", ".jsonl")


class GateError(StanceError):
    """The gate cannot judge: a missing or foreign input (exit 2)."""


def looks_like_path(value: str) -> bool:
    """A path separator or a predictions file's suffix: never a version name, so never looked up as one."""
    return "/" in value or os.sep in value or value.endswith(PREDICTION_SUFFIXES)


def baseline_ref(value: str, registry: Path | str, option: str = "baseline=") -> Path:
    """A baseline as a path: a file or folder as given, otherwise a version in ``registry``.

    ``option``: how the user gave it, for the messages (``baseline=`` of stance-evaluate, or a script's
    ``--baseline ``).
    """
    path = Path(value)
    if path.exists():
        return path
    if looks_like_path(value):
        raise GateError(f"{option}{value}: no such file or folder")
    try:
        return Registry(registry).resolve(value)
    except RegistryError as err:
        raise RegistryError(f"{option}{value}: no such file or folder, and {err}") from None


def check_baseline(ref: Path, splits: Iterable[str], data: str | None) -> None:
    """Read (and so check) the baseline's predictions of each split, before an evaluation is spent on a
    baseline that cannot be read. Whether they score the candidate's pairs is known only after it."""
    for split in splits:
        read_baseline(ref, split, data)


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
