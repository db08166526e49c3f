"""Our ``TrainConfig`` -> Trainer's ``TrainingArguments``, and the checks that come before it.

The mapping is one place on purpose: what Trainer saves, evaluates and keeps
depends on combinations of settings (validation, averaging, early stopping),
and those combinations are decided here and nowhere else.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from transformers import TrainingArguments

from stance.config import ConfigError, TrainJob, check_choice
from stance.evaluation import SELECTION_METRICS

RESUME_MODES = ("never", "auto")


def check_train_config(job: TrainJob) -> None:
    """Settings that only make sense together; checked before any training starts."""
    t = job.train
    check_choice(t.resume, RESUME_MODES, "train.resume")
    if t.save_steps < 0:
        raise ConfigError(f"train.save_steps={t.save_steps} must be >= 0 (0: epoch checkpoints only)")
    if t.save_steps > 0 and t.average_checkpoints > 0:
        raise ConfigError("train.save_steps and train.average_checkpoints exclude each other: averaging "
                          "uses the last epoch checkpoints, and step checkpoints would take their places")
    if t.selection_metric not in SELECTION_METRICS:
        raise ConfigError(f"bad config value train.selection_metric={t.selection_metric!r}; "
                          f"expected one of {list(SELECTION_METRICS)}")
    missing = {"favor", "against"} - set(job.data.labels)
    if t.selection_metric == "macro_f1_polar" and missing:
        raise ConfigError(f"train.selection_metric=macro_f1_polar averages the F1 of favor and against, "
                          f"but data.labels {list(job.data.labels)} lack {sorted(missing)}")
    if t.rdrop_alpha < 0:
        raise ConfigError(f"train.rdrop_alpha={t.rdrop_alpha} must be >= 0")
    if t.average_checkpoints < 0:
        raise ConfigError(f"train.average_checkpoints={t.average_checkpoints} must be >= 0")
    if t.average_checkpoints > 0:
        if t.max_steps > 0:
            raise ConfigError("train.average_checkpoints needs epoch checkpoints; unset train.max_steps")
        if t.average_checkpoints > math.ceil(t.epochs):
            raise ConfigError(f"train.average_checkpoints={t.average_checkpoints} but train.epochs={t.epochs} "
                              f"saves only {math.ceil(t.epochs)} epoch checkpoints")
        if t.early_stopping_patience > 0:
            raise ConfigError("train.average_checkpoints and train.early_stopping_patience exclude each other: "
                              "averaging uses the last checkpoints, early stopping the best one")


def training_args(job: TrainJob, work_dir: Path, has_validation: bool) -> TrainingArguments:
    t = job.train
    evaluate_epochs = has_validation and t.eval_every_epoch
    averaging = t.average_checkpoints > 0
    return TrainingArguments(
        output_dir=str(work_dir),
        num_train_epochs=t.epochs,
        max_steps=t.max_steps,
        per_device_train_batch_size=t.batch_size,
        per_device_eval_batch_size=t.eval_batch_size,
        gradient_accumulation_steps=t.gradient_accumulation,
        learning_rate=t.learning_rate,
        weight_decay=t.weight_decay,
        warmup_steps=t.warmup,  # a float in [0, 1) is a ratio of total steps in transformers 5
        lr_scheduler_type="linear",
        eval_strategy="epoch" if evaluate_epochs else "no",
        save_strategy="epoch" if evaluate_epochs or averaging else "no",
        # Averaging keeps the last k checkpoints; otherwise the best and the last.
        save_total_limit=t.average_checkpoints if averaging else 2,
        # Full checkpoints (optimizer, scheduler, RNG too): any checkpoint can be resumed.
        save_only_model=False,
        load_best_model_at_end=evaluate_epochs and not averaging,
        # No "best" while averaging: Trainer's rotation would protect the best
        # checkpoint and delete a newer one, and we want the last k.
        metric_for_best_model=None if averaging else t.selection_metric,
        greater_is_better=True,
        train_sampling_strategy="group_by_length" if t.group_by_length else "random",
        length_column_name="length",
        remove_unused_columns=False,  # our collator picks its keys; the sampler needs `length`
        logging_steps=t.logging_steps,
        report_to="none",
        disable_tqdm=not t.progress,
        seed=job.seed,
        data_seed=job.seed,
        use_cpu=not torch.cuda.is_available(),
        dataloader_num_workers=0,
    )
