"""``stance-evaluate``: score a version on configured dataset splits.

Results go to ``<version>/evaluations/<data>/`` and never touch the version's
weights, manifest or card.
"""

from __future__ import annotations

from omegaconf import DictConfig

from stance.cli.common import run_hydra
from stance.config import EvaluateJob, to_dataclass


def task(cfg: DictConfig) -> None:
    from stance.evaluate import MAIN_METRIC, run_evaluation

    job = to_dataclass(cfg, EvaluateJob)
    out_dir, metrics = run_evaluation(job)
    scores = ", ".join(f"{split} {MAIN_METRIC}={m[MAIN_METRIC]:.4f}" for split, m in metrics.items())
    print(f"stance-evaluate: wrote {out_dir} ({scores})")


def main() -> None:
    run_hydra("evaluate", task)


if __name__ == "__main__":
    main()
