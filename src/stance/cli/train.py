"""``stance-train``: fine-tune, evaluate and publish a new version."""

from __future__ import annotations

from omegaconf import DictConfig

from stance.cli.common import run_hydra
from stance.config import TrainJob, to_dataclass
from stance.evaluation import MAIN_METRIC


def task(cfg: DictConfig) -> None:
    from stance.train import run_training  # heavy imports after argument parsing

    job = to_dataclass(cfg, TrainJob)
    result = run_training(job)
    if result is None:  # a non-zero rank of a distributed launch; rank 0 reports
        return
    scores = ", ".join(f"{split} {MAIN_METRIC}={m[MAIN_METRIC]:.4f}" for split, m in result.metrics.items())
    print(f"stance-train: wrote {result.version} to {result.path} ({scores})")


def main() -> None:
    run_hydra("train", task)


if __name__ == "__main__":
    main()
