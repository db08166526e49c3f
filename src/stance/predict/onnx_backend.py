"""The ONNX Runtime backend, without torch or transformers.

It needs onnxruntime, tokenizers (the checkpoint's ``tokenizer.json``) and numpy;
features come from the same pure-Python :class:`stance.model.InputBuilder` as
training and the PyTorch backend, labels and encoding from config.json
(:func:`stance.model.checkpoint.read_checkpoint_config`).
"""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path

import numpy as np
import onnxruntime as ort

from stance.config import PredictJob
from stance.model.arrays import pad_arrays
from stance.model.checkpoint import read_checkpoint_config
from stance.model.encoding import Encoding, InputBuilder, SentenceTargets, encode_sentences, length_batches
from stance.model.tokenizer import FastTokenizer
from stance.predict.predictor import Predictor


def softmax(logits: np.ndarray) -> np.ndarray:
    """Softmax over the last axis, in float32 like ``torch.softmax`` on the logits."""
    shifted = logits.astype(np.float32) - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


class OnnxClassifier:
    """An ONNX Runtime session over features built as everywhere else."""

    def __init__(self, model_path: Path, tokenizer: FastTokenizer, encoding: Encoding, threads: int,
                 temperature: float = 1.0) -> None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
        # The exporter drops inputs the graph does not use (e.g. target_open under span pooling).
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.tokenizer = tokenizer
        self.encoding = encoding
        self.builder = InputBuilder(tokenizer, encoding)
        self.temperature = temperature  # the version's calibration, applied as the torch path does

    def __call__(self, sentences: list[SentenceTargets], batch_size: int = PredictJob.batch_size,
                 progress: bool = False) -> list[list[list[float]]]:
        features, owners = encode_sentences(self.builder, sentences)
        out: list[list[list[float] | None]] = [[None] * len(s.targets) for s in sentences]
        pad_id = self.tokenizer.pad_token_id or 0
        bar = _progress(sum(len(s.targets) for s in sentences), progress)
        # Closed however the loop ends (a stop signal included): the error line then starts a line.
        with bar if bar is not None else nullcontext():
            for idx in length_batches(features, batch_size):
                arrays = pad_arrays([features[i] for i in idx], pad_id)
                logits = self.session.run(["logits"], {name: arrays[name] for name in self.input_names})[0]
                probs = softmax(logits.astype(np.float32) / np.float32(self.temperature))
                for row, i in enumerate(idx):
                    for col, key in enumerate(features[i]["target_key"]):
                        out[owners[i]][key] = probs[row, col].tolist()
                if bar is not None:
                    bar.update(sum(len(features[i]["target_key"]) for i in idx))
        return out  # type: ignore[return-value]


def _progress(total: int, shown: bool):
    if not shown:
        return None
    # Imported only for a visible bar: tqdm.auto probes for notebooks (~0.1 s of a cold start).
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="classifying", unit="pair")


def load_onnx(path: Path, backend: str, model_path: Path, threads: int) -> Predictor:
    config = read_checkpoint_config(path)
    classifier = OnnxClassifier(model_path, FastTokenizer(path), config.encoding, threads, config.temperature)
    return Predictor(path, backend, config.labels, classifier, classifier.session, model_path)
