"""Stance classification metrics as an ``evaluate`` module.

Inputs are integer label ids. ``labels`` names the classes in id order;
``polar`` names the classes averaged in ``macro_f1_polar`` (favor and against:
the SemEval-2016 stance measure, which ignores neutral's F1).
"""

import datasets
import evaluate
import numpy as np

_DESCRIPTION = "Macro-F1, polar macro-F1, accuracy, average recall, per-class scores and the confusion matrix."
_KWARGS = """
Args:
    predictions (list[int]): predicted label ids.
    references (list[int]): gold label ids.
    labels (list[str]): class names in id order.
    polar (list[str]): classes averaged in macro_f1_polar; default favor and against where present.
Returns:
    macro_f1, macro_f1_polar, accuracy, average_recall (floats in [0, 1]), per_class
    ({label: {precision, recall, f1, support}}), confusion_matrix (rows gold, columns predicted).
"""


def confusion(refs, preds, n):
    matrix = np.zeros((n, n), dtype=np.int64)
    np.add.at(matrix, (refs, preds), 1)
    return matrix


def scores_from_confusion(matrix):
    tp = np.diag(matrix).astype(float)
    predicted = matrix.sum(axis=0).astype(float)
    support = matrix.sum(axis=1).astype(float)
    # A class never predicted (or never present) scores 0, as in scikit-learn's zero_division=0.
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    return precision, recall, f1, support


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS)
class StanceClassification(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS,
            features=datasets.Features({"predictions": datasets.Value("int32"), "references": datasets.Value("int32")}),
        )

    def _compute(self, predictions, references, labels, polar=None):
        n = len(labels)
        preds, refs = np.asarray(predictions), np.asarray(references)
        matrix = confusion(refs, preds, n)
        precision, recall, f1, support = scores_from_confusion(matrix)
        polar = [lab for lab in (polar or ["favor", "against"]) if lab in labels]
        polar_idx = [labels.index(lab) for lab in polar]
        return {
            # Over all configured classes, so a class the model never predicts counts as 0.
            "macro_f1": float(f1.mean()),
            "macro_f1_polar": float(f1[polar_idx].mean()) if polar_idx else float("nan"),
            "accuracy": float((preds == refs).mean()) if len(refs) else 0.0,
            "average_recall": float(recall.mean()),
            "per_class": {
                labels[i]: {"precision": float(precision[i]), "recall": float(recall[i]),
                            "f1": float(f1[i]), "support": int(support[i])}
                for i in range(n)
            },
            "confusion_matrix": matrix.tolist(),
            "n": int(len(refs)),
        }
