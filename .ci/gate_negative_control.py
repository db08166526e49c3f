"""The gate's negative control in CI: the fresh CI model's own predictions, with one class made worse,
must fail the gate with a message that names the class (the gate is not a check that cannot fail).

    python .ci/gate_negative_control.py ci_artifacts
"""

from __future__ import annotations

import importlib.util
import random
import sys
from pathlib import Path

from stance.evaluation.predictions import PREDICTIONS_JSONL, read_predictions, write_predictions
from stance.evaluation.report import write_report
from stance.registry import Registry

ROOT = Path(__file__).resolve().parent.parent
SPLIT, LABEL, TO, SHARE = "test_rw", "favor", "neutral", 0.25


def load_gate_script():
    spec = importlib.util.spec_from_file_location("quality_gate", ROOT / "scripts" / "quality_gate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def degraded_copy(out: Path) -> Path:
    """A quarter of the pairs the model got right on ``LABEL`` now say ``TO``, as a worse model would."""
    version = Registry(out / "registry").resolve("latest")
    rows = read_predictions(version / "eval" / SPLIT / PREDICTIONS_JSONL)
    rng = random.Random(0)
    worse = [{**r, "pred": TO} if r["gold"] == r["pred"] == LABEL and rng.random() < SHARE else r for r in rows]
    folder = out / "degraded" / SPLIT
    write_report(folder, worse, {"version": f"{version.name}-degraded", "data": "newsmtsc", "split": SPLIT})
    write_predictions(folder / PREDICTIONS_JSONL, worse)
    print(f"{sum(a is not b for a, b in zip(rows, worse, strict=True))} of {len(rows)} predictions changed "
          f"({LABEL} -> {TO})")
    return folder.parent


def main(out: Path) -> int:
    results = degraded_copy(out)
    gate = load_gate_script()
    status = gate.main(["check", "--results", str(results), "--name", "degraded", "--gate", "ci", "--quiet",
                        "--baseline", str(ROOT / "benchmarks" / "gate" / "newsmtsc_test_rw.jsonl"),
                        "--out", str(out / "degraded_gate")])
    failures = (out / "degraded_gate" / "summary.md").read_text(encoding="utf-8")
    if status != 1 or f"F1 of class '{LABEL}'" not in failures:
        print(f"negative control FAILED: the gate returned {status} on a model with class {LABEL!r} degraded")
        return 1
    print(f"negative control passed: the degraded model fails the gate (exit 1), naming class {LABEL!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
