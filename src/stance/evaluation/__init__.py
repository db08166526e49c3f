"""Stage 3: evaluation of a checkpoint, its report, and the comparison of two versions.

    evaluate.py      run a checkpoint over prepared splits, one folder per split (the entry point)
    calibrate.py     fit a checkpoint's temperature on validation (end of training)
    predictions.py   predictions rows: written once; read back, with checks, only when written elsewhere
    report.py        the report dict (metrics.json) from the rows; ``python -m stance.evaluation.report``
    render.py        report.md
    html.py          report.html: the markdown as one self-contained page (pictures embedded)
    plots.py         confusion matrix and reliability diagram
    compare.py       two versions on the same pairs: metric, class and actor deltas with their tests
    metrics/         the ``evaluate`` metric modules, loaded by path (offline)

Evaluation uses only shared modules (errors, files, labels, model); training and
the pipeline (:mod:`stance.pipeline`) call into it, never the other way round.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = ["MAIN_METRIC", "SELECTION_METRICS", "SplitResult", "evaluate_checkpoint", "evaluate_split",
           "evaluate_splits", "score", "split_meta"]

if TYPE_CHECKING:
    from stance.evaluation.evaluate import (
        MAIN_METRIC,
        SELECTION_METRICS,
        SplitResult,
        evaluate_checkpoint,
        evaluate_split,
        evaluate_splits,
        score,
        split_meta,
    )


def __getattr__(name: str) -> Any:
    # The names above load on first use, not with the package: otherwise `python -m
    # stance.evaluation.report` would import report.py before running it (runpy warns), and the metric
    # modules, which `evaluate.load` imports by path, would pull in torch through evaluate.py.
    if name in __all__:
        return getattr(importlib.import_module("stance.evaluation.evaluate"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
