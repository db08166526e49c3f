"""``stance-train``: fine-tune, evaluate and publish a new version."""

from __future__ import annotations

from omegaconf import DictConfig

from stance.cli.common import load_job, run_hydra
from stance.cli.overrides import name_custom_data
from stance.config import TrainJob
from stance.version_format import CARD, EVAL_DIR


def task(cfg: DictConfig) -> float | None:
    """Train one version; returns its validation train.selection_metric (macro-F1 by default), the value a
    Hydra sweeper optimises."""
    # Imported here, not at the top: the pipeline pulls in torch and transformers (seconds),
    # which `--help`, `--cfg job` and a mistyped override should not wait for. No cycle hides here.
    from stance.pipeline import run_training

    name_custom_data(cfg)
    job = load_job(cfg, TrainJob)
    result = run_training(job)
    if result is None:  # a non-zero rank of a distributed launch; rank 0 reports
        return None
    main = job.train.selection_metric
    scores = ", ".join(f"{split} {main}={m[main]:.4f}" for split, m in result.metrics.items())
    print(f"stance-train: wrote {result.version} to {result.path} ({scores})")
    times = ", ".join(f"{stage} {seconds:.0f} s" for stage, seconds in result.stage_seconds.items())
    print(f"  time: {times} (total {sum(result.stage_seconds.values()):.0f} s)")
    print(f"  card: {result.path / CARD}; reports: {result.path / EVAL_DIR}/<split>/report.md")
    validation = result.metrics.get(job.data.validation_split)
    return validation[main] if validation else None


def main() -> None:
    run_hydra("train", TrainJob, task)


if __name__ == "__main__":
    main()
