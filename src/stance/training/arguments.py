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

# Trainer's own table of report_to names (public in transformers.integrations, used by Trainer itself).
from transformers.integrations.integration_utils import INTEGRATION_TO_CALLBACK

from stance.config import ConfigError, TrainJob


def resolve_precision(requested: str) -> str:
    """``train.precision`` -> the precision this machine trains in: fp32, bf16 or fp16.

    ``auto`` is bf16 on a CUDA GPU that supports it (Ampere and newer) and fp32
    elsewhere, so CPU runs keep their weights bit for bit. An explicit choice the
    machine cannot honour is a config error, not a silent fallback.
    """
    cuda = torch.cuda.is_available()
    if requested == "auto":
        return "bf16" if cuda and torch.cuda.is_bf16_supported() else "fp32"
    if requested == "fp16" and not cuda:
        raise ConfigError("train.precision=fp16 needs a CUDA GPU; use fp32 or bf16 on a CPU")
    if requested == "bf16" and cuda and not torch.cuda.is_bf16_supported():
        raise ConfigError(f"train.precision=bf16 but {torch.cuda.get_device_name()} has no bf16; use fp16 or fp32")
    return requested


def report_to(job: TrainJob) -> list[str]:
    """``train.report_to`` as Trainer's list (``none`` or empty: no tracking)."""
    given = job.train.report_to
    parts = list(given) if isinstance(given, list | tuple) else str(given).split(",")
    names = [n.strip() for n in parts if n.strip()]
    return [] if names in ([], ["none"]) else names


# transformers 5 renamed gradient_checkpointing to activation_checkpointing (the old name warns);
# pyproject allows any 5.x, so use whichever this install has.
_CHECKPOINTING = ("activation_checkpointing" if "activation_checkpointing" in TrainingArguments.__dataclass_fields__
                  else "gradient_checkpointing")


def check_train_config(job: TrainJob) -> None:
    """Settings that only make sense together; checked before any training starts."""
    t = job.train
    t.check()  # every single-value rule lives beside its field in stance.config
    if t.save_steps > 0 and t.average_checkpoints > 0:
        raise ConfigError("train.save_steps and train.average_checkpoints exclude each other: averaging "
                          "uses the last epoch checkpoints, and step checkpoints would take their places")
    missing = {"favor", "against"} - set(job.data.labels)
    if t.selection_metric == "macro_f1_polar" and missing:
        raise ConfigError(f"train.selection_metric=macro_f1_polar averages the F1 of favor and against, "
                          f"but data.labels {list(job.data.labels)} lack {sorted(missing)}")
    unknown = [n for n in report_to(job) if n not in (*INTEGRATION_TO_CALLBACK, "all")]
    if unknown:
        raise ConfigError(f"train.report_to: {unknown} not among the tracking backends Trainer knows "
                          f"({', '.join(sorted(INTEGRATION_TO_CALLBACK))}, all, none)")
    resolve_precision(t.precision)
    if t.distill_from and t.rdrop_alpha > 0:
        raise ConfigError("train.distill_from and train.rdrop_alpha exclude each other: the R-Drop pass "
                          "has no distillation term")
    if t.average_checkpoints > 0:
        if t.max_steps > 0:
            raise ConfigError("train.average_checkpoints needs epoch checkpoints; unset train.max_steps")
        if t.average_checkpoints > math.ceil(t.epochs):
            raise ConfigError(f"train.average_checkpoints={t.average_checkpoints} but train.epochs={t.epochs} "
                              f"saves only {math.ceil(t.epochs)} epoch checkpoints")
        if t.early_stopping_patience > 0:
            raise ConfigError("train.average_checkpoints and train.early_stopping_patience exclude each other: "
                              "averaging uses the last checkpoints, early stopping the best one")


def training_args(job: TrainJob, work_dir: Path, has_validation: bool,
                  run_name: str | None = None) -> TrainingArguments:
    """``run_name`` (the version being trained) names the run in tracking backends."""
    t = job.train
    precision = resolve_precision(t.precision)
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
        report_to=report_to(job) or "none",
        run_name=run_name,
        disable_tqdm=not t.progress,
        seed=job.seed,
        data_seed=job.seed,
        use_cpu=not torch.cuda.is_available(),
        bf16=precision == "bf16",
        fp16=precision == "fp16",
        torch_compile=t.compile,
        dataloader_num_workers=t.dataloader_workers,
        **{_CHECKPOINTING: t.gradient_checkpointing},
    )
