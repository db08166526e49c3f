"""Stage 3: evaluation of a checkpoint on prepared splits.

``evaluate_split`` runs the model over one prepared split and scores it with the
package's ``evaluate`` metric module; ``write_split_results`` writes
``<split>.json`` (metrics) and ``<split>.predictions.jsonl`` (one row per pair),
and :mod:`stance.report` turns the predictions into ``<split>/report.md``,
``metrics.json`` and pictures beside them.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import datasets

from stance.config import ConfigError
from stance.labels import LabelSet
from stance.metrics import load_metric
from stance.model import Encoding, SentenceTargets, TargetSpec, predict_proba

log = logging.getLogger(__name__)
MAIN_METRIC = "macro_f1"


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
                   batch_size: int = 64, progress: bool = True) -> SplitResult:
    sentences = dataset_to_sentences(ds, labels)
    probs = predict_proba(model, tokenizer, encoding, sentences, batch_size, progress,
                          desc=f"evaluating {split}")
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


def write_split_results(out_dir: Path, result: SplitResult, extra: dict[str, Any] | None = None) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{result.split}.json"
    path.write_text(json.dumps({"split": result.split, **(extra or {}), "metrics": result.metrics}, indent=2))
    with open(out_dir / f"{result.split}.predictions.jsonl", "w", encoding="utf-8") as fh:
        for row in result.predictions:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path


def run_evaluation(job) -> tuple[Path, dict[str, dict[str, Any]]]:
    """``stance-evaluate``: score a registry version on the configured splits.

    Each split's results and report go to ``<version>/evaluations/<data>/``;
    with ``compare=VERSION`` the comparison of the two versions on each split
    goes to ``<split>/compare-<VERSION>.md`` and ``.json`` there.
    """
    from stance.data import prepare
    from stance.registry import Registry
    from stance.train import evaluate_checkpoint

    registry = Registry(job.registry)
    path = registry.resolve(job.version)
    baseline = registry.resolve(job.compare) if job.compare else None
    if baseline is not None and baseline.resolve() == path.resolve():
        raise ConfigError(f"compare={job.compare} is the version being evaluated ({path.name}); "
                          "name another version")
    prepared = prepare(job.data, job.prepared_root)
    splits = job.splits or [s for s in job.data.eval_splits if s in prepared.splits] or prepared.splits
    out_dir = path / "evaluations" / job.data.name
    metrics = evaluate_checkpoint(path, prepared, splits, job.batch_size, out_dir)
    if baseline is not None:
        for split in splits:
            compare_split(out_dir, path.name, baseline, prepared, split, job.batch_size)
    return out_dir, metrics


def compare_split(out_dir: Path, version: str, baseline: Path, prepared, split: str, batch_size: int) -> Path:
    """Write ``<out_dir>/<split>/compare-<baseline>.md``: ``version`` against ``baseline`` on ``split``."""
    from stance.report import read_predictions, split_meta, write_comparison

    rows = read_predictions(out_dir / f"{split}.predictions.jsonl")
    baseline_rows = baseline_predictions(baseline, prepared, split, batch_size, rows)
    meta = {**split_meta(out_dir, split), "version": version, "baseline": baseline.name}
    return write_comparison(out_dir / split, rows, baseline_rows, meta)


def baseline_predictions(version_dir: Path, prepared, split: str, batch_size: int,
                         rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The baseline's predictions on the same pairs as ``rows``, computing them only when missing.

    Reuses an earlier ``stance-evaluate`` or the training run's ``eval/`` when
    they hold exactly these pairs (same sentences, spans and gold labels);
    otherwise evaluates the baseline, which writes to its
    ``evaluations/<data>/`` as ``stance-evaluate`` on it would.
    """
    from stance.report import read_predictions, same_pairs
    from stance.train import evaluate_checkpoint

    evaluations = version_dir / "evaluations" / prepared.manifest["name"]
    for folder in (evaluations, version_dir / "eval"):
        path = folder / f"{split}.predictions.jsonl"
        if path.is_file():
            candidate = read_predictions(path)
            if same_pairs(rows, candidate):
                return candidate
    log.info("evaluating baseline %s on %s for the comparison", version_dir.name, split)
    evaluate_checkpoint(version_dir, prepared, [split], batch_size, evaluations)
    return read_predictions(evaluations / f"{split}.predictions.jsonl")
