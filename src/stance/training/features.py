"""What Trainer is fed: the training split, its features, class weights and the metric function."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import datasets
import numpy as np
from transformers import EvalPrediction

from stance.data import Prepared
from stance.evaluation import score
from stance.labels import IGNORE_INDEX, LabelSet
from stance.model import InputBuilder, TargetSpec
from stance.training.distill import SOFT_LABELS


def training_split(prepared: Prepared, mixes: dict[str, Prepared]) -> datasets.Dataset:
    """The primary train split plus the train splits of any mixed-in corpora."""
    parts = [prepared.split("train")] + [p.split("train") for p in mixes.values()]
    return datasets.concatenate_datasets(parts) if len(parts) > 1 else parts[0]


def encode_split(ds: datasets.Dataset, builder: InputBuilder, labels: LabelSet) -> datasets.Dataset:
    """Prepared sentences -> model features (one row per input sequence).

    A ``soft_labels`` column (distillation's per-target teacher probabilities)
    follows its targets into the features.
    """

    # One sentence may become several inputs (one per target, or per group of
    # targets), so the map is batched and returns however many rows it makes.
    def encode(batch: dict[str, list]) -> dict[str, list]:
        out: dict[str, list] = {}
        soft = batch.get(SOFT_LABELS) or [None] * len(batch["text"])
        for text, targets, probs in zip(batch["text"], batch["targets"], soft, strict=True):
            specs = [TargetSpec(t["start"], t["end"], t["mention"], labels.encode(t["label"]), i)
                     for i, t in enumerate(targets)]
            for feature in builder.encode(text, specs):
                if probs is not None:
                    feature[SOFT_LABELS] = [probs[k] for k in feature["target_key"]]
                for key, value in feature.items():
                    out.setdefault(key, []).append(value)
        return out

    with _datasets_bars_off():
        return ds.map(encode, batched=True, remove_columns=ds.column_names, desc="encoding")


@contextlib.contextmanager
def _datasets_bars_off() -> Iterator[None]:
    # Encoding takes seconds; a bar per split would crowd the fine-tune stage's one bar (the Trainer's).
    was_off = datasets.are_progress_bars_disabled()
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        if not was_off:
            datasets.enable_progress_bars()


def class_weights(ds: datasets.Dataset, labels: LabelSet) -> list[float]:
    """Inverse-frequency weights, normalised to mean 1."""
    counts = np.zeros(len(labels))
    for row in ds:
        for t in row["targets"]:
            counts[labels.encode(t["label"])] += 1
    # A label absent from the split counts as seen once, not as a division by zero.
    weights = counts.sum() / np.maximum(counts, 1) / len(labels)
    # Rounded: the weights are written into config.json and the manifest.
    return (weights / weights.mean()).round(4).tolist()


def compute_metrics_fn(labels: LabelSet) -> Callable[[EvalPrediction], dict[str, float]]:
    """Trainer's per-epoch validation metrics, scored like the evaluation stage scores."""

    def compute(pred: EvalPrediction) -> dict[str, float]:
        logits, gold = pred.predictions, pred.label_ids
        logits = logits[0] if isinstance(logits, tuple) else logits
        # Inputs carry padded target slots (see collate); they are not predictions.
        mask = gold != IGNORE_INDEX
        metrics = score(gold[mask].tolist(), logits.argmax(-1)[mask].tolist(), labels)
        # Trainer logs scalars only; the per-label tables stay out.
        return {k: v for k, v in metrics.items() if isinstance(v, float)}

    return compute
