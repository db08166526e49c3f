"""Training pieces that the end-to-end tests do not pin down."""

from __future__ import annotations

import json

import pytest

from stance.config import TrainJob
from stance.labels import LabelSet
from stance.model import build_model
from stance.schemas import to_dataclass
from stance.training import StanceTrainer, training_args
from tests.conftest import CONFIGS, compose_config


def test_layer_wise_lr_decay_gives_each_layer_its_own_rate(make_job, tmp_path):
    job = make_job("train.layer_lr_decay=0.5", "train.learning_rate=1e-3",
                   "model.config_overrides.num_hidden_layers=2")
    model, _ = build_model(job.model, LabelSet())
    trainer = StanceTrainer(model=model, args=training_args(job, tmp_path, has_validation=False), options=job.train)
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


# ---------------------------------------------------------------- R-Drop, checkpoint averaging


def test_rdrop_kl_is_zero_for_equal_copies_and_ignores_padding():
    import torch

    from stance.labels import IGNORE_INDEX
    from stance.training import rdrop_kl

    same = torch.tensor([[[1.0, 2.0, 0.5]]])
    assert rdrop_kl(torch.cat([same, same]), torch.tensor([[0]])).item() == pytest.approx(0.0, abs=1e-7)
    first = torch.tensor([[[1.0, 2.0, 0.5], [9.0, 0.0, 0.0]]])
    second = torch.tensor([[[0.0, 2.0, 3.0], [0.0, 0.0, 9.0]]])
    logits = torch.cat([first, second])
    # the second target is padding: its very different logits must not count
    padded = rdrop_kl(logits, torch.tensor([[1, IGNORE_INDEX]]))
    alone = rdrop_kl(torch.cat([first[:, :1], second[:, :1]]), torch.tensor([[1]]))
    assert padded.item() > 0.1
    assert padded.item() == pytest.approx(alone.item())


def test_rdrop_loss_adds_the_kl_term_in_training_mode(make_job, tmp_path):
    import torch

    from stance.model import Collator, Encoding, InputBuilder, TargetSpec

    job = make_job("model.dropout=0.5")
    model, tokenizer = build_model(job.model, LabelSet())
    builder = InputBuilder(tokenizer, Encoding.from_model_config(job.model))
    features = builder.encode("Brazil welcomed the ceasefire.", [TargetSpec(0, 6, "Brazil", 2)])
    batch = Collator(tokenizer.pad_token_id)(features)
    trainer = StanceTrainer(model=model, args=training_args(job, tmp_path, has_validation=False))
    trainer.rdrop_alpha = 100.0
    model.train()
    torch.manual_seed(0)
    with_kl = trainer.compute_loss(model, dict(batch))
    torch.manual_seed(0)
    plain = model(**{k: torch.cat([v, v]) for k, v in batch.items()}).loss
    assert with_kl.item() > plain.item()  # same dropout masks, plus a positive KL term
    model.eval()
    assert trainer.compute_loss(model, dict(batch)).item() == pytest.approx(model(**batch).loss.item())


def test_trainer_scales_our_loss_for_gradient_accumulation(make_job, tmp_path):
    job = make_job()
    model, _ = build_model(job.model, LabelSet())
    trainer = StanceTrainer(model=model, args=training_args(job, tmp_path, has_validation=False))
    assert trainer.model_accepts_loss_kwargs is False


def test_average_checkpoints_loads_the_mean_weights(make_job, tmp_path):
    import torch

    from stance.training import average_checkpoints

    job = make_job()
    models = []
    for step, seed in ((10, 1), (20, 2), (30, 3)):
        torch.manual_seed(seed)
        model, _ = build_model(job.model, LabelSet())
        model.save_pretrained(tmp_path / f"checkpoint-{step}")
        models.append(model)
    target, _ = build_model(job.model, LabelSet())
    used = average_checkpoints(target, tmp_path, 2)
    assert used == ["checkpoint-20", "checkpoint-30"]
    name = "encoder.encoder.layer.0.output.dense.weight"
    expected = (models[1].state_dict()[name] + models[2].state_dict()[name]) / 2
    assert torch.allclose(target.state_dict()[name], expected, atol=1e-6)
    with pytest.raises(RuntimeError, match="left 3 checkpoints"):
        average_checkpoints(target, tmp_path, 4)


@pytest.mark.parametrize(("overrides", "message"), [
    (["train.rdrop_alpha=-1"], r"train.rdrop_alpha=-1.0; must be 0 \(off\) or more"),
    (["train.epochs=2", "train.max_steps=-1", "train.average_checkpoints=3"], "saves only 2 epoch checkpoints"),
    (["train.average_checkpoints=1", "train.max_steps=5"], "unset train.max_steps"),
    (["train.epochs=2", "train.max_steps=-1", "train.average_checkpoints=2", "train.early_stopping_patience=1"],
     "exclude each other"),
    (["train.distill=true"], r"must name the teacher versions when train.distill=true"),
    (["train.distill_from=[v0001]"], r"and only then"),
    (["train.distill=true", "train.distill_from=[v0001]", "train.rdrop_alpha=1"], "exclude each other"),
    (["train.distill_weight=1.5"], r"train.distill_weight=1.5; must be in \[0,1\]"),
])
def test_bad_training_combinations_are_refused(make_job, overrides, message):
    from stance.config import ConfigError
    from stance.training import check_train_config

    with pytest.raises(ConfigError, match=message):
        check_train_config(make_job(*overrides))


def test_a_run_with_rdrop_and_averaging_publishes_the_averaged_model(make_job):
    import json

    from stance.pipeline import run_training

    result = run_training(make_job("train.epochs=2", "train.max_steps=-1", "train.average_checkpoints=2",
                                   "train.rdrop_alpha=1.0", "train.eval_every_epoch=true"))
    manifest = json.loads((result.path / "manifest.json").read_text())
    assert len(manifest["training"]["averaged_checkpoints"]) == 2
    assert manifest["training"]["best_checkpoint"] is None
    assert "mean of the checkpoints" in (result.path / "README.md").read_text()


CONFIG_ROWS = [f"experiment={p.stem}" for p in sorted((CONFIGS / "experiment").glob("*.yaml"))] + [
    f"ablation={p.parent.name}/{p.stem}" for p in sorted((CONFIGS / "ablation").glob("*/*.yaml"))]


@pytest.mark.parametrize("override", CONFIG_ROWS)
def test_every_experiment_and_ablation_config_composes_into_a_valid_job(override):
    """A typo in an experiment or ablation file fails here, not after minutes of data preparation."""
    from stance.model import Encoding
    from stance.training import check_train_config

    cfg = compose_config("train", [override])
    if cfg.train.distill:  # a distillation row needs its teachers named on the command line
        cfg = compose_config("train", [override, "train.distill_from=[v0001]"])
    job = to_dataclass(cfg, TrainJob)
    Encoding.from_model_config(job.model)
    check_train_config(job)
    if override.startswith("ablation="):
        # Each row names itself explicitly; the benchmark table groups runs by these keys.
        study, row = override.removeprefix("ablation=").split("/")
        assert (job.study, job.variant) == (study, row)


def test_averaging_keeps_the_last_checkpoints_not_the_best(make_job, tmp_path):
    # With a "best" metric, Trainer's rotation protects the best checkpoint and
    # deletes a newer one; averaging must get the last k epochs instead.
    job = make_job("train.epochs=3", "train.max_steps=-1", "train.average_checkpoints=2", "train.eval_every_epoch=true")
    args = training_args(job, tmp_path, has_validation=True)
    assert args.metric_for_best_model is None
    assert args.load_best_model_at_end is False
    assert args.save_total_limit == 2
    plain = training_args(make_job("train.eval_every_epoch=true"), tmp_path, has_validation=True)
    assert plain.metric_for_best_model == "macro_f1" and plain.load_best_model_at_end


def test_the_default_newsmtsc_setup_is_the_row_the_table_reports():
    # experiment=newsmtsc includes the chosen ablation row instead of copying it.
    default = to_dataclass(compose_config("train", ["experiment=newsmtsc"]), TrainJob)
    reported = to_dataclass(compose_config("train", ["ablation=newsmtsc/lr1e4_average2"]), TrainJob)
    assert (default.study, default.variant) == ("newsmtsc", "lr1e4_average2")
    assert default == reported


def test_the_train_command_returns_the_validation_metric_for_a_sweeper(tmp_path):
    from stance.cli.train import task

    cfg = compose_config("train", ["debug=tiny", f"registry={tmp_path}/registry",
                                   f"prepared_root={tmp_path}/prepared", f"work_dir={tmp_path}/runs"])
    value = task(cfg)
    manifest = json.loads((tmp_path / "registry" / "v0001" / "manifest.json").read_text())
    assert value == manifest["metrics"]["validation"]["macro_f1"]
