"""Calibration of predicted probabilities, as an ``evaluate`` module.

Top-label calibration (Guo et al., 2017): each pair's confidence is its
largest class probability and it is correct when that class is the gold one.
Confidences fall in ``n_bins`` equal-width bins, right-closed on (0, 1]; the
expected calibration error is the pair-weighted mean of |accuracy - mean
confidence| over the bins, the maximum calibration error the largest gap of a
non-empty bin.
"""

import datasets
import evaluate

from stance.evaluation.metrics.core import brier_score, calibration_bins, expected_calibration_error

_DESCRIPTION = "Expected and maximum calibration error, Brier score and reliability bins."
_KWARGS = """
Args:
    predictions (list[list[float]]): class probabilities of each pair, in label-id order.
    references (list[int]): gold label ids.
    n_bins (int): equal-width confidence bins, default 10.
Returns:
    ece, mce, brier (floats), mean_confidence, accuracy, n, and bins: a list of
    {low, high, count, confidence, accuracy} (confidence and accuracy are null in an empty bin).
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS)
class Calibration(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS,
            features=datasets.Features({"predictions": datasets.Sequence(datasets.Value("float64")),
                                        "references": datasets.Value("int32")}),
        )

    def _compute(self, predictions, references, n_bins=10):
        bins = calibration_bins(predictions, references, n_bins)
        ece, mce = expected_calibration_error(bins)
        count = bins["count"]
        total = float(count.sum())
        return {
            "ece": ece,
            "mce": mce,
            "brier": brier_score(predictions, references),
            "mean_confidence": float((bins["confidence"] * count).sum() / total) if total else float("nan"),
            "accuracy": float((bins["accuracy"] * count).sum() / total) if total else float("nan"),
            "n": int(total),
            "bins": [
                {"low": float(bins["edges"][i]), "high": float(bins["edges"][i + 1]), "count": int(count[i]),
                 "confidence": float(bins["confidence"][i]) if count[i] else None,
                 "accuracy": float(bins["accuracy"][i]) if count[i] else None}
                for i in range(len(count))
            ],
        }
