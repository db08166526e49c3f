"""Knowledge distillation: the loss, the soft targets, and a distilled run from teacher versions."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from stance.errors import ConfigError
from stance.labels import IGNORE_INDEX
from stance.pipeline import run_training
from stance.registry import read_manifest
from stance.training.distill import distillation_loss, soften
from tests.conftest import tiny_train_job


def _ce(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.cross_entropy(logits.reshape(-1, 3), labels.reshape(-1), ignore_index=IGNORE_INDEX)


def test_the_loss_is_cross_entropy_at_weight_zero_and_against_one_hot_targets():
    logits = torch.tensor([[[2.0, -1.0, 0.3], [0.1, 0.2, 0.3]]])
    labels = torch.tensor([[1, IGNORE_INDEX]])
    ce = _ce(logits, labels)
    soft = torch.tensor([[[0.2, 0.5, 0.3], [0.0, 0.0, 0.0]]])
    assert distillation_loss(logits, labels, soft, ce, 0.0, 1.0).item() == pytest.approx(ce.item())
    # KL(one-hot || p) = -log p[gold]: with the gold label as the only soft target the loss is the CE.
    one_hot = torch.tensor([[[0.0, 1.0, 0.0], [0.0, 0.0, 0.0]]])
    assert distillation_loss(logits, labels, one_hot, ce, 1.0, 1.0).item() == pytest.approx(ce.item(), rel=1e-5)
    # A soft target that differs from the gold label moves the loss; the padded slot does not count.
    assert distillation_loss(logits, labels, soft, ce, 1.0, 1.0).item() != pytest.approx(ce.item(), rel=1e-3)
    padded_elsewhere = soft.clone()
    padded_elsewhere[0, 1] = torch.tensor([1.0, 0.0, 0.0])
    assert distillation_loss(logits, labels, padded_elsewhere, ce, 1.0, 1.0).item() == pytest.approx(
        distillation_loss(logits, labels, soft, ce, 1.0, 1.0).item())


def test_a_higher_temperature_flattens_the_teacher_and_one_leaves_it_alone():
    probs = torch.tensor([[0.7, 0.2, 0.1]])
    assert torch.equal(soften(probs, 1.0), probs)
    warm = soften(probs, 3.0)
    assert warm.sum().item() == pytest.approx(1.0)
    assert warm[0, 0] < probs[0, 0] and warm[0, 2] > probs[0, 2]
    assert warm.argmax().item() == 0


def _weights_sha(version_dir) -> str:
    return read_manifest(version_dir)["artifacts_sha256"]["model.safetensors"]


@pytest.mark.slow  # three tiny training runs
def test_a_distilled_run_records_its_teacher_and_weight_zero_changes_nothing(tiny_version, tmp_path):
    plain = run_training(tiny_train_job(tmp_path / "plain"))
    off = run_training(tiny_train_job(tmp_path / "off", "train.distill=true", f"train.distill_from=[{tiny_version}]",
                                      "train.distill_weight=0.0"))
    on = run_training(tiny_train_job(tmp_path / "on", "train.distill=true", f"train.distill_from=[{tiny_version}]",
                                     "train.distill_temperature=2.0"))
    # Computing soft targets leaves the seeded steps alone, and a zero weight leaves only the CE term.
    assert _weights_sha(off.path) == _weights_sha(plain.path)
    assert _weights_sha(on.path) != _weights_sha(plain.path)
    record = json.loads((on.path / "manifest.json").read_text())["training"]["distillation"]
    assert record["teachers"][0]["weights_sha256"] == _weights_sha(tiny_version)
    assert record["teachers"][0]["version"] == read_manifest(tiny_version)["version"]
    assert record["soft_target_seconds"] >= 0
    assert json.loads((plain.path / "manifest.json").read_text())["training"]["distillation"] is None
    card = (on.path / "README.md").read_text()
    assert "distilled from 1 teacher version(s)" in card and "(T = 2.0)" in card
    assert "distilled" not in (plain.path / "README.md").read_text()


@pytest.mark.parametrize(("teacher", "override", "message"), [
    ("missing", (), "train.distill_from[0]="),
    ("v0042", (), "version 'v0042' not found"),
    ("tiny", ("data.max_train_rows=40",), "trained on other data"),
    ("tiny", ("data.labels=[against,favor,neutral]",), "labels"),
    ("tampered", (), "model.safetensors does not match its SHA-256"),
])
def test_a_teacher_that_cannot_teach_this_run_is_refused_before_training(tiny_version, tmp_path, teacher,
                                                                          override, message):
    names = {"tiny": str(tiny_version), "missing": str(tmp_path / "nowhere"), "tampered": str(tmp_path / "v0001")}
    if teacher == "tampered":
        shutil.copytree(tiny_version, tmp_path / "v0001")
        with open(tmp_path / "v0001" / "model.safetensors", "r+b") as fh:
            fh.seek(-4, 2)
            fh.write(b"\x00\x01\x02\x03")
    name = names.get(teacher, teacher)
    job = tiny_train_job(tmp_path, "train.distill=true", f"train.distill_from=[{name}]", *override)
    with pytest.raises(ConfigError, match=message.replace("[", r"\[")):
        run_training(job)
    assert not (tmp_path / "registry").exists() or not any((tmp_path / "registry").glob("v*"))
