"""Experiment tracking through Trainer's own ``report_to`` integrations, kept local by default.

Trainer already knows TensorBoard, MLflow, W&B and more; we only choose where
the backends that need a place to write go (``train.tracking_dir``) and add
what Trainer does not log: the registry version and our resolved config.
The integrations read their locations from environment variables
(``TENSORBOARD_LOGGING_DIR``, ``MLFLOW_TRACKING_URI``), so those are set for
the duration of one training run and restored afterwards (a sweep runs many
in one process). A value the user exported wins: that is how a run reports to
a shared MLflow server.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from transformers import TrainerCallback
from transformers.integrations import MLflowCallback, TensorBoardCallback

from stance.config import TrainJob
from stance.schemas import to_yaml


def tracking_locations(job: TrainJob, backends: list[str], run_name: str | None) -> dict[str, str]:
    """The environment for ``backends``: only variables the user has not set themselves."""
    root = Path(job.train.tracking_dir).absolute()
    env = {}
    if "tensorboard" in backends:
        env["TENSORBOARD_LOGGING_DIR"] = str(root / "tensorboard" / (run_name or "run"))
    if "mlflow" in backends:
        env["MLFLOW_TRACKING_URI"] = (root / "mlruns").as_uri()
        env["MLFLOW_EXPERIMENT_NAME"] = job.study or "stance"
    return {k: v for k, v in env.items() if k not in os.environ}


@contextmanager
def tracking_env(env: dict[str, str]) -> Iterator[None]:
    before = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


class RunInfoCallback(TrainerCallback):
    """Log the version id and our resolved config into the TensorBoard and MLflow runs.

    Added after Trainer's integration callbacks, so its ``on_train_begin`` runs
    once they have opened their writer or run.
    """

    def __init__(self, job: TrainJob, version: str | None, integrations: list[TrainerCallback]) -> None:
        self.version = version or "unpublished"
        self.config = to_yaml(job)
        self.integrations = integrations

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if not state.is_world_process_zero:
            return
        for cb in self.integrations:
            if isinstance(cb, TensorBoardCallback) and cb.tb_writer is not None:
                cb.tb_writer.add_text("stance/version", self.version)
                # Markdown code block: TensorBoard renders text as markdown.
                cb.tb_writer.add_text("stance/config", "```\n" + self.config + "\n```")
                cb.tb_writer.flush()
            elif isinstance(cb, MLflowCallback) and cb._initialized:
                cb._ml_flow.set_tag("stance.version", self.version)
                cb._ml_flow.log_text(self.config, "stance_config.yaml")
