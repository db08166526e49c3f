"""Knowledge distillation: teachers' soft targets for the train split, and the student's loss.

A teacher is a published version (an ensemble is several). Its predicted
probabilities on the train split are computed once, before training, and
averaged over teachers; the student then learns from a mix of the gold labels
and those soft targets (Hinton et al., 2015). Trainer has no distillation
option, so the loss term is written here and called from ``StanceTrainer``.

A teacher must have been trained on the same prepared data as the student:
otherwise it may have seen the student's validation or test sentences, and its
soft targets would carry them into training.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import datasets
import torch

from stance.config import TrainJob
from stance.errors import ConfigError, RegistryError
from stance.evaluation.evaluate import dataset_to_sentences
from stance.labels import IGNORE_INDEX, LabelSet
from stance.model import load_model
from stance.model.batches import SOFT_LABELS
from stance.model.inference import predict_proba
from stance.registry import VERSION_RE, Registry, read_version, verify_checkpoint
from stance.version_format import Manifest

__all__ = ["SOFT_LABELS", "distillation_loss", "resolve_teachers", "soft_targets", "soften"]


def resolve_teachers(job: TrainJob, fingerprints: dict[str, str]) -> list[Path]:
    """The folders named by ``train.distill_from``, each checked before any training starts.

    ``fingerprints``: the prepared data the student trains on, ``{"data": fp, "mix.<name>": fp, ...}``.
    """
    registry = Registry(job.registry)
    folders = []
    for i, name in enumerate(job.train.distill_from):
        key = f"train.distill_from[{i}]"
        try:
            folder = registry.resolve(name) if VERSION_RE.match(name) else Path(name)
            verify_checkpoint(folder)  # a tampered teacher is refused now, not after training started
            manifest = read_version(folder)
        except RegistryError as err:
            raise ConfigError(f"{key}={name!r}: {err}") from None
        if manifest.labels != list(job.data.labels):
            raise ConfigError(f"{key}={name!r}: the teacher's labels {manifest.labels} differ from "
                              f"data.labels {list(job.data.labels)}")
        if _fingerprints(manifest) != fingerprints:
            raise ConfigError(f"{key}={name!r}: the teacher was trained on other data than this run "
                              f"(prepared data fingerprints differ), so it may have seen this run's "
                              f"validation or test sentences")
        folders.append(folder)
    return folders


def _fingerprints(manifest: Manifest) -> dict[str, str]:
    out = {"data": manifest.data.get("fingerprint")}
    out.update({f"mix.{name}": rec.get("fingerprint") for name, rec in manifest.mix.items()})
    return out


def soft_targets(teachers: list[Path], ds: datasets.Dataset, labels: LabelSet, temperature: float,
                 batch_size: int, progress: bool) -> tuple[list[list[list[float]]], dict[str, Any]]:
    """Mean teacher probabilities for every target of every sentence of ``ds``, softened by ``temperature``.

    Returns the targets (sentence -> target -> label probabilities) and the
    record kept in the manifest: each teacher's version, weights hash and
    training time, and the time taken here (reported apart from training).
    """
    started = time.perf_counter()
    sentences = dataset_to_sentences(ds, labels)
    total: torch.Tensor | None = None
    record = []
    for folder in teachers:
        model, tokenizer, encoding = load_model(folder)
        probs = predict_proba(model, tokenizer, encoding, sentences, batch_size, progress,
                              desc=f"teacher {folder.name}")
        flat = torch.tensor([p for sentence in probs for p in sentence], dtype=torch.float64)
        total = flat if total is None else total + flat
        manifest = read_version(folder)
        record.append({"version": manifest.version, "seed": manifest.seed,
                       "weights_sha256": manifest.artifacts_sha256.get("model.safetensors"),
                       "train_wall_seconds": manifest.training.get("wall_seconds")})
    assert total is not None  # resolve_teachers returned at least one folder
    mean = soften(total / len(teachers), temperature)
    out, i = [], 0
    for sentence in sentences:
        n = len(sentence.targets)
        out.append(mean[i:i + n].tolist())
        i += n
    return out, {"teachers": record, "soft_target_seconds": round(time.perf_counter() - started, 1)}


def soften(probs: torch.Tensor, temperature: float) -> torch.Tensor:
    """``softmax(log p / T)``: for one teacher, the same as dividing its logits by T."""
    if temperature == 1.0:
        return probs
    return torch.softmax(probs.clamp_min(1e-12).log() / temperature, dim=-1)


def distillation_loss(logits: torch.Tensor, labels: torch.Tensor, soft: torch.Tensor, ce: torch.Tensor,
                      weight: float, temperature: float) -> torch.Tensor:
    """``(1 - w) * ce + w * T^2 * KL(soft || softmax(logits / T))`` over the real (unpadded) targets.

    ``T^2`` keeps the soft term's gradient on the scale of the hard one when T
    changes (Hinton et al.). ``soft`` is already softened by ``T``.
    """
    mask = labels != IGNORE_INDEX
    if not mask.any():
        return ce
    student = torch.log_softmax(logits[mask].float() / temperature, dim=-1)
    kl = torch.nn.functional.kl_div(student, soft[mask].float(), reduction="batchmean")
    return (1 - weight) * ce + weight * temperature**2 * kl
