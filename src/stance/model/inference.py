"""Inference with a trained classifier: label probabilities for sentences and their targets."""

from __future__ import annotations

from contextlib import nullcontext

import torch
from tqdm.auto import tqdm

from stance.config import PredictJob
from stance.model.batches import collate
from stance.model.classifier import StanceClassifier
from stance.model.encoding import Encoding, InputBuilder, SentenceTargets, encode_sentences, length_batches
from stance.model.temperature import temperature_of

__all__ = ["SentenceTargets", "predict_proba"]


@torch.inference_mode()
def predict_proba(model: StanceClassifier, tokenizer, encoding: Encoding, sentences: list[SentenceTargets],
                  batch_size: int = PredictJob.batch_size, progress: bool = False,
                  desc: str = "classifying", bar: tqdm | None = None) -> list[list[list[float]]]:
    """Label probabilities for every target of every sentence, in input order.

    Inputs are sorted by length before batching so that a batch pads little;
    this is the main CPU speed-up over a naive loop. The logits are divided by
    the version's fitted temperature (1.0 when it has none) before the softmax.
    ``bar``: a progress bar to advance (one bar over several calls); by default, a bar of its own.
    """
    temperature = temperature_of(getattr(getattr(model, "config", None), "stance", {}))
    features, owners = encode_sentences(InputBuilder(tokenizer, encoding), sentences)
    out: list[list[list[float] | None]] = [[None] * len(s.targets) for s in sentences]
    pad_id = tokenizer.pad_token_id or 0
    model.eval()
    # A bar of our own is closed however the loop ends (a stop signal included), so that the
    # one-line error that follows starts on a line of its own; a caller's bar is the caller's.
    total = sum(len(s.targets) for s in sentences)
    with tqdm(total=total, desc=desc, unit="pair", disable=not progress) if bar is None else nullcontext(bar) as shown:
        for idx in length_batches(features, batch_size):
            batch = collate([features[i] for i in idx], pad_id)
            batch.pop("labels")
            probs = torch.softmax(model(**batch).logits.float() / temperature, dim=-1)
            for row, i in enumerate(idx):
                for col, key in enumerate(features[i]["target_key"]):
                    out[owners[i]][key] = probs[row, col].tolist()
            shown.update(sum(len(features[i]["target_key"]) for i in idx))
    return out  # type: ignore[return-value]
