"""``stance-evaluate``: score a version on configured dataset splits.

Results go to ``<version>/evaluations/<data>/`` and never touch the version's
weights, manifest or card: one folder ``<split>/`` per split (predictions.jsonl,
metrics.json, report.md, report.html, PNGs). With ``compare=VERSION``,
``<split>/compare-<VERSION>.md`` compares the two.

With ``gate=NAME`` (``configs/gate/``) the results are judged too, against
``baseline=`` where the gate checks drops: the exit status is 0 (pass), 1 (a
check failed) or 2 (cannot judge), and summary.md, junit.xml, metrics.json and
report.html go to ``gate.out`` (default ``<evaluation folder>/gate``).
"""

from __future__ import annotations

import sys

from omegaconf import DictConfig

from stance.cli.common import load_job, run_hydra
from stance.cli.overrides import name_custom_data
from stance.config import EvaluateJob


def task(cfg: DictConfig) -> None:
    # Heavy imports (torch, evaluate) after argument parsing, so --help stays fast.
    from stance.evaluation import MAIN_METRIC
    from stance.evaluation.compare import comparison_paths
    from stance.evaluation.report import REPORT_MD
    from stance.pipeline import run_evaluation, run_gate
    from stance.registry import Registry

    name_custom_data(cfg)
    job = load_job(cfg, EvaluateJob)
    out_dir, metrics = run_evaluation(job)
    scores = ", ".join(f"{split} {MAIN_METRIC}={m[MAIN_METRIC]:.4f}" for split, m in metrics.items())
    print(f"stance-evaluate: wrote {out_dir} ({scores})")
    for split in metrics:
        print(f"  report: {out_dir / split / REPORT_MD}")
        if job.compare:
            baseline = Registry(job.registry).resolve(job.compare).name
            print(f"  comparison: {comparison_paths(out_dir / split, baseline)[0]}")
    if job.gate.enabled:
        result, paths = run_gate(job, out_dir, list(metrics))
        for check in result.failures:
            print(f"  FAIL {check.message}")
        print(result.verdict_line())
        print("  " + ", ".join(f"{name}: {path}" for name, path in paths.items()))
        sys.exit(result.exit_code)


def main() -> None:
    run_hydra("evaluate", EvaluateJob, task)


if __name__ == "__main__":
    main()
