"""The arithmetic behind the package's ``evaluate`` metric modules.

Plain numpy, shared by ``stance_classification``, ``stance_bootstrap``,
``calibration`` and ``stance_comparison`` so that a bootstrap resample is scored
by exactly the same code as the point estimate. Every score function accepts a
stack of confusion matrices ``[..., k, k]`` (rows gold, columns predicted), so
1,000 bootstrap resamples are scored in one vectorised call.

Classes with zero support: a class that is neither in the gold labels nor in
the predictions has no defined F1, so it is left out of the macro averages
(as scikit-learn does when ``labels`` is not given). A class that is present
in the gold labels but never predicted still counts, with F1 0; a class that
is predicted but never gold counts with F1 0 too (all its predictions are
wrong). Average recall averages over the classes present in the gold labels.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy.stats import binom


def confusion(references: Sequence[int], predictions: Sequence[int], n_labels: int) -> np.ndarray:
    refs, preds = np.asarray(references, dtype=np.int64), np.asarray(predictions, dtype=np.int64)
    if refs.shape != preds.shape:
        raise ValueError(f"{len(refs)} references but {len(preds)} predictions")
    ids = np.concatenate([refs, preds])
    bad = ids[(ids < 0) | (ids >= n_labels)]
    if len(bad):
        raise ValueError(f"label id {int(bad[0])} outside 0..{n_labels - 1}")
    matrix = np.zeros((n_labels, n_labels), dtype=np.int64)
    np.add.at(matrix, (refs, preds), 1)
    return matrix


def _divide(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.divide(a, b, out=np.zeros_like(a, dtype=float), where=b > 0)


def class_scores(counts: np.ndarray) -> dict[str, np.ndarray]:
    """Per-class precision, recall, F1, support and predicted count, each ``[..., k]``."""
    counts = np.asarray(counts, dtype=float)
    tp = np.diagonal(counts, axis1=-2, axis2=-1)
    predicted = counts.sum(axis=-2)
    support = counts.sum(axis=-1)
    # An undefined precision or recall is 0, as in scikit-learn's zero_division=0.
    precision, recall = _divide(tp, predicted), _divide(tp, support)
    f1 = _divide(2 * precision * recall, precision + recall)
    return {"precision": precision, "recall": recall, "f1": f1, "support": support, "predicted": predicted}


def _masked_mean(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    n = mask.sum(axis=-1)
    total = (values * mask).sum(axis=-1)
    return np.where(n > 0, total / np.maximum(n, 1), np.nan)


def summary_scores(counts: np.ndarray, polar_idx: Sequence[int] = ()) -> dict[str, np.ndarray]:
    """macro_f1, macro_f1_polar, accuracy and average_recall of ``[..., k, k]`` counts."""
    counts = np.asarray(counts, dtype=float)
    s = class_scores(counts)
    in_play = (s["support"] > 0) | (s["predicted"] > 0)
    total = counts.sum(axis=(-2, -1))
    polar = list(polar_idx)
    return {
        "macro_f1": _masked_mean(s["f1"], in_play),
        "macro_f1_polar": _masked_mean(s["f1"][..., polar], in_play[..., polar]) if polar
        else np.full(total.shape, np.nan),
        "accuracy": np.where(total > 0, np.trace(counts, axis1=-2, axis2=-1) / np.maximum(total, 1), np.nan),
        "average_recall": _masked_mean(s["recall"], s["support"] > 0),
    }


# ---------------------------------------------------------------- bootstrap


def unit_ids(groups: Sequence | None, n: int) -> np.ndarray:
    """Integer unit id per item: the resampling unit (each item alone when ``groups`` is None)."""
    if groups is None:
        return np.arange(n)
    if len(groups) != n:
        raise ValueError(f"{len(groups)} groups for {n} items")
    _, ids = np.unique(np.asarray([str(g) for g in groups]), return_inverse=True)
    return ids.reshape(-1)


def resample_weights(n_units: int, n_resamples: int, seed: int) -> np.ndarray:
    """``[n_resamples, n_units]``: how often each unit is drawn in each resample.

    Drawn from ``numpy.random.default_rng(seed)`` alone, so the same seed gives
    the same resamples on any machine with the same numpy.
    """
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be at least 1, got {n_resamples}")
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n_units, size=(n_resamples, n_units))
    offsets = np.arange(n_resamples)[:, None] * n_units
    counts = np.bincount((draws + offsets).ravel(), minlength=n_resamples * n_units)
    return counts.reshape(n_resamples, n_units)


def resampled_confusions(references: Sequence[int], predictions: Sequence[int], n_labels: int,
                         units: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """``[n_resamples, k, k]`` confusion matrices of the resampled data.

    A unit (a sentence, say) brings all its pairs into a resample, so targets
    of one sentence, which are not independent, are drawn together.
    """
    refs, preds = np.asarray(references, dtype=np.int64), np.asarray(predictions, dtype=np.int64)
    per_unit = np.zeros((weights.shape[1], n_labels * n_labels))
    np.add.at(per_unit, (units, refs * n_labels + preds), 1)
    return (weights @ per_unit).reshape(-1, n_labels, n_labels)


def percentile_interval(values: np.ndarray, confidence: float) -> tuple[float, float]:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    values = np.asarray(values, dtype=float)
    values = values[~np.isnan(values)]
    if not len(values):
        return math.nan, math.nan
    alpha = (1 - confidence) / 2
    low, high = np.quantile(values, [alpha, 1 - alpha])
    return float(low), float(high)


def paired_bootstrap_p(deltas: np.ndarray) -> float:
    """Two-sided p-value of "no difference" from bootstrap deltas.

    Twice the share of resamples on the far side of zero (the percentile
    bootstrap test), capped at 1; identical systems get 1. The +1 in both
    counts keeps the estimate off 0: with B resamples no p below 2 / (B + 1)
    can be claimed.
    """
    deltas = np.asarray(deltas, dtype=float)
    deltas = deltas[~np.isnan(deltas)]
    if not len(deltas):
        return math.nan
    n = len(deltas)
    tail = min((deltas <= 0).sum(), (deltas >= 0).sum())
    return float(min(1.0, 2 * (tail + 1) / (n + 1)))


def mcnemar_exact(only_a: int, only_b: int) -> float:
    """Exact two-sided McNemar p-value from the two discordant counts.

    ``only_a``: pairs system A gets right and B wrong; ``only_b`` the reverse.
    Under no difference the split of the discordant pairs is Binomial(n, 1/2).
    """
    n = only_a + only_b
    if n == 0:
        return 1.0
    return float(min(1.0, 2 * binom.cdf(min(only_a, only_b), n, 0.5)))


# ---------------------------------------------------------------- calibration


def calibration_bins(probs: np.ndarray, references: Sequence[int], n_bins: int) -> dict[str, np.ndarray]:
    """Top-label reliability bins on ``n_bins`` equal-width, right-closed intervals of (0, 1].

    Returns per-bin ``count``, mean ``confidence`` and ``accuracy`` (0 in empty
    bins) and the bin ``edges``.
    """
    if n_bins < 1:
        raise ValueError(f"n_bins must be at least 1, got {n_bins}")
    probs = np.asarray(probs, dtype=float).reshape(len(references), -1)
    refs = np.asarray(references, dtype=np.int64)
    confidence = probs.max(axis=1) if len(refs) else np.zeros(0)
    correct = (probs.argmax(axis=1) == refs).astype(float) if len(refs) else np.zeros(0)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    # Count of interior edges strictly below c: bin i holds (edges[i], edges[i + 1]].
    index = np.searchsorted(edges[1:-1], confidence, side="left")
    count = np.bincount(index, minlength=n_bins).astype(float)
    conf_sum = np.bincount(index, weights=confidence, minlength=n_bins)
    acc_sum = np.bincount(index, weights=correct, minlength=n_bins)
    return {"edges": edges, "count": count, "confidence": _divide(conf_sum, count),
            "accuracy": _divide(acc_sum, count)}


def expected_calibration_error(bins: dict[str, np.ndarray]) -> tuple[float, float]:
    """(ECE, MCE): count-weighted mean and maximum of |accuracy - confidence| over non-empty bins."""
    count = bins["count"]
    gap = np.abs(bins["accuracy"] - bins["confidence"])
    total = count.sum()
    if total == 0:
        return math.nan, math.nan
    return float((count * gap).sum() / total), float(gap[count > 0].max())


def brier_score(probs: np.ndarray, references: Sequence[int]) -> float:
    """Multi-class Brier score: mean over items of sum_k (p_k - [k == gold])^2."""
    probs = np.asarray(probs, dtype=float).reshape(len(references), -1)
    if not len(references):
        return math.nan
    onehot = np.eye(probs.shape[1])[np.asarray(references, dtype=np.int64)]
    return float(((probs - onehot) ** 2).sum(axis=1).mean())
