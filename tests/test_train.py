"""Training pieces that the end-to-end tests do not pin down."""

from __future__ import annotations

import pytest

from stance.labels import LabelSet
from stance.model import build_model
from stance.train import StanceTrainer, training_args


def test_layer_wise_lr_decay_gives_each_layer_its_own_rate(make_job, tmp_path):
    job = make_job("train.layer_lr_decay=0.5", "train.learning_rate=1e-3",
                   "model.config_overrides.num_hidden_layers=2")
    model, _ = build_model(job.model, LabelSet())
    trainer = StanceTrainer(model=model, args=training_args(job, tmp_path, has_validation=False))
    trainer.layer_lr_decay = job.train.layer_lr_decay
    optimizer = trainer.create_optimizer()
    rate_of = {}
    for group in optimizer.param_groups:
        for param in group["params"]:
            rate_of[id(param)] = group["lr"]
    named = dict(model.named_parameters())
    # head: full rate; top layer: x0.5; bottom layer: x0.25; embeddings: x0.125
    assert rate_of[id(named["classifier.weight"])] == pytest.approx(1e-3)
    assert rate_of[id(named["encoder.encoder.layer.1.output.dense.weight"])] == pytest.approx(5e-4)
    assert rate_of[id(named["encoder.encoder.layer.0.output.dense.weight"])] == pytest.approx(2.5e-4)
    assert rate_of[id(named["encoder.embeddings.word_embeddings.weight"])] == pytest.approx(1.25e-4)
    no_decay = [g for g in optimizer.param_groups if any(p is named["classifier.bias"] for p in g["params"])]
    assert no_decay[0]["weight_decay"] == 0.0
