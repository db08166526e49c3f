"""Stage 2 building blocks: how a (sentence, target) pair becomes model input, and
the classifier that reads it.

* ``encoding``: the encoding settings and ``InputBuilder`` (sentence + targets -> features);
* ``collate``: padding features into a batch;
* ``classifier``: ``StanceClassifier`` and building, saving and loading it;
* ``inference``: ``predict_proba`` over sentences with targets.

This package depends only on ``stance.config``, ``stance.errors``,
``stance.files``, ``stance.labels`` and libraries, so training, evaluation and
prediction can all build on it.
"""

from stance.model.classifier import StanceClassifier, StanceOutput, build_model, load_model, load_tokenizer
from stance.model.collate import Collator, collate
from stance.model.encoding import INPUTS, MAX_MENTION_TOKENS, POOLINGS, Encoding, InputBuilder, TargetSpec
from stance.model.inference import SentenceTargets, predict_proba

__all__ = [
    "INPUTS",
    "MAX_MENTION_TOKENS",
    "POOLINGS",
    "Collator",
    "Encoding",
    "InputBuilder",
    "SentenceTargets",
    "StanceClassifier",
    "StanceOutput",
    "TargetSpec",
    "build_model",
    "collate",
    "load_model",
    "load_tokenizer",
    "predict_proba",
]
