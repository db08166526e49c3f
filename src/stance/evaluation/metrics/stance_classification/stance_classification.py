"""Stance classification metrics as an ``evaluate`` module.

Inputs are integer label ids. ``labels`` names the classes in id order;
``polar`` names the classes averaged in ``macro_f1_polar`` (favor and against:
the SemEval-2016 stance measure, which ignores neutral's F1). The arithmetic
lives in :mod:`stance.evaluation.metrics.core`, shared with the bootstrap module.
"""

import datasets
import evaluate
import numpy as np

from stance.evaluation.metrics.core import class_scores, confusion, summary_scores

_DESCRIPTION = "Macro-F1, polar macro-F1, accuracy, average recall, per-class scores, confusion matrix."
_KWARGS = """
Args:
    predictions (list[int]): predicted label ids.
    references (list[int]): gold label ids.
    labels (list[str]): class names in id order.
    polar (list[str]): classes averaged in macro_f1_polar; default favor and against where present.
Returns:
    macro_f1, macro_f1_polar, accuracy, average_recall (floats in [0, 1]; nan when undefined), per_class
    ({label: {precision, recall, f1, support, predicted}}), confusion_matrix (rows gold, columns
    predicted), labels, n.
    A class with no gold and no predicted pairs has no F1 and is left out of the macro averages;
    a gold class the model never predicts counts with F1 0. Average recall is over gold classes.
"""


def polar_indices(labels, polar=None):
    return [labels.index(lab) for lab in (polar or ["favor", "against"]) if lab in labels]


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS)
class StanceClassification(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS,
            features=datasets.Features({"predictions": datasets.Value("int32"),
                                        "references": datasets.Value("int32")}),
        )

    def _compute(self, predictions, references, labels, polar=None):
        labels = list(labels)
        matrix = confusion(references, predictions, len(labels))
        per_class = class_scores(matrix)
        summary = summary_scores(matrix, polar_indices(labels, polar))
        n = int(matrix.sum())
        return {
            "macro_f1": float(summary["macro_f1"]) if n else 0.0,
            "macro_f1_polar": float(summary["macro_f1_polar"]),
            "accuracy": float(summary["accuracy"]) if n else 0.0,
            "average_recall": float(summary["average_recall"]) if n else 0.0,
            "per_class": {
                label: {"precision": float(per_class["precision"][i]),
                        "recall": float(per_class["recall"][i]),
                        "f1": float(per_class["f1"][i]), "support": int(per_class["support"][i]),
                        "predicted": int(per_class["predicted"][i])}
                for i, label in enumerate(labels)
            },
            "confusion_matrix": np.asarray(matrix).tolist(),
            "labels": labels,
            "n": n,
        }
