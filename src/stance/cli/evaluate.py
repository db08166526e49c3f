"""``stance-evaluate``: score a version on configured dataset splits.

Results go to ``<version>/evaluations/<data>/`` and never touch the version's
weights, manifest or card: one folder ``<split>/`` per split (predictions.jsonl,
metrics.json, report.md, PNGs). With ``compare=VERSION``,
``<split>/compare-<VERSION>.md`` compares the two.
"""

from __future__ import annotations

from omegaconf import DictConfig

from stance.cli.common import load_job, run_hydra
from stance.cli.overrides import name_custom_data
from stance.config import EvaluateJob


def task(cfg: DictConfig) -> None:
    # Heavy imports (torch, evaluate) after argument parsing, so --help stays fast.
    from stance.evaluation import MAIN_METRIC
    from stance.evaluation.compare import comparison_paths
    from stance.evaluation.report import REPORT_MD
    from stance.pipeline import run_evaluation
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


def main() -> None:
    run_hydra("evaluate", EvaluateJob, task)


if __name__ == "__main__":
    main()
