"""Metric modules for the ``evaluate`` library, shipped in the package.

``evaluate.load("f1")`` fetches its script from the Hub, which CI and offline
users cannot reach, so our metrics are local ``evaluate`` modules loaded by
absolute path (:func:`load_metric`).
"""

from __future__ import annotations

from pathlib import Path

import evaluate

METRICS_DIR = Path(__file__).parent


def load_metric(name: str = "stance_classification") -> evaluate.EvaluationModule:
    path = METRICS_DIR / name / f"{name}.py"
    if not path.is_file():
        raise FileNotFoundError(f"no metric module {name!r} in {METRICS_DIR}")
    return evaluate.load(str(path))
