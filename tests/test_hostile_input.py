"""Hostile input and configuration: every input ends in success or a one-line user error.

Property-based (hypothesis) over the dataset readers (``build_splits`` on generated JSONL
and TSV files), the prediction input reader (``read_documents``) and the config checks
(``check_overrides``, the function the Hydra commands run before handing over to Hydra).
The outcome of each generated input is success or a :class:`StanceError` whose message
passes :func:`assert_one_line`; any other exception fails the test, and hypothesis'
deadline fails an input that takes too long.

"One line", precisely: the message is not empty, has no leading or trailing whitespace,
and holds no line boundary at all (``msg.splitlines() == [msg]``: no ``\\n``, ``\\r``,
``\\v``, ``\\f``, ``\\x1c``-``\\x1e``, ``\\x85``, U+2028, U+2029). The one exception is
stance-prepare's report of bad rows, which lists every bad row by design: its first line
is the summary and each further line is one problem (``  file:line: field: rule``), each
of them one line by the same rule.
"""

from __future__ import annotations

import json
import re
import string
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stance.cli.common import check_overrides
from stance.config import PrepareJob, TrainJob, config_dir
from stance.data import build_splits
from stance.errors import StanceError
from stance.predict.documents import read_documents
from stance.schemas import to_dataclass

# Fast-suite budget: a few dozen inputs per property; the `slow` run below tries many more.
# No deadline: on a loaded machine one Hydra compose can take seconds, and speed is the benchmarks' concern.
FAST = settings(max_examples=40, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
MANY = settings(FAST, max_examples=400)
PROBLEM_LINE = re.compile(r"^  (\S.*:\d+: \S.*|\.\.\. and \d+ more)$")


def is_one_line(text: str) -> bool:
    return bool(text) and text.strip() == text and text.splitlines() == [text]


def assert_one_line(err: StanceError) -> None:
    message = str(err)
    if "\n" in message and re.match(r"^\d+ problem\(s\) in \d+ row\(s\)", message):
        head, *rows = message.split("\n")
        assert is_one_line(head), repr(head)
        assert rows and all(PROBLEM_LINE.match(r) and r.splitlines() == [r] for r in rows), repr(message)
        return
    assert is_one_line(message), repr(message)


def utf8_safe(*texts: str) -> None:
    """What a reader accepted can be written back as UTF-8 (no lone surrogates)."""
    for text in texts:
        text.encode("utf-8")


# ---------------------------------------------------------------- hostile fragments

# Each reproduced a traceback once (issue 12): a lone surrogate escape, nesting past the
# recursion limit, an integer past Python's int-digits limit; and raw line separators,
# which are valid inside JSON strings.
HOSTILE_LINES = {
    "lone surrogate": '{"sentence": "a \\ud800 b", "targets": []}',
    "deep nesting": '{"sentence": ' + "[" * 100_000 + "]" * 100_000 + "}",
    "huge integer": '{"sentence": "Ann spoke.", "targets": [{"from": ' + "1" * 5001 + ', "to": 3}]}',
    "NaN": '{"sentence": "Ann spoke.", "targets": [{"from": NaN, "to": 3}]}',
}

json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
    st.sampled_from(["\ud800", "\u2028", "\u0085", " ", "\t", "favor", "against", "neutral", "Ann"]),
)
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=8)


@st.composite
def span_rows(draw) -> str:
    """A span-JSONL line: mostly well-formed rows with odd values, sometimes plain garbage."""
    kind = draw(st.sampled_from(["row", "row", "row", "hostile", "garbage"]))
    if kind == "hostile":
        return draw(st.sampled_from(list(HOSTILE_LINES.values())))
    if kind == "garbage":
        return draw(st.text(max_size=30))
    sentence = draw(st.one_of(st.just("Ann met Bob in Rome."), st.text(max_size=20), json_values))
    target = {"from": draw(st.one_of(st.integers(-2, 25), st.floats(-1, 30), json_scalars)),
              "to": draw(st.one_of(st.integers(-2, 25), json_scalars)),
              "mention": draw(st.one_of(st.just("Ann"), json_scalars)),
              "label": draw(st.one_of(st.sampled_from(["favor", "against", "neutral"]), json_scalars))}
    row = {"id": draw(st.one_of(st.text(max_size=5), json_scalars)), "doc": "d1",
           "sentence": sentence, "targets": draw(st.one_of(st.just([target]), json_values))}
    extra = draw(st.dictionaries(st.text(max_size=5), json_values, max_size=2))
    # ensure_ascii=True writes a lone surrogate as the escape \\ud800; False writes raw U+2028 and
    # the like, and a raw surrogate, which the file write turns into invalid UTF-8 bytes.
    return json.dumps({**extra, **row}, ensure_ascii=draw(st.booleans()))


def data_config(*overrides: str):
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        return to_dataclass(compose("prepare", overrides=list(overrides)), PrepareJob).data


@pytest.fixture(scope="module")
def span_corpus(tmp_path_factory) -> tuple[Path, object]:
    folder = tmp_path_factory.mktemp("spans")
    cfg = data_config("data=spans_jsonl", f"data.path={folder}", "data.split.validation=0",
                      "data.eval_splits=[]", "~data.files.test")
    return folder, cfg


@pytest.fixture(scope="module")
def table_corpus(tmp_path_factory) -> tuple[Path, object]:
    folder = tmp_path_factory.mktemp("table")
    cfg = data_config("data=topics_tsv", f"data.path={folder}", "data.split.validation=0",
                      "data.eval_splits=[]", "~data.files.test")
    return folder, cfg


def check_corpus(cfg) -> None:
    try:
        splits, _ = build_splits(cfg)
    except StanceError as err:
        assert_one_line(err)
        return
    for sentences in splits.values():
        for s in sentences:
            utf8_safe(s.id, s.doc_id, s.text, *(t.mention for t in s.targets), *(t.actor for t in s.targets))
            assert all(t.actor.strip() for t in s.targets), "a blank actor was accepted"


@pytest.mark.parametrize("case", list(HOSTILE_LINES))
def test_each_hostile_jsonl_line_is_one_problem_naming_file_line_and_field(span_corpus, case):
    folder, cfg = span_corpus
    good = json.dumps({"id": "s1", "doc": "d1", "sentence": "Ann spoke.",
                       "targets": [{"from": 0, "to": 3, "mention": "Ann", "label": "favor"}]})
    (folder / "train.jsonl").write_text(good + "\n" + HOSTILE_LINES[case] + "\n")
    with pytest.raises(StanceError) as info:
        build_splits(cfg)
    assert_one_line(info.value)
    problem = str(info.value).split("\n")[1]
    assert re.match(r"^  train\.jsonl:2: (line|sentence|targets\[0\]\.from): ", problem), problem


def test_raw_line_separators_inside_json_strings_are_read_by_prepare(span_corpus):
    folder, cfg = span_corpus
    sentence = "Ann\u2028met\u2029Bob\u0085in Rome."
    row = {"id": "s1", "doc": "d1", "sentence": sentence,
           "targets": [{"from": 0, "to": 3, "mention": "Ann", "label": "favor"}]}
    (folder / "train.jsonl").write_text(json.dumps(row, ensure_ascii=False) + "\n", encoding="utf-8")
    splits, _ = build_splits(cfg)
    assert [s.text for s in splits["train"]] == [sentence]


def test_a_whitespace_only_actor_is_refused_by_prepare(tmp_path):
    (tmp_path / "train.jsonl").write_text(json.dumps(
        {"id": "s1", "doc": "d1", "sentence": "Ann spoke.",
         "targets": [{"from": 0, "to": 3, "mention": "Ann", "actor": "  ", "label": "favor"}]}) + "\n")
    cfg = data_config("data=spans_jsonl", f"data.path={tmp_path}", "data.split.validation=0",
                      "data.eval_splits=[]", "~data.files.test", "data.fields.actor=actor")
    with pytest.raises(StanceError, match=r"train\.jsonl:1: targets\[0\]\.actor: blank actor name"):
        build_splits(cfg)


def test_a_folder_given_as_a_data_file_is_named_a_folder(tmp_path):
    (tmp_path / "train.jsonl").mkdir()
    cfg = data_config("data=spans_jsonl", f"data.path={tmp_path}", "data.split.validation=0",
                      "data.eval_splits=[]", "~data.files.test")
    with pytest.raises(StanceError, match=r"^data\.files\.train: '.*train\.jsonl' is a folder, not a file$"):
        build_splits(cfg)


@FAST
@given(lines=st.lists(span_rows(), min_size=1, max_size=4))
def test_prepare_reads_any_span_jsonl_to_rows_or_a_one_line_error(span_corpus, lines):
    folder, cfg = span_corpus
    (folder / "train.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8", errors="surrogatepass")
    check_corpus(cfg)


@FAST
@given(raw=st.binary(max_size=80))
def test_prepare_reads_any_bytes_as_jsonl_to_rows_or_a_one_line_error(span_corpus, raw):
    folder, cfg = span_corpus
    (folder / "train.jsonl").write_bytes(raw)
    check_corpus(cfg)


cells = st.one_of(st.text(max_size=10), st.sampled_from(["", " ", "0", "3", "0.0", "FAVOR", "NONE", "Ann",
                                                         '"', "a\tb", "a\nb", "\u2028", "\udcff"]))


@FAST
@given(header=st.one_of(st.just(["id", "text", "target", "start", "end", "stance"]),
                        st.lists(st.text(max_size=6), max_size=7)),
       rows=st.lists(st.lists(cells, max_size=7), max_size=4), tail=st.binary(max_size=10))
def test_prepare_reads_any_tsv_to_rows_or_a_one_line_error(table_corpus, header, rows, tail):
    folder, cfg = table_corpus
    text = "\n".join("\t".join(r) for r in [header, *rows]) + "\n"
    (folder / "train.tsv").write_bytes(text.encode("utf-8", "surrogateescape") + tail)
    check_corpus(cfg)


# ---------------------------------------------------------------- prediction input


def check_documents(path: Path, fmt: str = "auto") -> None:
    try:
        docs = read_documents([str(path)], fmt)
    except StanceError as err:
        assert_one_line(err)
        return
    for doc in docs:
        utf8_safe(doc.id, doc.text, *(doc.actors or []), *(t.actor or "" for t in doc.targets or []))
        for t in doc.targets or []:
            assert isinstance(t.start, int) and doc.text[t.start:t.end].strip()


@st.composite
def prediction_rows(draw) -> str:
    kind = draw(st.sampled_from(["row", "row", "hostile", "garbage"]))
    if kind == "hostile":
        return draw(st.sampled_from(list(HOSTILE_LINES.values()))).replace('"sentence"', '"text"')
    if kind == "garbage":
        return draw(st.text(max_size=30))
    row = {"text": draw(st.one_of(st.just("Ann met Bob. Ann left."), st.text(max_size=20), json_scalars)),
           "id": draw(st.one_of(st.text(max_size=4), json_scalars)),
           "actors": draw(st.one_of(st.none(), st.lists(st.one_of(st.just("Ann"), json_scalars), max_size=2))),
           "targets": draw(st.one_of(st.none(), json_values, st.just([
               {"start": draw(st.one_of(st.integers(-1, 25), st.floats(-1, 25), json_scalars)),
                "end": draw(st.one_of(st.integers(-1, 25), json_scalars)),
                "actor": draw(st.one_of(st.none(), json_scalars))}])))}
    return json.dumps(row, ensure_ascii=draw(st.booleans()))


@FAST
@given(lines=st.lists(prediction_rows(), min_size=1, max_size=4), newline=st.sampled_from(["\n", "\r\n"]))
def test_predict_reads_any_jsonl_to_documents_or_a_one_line_error(tmp_path, lines, newline):
    path = tmp_path / "in.jsonl"
    path.write_text(newline.join(lines) + newline, encoding="utf-8", errors="surrogatepass", newline="")
    check_documents(path)


@FAST
@given(raw=st.binary(max_size=80), suffix=st.sampled_from([".jsonl", ".txt"]))
def test_predict_reads_any_bytes_to_documents_or_a_one_line_error(tmp_path, raw, suffix):
    path = tmp_path / f"in{suffix}"
    path.write_bytes(raw)
    check_documents(path)


@pytest.mark.parametrize("case", ["lone surrogate", "deep nesting", "huge integer", "NaN"])
def test_each_hostile_line_is_one_input_error_naming_file_and_line(tmp_path, case):
    path = tmp_path / "in.jsonl"
    path.write_text('{"text": "fine"}\n' + HOSTILE_LINES[case].replace('"sentence"', '"text"') + "\n")
    with pytest.raises(StanceError, match=rf"^{re.escape(str(path))}:2: ") as info:
        read_documents([str(path)])
    assert_one_line(info.value)


def test_predict_reads_raw_line_separators_inside_json_strings(tmp_path):
    path = tmp_path / "in.jsonl"
    texts = ["Ann\u2028met Bob.", "Bob\u2029left.", "Rome\u0085fell."]
    path.write_text("".join(json.dumps({"text": t}, ensure_ascii=False) + "\n" for t in texts), encoding="utf-8")
    assert [d.text for d in read_documents([str(path)])] == texts


def test_predict_reads_whole_float_offsets_as_prepare_does(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text(json.dumps({"text": "Ann met Bob.", "targets": [{"start": 0.0, "end": 3.0}]}) + "\n")
    [doc] = read_documents([str(path)])
    assert [(t.start, t.end) for t in doc.targets] == [(0, 3)] and isinstance(doc.targets[0].start, int)
    path.write_text(json.dumps({"text": "Ann met Bob.", "targets": [{"start": 0.5, "end": 3}]}) + "\n")
    with pytest.raises(StanceError, match=r"targets\[0\]'\.start: must be an integer, got 0\.5"):
        read_documents([str(path)])


def test_predict_refuses_a_target_span_of_only_whitespace(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text(json.dumps({"text": "Ann met Bob.", "targets": [{"start": 3, "end": 4}]}) + "\n")
    with pytest.raises(StanceError, match="span 3-4 covers only whitespace"):
        read_documents([str(path)])


# ---------------------------------------------------------------- configuration

# Keys with their kind of value, misspellings, groups; values from every type.
KEYS = ["train.batch_size", "train.eval_batch_size", "train.learning_rate", "train.epochs", "train.warmup",
        "train.gradient_accumulation", "train.max_steps", "train.label_smoothing", "train.layer_lr_decay",
        "model.dropout", "model.max_length", "model.name_or_path", "data.labels", "data.split.validation",
        "data.max_train_rows", "seed", "train.lerning_rate", "data", "model", "debug", "+train.extra", "~data"]
override_values = st.one_of(
    st.integers(-3, 300).map(str), st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.sampled_from(["[]", "[favor]", "[favor,favor]", "[a,b,c]", "null", "nope", "tiny", "''", "/nonexistent",
                     "org/model", "[1", "1,2", "${oops}", "{a: 1}", "' '", "[' ',x]"]),
    st.text(alphabet=string.printable, max_size=8),
)
overrides = st.lists(st.builds(lambda k, v: k if k == "~data" else f"{k}={v}", st.sampled_from(KEYS),
                               override_values), max_size=3)


@settings(FAST, max_examples=10)
@given(extra=overrides)
def test_any_override_gives_a_checked_job_or_a_one_line_config_error(extra):
    try:
        [job] = check_overrides("train", TrainJob, ["debug=tiny", *extra])
    except StanceError as err:
        assert_one_line(err)
        return
    assert job.train.batch_size >= 1 and job.train.learning_rate > 0 and len(set(job.data.labels)) >= 2


CONFIG_MISTAKES = {
    "train.lerning_rate=1e-4": r"^unknown config key train\.lerning_rate; did you mean train\.learning_rate\?$",
    "data=nope": r"^no config data=nope \(data/nope.yaml\): the data configs are hub_topics, newsmtsc, .*--config-dir",
    "model.name_or_path=/nonexistent": r"^bad config value model\.name_or_path='/nonexistent'; no such folder",
    "train.batch_size=0": r"^bad config value train\.batch_size=0; must be at least 1$",
    "train.learning_rate=-1": r"^bad config value train\.learning_rate=-1\.0; must be positive$",
    "data.labels=[]": r"^data\.labels=\[\]: need at least two distinct labels",
    "train.epochs=0": r"^bad config value train\.epochs=0\.0; must be positive$",
    "train.warmup=1": r"^bad config value train\.warmup=1\.0; must be a share",
    "train.eval_batch_size=0": r"^bad config value train\.eval_batch_size=0; must be at least 1$",
    "train.gradient_accumulation=0": r"^bad config value train\.gradient_accumulation=0; must be at least 1$",
    "model.dropout=1": r"^bad config value model\.dropout=1\.0; must be in \[0,1\)$",
    "model.max_length=8": r"^bad config value model\.max_length=8; is too small \(minimum 16\)$",
    "data.labels=[favor,' ']": r"^data\.labels=\['favor', ' '\]: need at least two distinct labels, none blank$",
    "train.batch_size=[1": r"^bad override 'train\.batch_size=\[1': no viable alternative",
    "debug=null": r"^cannot compose config 'train' with \['debug=tiny', 'debug=null'\]: ",
    # Issue 26: every choice list and range lives beside its field in stance.config, checked by check().
    "model.pooling=bogus": r"^bad config value model\.pooling='bogus'; expected one of",
    "model.input=bogus": r"^bad config value model\.input='bogus'; expected one of",
    "train.selection_metric=bogus": r"^bad config value train\.selection_metric='bogus'; expected one of",
    "train.resume=sometimes": r"^bad config value train\.resume='sometimes'; expected one of",
    "train.save_steps=-5": r"^bad config value train\.save_steps=-5; must be 0",
    "train.precision=fp8": r"^bad config value train\.precision='fp8'; expected one of",
    "train.layer_lr_decay=0": r"^bad config value train\.layer_lr_decay=0\.0; must be in \(0,1\]",
    "train.label_smoothing=1": r"^bad config value train\.label_smoothing=1\.0; must be in \[0,1\)",
    "train.distill_weight=2": r"^bad config value train\.distill_weight=2\.0; must be in \[0,1\]",
    "data.train_documents=0": r"^bad config value data\.train_documents=0\.0; must be a share",
    "data.max_train_rows=0": r"^bad config value data\.max_train_rows=0; must be at least 1",
    "data.split.validation=1": r"^bad config value data\.split\.validation=1\.0; must be a share",
}


@pytest.mark.parametrize("override", list(CONFIG_MISTAKES))
def test_each_config_mistake_is_one_line_naming_its_key(override):
    with pytest.raises(StanceError, match=CONFIG_MISTAKES[override]) as info:
        check_overrides("train", TrainJob, ["debug=tiny", override])
    assert_one_line(info.value)


def test_a_multirun_sweep_checks_every_value_before_the_first_run():
    check_overrides("train", TrainJob, ["debug=tiny", "train.batch_size=4,8", "seed=range(1,3)"], multirun=True)
    with pytest.raises(StanceError, match=r"train\.batch_size=0; must be at least 1"):
        check_overrides("train", TrainJob, ["debug=tiny", "train.batch_size=4,0", "seed=1,2"], multirun=True)


@pytest.mark.slow
@settings(MANY, max_examples=150)
@given(extra=overrides)
def test_many_overrides_give_a_checked_job_or_a_one_line_config_error(extra):
    test_any_override_gives_a_checked_job_or_a_one_line_config_error.hypothesis.inner_test(extra)


@pytest.mark.slow
@MANY
@given(lines=st.lists(span_rows(), min_size=1, max_size=6))
def test_prepare_reads_many_span_jsonl_files_to_rows_or_a_one_line_error(span_corpus, lines):
    folder, cfg = span_corpus
    (folder / "train.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8", errors="surrogatepass")
    check_corpus(cfg)


@pytest.mark.slow
@MANY
@given(lines=st.lists(prediction_rows(), min_size=1, max_size=6))
def test_predict_reads_many_jsonl_files_to_documents_or_a_one_line_error(tmp_path, lines):
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8", errors="surrogatepass")
    check_documents(path)


# ---------------------------------------------------------------- issue 27: values the encoder or Trainer judge


@pytest.mark.parametrize("override, pattern", [
    ("model.max_length=100000", r"model\.max_length=100000 is more than the \d+ positions"),
    ("model.config_overrides.hidden_size=33", r"hidden_size=33 is not a multiple of num_attention_heads"),
    ("+model.config_overrides.no_such_setting=1", r"model\.config_overrides\.no_such_setting"),
    ("train.report_to=bogus", r"train\.report_to: \['bogus'\] not among the tracking backends"),
])
def test_encoder_and_trainer_values_are_one_line_before_any_data(override, pattern):
    from stance.model.classifier import check_encoder
    from stance.training import check_train_config

    job = check_overrides("train", TrainJob, ["debug=tiny", override])[0]
    with pytest.raises(StanceError, match=pattern) as info:
        check_train_config(job)
        check_encoder(job.model)
    assert_one_line(info.value)


def test_a_yaml_syntax_error_in_a_config_folder_names_file_and_line(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "bad.yaml").write_text("name: x\npath: [unclosed\n")
    with pytest.raises(StanceError, match=r"bad\.yaml:3:1: not valid YAML") as info:
        check_overrides("train", TrainJob, ["data=bad"], user_dir=str(tmp_path))
    assert_one_line(info.value)


@pytest.mark.parametrize(("body", "pattern"), [
    ("macro_f1: {maxdrop: 0.0}", r"^gate/mine\.yaml: unknown config key gate\.splits\.test\.metrics\.macro_f1\."
                                 r"maxdrop; did you mean gate\.splits\.test\.metrics\.macro_f1\.max_drop\?$"),
    ("macro_f1: {threshold: abc}", r"^gate/mine\.yaml: bad config value for gate\.splits\.test\.metrics\.macro_f1\."
                                   r"threshold: Value 'abc' of type 'str' could not be converted to Float$"),
])
def test_a_bad_key_or_value_inside_a_config_file_names_the_file_and_the_key(tmp_path, body, pattern):
    from stance.config import EvaluateJob

    (tmp_path / "gate").mkdir()
    (tmp_path / "gate" / "mine.yaml").write_text(f"name: mine\nsplits:\n  test:\n    metrics:\n      {body}\n")
    with pytest.raises(StanceError, match=pattern) as info:
        check_overrides("evaluate", EvaluateJob, ["gate=mine"], user_dir=str(tmp_path))
    assert_one_line(info.value)


def test_full_disk_and_read_only_errors_are_one_line_exit_1():
    import errno

    from stance.errors import ENVIRONMENT_EXIT, environment_failure

    for code in (errno.ENOSPC, errno.EROFS):
        failure = environment_failure(OSError(code, "refused", "/registry/v0001/model.safetensors"))
        assert failure is not None and failure.exit_code == ENVIRONMENT_EXIT
        assert_one_line(failure)
    assert environment_failure(Exception("Error while serializing: IoError(No space left on device)")) is not None
    assert environment_failure(OSError(errno.ENOENT, "missing")) is None  # not the machine: a bug keeps its traceback
