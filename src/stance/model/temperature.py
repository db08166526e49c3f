"""Temperature scaling (Guo et al., 2017): one scalar that softens or sharpens every prediction.

A trained version stores its temperature ``T`` in the ``stance`` section of its
config.json; every backend divides the logits by ``T`` before the softmax, so
torch, ONNX fp32 and ONNX int8 and the Python API all give calibrated
probabilities. ``T`` is fitted on the validation split at the end of training
(:mod:`stance.evaluation.calibrate`) by minimising the negative log-likelihood;
it never changes which label wins, only how sure the model says it is.

Numpy only: the torch-free ONNX path imports this module.
"""

from __future__ import annotations

from typing import Any

import numpy as np

TEMPERATURE_KEY = "temperature"  # in config.json's "stance" section; absent means 1.0 (older versions)
# The search interval for 1/T. NLL is convex in 1/T (a log-sum-exp of functions linear in it), so a
# golden-section search over a bracket finds the optimum; 0.02..50 covers T from 0.02 to 50.
_INV_T_BRACKET = (0.02, 50.0)
_ITERATIONS = 80  # golden-section steps: the bracket shrinks by 0.618 each, far below float noise


def temperature_of(stance_section: dict[str, Any]) -> float:
    value = float(stance_section.get(TEMPERATURE_KEY, 1.0))
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"temperature must be a positive number, got {value!r}")
    return value


def retemper(probs: np.ndarray, factor: float) -> np.ndarray:
    """Probabilities whose logits were multiplied by ``factor``: softmax(factor * log p).

    ``retemper(calibrated, T)`` recovers the uncalibrated probabilities, because
    log softmax(z / T) equals z / T up to a per-row constant.
    """
    logp = np.log(np.clip(np.asarray(probs, dtype=np.float64), 1e-12, 1.0)) * factor
    logp -= logp.max(axis=-1, keepdims=True)
    exp = np.exp(logp)
    return exp / exp.sum(axis=-1, keepdims=True)


def _nll(logp: np.ndarray, gold: np.ndarray, inv_t: float) -> float:
    z = logp * inv_t
    z = z - z.max(axis=-1, keepdims=True)
    log_norm = np.log(np.exp(z).sum(axis=-1))
    return float((log_norm - z[np.arange(len(gold)), gold]).mean())


def fit_temperature(probs: np.ndarray, gold: np.ndarray) -> tuple[float, float, float]:
    """The ``T`` minimising the NLL of ``gold`` under softmax(log probs / T): (T, NLL at T=1, NLL at T).

    ``probs`` are the model's uncalibrated probabilities (T = 1), one row per pair.
    """
    probs, gold = np.asarray(probs, dtype=np.float64), np.asarray(gold, dtype=np.int64)
    if len(gold) == 0:
        raise ValueError("cannot fit a temperature on no pairs")
    logp = np.log(np.clip(probs, 1e-12, 1.0))
    lo, hi = _INV_T_BRACKET
    ratio = (np.sqrt(5) - 1) / 2
    a, b = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
    fa, fb = _nll(logp, gold, a), _nll(logp, gold, b)
    for _ in range(_ITERATIONS):
        if fa <= fb:
            hi, b, fb = b, a, fa
            a = hi - ratio * (hi - lo)
            fa = _nll(logp, gold, a)
        else:
            lo, a, fa = a, b, fb
            b = lo + ratio * (hi - lo)
            fb = _nll(logp, gold, b)
    inv_t = (lo + hi) / 2
    return float(1.0 / inv_t), _nll(logp, gold, 1.0), _nll(logp, gold, inv_t)
