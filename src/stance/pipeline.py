"""The jobs behind the commands: each strings stages together, and only here do stages meet.

``run_evaluation`` is ``stance-evaluate``: resolve versions, prepare the data,
evaluate, compare. (``run_training``, ``stance-train``, still lives in
:mod:`stance.train`.) The stages (data, evaluation, card, ...) never import
this module or each other's internals.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from stance.config import EvaluateJob
from stance.data import Prepared, prepare
from stance.errors import ConfigError
from stance.evaluation import SplitResult, evaluate_splits, split_meta
from stance.evaluation.compare import saved_predictions, write_comparison
from stance.registry import Registry

log = logging.getLogger(__name__)


def run_evaluation(job: EvaluateJob) -> tuple[Path, dict[str, dict[str, Any]]]:
    """``stance-evaluate``: score a registry version on the configured splits.

    Each split's results and report go to ``<version>/evaluations/<data>/<split>/``;
    with ``compare=VERSION`` the comparison of the two versions on each split
    goes to ``compare-<VERSION>.md`` and ``.json`` there.
    """
    registry = Registry(job.registry)
    path = registry.resolve(job.version)
    baseline = registry.resolve(job.compare) if job.compare else None
    if baseline is not None and baseline.resolve() == path.resolve():
        raise ConfigError(f"compare={job.compare} is the version being evaluated ({path.name}); "
                          "name another version")
    prepared = prepare(job.data, job.prepared_root)
    splits = job.splits or [s for s in job.data.eval_splits if s in prepared.splits] or prepared.splits
    out_dir = path / "evaluations" / job.data.name
    results = evaluate_splits(path, prepared, splits, job.batch_size, out_dir)
    if baseline is not None:
        for split in splits:
            compare_split(out_dir, path.name, baseline, prepared, results[split], job.batch_size)
    return out_dir, {split: result.metrics for split, result in results.items()}


def compare_split(out_dir: Path, version: str, baseline: Path, prepared: Prepared, result: SplitResult,
                  batch_size: int) -> Path:
    """Write ``<out_dir>/<split>/compare-<baseline>.md``: ``version`` against ``baseline`` on one split."""
    rows = result.predictions
    baseline_rows = baseline_predictions(baseline, prepared, result.split, batch_size, rows)
    meta = {**split_meta(prepared, result.split), "version": version, "baseline": baseline.name}
    return write_comparison(out_dir / result.split, rows, baseline_rows, meta)


def baseline_predictions(version_dir: Path, prepared: Prepared, split: str, batch_size: int,
                         rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The baseline's predictions on the same pairs as ``rows``, computing them only when missing.

    Reuses an earlier ``stance-evaluate`` or the training run's ``eval/`` when
    they hold exactly these pairs (same sentences, spans and gold labels);
    otherwise evaluates the baseline, which writes to its
    ``evaluations/<data>/`` as ``stance-evaluate`` on it would.
    """
    data = prepared.manifest["name"]
    saved = saved_predictions(version_dir, data, split, rows)
    if saved is not None:
        return saved
    log.info("evaluating baseline %s on %s for the comparison", version_dir.name, split)
    evaluations = version_dir / "evaluations" / data
    return evaluate_splits(version_dir, prepared, [split], batch_size, evaluations)[split].predictions
