"""Stage 2 proper: fine-tune a classifier on a prepared corpus and save it.

The order of the steps below is part of the result: ``set_seed`` comes before
the model is built, whose new head (and, with ``model.random_init``, encoder)
is drawn from the seeded generator; Trainer re-seeds when it is created and
trains from there. Reordering them changes the weights that a seed gives.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import torch
from transformers import EarlyStoppingCallback, set_seed

from stance.config import TrainJob
from stance.data import Prepared
from stance.labels import LabelSet
from stance.model import Collator, Encoding, InputBuilder, build_model
from stance.training.arguments import check_train_config, report_to, resolve_precision, training_args
from stance.training.averaging import average_checkpoints
from stance.training.features import class_weights, compute_metrics_fn, encode_split, training_split
from stance.training.tracking import RunInfoCallback, tracking_env, tracking_locations
from stance.training.trainer import StanceTrainer


def fine_tune(job: TrainJob, prepared: Prepared, labels: LabelSet, out_dir: Path, work_dir: Path,
              mixes: dict[str, Prepared] | None = None, run_name: str | None = None) -> dict[str, Any]:
    """Train and save the best model, tokenizer and config into ``out_dir``.

    ``run_name`` is the version being trained, for experiment tracking.
    """
    has_val = job.data.validation_split in prepared.splits
    check_train_config(job)
    set_seed(job.seed)
    train_ds = training_split(prepared, mixes or {})
    extra = {"label_smoothing": job.train.label_smoothing}
    if job.train.class_weights:
        extra["class_weights"] = class_weights(train_ds, labels)
    model, tokenizer = build_model(job.model, labels, extra)
    builder = InputBuilder(tokenizer, Encoding.from_model_config(job.model))
    features = {"train": encode_split(train_ds, builder, labels)}
    if has_val:
        features["validation"] = encode_split(prepared.split(job.data.validation_split), builder, labels)
    args = training_args(job, work_dir, has_val, run_name)
    callbacks = []
    if has_val and job.train.early_stopping_patience > 0:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=job.train.early_stopping_patience))
    backends = report_to(job)
    tracking = tracking_locations(job, backends, run_name)
    with tracking_env(tracking):  # the integrations read their locations while Trainer is built and trains
        trainer = StanceTrainer(
            model=model, args=args, train_dataset=features["train"], eval_dataset=features.get("validation"),
            data_collator=Collator(tokenizer.pad_token_id or 0), compute_metrics=compute_metrics_fn(labels),
            callbacks=callbacks,
        )
        if backends:
            trainer.add_callback(RunInfoCallback(job, run_name, list(trainer.callback_handler.callbacks)))
        trainer.layer_lr_decay = job.train.layer_lr_decay
        trainer.rdrop_alpha = job.train.rdrop_alpha
        started = time.perf_counter()
        outcome = trainer.train()
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
    history = [h for h in trainer.state.log_history if "eval_macro_f1" in h]
    n_pairs = sum(len(f) for f in features["train"]["labels"])
    return {
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
        "validation_history": [{"epoch": h["epoch"], "macro_f1": round(h["eval_macro_f1"], 5)} for h in history],
        "device": str(trainer.args.device),
        "precision": resolve_precision(job.train.precision),  # what `auto` became on this machine
        "world_size": trainer.args.world_size,  # processes that trained (torchrun); batch_size is per process
        "threads": torch.get_num_threads(),
        "tracking": {"report_to": backends, **tracking} if backends else None,
    }
