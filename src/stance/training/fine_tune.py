"""Stage 2 proper: fine-tune a classifier on a prepared corpus and save it.

The order of the steps below is part of the result: ``set_seed`` comes before
the model is built, whose new head (and, with ``model.random_init``, encoder)
is drawn from the seeded generator; Trainer re-seeds when it is created and
trains from there. Reordering them changes the weights that a seed gives.
"""

from __future__ import annotations

import math
import signal
import time
from pathlib import Path
from typing import Any

import torch
from transformers import EarlyStoppingCallback, TrainerCallback, set_seed

from stance.config import TrainJob
from stance.data import Prepared
from stance.errors import RunInterrupted
from stance.labels import LabelSet
from stance.model import Collator, Encoding, InputBuilder, build_model
from stance.training.arguments import check_train_config, report_to, resolve_precision, training_args
from stance.training.averaging import average_checkpoints
from stance.training.callbacks import DivergenceGuard, GracefulStop, SaveEvery
from stance.training.curve import write_training_curve
from stance.training.distill import SOFT_LABELS, soft_targets
from stance.training.features import class_weights, compute_metrics_fn, encode_split, training_split
from stance.training.tracking import RunInfoCallback, tracking_env, tracking_locations
from stance.training.trainer import StanceTrainer
from stance.version_format import TRAINING_CURVE_PNG


def _rounded(x: float | None) -> float | None:
    return None if x is None or math.isnan(x) else round(x, 5)


def fine_tune(job: TrainJob, prepared: Prepared, labels: LabelSet, out_dir: Path, work_dir: Path,
              mixes: dict[str, Prepared] | None = None, resume_from: Path | None = None,
              stop: GracefulStop | None = None, run_name: str | None = None,
              teachers: list[Path] | None = None) -> dict[str, Any]:
    """Train and save the best model, tokenizer and config into ``out_dir``.

    ``resume_from``: a Trainer checkpoint in ``work_dir`` to continue from.
    ``stop``: a :class:`GracefulStop` whose signal, once training started, saves a
    checkpoint and ends in :class:`RunInterrupted`. A non-finite loss or gradient
    ends in :class:`DivergenceError`. ``run_name`` is the version being trained, for experiment tracking.
    ``teachers``: version folders (checked by ``resolve_teachers``) whose mean predictions are soft targets.
    """
    has_val = job.data.validation_split in prepared.splits
    check_train_config(job)
    train_ds = training_split(prepared, mixes or {})
    distillation = None
    if teachers:
        # Ahead of set_seed, so the seeded steps below run exactly as they do without distillation.
        soft, distillation = soft_targets(teachers, train_ds, labels, job.train.distill_temperature,
                                          job.train.eval_batch_size, job.train.progress)
        train_ds = train_ds.add_column(SOFT_LABELS, soft)
    set_seed(job.seed)
    extra = {"label_smoothing": job.train.label_smoothing}
    if job.train.class_weights:
        extra["class_weights"] = class_weights(train_ds, labels)
    model, tokenizer = build_model(job.model, labels, extra)
    builder = InputBuilder(tokenizer, Encoding.from_model_config(job.model))
    features = {"train": encode_split(train_ds, builder, labels)}
    if has_val:
        features["validation"] = encode_split(prepared.split(job.data.validation_split), builder, labels)
    args = training_args(job, work_dir, has_val, run_name)
    callbacks: list[TrainerCallback] = [DivergenceGuard(model)]
    if job.train.save_steps > 0:
        callbacks.append(SaveEvery(job.train.save_steps))
    if stop is not None:
        callbacks.append(stop)
    if has_val and job.train.early_stopping_patience > 0:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=job.train.early_stopping_patience))
    backends = report_to(job)
    tracking = tracking_locations(job, backends, run_name)
    with tracking_env(tracking):  # the integrations read their locations while Trainer is built and trains
        trainer = StanceTrainer(
            model=model, args=args, train_dataset=features["train"], eval_dataset=features.get("validation"),
            data_collator=Collator(tokenizer.pad_token_id or 0), compute_metrics=compute_metrics_fn(labels),
            callbacks=callbacks, options=job.train,
        )
        if backends:
            trainer.add_callback(RunInfoCallback(job, run_name, list(trainer.callback_handler.callbacks)))
        started = time.perf_counter()
        outcome = trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    if stop is not None and stop.signum is not None:
        step = trainer.state.global_step
        saved = work_dir / f"checkpoint-{step}"
        # A signal after the last step (during the final evaluation) finds no step left to save at.
        where = f"saved {saved}" if saved.is_dir() else "no step left to checkpoint"
        raise RunInterrupted(f"stopped by {signal.Signals(stop.signum).name} at step {step}; {where}; "
                             "continue with train.resume=auto", stop.signum)
    averaged = None
    # Under torchrun every rank trains, but the checkpoints are rank 0's to read.
    if job.train.average_checkpoints and trainer.is_world_process_zero():
        averaged = average_checkpoints(trainer.model, work_dir, job.train.average_checkpoints)
    wall = time.perf_counter() - started
    trainer.save_model(str(out_dir))
    # Trainer also pickles its arguments; a version holds no pickles, and the
    # resolved config.yaml records the same settings.
    (out_dir / "training_args.bin").unlink(missing_ok=True)
    tokenizer.save_pretrained(str(out_dir))
    # Trainer's log history holds the training loss every logging_steps and each evaluation;
    # the card's training curve is drawn from these two lists.
    logs = trainer.state.log_history
    history = [h for h in logs if "eval_macro_f1" in h]
    losses = [{"step": h["step"], "epoch": round(h["epoch"], 4), "loss": round(h["loss"], 5)}
              for h in logs if "loss" in h and not math.isnan(h["loss"])]
    n_pairs = sum(len(f) for f in features["train"]["labels"])
    record = {
        "wall_seconds": round(wall, 1),
        "global_steps": outcome.global_step,
        "epochs": round(float(trainer.state.epoch or 0), 3),
        "train_pairs": n_pairs,
        "train_inputs": len(features["train"]),
        "pairs_per_second": round(n_pairs * float(trainer.state.epoch or 0) / max(wall, 1e-9), 2),
        "train_loss": round(outcome.training_loss, 5) if not math.isnan(outcome.training_loss) else None,
        # None while averaging: no best-model metric is set then (see training_args).
        "best_checkpoint": Path(best).name if (best := trainer.state.best_model_checkpoint) else None,
        "averaged_checkpoints": averaged,
        "distillation": distillation,  # teachers and the soft targets' time (not in wall_seconds)
        "selection_metric": job.train.selection_metric,
        "validation_history": [{"epoch": h["epoch"], "step": h["step"], "macro_f1": round(h["eval_macro_f1"], 5),
                                job.train.selection_metric: _rounded(h.get(f"eval_{job.train.selection_metric}")),
                                "loss": round(h["eval_loss"], 5) if "eval_loss" in h else None} for h in history],
        "loss_history": losses,
        "device": str(trainer.args.device),
        "precision": resolve_precision(job.train.precision),  # what `auto` became on this machine
        "world_size": trainer.args.world_size,  # processes that trained (torchrun); batch_size is per process
        "threads": torch.get_num_threads(),
        "tracking": {"report_to": backends, **tracking} if backends else None,
    }
    write_training_curve(record, out_dir / TRAINING_CURVE_PNG)
    return record
