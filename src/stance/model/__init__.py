"""Stage 2 building blocks: how a (sentence, target) pair becomes model input, and
the classifier that reads it.

* ``encoding``: the encoding settings and ``InputBuilder`` (sentence + targets -> features);
  pure Python, shared by every backend;
* ``tokenizer``: ``FastTokenizer``, a checkpoint's ``tokenizer.json`` without transformers;
* ``checkpoint``: a checkpoint's labels and encoding read from its config.json without transformers;
* ``arrays``: padding features into numpy arrays (the ONNX path);
* ``batches``: ``collate``, padding features into a torch batch (training, the PyTorch path);
* ``classifier``: ``StanceClassifier`` and building, saving and loading it;
* ``inference``: ``predict_proba`` over sentences with targets, on PyTorch.

This package depends only on ``stance.config``, ``stance.errors``,
``stance.files``, ``stance.labels`` and libraries, so training, evaluation and
prediction can all build on it.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from stance.model.encoding import (
    INPUTS,
    MAX_MENTION_TOKENS,
    POOLINGS,
    Encoding,
    InputBuilder,
    SentenceTargets,
    TargetSpec,
    encode_sentences,
    length_batches,
)

if TYPE_CHECKING:
    from stance.model.batches import Collator, collate
    from stance.model.classifier import StanceClassifier, StanceOutput, build_model, load_model, load_tokenizer
    from stance.model.inference import predict_proba

# The names below need torch and transformers (seconds and hundreds of MB to import).
# They load on first use (PEP 562), so the torch-free ONNX path can import the pure
# encoding modules of this package without paying for them. (No submodule may be named
# like one of these: importing it would bind the module over the lazy name.)
_TORCH_NAMES = {
    "StanceClassifier": "classifier", "StanceOutput": "classifier", "build_model": "classifier",
    "load_model": "classifier", "load_tokenizer": "classifier", "Collator": "batches", "collate": "batches",
    "predict_proba": "inference",
}


def __getattr__(name: str) -> Any:
    if name in _TORCH_NAMES:
        return getattr(import_module(f"stance.model.{_TORCH_NAMES[name]}"), name)
    raise AttributeError(f"module 'stance.model' has no attribute {name!r}")


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
    "encode_sentences",
    "length_batches",
    "load_model",
    "load_tokenizer",
    "predict_proba",
]
