"""The PyTorch backend: the version's safetensors weights through ``StanceClassifier``."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import torch
from transformers.utils import logging as hf_logging

from stance.labels import LabelSet
from stance.model import load_model, predict_proba
from stance.predict.predictor import Predictor


def load_torch(path: Path, threads: int) -> Predictor:
    torch.set_num_threads(threads)
    hf_logging.disable_progress_bar()  # per-file weight-loading bars
    hf_logging.set_verbosity_error()
    model, tokenizer, encoding = load_model(path)
    labels = LabelSet.from_model_config(model.config)
    classify = partial(predict_proba, model, tokenizer, encoding)
    return Predictor(path, "torch", labels, classify, model)
