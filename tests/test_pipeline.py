"""Issue 2: train -> evaluate -> versioned checkpoint -> model card, end to end."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from huggingface_hub import ModelCard

from stance.card import CARD
from stance.config import EvaluateJob, _minilm_path
from stance.evaluation.predictions import PREDICTIONS_JSONL
from stance.evaluation.report import METRICS_JSON, REPORT_FILES
from stance.files import sha256_file
from stance.pipeline import run_evaluation, run_training
from stance.registry import Registry
from stance.schemas import to_dataclass

from .conftest import compose_config

VERSION_FILES = {"model.safetensors", "config.json", "tokenizer.json", "tokenizer_config.json",
                 "config.yaml", "manifest.json", CARD}


def test_run_writes_a_complete_version(tiny_version):
    path = tiny_version
    assert path.name == "v0001" and (path.parent / "latest").resolve() == path.resolve()
    assert VERSION_FILES <= {p.name for p in path.iterdir()}
    assert not list(path.glob("*.bin")) and not list(path.glob("*.pt")), "no pickled files in a version"

    manifest = json.loads((path / "manifest.json").read_text())
    for key in ("version", "encoder", "data", "git", "libraries", "seed", "metrics", "artifacts_sha256"):
        assert key in manifest
    assert manifest["seed"] == 42
    assert manifest["encoder"]["source"] == "package"  # named portably: tests/test_card.py
    assert manifest["encoder"]["weights_sha256"] == sha256_file(Path(_minilm_path()) / "model.safetensors")
    sources = {"train.jsonl", "validation.jsonl", "test.jsonl", "test_hard.jsonl", "test_hard2.jsonl"}
    assert set(manifest["data"]["sources_sha256"]) == sources
    assert manifest["artifacts_sha256"]["model.safetensors"] == sha256_file(path / "model.safetensors")
    assert manifest["libraries"]["transformers"].startswith("5.")
    # The label map lives in the model config.
    config = json.loads((path / "config.json").read_text())
    assert config["id2label"] == {"0": "favor", "1": "against", "2": "neutral"}

    # Metrics in the manifest are the ones the evaluation wrote.
    for split in ("validation", "test", "test_hard", "test_hard2"):  # the hard splits: eval splits of world_affairs
        written = json.loads((path / "eval" / split / METRICS_JSON).read_text())["metrics"]
        assert written["macro_f1"] == manifest["metrics"][split]["macro_f1"]
        preds = (path / "eval" / split / PREDICTIONS_JSONL).read_text().splitlines()
        assert len(preds) == written["n"] == manifest["data"]["splits"][split]["pairs"]


def test_card_numbers_come_from_the_run(tiny_version):
    manifest = json.loads((tiny_version / "manifest.json").read_text())
    card = ModelCard.load(tiny_version / CARD)
    results = card.data.eval_results
    assert {r.dataset_split for r in results} == {"validation", "test", "test_hard", "test_hard2"}
    for r in results:
        if r.metric_type == "macro_f1":
            assert r.metric_value == round(manifest["metrics"][r.dataset_split]["macro_f1"], 4)
    text = card.text
    for heading in ("## Intended use", "## Labels", "## Training data", "## Training hyperparameters",
                    "## Results", "## Limitations", "## Provenance"):
        assert heading in text
    assert f"{manifest['metrics']['test']['macro_f1']:.4f}" in text
    assert manifest["git"]["commit"] in text
    assert manifest["libraries"]["torch"] in text


def test_second_run_is_a_new_version_leaves_the_first_untouched_and_reproduces_it(make_job):
    first = run_training(make_job())
    before = {p.name: sha256_file(p) for p in first.path.rglob("*") if p.is_file()}
    second = run_training(make_job())
    assert (first.version, second.version) == ("v0001", "v0002")
    after = {p.name: sha256_file(p) for p in first.path.rglob("*") if p.is_file()}
    assert before == after
    registry = Registry(first.path.parent)
    assert registry.versions() == ["v0001", "v0002"]
    assert registry.resolve("latest") == second.path.resolve()
    # Published files are read-only, so an accidental write fails loudly.
    assert (first.path / "model.safetensors").stat().st_mode & 0o222 == 0
    # Same config, data and seed on CPU: the same metrics.
    assert first.metrics == second.metrics


def test_failed_run_leaves_no_version(make_job, monkeypatch):
    import stance.pipeline as train_module

    def broken(_path):
        raise RuntimeError("card template exploded")

    monkeypatch.setattr(train_module, "write_card", broken)
    job = make_job()
    with pytest.raises(RuntimeError, match="exploded"):
        run_training(job)
    registry = Registry(job.registry)
    assert registry.versions() == []
    assert not (Path(job.registry) / "latest").exists()
    assert list((Path(job.registry) / ".staging").iterdir()) == []


def test_evaluate_writes_beside_the_version_without_touching_it(tiny_version, tmp_path):
    before = {p.name: sha256_file(p) for p in tiny_version.iterdir() if p.is_file()}
    cfg = compose_config("evaluate", [f"registry={tiny_version.parent}", f"prepared_root={tmp_path}/prep",
                                      f"version={tiny_version.name}", "splits=[validation]"])
    out_dir, metrics = run_evaluation(to_dataclass(cfg, EvaluateJob))
    assert out_dir == tiny_version / "evaluations" / "world_affairs"
    assert 0.0 <= metrics["validation"]["macro_f1"] <= 1.0
    # Same weights, same data: the same score as the training run's own evaluation.
    manifest = json.loads((tiny_version / "manifest.json").read_text())
    assert metrics["validation"]["macro_f1"] == pytest.approx(manifest["metrics"]["validation"]["macro_f1"])
    after = {p.name: sha256_file(p) for p in tiny_version.iterdir() if p.is_file()}
    assert before == after


def test_evaluate_checkpoint_writes_each_split_folder_once_from_memory(tiny_version, tmp_path, monkeypatch):
    """One folder per split, written once from the rows in memory: no <split>.json, nothing read back."""
    import stance.evaluation.evaluate as evaluate_module
    import stance.evaluation.report as report_module
    from stance.data import prepare
    from stance.evaluation import evaluate_checkpoint

    def no_read_back(path):
        raise AssertionError(f"evaluation read back {path}")

    monkeypatch.setattr(report_module, "read_predictions", no_read_back)
    written = []
    real_write_report = evaluate_module.write_report

    def counting_write_report(folder, *args, **kwargs):
        written.append(Path(folder).name)
        return real_write_report(folder, *args, **kwargs)

    monkeypatch.setattr(evaluate_module, "write_report", counting_write_report)
    cfg = compose_config("evaluate", [f"registry={tiny_version.parent}", f"prepared_root={tmp_path}/prep"])
    prepared = prepare(to_dataclass(cfg, EvaluateJob).data, tmp_path / "prep")
    out = tmp_path / "eval"
    metrics = evaluate_checkpoint(tiny_version, prepared, ["validation", "test"], 16, out, progress=False)
    assert written == ["validation", "test"]
    assert sorted(p.name for p in out.iterdir()) == ["test", "validation"]  # no <split>.json beside them
    for split in ("validation", "test"):
        folder = out / split
        assert {p.name for p in folder.iterdir()} == {PREDICTIONS_JSONL, *REPORT_FILES}
        report = json.loads((folder / METRICS_JSON).read_text())
        assert report["metrics"]["macro_f1"] == metrics[split]["macro_f1"]
        assert (report["version"], report["split"]) == ("v0001", split)
        assert (report["data"], report["data_fingerprint"]) == ("world_affairs", prepared.manifest["fingerprint"])
        assert len((folder / PREDICTIONS_JSONL).read_text().splitlines()) == metrics[split]["n"]
    # The training run's own evaluation has the same layout.
    assert sorted(p.name for p in (tiny_version / "eval").iterdir()) == ["test", "test_hard", "test_hard2",
                                                                        "validation"]


def test_card_lists_the_data_configs_card_notes_under_limitations(tiny_version, tmp_path):
    from stance.card import collect, render

    manifest = json.loads((tiny_version / "manifest.json").read_text())
    assert manifest["data"]["card_notes"] == []  # world_affairs has no caveats
    text = (tiny_version / CARD).read_text()
    assert "periods.\n- Sentences longer than" in text and "NewsMTSC" not in text
    manifest["data"]["card_notes"] = ["First caveat.", "Second caveat."]
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    card = render(collect(tmp_path)).text
    limitations = card.split("## Limitations")[1].split("## Provenance")[0]
    assert "periods.\n- First caveat.\n- Second caveat.\n- Sentences longer than" in limitations


def test_newsmtsc_config_carries_its_card_note():
    data = to_dataclass(compose_config("evaluate", ["data=newsmtsc"]), EvaluateJob).data
    assert len(data.card_notes) == 1 and data.card_notes[0].startswith("NewsMTSC labels sentiment toward the target")


def _cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    bindir = Path(sys.executable).parent
    return subprocess.run([str(bindir / args[0]), *args[1:]], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)


@pytest.mark.slow
def test_console_commands_as_a_user_runs_them(tmp_path):
    train = _cli(["stance-train", "debug=tiny", "train.epochs=1"], tmp_path)
    assert train.returncode == 0, train.stderr
    assert "stance-train: wrote v0001 to registry/v0001" in train.stdout
    listing = _cli(["stance-models", "list"], tmp_path)
    assert listing.returncode == 0 and "v0001" in listing.stdout and "latest" in listing.stdout
    show = _cli(["stance-models", "show", "latest"], tmp_path)
    assert json.loads(show.stdout)["version"] == "v0001"
    evaluation = _cli(["stance-evaluate", "version=v0001", "splits=[test]"], tmp_path)
    assert evaluation.returncode == 0, evaluation.stderr
    assert (tmp_path / "registry/v0001/evaluations/world_affairs/test/metrics.json").is_file()


def test_models_cli_errors_are_clear(tmp_path, capsys):
    from stance.cli.models import main

    assert main(["--registry", str(tmp_path), "show", "v0042"]) == 2
    assert "version 'v0042' not found" in capsys.readouterr().err
    assert main(["--registry", str(tmp_path), "list"]) == 0
    assert "no versions" in capsys.readouterr().out
    assert main(["--registry", str(tmp_path / "mistyped"), "list"]) == 2  # not an empty registry
    assert capsys.readouterr().err == f"error: registry {tmp_path / 'mistyped'}: no such folder (stance-train " \
                                      "creates it; --registry names another)\n"


def test_bad_config_value_names_the_key(tmp_path):
    bad = _cli(["stance-train", "debug=tiny", "model.pooling=banana"], tmp_path)
    assert bad.returncode == 2
    assert "model.pooling='banana'" in bad.stderr
    assert not (tmp_path / "registry" / "v0001").exists()


def test_train_evaluate_predict_card_end_to_end(tiny_version, tmp_path):
    """The whole path a user walks: train a version, evaluate it, predict with it, read its card."""
    from stance.predict import PredictJob, run_prediction

    version = tiny_version  # trained by run_training, which writes the card as its last stage
    cfg = compose_config("evaluate", [f"registry={version.parent}", f"prepared_root={tmp_path}/prep",
                                      "version=latest", "splits=[test]"])
    _, metrics = run_evaluation(to_dataclass(cfg, EvaluateJob))  # evaluate
    article = tmp_path / "article.txt"
    article.write_text("Brazil welcomed the ceasefire brokered by Qatar, while Venezuela accused "
                       "Washington of sabotaging the talks.\n", encoding="utf-8")
    out = tmp_path / "rows.jsonl"
    run_prediction(PredictJob(version="latest", registry=str(version.parent), inputs=[str(article)],
                              out=str(out), threads=1, progress=False, table=False))  # predict
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["actor"], r["mention"]) for r in rows] == [
        ("Brazil", "Brazil"), ("Qatar", "Qatar"), ("Venezuela", "Venezuela"), ("United States", "Washington")]
    assert all(r["label"] in {"favor", "against", "neutral"} for r in rows)
    card = ModelCard.load(version / CARD)  # card
    test_f1 = next(r.metric_value for r in card.data.eval_results
                   if r.dataset_split == "test" and r.metric_type == "macro_f1")
    assert test_f1 == round(metrics["test"]["macro_f1"], 4)


def test_stance_evaluate_shows_one_progress_bar_for_all_its_splits(tiny_version, tmp_path, capfd):
    # Issue 26: one bar per long stage. Not one per split, and no "Loading weights" bar from transformers.
    cfg = compose_config("evaluate", [f"registry={tiny_version.parent}", f"prepared_root={tmp_path}/prep",
                                      "splits=[validation,test]", f"version={tiny_version.name}"])
    run_evaluation(to_dataclass(cfg, EvaluateJob))
    err = capfd.readouterr().err
    totals = set(re.findall(r"\| *\d+/(\d+) \[", err))
    assert totals == {"1070"}, err[-2000:]  # one bar over validation (680 pairs) and test (390), not one each
    assert "evaluating validation:" in err and "evaluating test:" in err
    assert "Loading weights" not in err
