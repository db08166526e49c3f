"""Validation in stage 1: every rule's exact message, all bad rows reported,
nothing written on failure, drops counted in the manifest, and config errors
that name their key.  Configs are the real files under configs/data/."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.errors import ConfigCompositionException

from stance.config import ConfigError, DataConfig, PrepareJob, config_dir
from stance.data import DataError, build_splits, load_prepared, prepare
from stance.schemas import to_dataclass

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = config_dir()
FIXTURES = ROOT / "tests" / "fixtures" / "data"


def data_config(*overrides: str) -> DataConfig:
    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        cfg = compose("prepare", overrides=list(overrides))
    return to_dataclass(cfg, PrepareJob).data


def newsmtsc_train_only(folder: Path) -> DataConfig:
    """The real NewsMTSC config, pointed at one train.jsonl fixture, strict, nothing carved."""
    return data_config("data=newsmtsc", f"data.path={folder}", "~data.files.test_rw", "~data.files.test_mt",
                       "data.eval_splits=[]", "data.drop_invalid=false", "data.split.validation=0")


def problems_of(cfg: DataConfig) -> list[str]:
    """The problem lines of the DataError that ``cfg`` raises."""
    with pytest.raises(DataError, match=r"^\d+ problem\(s\) in") as info:
        build_splits(cfg)
    return [line.strip() for line in str(info.value).splitlines()[1:]]


def expected(name: str) -> list[str]:
    return (FIXTURES / name / "expected_errors.txt").read_text().splitlines()


# ---------------------------------------------------------------- one rule at a time

SENTENCE = "Mayor Ortiz praised the volunteers who cleaned the river."
GOOD = {
    "id": "g-1",
    "doc": "g",
    "sentence": SENTENCE,
    "targets": [{"from": 6, "to": 11, "mention": "Ortiz", "label": "favor"}],
}
OTHER = "Councillor Brandt attacked the plan as a waste of money."
TEST_ROW = {
    "id": "t-1",
    "doc": "t",
    "sentence": "Judge Quinn thanked the jury.",
    "targets": [{"from": 6, "to": 11, "mention": "Quinn", "label": "neutral"}],
}


def span_row(**changes) -> dict:
    row = json.loads(json.dumps(GOOD))
    row["id"], row["doc"], row["sentence"] = "x-1", "x", OTHER
    row["targets"] = [{"from": 11, "to": 17, "mention": "Brandt", "label": "against"}]
    for key, value in changes.items():
        if value is None:
            row.pop(key)
        else:
            row[key] = value
    return row


def write_span_corpus(folder: Path, bad_line: bytes, test_rows: list[dict] | None = None) -> DataConfig:
    """train.jsonl = one good row, then the line under test (line 2)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "train.jsonl").write_bytes(json.dumps(GOOD).encode() + b"\n" + bad_line + b"\n")
    rows = test_rows or [TEST_ROW]
    (folder / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return data_config("data=spans_jsonl", f"data.path={folder}", "data.split.validation=0")


def dumps(row: dict) -> bytes:
    return json.dumps(row).encode()


SPAN_CASES = {
    "missing field: sentence": (dumps(span_row(sentence=None)), "train.jsonl:2: sentence: missing field"),
    "missing field: targets": (dumps(span_row(targets=None)), "train.jsonl:2: targets: missing field"),
    "missing field: label": (
        dumps(span_row(targets=[{"from": 11, "to": 17, "mention": "Brandt"}])),
        "train.jsonl:2: targets[0].label: missing field",
    ),
    "missing field: mention": (
        dumps(span_row(targets=[{"from": 11, "to": 17, "label": "favor"}])),
        "train.jsonl:2: targets[0].mention: missing field",
    ),
    "missing field: span end": (
        dumps(span_row(targets=[{"from": 11, "mention": "Brandt", "label": "favor"}])),
        "train.jsonl:2: targets[0].to: missing field",
    ),
    "empty targets": (
        dumps(span_row(targets=[])),
        "train.jsonl:2: targets: must be a non-empty list, got []",
    ),
    "empty sentence": (dumps(span_row(sentence=" \t ")), "train.jsonl:2: sentence: empty sentence"),
    "sentence not a string": (
        dumps(span_row(sentence=42)),
        "train.jsonl:2: sentence: must be a string, got 42",
    ),
    "unknown label": (
        dumps(span_row(targets=[{"from": 11, "to": 17, "mention": "Brandt", "label": "pro"}])),
        "train.jsonl:2: targets[0].label: unknown label 'pro'; "
        "expected one of ['favor', 'against', 'neutral'] (data.labels)",
    ),
    "span outside the sentence": (
        dumps(span_row(targets=[{"from": 50, "to": 60, "mention": "Brandt", "label": "favor"}])),
        "train.jsonl:2: targets[0].from: span [50,60) is outside the sentence (length 56)",
    ),
    "span reversed": (
        dumps(span_row(targets=[{"from": 17, "to": 11, "mention": "Brandt", "label": "favor"}])),
        "train.jsonl:2: targets[0].from: span [17,11) is outside the sentence (length 56)",
    ),
    "span not equal to the mention": (
        dumps(
            span_row(
                sentence="Reporters waiting outside the hall asked why Biden had left early.",
                targets=[{"from": 45, "to": 51, "mention": "Biden", "label": "neutral"}],
            )
        ),
        "train.jsonl:2: targets[0].from: span [45,51) is 'Biden ' but mention is 'Biden'",
    ),
    "span not integers": (
        dumps(span_row(targets=[{"from": 11.5, "to": 17, "mention": "Brandt", "label": "favor"}])),
        "train.jsonl:2: targets[0].from: span [11.5,17) must be two integers",
    ),
    "target not an object": (
        dumps(span_row(targets=["Brandt"])),
        "train.jsonl:2: targets[0]: a target must be an object",
    ),
    "invalid UTF-8": (
        b'{"sentence": "Caf\xe9 owners cheered."}',
        "train.jsonl:2: line: invalid UTF-8 (invalid continuation byte at byte 17)",
    ),
    "invalid JSON": (
        b'{"sentence": "Brandt spoke." "targets": []}',
        "train.jsonl:2: line: invalid JSON: Expecting ',' delimiter (column 30)",
    ),
    "not a JSON object": (b'"just a string"', "train.jsonl:2: line: a row must be a JSON object, not str"),
    "exact duplicate": (
        dumps({**GOOD, "id": "g-2"}),
        "train.jsonl:2: targets[0]: exact duplicate of train.jsonl:1 targets[0] ('Ortiz' [6,11), favor)",
    ),
    "conflicting labels": (
        dumps(
            {**GOOD, "id": "g-2", "targets": [{"from": 6, "to": 11, "mention": "Ortiz", "label": "against"}]}
        ),
        "train.jsonl:2: targets[0]: conflicting labels for 'Ortiz' [6,11): against here, "
        "favor at train.jsonl:1 targets[0]",
    ),
    "same sentence in two splits": (
        dumps({**TEST_ROW, "id": "x-9", "doc": "x"}),
        "train.jsonl:2: sentence: same sentence in split 'test' (test.jsonl:1) and 'train'",
    ),
}


@pytest.mark.parametrize("case", list(SPAN_CASES))
def test_each_span_rule_has_its_exact_message(tmp_path: Path, case: str) -> None:
    line, message = SPAN_CASES[case]
    cfg = write_span_corpus(tmp_path / "corpus", line)
    assert problems_of(cfg) == [message]


def test_a_duplicate_within_one_row_names_both_targets(tmp_path: Path) -> None:
    twice = {"from": 6, "to": 11, "mention": "Ortiz", "label": "favor"}
    cfg = write_span_corpus(
        tmp_path / "c",
        dumps({**GOOD, "id": "g-2", "sentence": SENTENCE + " Again.", "targets": [twice, twice]}),
    )
    assert problems_of(cfg) == [
        "train.jsonl:2: targets[1]: exact duplicate of train.jsonl:2 targets[0] ('Ortiz' [6,11), favor)"
    ]


def test_same_sentence_check_ignores_whitespace_differences(tmp_path: Path) -> None:
    respaced = {**TEST_ROW, "id": "x-9", "sentence": "Judge Quinn thanked  the\njury. "}
    cfg = write_span_corpus(tmp_path / "c", dumps(respaced))
    assert problems_of(cfg) == [
        "train.jsonl:2: sentence: same sentence in split 'test' (test.jsonl:1) and 'train'"
    ]


def test_two_evaluation_splits_may_share_a_sentence(tmp_path: Path) -> None:
    folder = tmp_path / "c"
    write_span_corpus(folder, dumps(span_row()))
    (folder / "test2.jsonl").write_text(json.dumps(TEST_ROW) + "\n")
    cfg = data_config(
        "data=spans_jsonl",
        f"data.path={folder}",
        "data.split.validation=0",
        "+data.files.test2=test2.jsonl",
        "data.eval_splits=[test,test2]",
    )
    splits, problems = build_splits(cfg)
    assert problems == []
    assert [s.text for s in splits["test2"]] == [TEST_ROW["sentence"]]


def test_label_map_values_are_reported_in_the_raw_vocabulary(tmp_path: Path) -> None:
    folder = tmp_path / "c"
    folder.mkdir()
    rows = [
        {
            "sentence_normalized": "Senator Doyle thanked the nurses.",
            "primary_gid": "pol_1_2_0_Doyle_8_13",
            "targets": [{"from": 8, "to": 13, "mention": "Doyle", "polarity": 5.0}],
        }
    ]
    (folder / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = newsmtsc_train_only(folder)
    assert problems_of(cfg) == [
        "train.jsonl:1: targets[0].polarity: unknown label 5.0; expected one of ['2.0', '4.0', '6.0'] "
        "(data.label_map) or ['favor', 'against', 'neutral'] (data.labels)"
    ]


def test_an_id_that_does_not_match_doc_id_pattern_is_reported(tmp_path: Path) -> None:
    folder = tmp_path / "c"
    folder.mkdir()
    row = {
        "sentence_normalized": "Senator Doyle thanked the nurses.",
        "primary_gid": "no-article-here",
        "targets": [{"from": 8, "to": 13, "mention": "Doyle", "polarity": 6.0}],
    }
    (folder / "train.jsonl").write_text(json.dumps(row) + "\n")
    cfg = newsmtsc_train_only(folder)
    pattern = cfg.fields.doc_id_pattern
    assert problems_of(cfg) == [
        "train.jsonl:1: primary_gid: id 'no-article-here' does not match "
        f"data.fields.doc_id_pattern {pattern!r}"
    ]


# ---------------------------------------------------------------- tables

HEADER = "id\ttext\ttarget\tstart\tend\tstance\n"
TOPIC_ROW = "r1\tThe clinic closures leave many women without care.\tLegalization of Abortion\t\t\tFAVOR\n"


def write_table(folder: Path, body: bytes, header: str = HEADER) -> DataConfig:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "train.tsv").write_bytes(header.encode() + TOPIC_ROW.encode() + body)
    (folder / "test.tsv").write_text(
        HEADER + "t1\tDoctors say the rules delay care.\tLegalization of Abortion\t\t\tFAVOR\n"
    )
    return data_config("data=topics_tsv", f"data.path={folder}", "data.split.validation=0")


TABLE_CASES = {
    "missing field": (
        b"r2\tThe waste stays dangerous.\tNuclear power\t\t\t\n",
        "train.tsv:3: stance: missing field",
    ),
    "empty sentence": (b"r2\t \tNuclear power\t\t\tFAVOR\n", "train.tsv:3: text: empty sentence"),
    "unknown label": (
        b"r2\tThe waste stays dangerous.\tNuclear power\t\t\tfavour\n",
        "train.tsv:3: stance: unknown label 'favour'; expected one of ['FAVOR', 'AGAINST', 'NONE'] "
        "(data.label_map) or ['favor', 'against', 'neutral'] (data.labels)",
    ),
    "span outside the sentence": (
        b"r2\tCritics blamed the reactor.\treactor\t19\t99\tAGAINST\n",
        "train.tsv:3: start: span [19,99) is outside the sentence (length 27)",
    ),
    "span not equal to the mention": (
        b"r2\tCritics blamed the reactor.\treactor\t18\t25\tAGAINST\n",
        "train.tsv:3: start: span [18,25) is ' reacto' but mention is 'reactor'",
    ),
    "invalid UTF-8": (
        b"r2\tThe caf\xe9 closed.\tNuclear power\t\t\tNONE\n",
        "train.tsv:3: text: invalid UTF-8 (byte 0xe9)",
    ),
    "wrong number of values": (
        b"r2\tToo few cells.\tNONE\n",
        "train.tsv:3: row: row has 3 values but the header has 6 columns",
    ),
    "exact duplicate": (
        TOPIC_ROW.replace("r1", "r2").encode(),
        "train.tsv:3: row: exact duplicate of train.tsv:2 ('Legalization of Abortion', favor)",
    ),
    "conflicting labels": (
        TOPIC_ROW.replace("r1", "r2").replace("FAVOR", "AGAINST").encode(),
        "train.tsv:3: row: conflicting labels for 'Legalization of Abortion': "
        "against here, favor at train.tsv:2",
    ),
    "same sentence in two splits": (
        b"r2\tDoctors say the rules delay care.\tNuclear power\t\t\tNONE\n",
        "train.tsv:3: text: same sentence in split 'test' (test.tsv:2) and 'train'",
    ),
}


@pytest.mark.parametrize("case", list(TABLE_CASES))
def test_each_table_rule_has_its_exact_message(tmp_path: Path, case: str) -> None:
    body, message = TABLE_CASES[case]
    assert problems_of(write_table(tmp_path / "t", body)) == [message]


def test_a_missing_column_fails_once_not_once_per_row(tmp_path: Path) -> None:
    cfg = write_table(tmp_path / "t", b"", header="id\tsentence\ttarget\tstart\tend\tstance\n")
    assert problems_of(cfg) == [
        "train.tsv:1: header: missing column 'text' (data.fields.text); "
        "the columns are ['id', 'sentence', 'target', 'start', 'end', 'stance']"
    ]


def test_a_multi_line_cell_reports_later_rows_at_their_own_line(tmp_path: Path) -> None:
    body = b'r2\t"Two\nlines."\tNuclear power\t\t\tNONE\nr3\tLater row.\tNuclear power\t\t\tMAYBE\n'
    assert problems_of(write_table(tmp_path / "t", body))[0].startswith(
        "train.tsv:5: stance: unknown label 'MAYBE'"
    )


# ---------------------------------------------------------------- all rows, nothing written


@pytest.mark.parametrize(("fixture", "data"), [("bad_spans", "spans_jsonl"), ("bad_table", "topics_tsv")])
def test_every_bad_row_is_reported_and_nothing_is_written(tmp_path: Path, fixture: str, data: str) -> None:
    cfg = data_config(f"data={data}", f"data.path={FIXTURES / fixture}")
    root = tmp_path / "prepared"
    with pytest.raises(DataError) as info:
        prepare(cfg, root)
    lines = str(info.value).splitlines()
    rows = {tuple(line.split(":")[:2]) for line in expected(fixture)}  # a row may break several rules
    assert lines[0].startswith(f"{len(expected(fixture))} problem(s) in {len(rows)} row(s) of data={data}")
    assert "nothing was written (set data.drop_invalid=true to drop them instead)" in lines[0]
    assert [line.strip() for line in lines[1:]] == expected(fixture)
    assert not root.exists()


def test_drop_invalid_keeps_good_rows_and_counts_drops_with_reasons(tmp_path: Path) -> None:
    cfg = data_config(
        "data=spans_jsonl",
        f"data.path={FIXTURES / 'bad_spans'}",
        "data.drop_invalid=true",
        "data.split.validation=0",
    )
    prepared = prepare(cfg, tmp_path / "prepared")
    dropped = prepared.manifest["dropped"]
    assert dropped["rows"] == 14
    assert dropped["problems"] == expected("bad_spans")
    assert dropped["reasons"] == {
        "missing field": 4,  # line 10 lacks a mention as well as a sentence
        "empty sentence": 1,
        "unknown label": 1,
        "span outside the sentence": 1,
        "span does not match mention": 1,
        "bad span": 1,
        "invalid UTF-8": 1,
        "invalid JSON": 1,
        "not a JSON object": 1,
        "exact duplicate": 1,
        "conflicting labels": 1,
        "same sentence in two splits": 1,
    }
    # The first rows of each reason are kept beside the counts, so a user sees why without a rerun.
    assert dropped["examples"]["missing field"] == [
        "train.jsonl:9: sentence: missing field",
        "train.jsonl:10: targets[0].mention: missing field",
        "train.jsonl:11: targets: missing field",
    ]
    assert dropped["examples"]["bad span"] == ["train.jsonl:16: targets[0].from: span ['nine',14) must be two integers"]
    train = load_prepared(prepared.path).split("train")
    # Lines 1-8 survive, except line 2, whose label line 21 contradicts: both copies go.
    # Line 20 (a duplicate of line 1) goes; line 1 stays.
    assert train["id"] == ["a-1", "a-3", "b-1", "b-2", "b-3", "c-1", "c-2"]
    assert [len(t) for t in train["targets"]] == [1, 2, 1, 1, 2, 1, 1]
    assert prepared.manifest["splits"]["test"]["sentences"] == 2  # the test side of a leak stays as published


def test_conflicting_copies_in_one_row_drop_only_those_targets(tmp_path: Path) -> None:
    targets = [
        {"from": 6, "to": 11, "mention": "Ortiz", "label": "favor"},
        {"from": 6, "to": 11, "mention": "Ortiz", "label": "against"},
        {"from": 24, "to": 34, "mention": "volunteers", "label": "neutral"},
    ]
    folder = tmp_path / "c"
    write_span_corpus(
        folder, dumps({**GOOD, "id": "g-2", "sentence": SENTENCE + " Twice.", "targets": targets})
    )
    cfg = data_config(
        "data=spans_jsonl", f"data.path={folder}", "data.split.validation=0", "data.drop_invalid=true"
    )
    splits, _ = build_splits(cfg)
    assert [[t.mention for t in s.targets] for s in splits["train"]] == [["Ortiz"], ["volunteers"]]


def test_dropping_everything_is_an_error(tmp_path: Path) -> None:
    folder = tmp_path / "c"
    folder.mkdir()
    (folder / "train.jsonl").write_text("not json\n")
    (folder / "test.jsonl").write_text(json.dumps(TEST_ROW) + "\n")
    cfg = data_config("data=spans_jsonl", f"data.path={folder}", "data.drop_invalid=true")
    with pytest.raises(
        DataError, match=r"split\(s\) \['train'\] of data=spans_jsonl have no rows after dropping"
    ):
        prepare(cfg, tmp_path / "prepared")
    assert not (tmp_path / "prepared").exists()


# ---------------------------------------------------------------- config values

CONFIG_CASES = {
    "format": (["data.format=xml"], ConfigError, "bad config value data.format='xml'; expected one of"),
    "label_map": (
        ["+data.label_map.pro=supportive"],
        ConfigError,
        r"data.label_map maps to \['supportive'\], which are not in data.labels",
    ),
    "labels": (
        ["data.labels=[favor]"],
        ConfigError,
        r"data.labels=\['favor'\]: need at least two distinct labels",
    ),
    "missing file": (
        ["data.files.train=nope.jsonl"],
        DataError,
        "data.files.train: file '.*nope.jsonl' does not exist",
    ),
    "missing folder": (
        ["data.path=/no/such/folder"],
        DataError,
        "data.path: dataset folder '/no/such/folder'",
    ),
    "shares": (
        ["data.split.validation=0.7", "data.split.test=0.4"],
        ConfigError,
        "data.split: validation=0.7 and test=0.4 must be shares",
    ),
    "carve_from": (
        ["data.split.carve_from=all"],
        ConfigError,
        r"data.split.carve_from: split 'all' is not in data.files \['test', 'train'\]",
    ),
    "carve clash": (
        ["data.split.test=0.1"],
        ConfigError,
        r"data.split: carving 'train' would overwrite given split\(s\) \['test'\]",
    ),
    "eval_splits": (["data.eval_splits=[tset]"], ConfigError, r"data.eval_splits: \['tset'\] will not exist"),
    "span fields": (
        ["data.fields.end=null"],
        ConfigError,
        "data.fields.start='from' and data.fields.end=None",
    ),
    "span format without spans": (
        ["data.fields.start=null", "data.fields.end=null"],
        ConfigError,
        "data.fields.start: format=span needs span fields",
    ),
    "doc_id_pattern": (
        ["+data.fields.doc_id_pattern='(['"],
        ConfigError,
        "data.fields.doc_id_pattern='\\(\\[' is not a regular expression",
    ),
    "max_train_rows": (["data.max_train_rows=0"], ConfigError, "data.max_train_rows=0; must be at least 1"),
}


@pytest.mark.parametrize("case", list(CONFIG_CASES))
def test_a_bad_config_value_names_its_key(tmp_path: Path, case: str) -> None:
    overrides, error, pattern = CONFIG_CASES[case]
    cfg = data_config("data=spans_jsonl", *overrides)
    with pytest.raises(error, match=pattern):
        prepare(cfg, tmp_path / "prepared")
    assert not (tmp_path / "prepared").exists()


def test_an_unknown_file_extension_is_named(tmp_path: Path) -> None:
    (tmp_path / "train.txt").write_text("Brandt spoke.\n")
    cfg = data_config(
        "data=spans_jsonl", f"data.path={tmp_path}", "data.files={train: train.txt}", "data.eval_splits=[]"
    )
    with pytest.raises(
        DataError, match="data.files.train: cannot tell the format of 'train.txt' from its extension"
    ):
        prepare(cfg, tmp_path / "prepared")


def test_an_unknown_config_key_is_named() -> None:
    # Without "+", Hydra's composition refuses the key (the schema is part of it);
    # with "+", Hydra adds it past the schema and to_dataclass names it.
    with pytest.raises(ConfigCompositionException, match="data.fields.txt"):
        data_config("data=spans_jsonl", "data.fields.txt=sentence")
    with pytest.raises(ConfigError, match="unknown config key data.fields.txt"):
        data_config("data=spans_jsonl", "+data.fields.txt=sentence")


def test_a_missing_folder_names_where_to_get_the_corpus(tmp_path: Path) -> None:
    # The hint is the data config's (source_hint); generic code knows no dataset by name.
    cfg = data_config("data=newsmtsc", f"data.path={tmp_path / 'absent'}")
    with pytest.raises(DataError, match=r"does not exist\. NewsMTSC is not bundled: set STANCE_NEWSMTSC_DIR"):
        prepare(cfg, tmp_path / "prepared")
    cfg = data_config("data=spans_jsonl", f"data.path={tmp_path / 'absent'}")
    with pytest.raises(DataError, match=r"for data=spans_jsonl does not exist\.$"):
        prepare(cfg, tmp_path / "prepared")
