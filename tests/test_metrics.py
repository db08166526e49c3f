"""Issue 5: the metric modules against hand-computed values, and the bootstrap's determinism."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score, recall_score

from stance.evaluation.metrics import load_metric
from stance.evaluation.metrics.core import (
    calibration_bins,
    mcnemar_exact,
    resample_weights,
    resampled_confusions,
    summary_scores,
)

LABELS = ["favor", "against", "neutral"]
F, A, N = 0, 1, 2
# gold f f f a a a n n / pred f f a a a n n f:
#   favor   tp 2, predicted 3, support 3 -> P = R = F1 = 2/3
#   against tp 2, predicted 3, support 3 -> 2/3
#   neutral tp 1, predicted 2, support 2 -> 1/2
GOLD = [F, F, F, A, A, A, N, N]
PRED = [F, F, A, A, A, N, N, F]


def classification(pred, gold, labels=LABELS):
    return load_metric("stance_classification").compute(predictions=pred, references=gold, labels=labels)


def test_classification_matches_hand_computed_values():
    m = classification(PRED, GOLD)
    assert m["macro_f1"] == pytest.approx(11 / 18)  # (2/3 + 2/3 + 1/2) / 3
    assert m["macro_f1_polar"] == pytest.approx(2 / 3)
    assert m["accuracy"] == pytest.approx(5 / 8)
    assert m["average_recall"] == pytest.approx(11 / 18)
    assert m["per_class"]["neutral"] == {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2,
                                         "predicted": 2}
    assert m["per_class"]["favor"]["precision"] == pytest.approx(2 / 3)
    assert m["confusion_matrix"] == [[2, 1, 0], [0, 2, 1], [1, 0, 1]]
    assert m["n"] == 8 and m["labels"] == LABELS


def test_a_class_with_zero_support_is_left_out_of_the_macro_averages():
    # No neutral in gold or predictions: favor P 1 R 1/2 F1 2/3, against P 2/3 R 1 F1 4/5.
    m = classification([F, A, A, A], [F, F, A, A])
    assert m["macro_f1"] == pytest.approx((2 / 3 + 4 / 5) / 2)
    assert m["average_recall"] == pytest.approx((1 / 2 + 1) / 2)
    assert m["per_class"]["neutral"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0,
                                         "predicted": 0}
    # Predicted but never gold: neutral's false alarms cost it F1 0, and it counts.
    m = classification([F, N, A, A], [F, F, A, A])
    assert m["macro_f1"] == pytest.approx((2 / 3 + 1 + 0) / 3)
    # Gold but never predicted counts with F1 0 too.
    m = classification([F, F, A, A], [F, F, A, N])
    assert m["macro_f1"] == pytest.approx((1 + 2 / 3 + 0) / 3)
    # Only neutral: the polar average is undefined, not 0.
    assert np.isnan(classification([N, N], [N, N])["macro_f1_polar"])


@pytest.mark.parametrize("seed", range(5))
def test_classification_agrees_with_scikit_learn(seed):
    rng = np.random.default_rng(seed)
    n_labels = int(rng.integers(2, 4))
    gold, pred = rng.integers(0, n_labels, 40).tolist(), rng.integers(0, n_labels, 40).tolist()
    m = classification(pred, gold)
    # scikit-learn's default labels (those in gold or predictions) are our "classes in play".
    assert m["macro_f1"] == pytest.approx(f1_score(gold, pred, average="macro", zero_division=0))
    assert m["accuracy"] == pytest.approx(accuracy_score(gold, pred))
    assert m["average_recall"] == pytest.approx(recall_score(gold, pred, labels=sorted(set(gold)),
                                                             average="macro", zero_division=0))


def test_calibration_matches_hand_computed_values():
    probs = [[0.9, 0.05, 0.05], [0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.3, 0.25, 0.45]]
    gold = [F, A, A, N]
    c = load_metric("calibration").compute(predictions=probs, references=gold, n_bins=5)
    # Bins of width 0.2: (0.4, 0.6] holds 0.45 (right): gap 0.55; (0.6, 0.8] holds 0.8 (wrong) and 0.7
    # (right): confidence 0.75, accuracy 0.5, gap 0.25; (0.8, 1] holds 0.9 (right): gap 0.1.
    assert c["ece"] == pytest.approx((0.55 + 2 * 0.25 + 0.1) / 4)
    assert c["mce"] == pytest.approx(0.55)
    assert c["brier"] == pytest.approx((0.015 + 1.46 + 0.14 + 0.455) / 4)
    assert [b["count"] for b in c["bins"]] == [0, 0, 1, 2, 1]
    assert c["bins"][3]["confidence"] == pytest.approx(0.75) and c["bins"][3]["accuracy"] == 0.5
    assert c["bins"][0]["confidence"] is None
    assert c["accuracy"] == pytest.approx(3 / 4) and c["mean_confidence"] == pytest.approx(0.7125)


def test_perfectly_calibrated_bins_have_zero_error():
    probs = [[0.75, 0.25, 0.0]] * 4
    c = load_metric("calibration").compute(predictions=probs, references=[F, F, F, A], n_bins=4)
    assert c["ece"] == pytest.approx(0.0)


def bootstrap(pred, gold, **kw):
    return load_metric("stance_bootstrap").compute(predictions=pred, references=gold, labels=LABELS, **kw)


def test_bootstrap_interval_is_deterministic_under_a_fixed_seed():
    rng = np.random.default_rng(7)
    gold = rng.integers(0, 3, 200).tolist()
    pred = [g if rng.random() < 0.7 else int(rng.integers(0, 3)) for g in gold]
    first, again = bootstrap(pred, gold, seed=13), bootstrap(pred, gold, seed=13)
    assert first == again
    other = bootstrap(pred, gold, seed=14)
    assert other["macro_f1"]["low"] != first["macro_f1"]["low"]
    for name in ("macro_f1", "accuracy"):
        ci = first[name]
        assert ci["low"] < ci["estimate"] < ci["high"]
    assert first["macro_f1"]["estimate"] == pytest.approx(f1_score(gold, pred, average="macro"))


def test_bootstrap_matches_a_plain_loop_over_resamples():
    """The vectorised resampling scores exactly what resampling the rows one by one scores."""
    rng = np.random.default_rng(3)
    gold = np.asarray(rng.integers(0, 3, 60))
    pred = np.where(rng.random(60) < 0.6, gold, rng.integers(0, 3, 60))
    out = bootstrap(pred.tolist(), gold.tolist(), seed=5, n_resamples=300)
    draws = np.random.default_rng(5).integers(0, 60, size=(300, 60))
    f1s = [f1_score(gold[d], pred[d], average="macro", zero_division=0) for d in draws]
    accs = [accuracy_score(gold[d], pred[d]) for d in draws]
    for name, values in (("macro_f1", f1s), ("accuracy", accs)):
        expected = tuple(np.quantile(values, [0.025, 0.975]))
        assert (out[name]["low"], out[name]["high"]) == pytest.approx(expected)


def test_bootstrap_hand_computed_intervals():
    # Two pairs, one right: a resample is both right (1/4), one of each (1/2) or both wrong (1/4),
    # so the central 95% runs from 0 to 1.
    out = bootstrap([F, A], [F, F], n_resamples=2000)
    assert (out["accuracy"]["low"], out["accuracy"]["high"]) == (0.0, 1.0)
    # All right: every resample is all right.
    out = bootstrap([F, A, N], [F, A, N])
    assert out["accuracy"] == {"estimate": 1.0, "low": 1.0, "high": 1.0}
    assert out["macro_f1"] == {"estimate": 1.0, "low": 1.0, "high": 1.0}


def test_grouped_resampling_draws_a_sentence_with_all_its_pairs():
    # Sentence s1: three right pairs; s2: one wrong pair. Resampling two sentences gives
    # s1+s1 (accuracy 1), s1+s2 (3/4) or s2+s2 (0).
    gold, pred, groups = [F, F, F, F], [F, F, F, A], ["s1", "s1", "s1", "s2"]
    weights = np.asarray([[2, 0], [1, 1], [0, 2]])  # s1 twice; s1 and s2; s2 twice
    counts = resampled_confusions(gold, pred, 3, np.asarray([0, 0, 0, 1]), weights)
    assert summary_scores(counts)["accuracy"].tolist() == [1.0, 0.75, 0.0]
    out = bootstrap(pred, gold, groups=groups)
    assert out["n_units"] == 2
    assert (out["accuracy"]["low"], out["accuracy"]["high"]) == (0.0, 1.0)


def test_resample_weights_draw_every_unit_count_once_per_resample():
    w = resample_weights(5, 100, seed=0)
    assert w.shape == (100, 5) and (w.sum(axis=1) == 5).all()
    assert (w == resample_weights(5, 100, seed=0)).all()


def test_calibration_bins_are_right_closed():
    bins = calibration_bins(np.asarray([[0.6, 0.4], [0.8, 0.2], [0.81, 0.19]]), [0, 0, 1], n_bins=5)
    assert bins["count"].tolist() == [0, 0, 1, 1, 1]


def comparison(pred_a, pred_b, gold, **kw):
    return load_metric("stance_comparison").compute(predictions=pred_a, baseline_predictions=pred_b,
                                                    references=gold, labels=LABELS, **kw)


def test_mcnemar_matches_the_exact_binomial_by_hand():
    # Discordant pairs 1 vs 5: p = 2 * P(X <= 1), X ~ Bin(6, 1/2) = 2 * 7/64.
    assert mcnemar_exact(1, 5) == pytest.approx(14 / 64)
    assert mcnemar_exact(5, 1) == pytest.approx(14 / 64)
    assert mcnemar_exact(0, 0) == 1.0
    assert mcnemar_exact(3, 3) == 1.0
    gold = [F] * 10
    a = [F] + [A] * 5 + [F] * 4  # right on 0 and 6..9
    b = [A] + [F] * 5 + [F] * 4  # right on 1..5 and 6..9
    out = comparison(a, b, gold)
    assert out["mcnemar"] == {"a_only_correct": 1, "b_only_correct": 5, "both_correct": 4, "both_wrong": 0,
                              "p_value": pytest.approx(14 / 64)}
    assert out["accuracy"]["delta"] == pytest.approx(0.5 - 0.9)


def test_paired_bootstrap_of_identical_and_of_very_different_systems():
    rng = np.random.default_rng(1)
    gold = rng.integers(0, 3, 80).tolist()
    pred = rng.integers(0, 3, 80).tolist()
    same = comparison(pred, pred, gold)
    assert same["macro_f1"]["delta"] == 0 and (same["macro_f1"]["low"], same["macro_f1"]["high"]) == (0, 0)
    assert same["macro_f1"]["p_value"] == 1.0 and same["mcnemar"]["p_value"] == 1.0
    better = comparison(gold, pred, gold, n_resamples=500, seed=2)
    assert better["macro_f1"]["low"] > 0
    assert better["macro_f1"]["p_value"] == pytest.approx(2 / 501)  # never on the far side of zero
    assert better == comparison(gold, pred, gold, n_resamples=500, seed=2)


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="outside"):
        classification([0, 3], [0, 1])
    with pytest.raises(ValueError, match="empty"):
        bootstrap([], [])
