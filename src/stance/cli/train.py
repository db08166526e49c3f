"""``stance-train``: fine-tune, evaluate and publish a new version."""

from __future__ import annotations

from omegaconf import DictConfig

from stance.cli.common import load_job, run_hydra
from stance.config import TrainJob
from stance.evaluation import MAIN_METRIC


def task(cfg: DictConfig) -> float | None:
    """Train one version; returns its validation macro-F1, the value a Hydra sweeper optimises."""
    # Imported here, not at the top: the pipeline pulls in torch and transformers (seconds),
    # which `--help`, `--cfg job` and a mistyped override should not wait for. No cycle hides here.
    from stance.pipeline import run_training

    job = load_job(cfg, TrainJob)
    result = run_training(job)
    if result is None:  # a non-zero rank of a distributed launch; rank 0 reports
        return None
    scores = ", ".join(f"{split} {MAIN_METRIC}={m[MAIN_METRIC]:.4f}" for split, m in result.metrics.items())
    print(f"stance-train: wrote {result.version} to {result.path} ({scores})")
    validation = result.metrics.get(job.data.validation_split)
    return validation[MAIN_METRIC] if validation else None


def main() -> None:
    run_hydra("train", TrainJob, task)


if __name__ == "__main__":
    main()
