"""Temperature scaling (issue 23): fitted on validation, stored in the version, applied by every backend."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from stance.model.temperature import fit_temperature, retemper, temperature_of
from stance.predict import StancePredictor

SENTENCE = ("Brazil welcomed the ceasefire brokered by Qatar, while Venezuela accused Washington of sabotaging "
            "the talks.")


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def test_fit_recovers_the_temperature_that_generated_the_labels():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(4000, 3)) * 3
    for true_t in (0.5, 2.5):
        gold = np.array([rng.choice(3, p=p) for p in _softmax(logits / true_t)])
        t, nll_before, nll_after = fit_temperature(_softmax(logits), gold)
        assert abs(t - true_t) / true_t < 0.1, (t, true_t)
        assert nll_after <= nll_before


def test_retemper_inverts_scaling_and_keeps_the_argmax():
    rng = np.random.default_rng(1)
    probs = _softmax(rng.normal(size=(50, 3)) * 4)
    scaled = retemper(probs, 1 / 3.0)
    assert np.allclose(retemper(scaled, 3.0), probs, atol=1e-9)
    assert (scaled.argmax(-1) == probs.argmax(-1)).all()
    assert scaled.max(-1).mean() < probs.max(-1).mean()  # T > 1 softens


@pytest.mark.parametrize("bad", [0, -1.0, float("nan"), float("inf")])
def test_a_bad_stored_temperature_is_refused(bad):
    with pytest.raises(ValueError, match="temperature"):
        temperature_of({"temperature": bad})


def test_training_fits_and_stores_the_temperature(tiny_version: Path):
    manifest = json.loads((tiny_version / "manifest.json").read_text())
    record = manifest["calibration"]
    assert record["split"] == "validation" and record["n"] == manifest["metrics"]["validation"]["n"]
    assert record["nll_after"] <= record["nll_before"]
    stored = json.loads((tiny_version / "config.json").read_text())["stance"]["temperature"]
    assert stored == record["temperature"] and stored > 0
    for split, metrics in manifest["metrics"].items():
        assert metrics["ece"] is not None and metrics["ece_before_scaling"] is not None, split
    report = json.loads((tiny_version / "eval" / "test" / "metrics.json").read_text())
    assert report["calibration_before_scaling"]["temperature"] == stored
    assert "Before scaling" in (tiny_version / "eval" / "test" / "report.md").read_text()
    assert "ECE before scaling" in (tiny_version / "README.md").read_text()


@pytest.mark.parametrize("backend", ["torch", "onnx-fp32", "onnx"])
def test_every_backend_applies_the_temperature(tiny_version: Path, backend: str):
    """Probabilities are softmax(logits / T): undoing T with the stored value gives the raw model's."""
    t = json.loads((tiny_version / "config.json").read_text())["stance"]["temperature"]
    assert t != 1.0
    predictor = StancePredictor.load(tiny_version, backend=backend, onnx_cache=str(tiny_version.parent / "cache"))

    def probs() -> np.ndarray:
        return np.array([[r["probs"][n] for n in predictor.labels.names] for r in predictor.predict_texts([SENTENCE])])

    calibrated = probs()
    # The same loaded model with its temperature set back to 1: the uncalibrated probabilities.
    if backend == "torch":
        config = predictor.model.runner.config
        config.stance = {**config.stance, "temperature": 1.0}
    else:
        predictor.model.classify.temperature = 1.0
    raw = probs()
    assert not np.allclose(raw, calibrated, atol=1e-4)
    assert np.allclose(retemper(raw, 1 / t), calibrated, atol=2e-5)


def test_min_confidence_labels_low_rows_uncertain(tiny_version: Path):
    predictor = StancePredictor.load(tiny_version, backend="torch", min_confidence=0.99)
    rows = predictor.predict_texts([SENTENCE])
    assert rows and all(r["label"] == "uncertain" for r in rows)  # a tiny random model is never that sure
    assert all(r["model_label"] in predictor.labels.names and r["confidence"] < 0.99 for r in rows)
    kept = StancePredictor.load(tiny_version, backend="torch", min_confidence=0.01).predict_texts([SENTENCE])
    assert [r["label"] for r in kept] == [r["model_label"] for r in rows]


def test_min_confidence_on_the_command_line(tiny_version: Path, tmp_path: Path):
    article = tmp_path / "a.txt"
    article.write_text(SENTENCE + "\n")
    out, summary = tmp_path / "rows.jsonl", tmp_path / "summary.json"
    cmd = [sys.executable, "-m", "stance.cli.predict", str(article), "--version", str(tiny_version),
           "--backend", "torch", "--out", str(out), "--summary", str(summary), "--no-table"]
    done = subprocess.run([*cmd, "--min-confidence", "0.99"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert {r["label"] for r in rows} == {"uncertain"}
    counts = json.loads(summary.read_text())["documents"][0]["actors"]["Qatar"]["counts"]
    assert counts["uncertain"] == 1
    bad = subprocess.run([*cmd, "--min-confidence", "1.5"], capture_output=True, text=True)
    assert bad.returncode == 2 and "min_confidence=1.5" in bad.stderr and "Traceback" not in bad.stderr
