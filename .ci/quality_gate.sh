#!/usr/bin/env bash
# Real fine-tune of the bundled encoder on a NewsMTSC subset (configs/experiment/ci_gate.yaml),
# then the quality gate on the full devtest_rw: prints the markdown report, fails below the floor.
set -euo pipefail
cd "$(dirname "$0")/.."
out=ci_artifacts
rm -rf "$out"
.venv/bin/stance-train experiment=ci_gate registry="$out/registry" prepared_root="$out/prepared" \
    work_dir="$out/runs" train.progress=false
.venv/bin/python scripts/quality_gate.py check --registry "$out/registry" --version latest --split test_rw
