"""Bootstrap confidence intervals for macro-F1 and accuracy, as an ``evaluate`` module.

Percentile bootstrap: draw the evaluation set with replacement
``n_resamples`` times and take the central ``confidence`` share of each
metric's resampled values. ``groups`` (a sentence id per pair, say) makes the
resampling unit the group, so pairs that share a sentence are drawn together.
Resamples come from ``numpy.random.default_rng(seed)``: the same seed gives
the same interval.
"""

import datasets
import evaluate

from stance.evaluation.metrics.core import (
    confusion,
    percentile_interval,
    resample_weights,
    resampled_confusions,
    summary_scores,
    unit_ids,
)

_DESCRIPTION = "Seeded percentile-bootstrap confidence intervals for macro-F1, polar macro-F1 and accuracy."
_KWARGS = """
Args:
    predictions (list[int]): predicted label ids.
    references (list[int]): gold label ids.
    labels (list[str]): class names in id order.
    groups (list, optional): resampling unit of each pair (e.g. its sentence id); default each pair alone.
    n_resamples (int): bootstrap resamples, default 1000.
    seed (int): seed of the resampling, default 0.
    confidence (float): interval coverage, default 0.95.
    polar (list[str]): classes of macro_f1_polar; default favor and against where present.
Returns:
    {macro_f1, macro_f1_polar, accuracy: {estimate, low, high}}, n_resamples, seed, confidence, n_units.
"""

METRICS = ("macro_f1", "macro_f1_polar", "accuracy")


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS)
class StanceBootstrap(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS,
            features=datasets.Features({"predictions": datasets.Value("int32"),
                                        "references": datasets.Value("int32")}),
        )

    def _compute(self, predictions, references, labels, groups=None, n_resamples=1000, seed=0,
                 confidence=0.95, polar=None):
        labels = list(labels)
        if not len(references):
            raise ValueError("cannot bootstrap an empty evaluation set")
        polar_idx = [labels.index(lab) for lab in (polar or ["favor", "against"]) if lab in labels]
        units = unit_ids(groups, len(references))
        n_units = int(units.max()) + 1
        weights = resample_weights(n_units, n_resamples, seed)
        point = summary_scores(confusion(references, predictions, len(labels)), polar_idx)
        resampled = summary_scores(resampled_confusions(references, predictions, len(labels), units, weights),
                                   polar_idx)
        out = {}
        for name in METRICS:
            low, high = percentile_interval(resampled[name], confidence)
            out[name] = {"estimate": float(point[name]), "low": low, "high": high}
        return {**out, "n_resamples": int(n_resamples), "seed": int(seed), "confidence": float(confidence),
                "n_units": n_units}
