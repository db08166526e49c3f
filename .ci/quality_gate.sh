#!/usr/bin/env bash
# Real fine-tune of the bundled encoder on a NewsMTSC subset (configs/experiment/ci_gate.yaml), then the
# quality gate (configs/gate/ci.yaml) on the full devtest_rw: the floor, and no significant drop against the
# committed baseline predictions (benchmarks/gate/newsmtsc_test_rw.jsonl). Writes ci_artifacts/gate/
# (summary.md, junit.xml, metrics.json, report.html); fails the build on a regression (docs/evaluation.md).
set -euo pipefail
cd "$(dirname "$0")/.."
out=ci_artifacts
rm -rf "$out"
.venv/bin/stance-train experiment=ci_gate registry="$out/registry" prepared_root="$out/prepared" \
    work_dir="$out/runs" train.progress=false
.venv/bin/python scripts/quality_gate.py check --registry "$out/registry" --version latest --gate ci \
    --baseline benchmarks/gate/newsmtsc_test_rw.jsonl --out "$out/gate"
echo "model.safetensors SHA-256: $(sha256sum "$out"/registry/latest/model.safetensors | cut -d' ' -f1)"

echo "== the gate catches a worse model: this run's predictions with class 'favor' degraded must fail"
.venv/bin/python .ci/gate_negative_control.py "$out"

echo "== the gate's report.html in a real browser"
bash .ci/html_in_browser.sh "$out/gate/report.html"
