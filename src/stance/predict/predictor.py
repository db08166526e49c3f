"""A loaded model on either backend: label probabilities for sentences with their targets."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from stance.config import PredictJob
from stance.labels import LabelSet
from stance.model.encoding import SentenceTargets


class Classify(Protocol):
    def __call__(self, sentences: list[SentenceTargets], batch_size: int = PredictJob.batch_size,
                 progress: bool = False) -> list[list[list[float]]]: ...


@dataclass
class Predictor:
    """A loaded model (either backend): label probabilities for sentences with targets."""

    path: Path
    backend: str
    labels: LabelSet
    classify: Classify
    runner: Any  # the StanceClassifier or the ONNX Runtime session, for callers that look inside
    onnx_path: Path | None = None

    def predict_proba(self, sentences: list[SentenceTargets], batch_size: int = PredictJob.batch_size,
                      progress: bool = False) -> list[list[list[float]]]:
        return self.classify(sentences, batch_size, progress)
