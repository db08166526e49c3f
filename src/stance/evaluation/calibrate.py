"""Fit a trained checkpoint's temperature on its validation split (issue 23: calibrated probabilities).

Runs once at the end of ``stance-train``, before the test splits are scored:
the checkpoint's uncalibrated probabilities on validation give the temperature
that minimises their negative log-likelihood (:func:`stance.model.temperature.fit_temperature`),
and the temperature is written into the checkpoint's config.json, where every
backend reads it. Test splits never influence it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import datasets
import numpy as np

from stance.evaluation.evaluate import dataset_to_sentences
from stance.evaluation.report import cached_metric
from stance.files import write_text_atomic
from stance.labels import LabelSet
from stance.model import load_model, predict_proba
from stance.model.temperature import TEMPERATURE_KEY, fit_temperature, retemper


def _ece(probs: np.ndarray, gold: np.ndarray) -> float:
    return float(cached_metric("calibration").compute(predictions=probs.tolist(), references=gold.tolist())["ece"])


def calibrate_checkpoint(path: Path, ds: datasets.Dataset, split: str, batch_size: int,
                         progress: bool = True) -> dict[str, Any]:
    """Fit the temperature on ``ds`` and store it in ``path/config.json``; the record for the manifest."""
    model, tokenizer, encoding = load_model(path)
    labels = LabelSet.from_model_config(model.config)
    sentences = dataset_to_sentences(ds, labels)
    # Uncalibrated: a checkpoint fresh from training has no temperature yet, so this is T = 1.
    probs = np.array([p for sent in predict_proba(model, tokenizer, encoding, sentences, batch_size, progress,
                                                  desc=f"calibrating on {split}") for p in sent])
    gold = np.array([t.label for s in sentences for t in s.targets])
    temperature, nll_before, nll_after = fit_temperature(probs, gold)
    config_path = Path(path) / "config.json"
    config = json.loads(config_path.read_text())
    config["stance"][TEMPERATURE_KEY] = temperature
    write_text_atomic(config_path, json.dumps(config, indent=2, sort_keys=True) + "\n")
    return {
        "method": "temperature scaling", "split": split, "n": int(len(gold)), "temperature": temperature,
        "nll_before": nll_before, "nll_after": nll_after,
        "ece_before": _ece(probs, gold), "ece_after": _ece(retemper(probs, 1.0 / temperature), gold),
    }
