"""A user's own corpus by configuration alone (issue 13).

The walk-through of docs/data.md, run as a user runs it: a new corpus of topic
targets in Windows-1252 ``.txt`` TSV files with integer labels and a header row,
a data config in the user's own folder, ``stance-prepare --inspect`` and then
``stance-train`` with no file edited. Then each setting on its own: reading
options, numeric labels, every problem of a row, drop reasons, the selection
metric, the card's task text, the name of overridden data and the hint for a
missing config. The corpus is generated here; its sentences were written for
these tests.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from stance.card.card import target_kind
from stance.cli.hints import hint_for_missing_config
from stance.cli.overrides import custom_data_name
from stance.config import ConfigError, DataConfig, PrepareJob, config_dir
from stance.data import DataError, build_splits, prepare, validate_config
from stance.data.inspect import inspect_corpus
from stance.schemas import to_dataclass

ROOT = Path(__file__).resolve().parents[1]

TOPICS = {
    "Cycling lanes": ("the new bike lanes", "cyclists"),
    "School uniforms": ("uniforms", "the dress code"),
    "Night trains": ("the sleeper service", "overnight rail"),
}
# Integer labels as the corpus's owner chose them: 0 against, 1 neutral, 2 favor.
OPINIONS = {
    2: ["I’m glad {x} finally arrived – it’s about time.", "Honestly, {x} made my week better.",
        "We should have done {x} years ago.", "{X} are a gift to this town."],
    0: ["{X} are a waste of everyone’s money.", "I can’t stand {x}; they ruin everything.",
        "Who asked for {x}? Nobody I know.", "Scrap {x} before it gets worse."],
    1: ["The council will discuss {x} on Tuesday.", "A report about {x} comes out next month.",
        "My neighbour asked me what I think of {x}.", "There is a meeting on {x} at the library."],
}


def _rows(start: int, count: int) -> list[tuple[str, str, str, int]]:
    """(id, tweet, topic, label) rows; each sentence is distinct (a numbered post)."""
    rows = []
    n = start
    while len(rows) < count:
        for topic, (thing, other) in TOPICS.items():
            for label, templates in OPINIONS.items():
                template = templates[n % len(templates)]
                x = thing if n % 2 else other
                text = f"Post {n}: " + template.format(x=x, X=x[0].upper() + x[1:])
                rows.append((f"t{n}", text, topic, label))
                n += 1
    return rows[:count]


def write_corpus(folder: Path) -> Path:
    """train.txt and test.txt: tab-separated, a header row, Windows-1252 with CRLF line ends."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, rows in (("train.txt", _rows(0, 54)), ("test.txt", _rows(1000, 18))):
        lines = ["ID\tTarget\tTweet\tStance"] + [f"{i}\t{topic}\t{text}\t{label}" for i, text, topic, label in rows]
        (folder / name).write_bytes("\r\n".join(lines).encode("cp1252") + b"\r\n")
    return folder


DATA_YAML = """\
# My tweets: topic targets, tab-separated .txt files saved by Excel on Windows.
name: my_tweets
format: table
path: {path}
files: {{train: train.txt, test: test.txt}}
format_options: {{file_type: tsv, encoding: cp1252}}
label_map: {{0: against, 1: neutral, 2: favor}}
fields: {{text: Tweet, targets: null, id: ID, start: null, end: null, mention: Target, label: Stance}}
split: {{validation: 0.2}}
eval_splits: [test]
"""


def user_folder(tmp: Path) -> Path:
    """The user's own config folder, outside the package, next to their data."""
    corpus = write_corpus(tmp / "my_tweets")
    conf = tmp / "my_configs"
    (conf / "data").mkdir(parents=True)
    (conf / "data" / "my_tweets.yaml").write_text(DATA_YAML.format(path=corpus))
    return conf


def run_cli(module: str, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
           "HF_DATASETS_CACHE": str(cwd / ".hf-cache"), "PYTHONPATH": str(ROOT / "src")}
    return subprocess.run([sys.executable, "-m", module, *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)


def data_config(*overrides: str, searchpath: Path | None = None) -> DataConfig:
    extra = [f"hydra.searchpath=[file://{searchpath}]"] if searchpath else []
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        cfg = compose("prepare", overrides=[*extra, *overrides])
    return to_dataclass(cfg, PrepareJob).data


# ---------------------------------------------------------------- the walk-through (issue 13's "done when")


def test_new_topic_corpus_in_cp1252_txt_trains_from_the_users_own_config_folder(tmp_path: Path) -> None:
    conf = user_folder(tmp_path)
    before = {p: p.read_bytes() for p in (tmp_path / "my_tweets").iterdir()}

    # 1. Look first: counts, labels before/after label_map, topic targets, no problems; nothing written.
    inspect = run_cli("stance.cli.prepare", tmp_path, "--inspect", "--config-dir", str(conf), "data=my_tweets")
    assert inspect.returncode == 0, inspect.stderr
    out = inspect.stdout
    assert "split train:" in out and "(tsv, cp1252, header row)" in out
    assert "54 rows read -> 54 sentences, 54 targets (0 with a span, 54 topics without one)" in out
    assert "'0' 24 -> against, '1' 24 -> neutral, '2' 24 -> favor" in out
    assert "I’m glad" in out  # cp1252 0x92 read as the apostrophe it is
    assert "no problems" in out
    assert not (tmp_path / "prepared").exists()

    # 2. Train with the config in the user's folder, on the search path as an override this time.
    train = run_cli("stance.cli.train", tmp_path, f"hydra.searchpath=[file://{conf}]", "data=my_tweets",
                    "debug=tiny", "train.selection_metric=macro_f1_polar")
    assert train.returncode == 0, train.stderr
    assert "validation macro_f1_polar=" in train.stdout
    version = tmp_path / "registry" / "v0001"
    manifest = json.loads((version / "manifest.json").read_text())
    assert manifest["data"]["name"] == "my_tweets"
    assert manifest["main_metric"] == "macro_f1_polar"
    splits = manifest["data"]["splits"]
    assert all(s["topic_targets"] == s["pairs"] for s in splits.values())
    assert splits["test"]["pairs"] == 18 and splits["test"]["labels"] == {"against": 6, "favor": 6, "neutral": 6}
    card = (version / "README.md").read_text()
    assert "given a sentence and a topic" in card
    assert "Input encoding: sentence pair" in card
    assert "news" not in card.split("## Labels")[0]  # the task and intended use say nothing of news
    assert "Model selection and headline metric: Macro-F1 (favor, against)" in card
    report = (version / "eval" / "test" / "report.md").read_text()
    summary = report.split("## Summary")[1].split("\n\n")[1]
    assert summary.splitlines()[2].startswith("| **macro-F1 (favor, against)** (headline) |")
    assert {p: p.read_bytes() for p in (tmp_path / "my_tweets").iterdir()} == before  # no file edited


# ---------------------------------------------------------------- reading options


def _table(tmp: Path, name: str, body: bytes) -> Path:
    folder = tmp / "t"
    folder.mkdir(exist_ok=True)
    (folder / name).write_bytes(body)
    return folder


def test_txt_needs_a_file_type_and_says_which_key_sets_it(tmp_path: Path) -> None:
    conf = user_folder(tmp_path)
    cfg = data_config("data=my_tweets", "data.format_options.file_type=auto", searchpath=conf)
    with pytest.raises(DataError, match=r"data.files.train: cannot tell the format of 'train.txt'.*"
                                        r"set data.format_options.file_type"):
        build_splits(cfg)


def test_semicolon_delimiter_and_header_less_file(tmp_path: Path) -> None:
    body = "Nuclear power;Reactors are safe and clean.;FAVOR\nNuclear power;Close every plant now.;AGAINST\n"
    folder = _table(tmp_path, "rows.txt", body.encode())
    cfg = data_config("data=topics_tsv", f"data.path={folder}", "~data.files.test", "data.files.train=rows.txt",
                      "data.eval_splits=[]", "data.split.validation=0", "data.fields.id=null",
                      "data.format_options={file_type: csv, delimiter: ';', header: false, "
                      "columns: [target, text, stance]}")
    splits, problems = build_splits(cfg)
    assert problems == []
    assert [(s.text, s.targets[0].mention, s.targets[0].label) for s in splits["train"]] == [
        ("Reactors are safe and clean.", "Nuclear power", "favor"),
        ("Close every plant now.", "Nuclear power", "against"),
    ]


def test_bytes_the_encoding_cannot_decode_name_file_line_field_and_byte(tmp_path: Path) -> None:
    conf = user_folder(tmp_path)
    train = tmp_path / "my_tweets" / "train.txt"
    lines = train.read_bytes().split(b"\r\n")
    lines[3] = lines[3].replace(b"Post", b"P\x81st")  # 0x81 has no character in cp1252
    train.write_bytes(b"\r\n".join(lines))
    cfg = data_config("data=my_tweets", searchpath=conf)
    with pytest.raises(DataError) as info:
        build_splits(cfg)
    assert "  train.txt:4: Tweet: invalid cp1252 (byte 0x81)" in str(info.value).splitlines()


@pytest.mark.parametrize(("override", "key"), [
    ("data.format_options.encoding=klingon", "data.format_options.encoding='klingon' is not a known"),
    ("data.format_options.header=false", "data.format_options.header=false needs data.format_options.columns"),
    ("data.format_options.delimiter=';;'", "data.format_options.delimiter=';;' must be one character"),
    ("data.format_options.file_type=xlsx", "bad config value data.format_options.file_type='xlsx'"),
])
def test_bad_reading_options_fail_before_reading_and_name_the_key(tmp_path: Path, override: str, key: str) -> None:
    cfg = data_config("data=topics_tsv", override)
    with pytest.raises(ConfigError, match=key.replace("(", r"\(").replace("[", r"\[")):
        prepare(cfg, tmp_path / "prepared")
    assert not (tmp_path / "prepared").exists()


# ---------------------------------------------------------------- labels and problems


def test_numeric_labels_match_whatever_their_spelling(tmp_path: Path) -> None:
    rows = [{"sentence": "Mayor Ortiz opened the park.", "targets": [{"from": 6, "to": 11, "mention": "Ortiz",
                                                                        "label": label}]}
            for label in (2, 2.0, "2", 4, "6.0")]
    rows = [{**r, "sentence": f"{r['sentence']} ({i})"} for i, r in enumerate(rows)]
    folder = tmp_path / "j"
    folder.mkdir()
    (folder / "train.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    cfg = data_config("data=spans_jsonl", f"data.path={folder}", "~data.files.test", "data.files.train=train.jsonl",
                      "data.eval_splits=[]", "data.split.validation=0")
    cfg = replace(cfg, label_map={"2.0": "against", 4: "neutral", 6.0: "favor"})  # as YAML may give them
    splits, problems = build_splits(cfg)
    assert problems == []
    assert [s.targets[0].label for s in splits["train"]] == ["against"] * 3 + ["neutral", "favor"]


def test_label_map_keys_that_are_one_number_must_agree() -> None:
    cfg = replace(data_config("data=topics_tsv"), label_map={"2": "favor", 2.0: "against"})
    with pytest.raises(ConfigError, match="keys '2' and '2.0' are the same number"):
        validate_config(cfg)


def test_every_problem_of_a_row_is_reported_at_once(tmp_path: Path) -> None:
    folder = _table(tmp_path, "train.tsv", b"id\ttext\ttarget\tstart\tend\tstance\n"
                                           b"r1\t \t\tx\t\tPRO\n")
    cfg = data_config("data=topics_tsv", f"data.path={folder}", "~data.files.test",
                      "data.eval_splits=[]", "data.split.validation=0")
    with pytest.raises(DataError) as info:
        build_splits(cfg)
    assert [line.strip() for line in str(info.value).splitlines()[1:]] == [
        "train.tsv:2: text: empty sentence",
        "train.tsv:2: target: missing field",
        "train.tsv:2: stance: unknown label 'PRO'; expected one of ['FAVOR', 'AGAINST', 'NONE'] (data.label_map) "
        "or ['favor', 'against', 'neutral'] (data.labels)",
    ]


def test_a_split_emptied_by_drop_invalid_says_why_with_rows(tmp_path: Path) -> None:
    conf = user_folder(tmp_path)
    cfg = replace(data_config("data=my_tweets", "data.drop_invalid=true", searchpath=conf), label_map={7: "favor"})
    with pytest.raises(DataError) as info:
        build_splits(cfg)
    lines = str(info.value).splitlines()
    assert lines[0] == ("data.files: split(s) ['train', 'test'] of data=my_tweets have no rows after dropping "
                        "72 invalid row(s) (72 unknown label):")
    assert lines[1] == "  unknown label (72):"
    assert lines[2].startswith("    train.txt:2: Stance: unknown label '2'; expected one of ['7'] (data.label_map)")
    assert lines[5] == "    ... and 69 more"


def test_inspect_lists_every_problem_and_writes_nothing(tmp_path: Path) -> None:
    conf = user_folder(tmp_path)
    cfg = replace(data_config("data=my_tweets", searchpath=conf), label_map={0: "against", 2: "favor"})
    report, problems = inspect_corpus(cfg)
    assert len(problems) == 24  # every neutral (1) row, all of them listed
    assert "'1' 24 -> 1 (unknown)" in report
    assert report.count("stance: unknown label") + report.count("Stance: unknown label '1'") == 24
    assert "24 problem(s), fatal (data.drop_invalid=false): 24 unknown label" in report
    assert sorted(p.name for p in tmp_path.iterdir()) == ["my_configs", "my_tweets"]


# ---------------------------------------------------------------- selection metric


def test_selection_metric_picks_the_best_checkpoint_and_is_checked(make_job) -> None:
    from stance.training.arguments import check_train_config, training_args

    job = make_job("train.selection_metric=accuracy", "train.eval_every_epoch=true")
    assert training_args(job, Path("unused"), has_validation=True).metric_for_best_model == "accuracy"
    assert training_args(make_job(), Path("unused"), True).metric_for_best_model == "macro_f1"  # the default
    with pytest.raises(ConfigError, match="train.selection_metric='f1'; expected one of"):
        check_train_config(make_job("train.selection_metric=f1"))
    with pytest.raises(ConfigError, match=r"lack \['against', 'favor'\]"):
        check_train_config(make_job("train.selection_metric=macro_f1_polar", "data.labels=[pro, con, none]",
                                    "data.label_map={}"))


def test_card_describes_the_targets_and_text_the_data_has(tiny_version: Path) -> None:
    assert target_kind({"train": {"pairs": 5, "topic_targets": 5}, "test": {"pairs": 2, "topic_targets": 2}}) == "topic"
    assert target_kind({"train": {"pairs": 5, "topic_targets": 1}}) == "both"
    assert target_kind({"train": {"pairs": 5, "topic_targets": 0}}) == "mention"
    card = (tiny_version / "README.md").read_text()  # world_affairs: mentions, marker encoding, news
    assert "for each target mentioned in a sentence" in card
    assert "Labelling English news sentences about world affairs with the stance" in card
    assert "Input encoding: `marker` for mentions (markers [unused0] [unused1] around the mention)" in card
    assert "Model selection and headline metric: Macro-F1 on `validation`" in card


# ---------------------------------------------------------------- names and hints


def test_overridden_files_do_not_carry_the_bundled_name(tmp_path: Path) -> None:
    assert custom_data_name("topics_tsv", "/data/semeval 2016", ["data=topics_tsv", "data.path=/x"]) \
        == "topics_tsv-semeval_2016"
    assert custom_data_name("topics_tsv", "/x", ["data.files.train=a.tsv"]) == "topics_tsv-custom"
    assert custom_data_name("topics_tsv", "/x", ["data.path=/x", "data.name=mine"]) is None
    assert custom_data_name("topics_tsv", "/x", ["data.max_train_rows=5"]) is None
    corpus = tmp_path / "my_topics"
    corpus.mkdir()
    for name in ("train.tsv", "test.tsv"):
        (corpus / name).write_bytes((config_dir().parent / "datasets/examples/topics" / name).read_bytes())
    result = run_cli("stance.cli.prepare", tmp_path, "data=topics_tsv", f"data.path={corpus}")
    assert result.returncode == 0, result.stderr
    assert "naming this data 'topics_tsv-my_topics'" in result.stdout + result.stderr
    assert [p.name.rsplit("-", 1)[0] for p in (tmp_path / "prepared").iterdir()] == ["topics_tsv-my_topics"]


def test_missing_config_hint_lists_the_configs_and_how_to_add_a_folder() -> None:
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        with pytest.raises(Exception) as info:
            compose("train", overrides=["data=my_tweets"])
    hint = hint_for_missing_config(info.value)
    assert hint is not None and "\n" not in hint
    assert hint.startswith("no config data=my_tweets (data/my_tweets.yaml): the data configs are hub_topics, "
                           "newsmtsc, spans_jsonl, topics_tsv, world_affairs; ")
    assert "--config-dir DIR" in hint and "hydra.searchpath" in hint
    assert hint_for_missing_config(ValueError("other")) is None
