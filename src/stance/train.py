"""Stage 2: fine-tuning, and the whole run that turns a config into a version.

``run_training`` is the main job: prepare the data, fine-tune with
``transformers.Trainer``, evaluate on the validation and test splits, and
publish an immutable registry version with its manifest and model card.
Each stage reads what the previous one wrote into the staging folder.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import torch
from safetensors.torch import load_file as load_safetensors
from transformers import EarlyStoppingCallback, EvalPrediction, Trainer, TrainingArguments, set_seed

from stance import card as card_stage
from stance.config import ConfigError, DataConfig, TrainJob, to_yaml
from stance.data import Prepared, prepare
from stance.evaluation import MAIN_METRIC, evaluate_checkpoint, score
from stance.labels import IGNORE_INDEX, LabelSet
from stance.model import Collator, Encoding, InputBuilder, TargetSpec, build_model
from stance.provenance import artifact_hashes, encoder_provenance, git_state, library_versions
from stance.registry import MANIFEST, Registry

log = logging.getLogger(__name__)


@dataclass
class RunResult:
    version: str
    path: Path
    metrics: dict[str, dict[str, Any]]  # split -> metrics


# ---------------------------------------------------------------- features


def encode_split(ds: datasets.Dataset, builder: InputBuilder, labels: LabelSet) -> datasets.Dataset:
    """Prepared sentences -> model features (one row per input sequence)."""

    def encode(batch: dict[str, list]) -> dict[str, list]:
        out: dict[str, list] = {}
        for text, targets in zip(batch["text"], batch["targets"], strict=True):
            specs = [TargetSpec(t["start"], t["end"], t["mention"], labels.encode(t["label"]), i)
                     for i, t in enumerate(targets)]
            for feature in builder.encode(text, specs):
                for key, value in feature.items():
                    out.setdefault(key, []).append(value)
        return out

    return ds.map(encode, batched=True, remove_columns=ds.column_names, desc="encoding")


def compute_metrics_fn(labels: LabelSet):
    def compute(pred: EvalPrediction) -> dict[str, float]:
        logits, gold = pred.predictions, pred.label_ids
        logits = logits[0] if isinstance(logits, tuple) else logits
        mask = gold != IGNORE_INDEX
        metrics = score(gold[mask].tolist(), logits.argmax(-1)[mask].tolist(), labels)
        return {k: v for k, v in metrics.items() if isinstance(v, float)}

    return compute


# ---------------------------------------------------------------- trainer


class StanceTrainer(Trainer):
    """Trainer with layer-wise learning-rate decay and R-Drop.

    Trainer has neither option, so both are written here. LLRD: layer ``i`` of
    ``n`` gets ``lr * decay ** (n - i)``, the embeddings the smallest.
    """

    layer_lr_decay: float = 1.0
    rdrop_alpha: float = 0.0

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        if self.rdrop_alpha <= 0 or not model.training:
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        # R-Drop (Liang et al., 2021): the batch goes through twice with
        # different dropout masks; both copies get cross-entropy and the two
        # predictive distributions are pulled together by a symmetric KL.
        # Stacking the copies into one forward pass is faster on CPU than two.
        doubled = {k: torch.cat([v, v]) if torch.is_tensor(v) else v for k, v in inputs.items()}
        outputs = model(**doubled)
        loss = outputs.loss + self.rdrop_alpha * rdrop_kl(outputs.logits, inputs["labels"])
        return (loss, outputs) if return_outputs else loss

    def create_optimizer(self, model=None):
        if self.optimizer is not None or self.layer_lr_decay >= 1.0:
            return super().create_optimizer(model) if model is not None else super().create_optimizer()
        model = self.model
        n_layers = model.config.num_hidden_layers
        groups: dict[tuple[float, float], list] = {}
        for name, param in model.named_parameters():
            if not param.requires_grad:
                continue
            depth = n_layers + 1
            if "embeddings" in name:
                depth = 0
            elif ".layer." in name:
                depth = int(name.split(".layer.")[1].split(".")[0]) + 1
            lr = self.args.learning_rate * self.layer_lr_decay ** (n_layers + 1 - depth)
            wd = 0.0 if name.endswith("bias") or "LayerNorm" in name or "layer_norm" in name else self.args.weight_decay
            groups.setdefault((lr, wd), []).append(param)
        param_groups = [{"params": p, "lr": lr, "weight_decay": wd} for (lr, wd), p in groups.items()]
        betas = (self.args.adam_beta1, self.args.adam_beta2)
        self.optimizer = torch.optim.AdamW(param_groups, lr=self.args.learning_rate, betas=betas,
                                           eps=self.args.adam_epsilon)
        return self.optimizer


def rdrop_kl(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """R-Drop's regulariser for logits of a batch stacked twice, padding targets excluded.

    With our loss being the mean cross-entropy of both copies, ``alpha / 4 *
    (KL(p1||p2) + KL(p2||p1))`` keeps the paper's weighting of alpha.
    """
    first, second = logits.chunk(2)
    mask = labels != IGNORE_INDEX
    if not mask.any():
        return logits.sum() * 0.0
    lp, lq = first[mask].log_softmax(-1), second[mask].log_softmax(-1)
    kl_pq = torch.nn.functional.kl_div(lq, lp, log_target=True, reduction="batchmean")
    kl_qp = torch.nn.functional.kl_div(lp, lq, log_target=True, reduction="batchmean")
    return (kl_pq + kl_qp) / 4


def check_train_config(job: TrainJob) -> None:
    """Settings that only make sense together; checked before any training starts."""
    t = job.train
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
        save_only_model=True,
        load_best_model_at_end=evaluate_epochs and not averaging,
        # No "best" while averaging: Trainer's rotation would protect the best
        # checkpoint and delete a newer one, and we want the last k.
        metric_for_best_model=None if averaging else MAIN_METRIC,
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


def class_weights(ds: datasets.Dataset, labels: LabelSet) -> list[float]:
    """Inverse-frequency weights, normalised to mean 1."""
    counts = np.zeros(len(labels))
    for row in ds:
        for t in row["targets"]:
            counts[labels.encode(t["label"])] += 1
    weights = counts.sum() / np.maximum(counts, 1) / len(labels)
    return (weights / weights.mean()).round(4).tolist()


def training_split(prepared: Prepared, mixes: dict[str, Prepared]) -> datasets.Dataset:
    """The primary train split plus the train splits of any mixed-in corpora."""
    parts = [prepared.split("train")] + [p.split("train") for p in mixes.values()]
    return datasets.concatenate_datasets(parts) if len(parts) > 1 else parts[0]


def prepare_mixes(job: TrainJob, labels: LabelSet) -> dict[str, Prepared]:
    mixes = {}
    for name, cfg in job.mix.items():
        if list(cfg.labels) != list(labels.names):
            raise ConfigError(f"mix.{name}.labels {list(cfg.labels)} differ from data.labels {list(labels.names)}")
        mixes[name] = prepare(cfg, job.prepared_root)
    return mixes


def average_checkpoints(model: torch.nn.Module, work_dir: Path, k: int) -> list[str]:
    """Load the mean weights of the last ``k`` checkpoints in ``work_dir`` into ``model``.

    Trainer has no checkpoint averaging. The checkpoints are its own
    safetensors files, so we read those, average the floating-point tensors
    and leave integer buffers (position ids) as the model has them.
    """
    found = sorted(work_dir.glob("checkpoint-*"), key=lambda p: int(p.name.rsplit("-", 1)[1]))
    chosen = found[-k:]
    if len(chosen) < k:
        raise RuntimeError(f"train.average_checkpoints={k}, but training left {len(found)} checkpoints in {work_dir}")
    sums: dict[str, torch.Tensor] = {}
    for ckpt in chosen:
        for name, tensor in load_safetensors(str(ckpt / "model.safetensors")).items():
            if tensor.is_floating_point():
                sums[name] = sums.get(name, 0) + tensor.double()
    own = model.state_dict()
    mean = {name: (total / k).to(own[name].dtype) for name, total in sums.items()}
    result = model.load_state_dict(mean, strict=False)
    if result.unexpected_keys:
        raise RuntimeError(f"checkpoint weights not in the model: {result.unexpected_keys[:5]}")
    return [c.name for c in chosen]


def fine_tune(job: TrainJob, prepared: Prepared, labels: LabelSet, out_dir: Path, work_dir: Path,
              mixes: dict[str, Prepared] | None = None) -> dict[str, Any]:
    """Train and save the best model, tokenizer and config into ``out_dir``."""
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
    args = training_args(job, work_dir, has_val)
    callbacks = []
    if has_val and job.train.early_stopping_patience > 0:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=job.train.early_stopping_patience))
    trainer = StanceTrainer(
        model=model, args=args, train_dataset=features["train"], eval_dataset=features.get("validation"),
        data_collator=Collator(tokenizer.pad_token_id or 0), compute_metrics=compute_metrics_fn(labels),
        callbacks=callbacks,
    )
    trainer.layer_lr_decay = job.train.layer_lr_decay
    trainer.rdrop_alpha = job.train.rdrop_alpha
    started = time.perf_counter()
    outcome = trainer.train()
    averaged = None
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
        "threads": torch.get_num_threads(),
    }


# ---------------------------------------------------------------- the run


def _data_record(prepared: Prepared, cfg: DataConfig) -> dict:
    return {
        "name": prepared.manifest["name"],
        "prepared": str(prepared.path),
        "fingerprint": prepared.manifest["fingerprint"],
        "sources_sha256": prepared.manifest["sources"],
        "splits": prepared.manifest["splits"],
        "dropped": prepared.manifest["dropped"],
        "datasets_fingerprints": prepared.manifest["datasets_fingerprints"],
        "card_notes": list(cfg.card_notes),  # what the model card must say about this data
    }


def _manifest(job: TrainJob, version: str, prepared: Prepared, mixes: dict[str, Prepared], training: dict,
              metrics: dict, stage: Path, git: dict) -> dict:
    return {
        "version": version,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "note": job.note,
        "task": "target-dependent stance classification",
        "labels": list(job.data.labels),
        "encoder": encoder_provenance(job.model.name_or_path, job.model.revision),
        "model": asdict(job.model),
        "data": _data_record(prepared, job.data),
        "mix": {name: _data_record(p, job.mix[name]) for name, p in mixes.items()},
        "validation_split": job.data.validation_split,
        "seed": job.seed,
        "train": asdict(job.train),
        "training": training,
        "main_metric": MAIN_METRIC,
        "metrics": metrics,
        "git": git,
        "libraries": library_versions(),
        "artifacts_sha256": artifact_hashes(stage),
    }


def _rank() -> int:
    return int(os.environ.get("RANK", "0"))


def _work_dir(job: TrainJob) -> Path:
    # Under torchrun/accelerate every rank must see the same Trainer output_dir;
    # TORCHELASTIC_RUN_ID is shared by the ranks of one launch.
    run_id = os.environ.get("TORCHELASTIC_RUN_ID") or f"{os.getpid()}-{time.time_ns()}"
    return Path(job.work_dir) / f"run-{run_id}"


def run_training(job: TrainJob) -> RunResult | None:
    """Prepare -> fine-tune -> evaluate -> manifest -> card, published as one new version.

    In a distributed launch every rank trains; only rank 0 evaluates and
    publishes, and the other ranks return None.
    """
    git = git_state()  # read before training, so edits made during a long run cannot be misattributed
    if job.train.threads:
        torch.set_num_threads(job.train.threads)
    labels = LabelSet(tuple(job.data.labels))
    prepared = prepare(job.data, job.prepared_root)
    mixes = prepare_mixes(job, labels)
    if _rank() != 0:
        with tempfile.TemporaryDirectory() as scratch:
            fine_tune(job, prepared, labels, Path(scratch), _work_dir(job), mixes)
        return None
    registry = Registry(job.registry)
    eval_splits = [s for s in [job.data.validation_split, *job.data.eval_splits] if s in prepared.splits]
    with registry.stage() as staged:
        work_dir = _work_dir(job)
        try:
            training = fine_tune(job, prepared, labels, staged.path, work_dir, mixes)
        finally:
            shutil.rmtree(work_dir, ignore_errors=True)
        (staged.path / "config.yaml").write_text(to_yaml(job))
        metrics = evaluate_checkpoint(staged.path, prepared, eval_splits, job.train.eval_batch_size,
                                      staged.path / "eval", job.train.progress)
        manifest = _manifest(job, staged.version, prepared, mixes, training, metrics, staged.path, git)
        (staged.path / MANIFEST).write_text(json.dumps(manifest, indent=2, default=str))
        card_stage.write_card(staged.path)
    path = registry.resolve(staged.version)
    return RunResult(staged.version, path, metrics)
