"""Loading a version for inference, on PyTorch or on ONNX Runtime.

Both backends go through :func:`stance.model.predict_proba` (the same
tokenization, length-sorted batching and softmax); the ONNX one only swaps the
model for :class:`OnnxRunner`, which answers the same call. So the two cannot
drift apart in how they build inputs or read outputs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import torch
from transformers import AutoConfig

from stance.config import PREDICT_BACKENDS, check_choice
from stance.errors import CheckpointError
from stance.labels import LabelSet
from stance.model import Encoding, SentenceTargets, load_model, load_tokenizer, predict_proba
from stance.predict.onnx_export import ONNX_VARIANTS, export_onnx
from stance.registry import verify_checkpoint

MAX_THREADS = 8  # beyond this, small-batch encoder inference on CPU stops scaling


def default_threads() -> int:
    """CPUs this process may run on (affinity, not the host's count), capped."""
    try:
        available = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        available = os.cpu_count() or 1
    return max(1, min(available, MAX_THREADS))


def check_checkpoint(path: Path) -> None:
    """A clear error for a folder given as a version that holds no model."""
    if not (path / "model.safetensors").is_file() or not (path / "config.json").is_file():
        raise CheckpointError(f"{path}: no model.safetensors and config.json; not a stance checkpoint")


class OnnxRunner:
    """An ONNX Runtime session with the call signature ``predict_proba`` expects."""

    def __init__(self, path: Path, threads: int) -> None:
        # Imported here, not at the top: the default torch backend never needs ONNX Runtime,
        # and a run on it should not load a second native thread-pool library into the process.
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        # The exporter drops inputs the graph does not use (e.g. target_open under span pooling).
        self.input_names = [i.name for i in self.session.get_inputs()]

    def eval(self) -> OnnxRunner:
        return self

    def __call__(self, **batch: torch.Tensor) -> SimpleNamespace:
        feed = {name: batch[name].numpy() for name in self.input_names}
        logits = self.session.run(["logits"], feed)[0]
        return SimpleNamespace(logits=torch.from_numpy(logits))


@dataclass
class Predictor:
    """A loaded model (either backend) with its tokenizer and encoding."""

    path: Path
    backend: str
    runner: Any  # StanceClassifier or OnnxRunner
    tokenizer: Any
    encoding: Encoding
    labels: LabelSet
    onnx_path: Path | None = None

    def predict_proba(self, sentences: list[SentenceTargets], batch_size: int = 64,
                      progress: bool = False) -> list[list[list[float]]]:
        return predict_proba(self.runner, self.tokenizer, self.encoding, sentences, batch_size, progress)


# Loading takes seconds; a process that predicts several times (tests, a notebook) loads once.
_PREDICTORS: dict[tuple[str, str, str | None], Predictor] = {}


def load_predictor(path: Path, backend: str = "torch", onnx_cache: str | None = None,
                   threads: int | None = None) -> Predictor:
    """The model of a version folder on a backend; loaded once per process."""
    check_choice(backend, PREDICT_BACKENDS, "backend")
    key = (str(path.resolve()), backend, onnx_cache)
    if key in _PREDICTORS:
        return _PREDICTORS[key]
    threads = threads or default_threads()
    if backend == "torch":
        model, tokenizer, encoding = load_model(path)
        labels = LabelSet.from_model_config(model.config)
        predictor = Predictor(path, backend, model, tokenizer, encoding, labels)
    else:
        check_checkpoint(path)
        # Before the export (built from these weights) and the tokenizer are read.
        verify_checkpoint(path)
        onnx_path = export_onnx(path, ONNX_VARIANTS[backend], onnx_cache)
        config = AutoConfig.from_pretrained(path)
        predictor = Predictor(path, backend, OnnxRunner(onnx_path, threads), load_tokenizer(str(path)),
                              Encoding.from_pretrained_config(config), LabelSet.from_model_config(config),
                              onnx_path)
    _PREDICTORS[key] = predictor
    return predictor
