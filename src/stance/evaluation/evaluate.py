"""Stage 3: evaluation of a checkpoint on prepared splits.

``evaluate_split`` runs the model over one prepared split and keeps one row per
(sentence, target) in memory, scored with the package's ``evaluate`` metric
module. ``evaluate_checkpoint`` hands those rows straight to the report, so
each split gets one folder ``<out_dir>/<split>/``:

    predictions.jsonl         one row per pair: gold, pred, probs, actor, n_targets, ...
    metrics.json              the report's numbers (the manifest, CLI and CI gate read these)
    report.md, *.png          the readable report

Nothing written here is read back: the rows and metrics that go to disk are
the ones already in memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import datasets
from tqdm.auto import tqdm

from stance.config import SELECTION_METRICS, TrainConfig
from stance.evaluation.metrics import load_metric
from stance.evaluation.predictions import PREDICTIONS_JSONL, write_predictions
from stance.evaluation.report import version_name, write_report
from stance.labels import LabelSet
from stance.model import Encoding, SentenceTargets, TargetSpec, load_model, predict_proba
from stance.model.temperature import temperature_of

MAIN_METRIC = TrainConfig.selection_metric  # the default of train.selection_metric (one default, in config)
__all__ = ["MAIN_METRIC", "SELECTION_METRICS", "SplitResult", "evaluate_checkpoint", "evaluate_split",
           "evaluate_splits", "score", "split_meta"]


class PreparedData(Protocol):
    """What evaluation needs of a prepared dataset (``stance.data.Prepared``); a protocol, so
    evaluation does not depend on the data-preparation stage."""

    manifest: dict

    def split(self, name: str) -> datasets.Dataset: ...


@dataclass
class SplitResult:
    split: str
    metrics: dict[str, Any]
    predictions: list[dict[str, Any]]  # one row per (sentence, target)


def dataset_to_sentences(ds: datasets.Dataset, labels: LabelSet) -> list[SentenceTargets]:
    return [
        SentenceTargets(row["text"], [TargetSpec(t["start"], t["end"], t["mention"],
                                                 labels.encode(t["label"])) for t in row["targets"]])
        for row in ds
    ]


def score(gold: list[int], pred: list[int], labels: LabelSet) -> dict[str, Any]:
    return load_metric().compute(predictions=pred, references=gold, labels=list(labels.names))


def evaluate_split(model, tokenizer, encoding: Encoding, ds: datasets.Dataset, labels: LabelSet, split: str,
                   batch_size: int = TrainConfig.eval_batch_size, progress: bool = True,
                   bar: tqdm | None = None) -> SplitResult:
    """One split's predictions rows and metrics; ``bar``: the evaluation's one bar over all splits."""
    sentences = dataset_to_sentences(ds, labels)
    if bar is not None:
        bar.set_description(f"evaluating {split}")
    probs = predict_proba(model, tokenizer, encoding, sentences, batch_size, progress,
                          desc=f"evaluating {split}", bar=bar)
    rows = []
    for row, sentence_probs in zip(ds, probs, strict=True):
        for target, p in zip(row["targets"], sentence_probs, strict=True):
            pred = max(range(len(p)), key=p.__getitem__)
            rows.append({
                "sentence_id": row["id"], "doc_id": row["doc_id"], "text": row["text"],
                "target_id": target["id"], "mention": target["mention"], "actor": target["actor"],
                "start": target["start"], "end": target["end"], "n_targets": len(row["targets"]),
                "gold": target["label"], "pred": labels.names[pred],
                "probs": {name: round(float(x), 6) for name, x in zip(labels.names, p, strict=True)},
            })
    metrics = score([labels.encode(r["gold"]) for r in rows], [labels.encode(r["pred"]) for r in rows],
                    labels)
    return SplitResult(split, metrics, rows)


def split_meta(prepared: PreparedData, split: str) -> dict[str, Any]:
    """Which data a split's results are of; goes into metrics.json and comparisons."""
    return {"split": split, "data": prepared.manifest["name"], "data_fingerprint": prepared.manifest["fingerprint"]}


def write_split(out_dir: Path, result: SplitResult, meta: dict[str, Any]) -> dict[str, Any]:
    """``<out_dir>/<split>/``: predictions.jsonl and the report, from the rows in memory; the report."""
    folder = Path(out_dir) / result.split
    write_predictions(folder / PREDICTIONS_JSONL, result.predictions)
    # The split's metrics are passed on, so the report does not compute them a second time.
    return write_report(folder, result.predictions, meta, metrics=result.metrics)


def evaluate_splits(path: Path, prepared: PreparedData, splits: list[str], batch_size: int, out_dir: Path,
                    progress: bool = True, main_metric: str = MAIN_METRIC) -> dict[str, SplitResult]:
    """Score each split with the checkpoint in ``path`` and write its folder; returns the rows too,
    for callers that go on with them (a comparison of two versions)."""
    model, tokenizer, encoding = load_model(path)
    labels = LabelSet.from_model_config(model.config)
    results = {}
    # One bar for the stage, over every split's pairs (its label names the split being scored).
    total = sum(len(t) for split in splits for t in prepared.split(split)["targets"])
    bar = tqdm(total=total, desc="evaluating", unit="pair", disable=not progress)
    for split in splits:
        result = evaluate_split(model, tokenizer, encoding, prepared.split(split), labels, split, batch_size, progress,
                                bar)
        meta = {"version": version_name(path), **split_meta(prepared, split), "main_metric": main_metric,
                "temperature": temperature_of(getattr(model.config, "stance", {}))}
        report = write_split(out_dir, result, meta)
        # Calibration travels with the headline metrics (manifest, card): after and, where the version
        # has a temperature, before scaling.
        before = report.get("calibration_before_scaling")
        result.metrics = {**result.metrics, "ece": report["calibration"]["ece"],
                          "ece_before_scaling": before["ece"] if before else None}
        results[split] = result
    bar.close()
    return results


def evaluate_checkpoint(path: Path, prepared: PreparedData, splits: list[str], batch_size: int,
                        out_dir: Path, progress: bool = True,
                        main_metric: str = MAIN_METRIC) -> dict[str, dict[str, Any]]:
    """Stage 3 on a checkpoint folder: score each split and write its folder; split -> headline metrics.
    ``main_metric`` (train.selection_metric) leads each report."""
    results = evaluate_splits(path, prepared, splits, batch_size, out_dir, progress, main_metric)
    return {split: result.metrics for split, result in results.items()}
