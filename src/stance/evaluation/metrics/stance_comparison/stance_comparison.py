"""Paired comparison of two systems on the same pairs, as an ``evaluate`` module.

``predictions`` are system A's (the new version), ``baseline_predictions``
system B's, on the same pairs in the same order. Deltas are A - B.

- Paired bootstrap: both systems are scored on the same resamples (seeded, as
  in ``stance_bootstrap``); the delta's percentile interval and a two-sided
  p-value (twice the share of resamples on the far side of zero).
- McNemar's exact test on per-pair correctness: of the pairs exactly one
  system gets right, is the split between A and B further from even than
  chance allows?
"""

import datasets
import evaluate
import numpy as np

from stance.evaluation.metrics.core import (
    class_scores,
    confusion,
    mcnemar_exact,
    paired_bootstrap_p,
    percentile_interval,
    resample_weights,
    resampled_confusions,
    summary_scores,
    unit_ids,
)

_DESCRIPTION = "Metric deltas of two systems with paired-bootstrap intervals and p-values; McNemar's test."
_KWARGS = """
Args:
    predictions (list[int]): system A's predicted label ids.
    baseline_predictions (list[int]): system B's predicted label ids on the same pairs.
    references (list[int]): gold label ids.
    labels (list[str]): class names in id order.
    groups (list, optional): resampling unit of each pair (e.g. its sentence id).
    n_resamples (int): default 1000. seed (int): default 0. confidence (float): default 0.95.
Returns:
    {macro_f1, macro_f1_polar, accuracy, average_recall: {a, b, delta, low, high, p_value}},
    per_class_f1 {label: {a, b, delta, low, high, p_value}},
    mcnemar {a_only_correct, b_only_correct, both_correct, both_wrong, p_value},
    n, n_units, n_resamples, seed, confidence.
"""

METRICS = ("macro_f1", "macro_f1_polar", "accuracy", "average_recall")


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS)
class StanceComparison(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS,
            features=datasets.Features({"predictions": datasets.Value("int32"),
                                        "baseline_predictions": datasets.Value("int32"),
                                        "references": datasets.Value("int32")}),
        )

    def _compute(self, predictions, baseline_predictions, references, labels, groups=None, n_resamples=1000,
                 seed=0, confidence=0.95, polar=None):
        labels = list(labels)
        if not len(references):
            raise ValueError("cannot compare on an empty evaluation set")
        k = len(labels)
        polar_idx = [labels.index(lab) for lab in (polar or ["favor", "against"]) if lab in labels]
        units = unit_ids(groups, len(references))
        weights = resample_weights(int(units.max()) + 1, n_resamples, seed)
        point_a = summary_scores(confusion(references, predictions, k), polar_idx)
        point_b = summary_scores(confusion(references, baseline_predictions, k), polar_idx)
        # The same weights for both systems: that is what makes the bootstrap paired.
        boot_a = summary_scores(resampled_confusions(references, predictions, k, units, weights), polar_idx)
        boot_b = summary_scores(resampled_confusions(references, baseline_predictions, k, units, weights),
                                polar_idx)
        out = {name: _delta(point_a[name], point_b[name], boot_a[name] - boot_b[name], confidence)
               for name in METRICS}
        # Per-class F1 on the same resamples, so a drop of one class gets its own interval and p-value.
        f1_a = class_scores(confusion(references, predictions, k))["f1"]
        f1_b = class_scores(confusion(references, baseline_predictions, k))["f1"]
        boot_f1_a = class_scores(resampled_confusions(references, predictions, k, units, weights))["f1"]
        boot_f1_b = class_scores(resampled_confusions(references, baseline_predictions, k, units, weights))["f1"]
        out["per_class_f1"] = {lab: _delta(f1_a[i], f1_b[i], boot_f1_a[:, i] - boot_f1_b[:, i], confidence)
                               for i, lab in enumerate(labels)}
        refs = np.asarray(references)
        right_a, right_b = np.asarray(predictions) == refs, np.asarray(baseline_predictions) == refs
        only_a, only_b = int((right_a & ~right_b).sum()), int((~right_a & right_b).sum())
        out["mcnemar"] = {"a_only_correct": only_a, "b_only_correct": only_b,
                          "both_correct": int((right_a & right_b).sum()),
                          "both_wrong": int((~right_a & ~right_b).sum()),
                          "p_value": mcnemar_exact(only_a, only_b)}
        return {**out, "n": int(len(refs)), "n_units": int(units.max()) + 1, "n_resamples": int(n_resamples),
                "seed": int(seed), "confidence": float(confidence)}


def _delta(a: float, b: float, deltas: np.ndarray, confidence: float) -> dict:
    low, high = percentile_interval(deltas, confidence)
    return {"a": float(a), "b": float(b), "delta": float(a) - float(b), "low": low, "high": high,
            "p_value": paired_bootstrap_p(deltas)}
