"""Issue 25: the annotation loop with Label Studio.

Fast tests: the selection and the task export (stance-predict --export label-studio), the packaged
labelling config, and the ``label_studio`` input format of stance-prepare on a real export recorded from
Label Studio 1.23.2 (examples/label_studio/export.json: three annotators, skipped tasks, disagreements)
and on broken copies of it. The slow test runs scripts/label_studio_roundtrip.py against a real server
when a Python with label-studio is named in STANCE_LABEL_STUDIO_PYTHON.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stance.config import ConfigError, DataConfig, ExportConfig, PredictJob, PrepareJob, config_dir
from stance.data import DataError, build_splits, prepare
from stance.data.label_studio import export_report
from stance.errors import InputError
from stance.label_studio import FROM_NAME, TEXT_KEY, TO_NAME, config_labels, labelling_config
from stance.labels import DEFAULT_LABELS
from stance.predict import run_prediction
from stance.predict.label_studio import build_tasks
from stance.predict.seen import seen_in
from stance.predict.selection import select_rows, uncertainty
from stance.schemas import to_dataclass
from tests.test_hostile_input import assert_one_line

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
EXPORT = EXAMPLES / "label_studio" / "export.json"
ARTICLE = ROOT / "tests" / "fixtures" / "articles" / "geneva_talks.txt"


@functools.cache
def my_labels(*overrides: str) -> DataConfig:
    """The example data config (examples/configs/data/my_labels.yaml), composed as the command composes it
    (once per set of overrides: composing takes a quarter of a second)."""
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        cfg = compose("prepare", overrides=[f"hydra.searchpath=[file://{EXAMPLES / 'configs'}]", "data=my_labels",
                                            f"data.path={EXAMPLES / 'label_studio'}", *overrides])
    return to_dataclass(cfg, PrepareJob).data


def reading(folder: Path, *overrides: str) -> DataConfig:
    """my_labels reading the export in ``folder``."""
    return dataclasses.replace(my_labels(*overrides), path=str(folder))


def export_tasks() -> list[dict]:
    return json.loads(EXPORT.read_text())


def pairs(splits) -> set[tuple[str, int, int, str]]:
    return {(s.id, t.start, t.end, t.label) for rows in splits.values() for s in rows for t in s.targets}


def usable(task: dict) -> list[dict]:
    return sorted((a for a in task["annotations"] if not a["was_cancelled"]), key=lambda a: a["id"])


def spans_of(annotation: dict) -> dict[tuple[int, int], str]:
    return {(r["value"]["start"], r["value"]["end"]): r["value"]["labels"][0] for r in annotation["result"]
            if r["from_name"] == FROM_NAME}


# ---------------------------------------------------------------- the recorded export


def test_the_recorded_export_holds_what_the_reader_must_handle():
    tasks = export_tasks()
    annotations = [a for t in tasks for a in t["annotations"]]
    assert len({a["completed_by"] for a in annotations}) == 3  # three annotators
    assert any(a["was_cancelled"] for a in annotations)  # skipped
    assert any(not t["annotations"] or not usable(t) for t in tasks)  # unlabelled
    assert any(len(usable(t)) > 1 and len({tuple(sorted(spans_of(a).items())) for a in usable(t)}) > 1
               for t in tasks)  # several annotators who disagree


def test_first_takes_each_tasks_earliest_usable_annotation():
    splits, problems = build_splits(my_labels("data.format_options.annotations=first"))
    assert problems == []
    expected = {(str(t["id"]), s, e, label) for t in export_tasks() if usable(t)
                for (s, e), label in spans_of(usable(t)[0]).items()}
    assert pairs(splits) == expected


def test_adjudicate_takes_each_spans_majority_and_drops_ties():
    splits, _ = build_splits(my_labels())
    expected, ties = set(), 0
    for task in export_tasks():
        answers = [spans_of(a) for a in usable(task)]
        for span in {span for answer in answers for span in answer}:
            votes = Counter(answer.get(span) for answer in answers).most_common()
            if len(votes) > 1 and votes[0][1] == votes[1][1]:
                ties += 1
            elif votes[0][0] is not None:
                expected.add((str(task["id"]), *span, votes[0][0]))
    assert pairs(splits) == expected
    report = export_report(my_labels())["train"]
    assert report["ties_dropped"] == ties
    assert report["disagreement_count"] == sum(1 for d in report["disagreements"])


def test_actors_documents_and_provenance(tmp_path):
    prepared = prepare(my_labels(), tmp_path)
    tasks = {str(t["id"]): t for t in export_tasks()}
    rows = [row for split in prepared.splits for row in prepared.split(split)]
    for row in rows:
        task = tasks[row["id"]]
        assert row["doc_id"] == task["data"]["doc_id"] and row["text"] == task["data"][TEXT_KEY]
        recorded = {(m["start"], m["end"]): m["actor"] for m in task["data"]["mentions"]}
        for target in row["targets"]:
            # the exporter's actor where it found the span; a span the annotator added is named by its text
            assert target["actor"] == recorded.get((target["start"], target["end"]), target["mention"])
    # carving is by document: no article in two splits
    docs = [{row["doc_id"] for row in prepared.split(split)} for split in prepared.splits]
    assert sum(len(d) for d in docs) == len(set().union(*docs))
    report = prepared.manifest["label_studio"]["train"]
    assert report["file"] == "export.json" and report["annotations"] == "adjudicate"
    assert set(report["annotations_used"]) >= {row["id"] for row in rows}
    skipped = {(str(t["id"]), a["id"]) for t in export_tasks() for a in t["annotations"] if a["was_cancelled"]}
    assert {(str(s["task"]), s["annotation"]) for s in report["skipped"]} == skipped
    assert report["unlabelled"] == [t["id"] for t in export_tasks() if not usable(t)]


def test_inspect_shows_the_export_and_what_is_used():
    from stance.data.inspect import inspect_corpus

    report, problems = inspect_corpus(my_labels())
    assert problems == []
    assert "(Label Studio JSON export, utf-8; several annotations: adjudicate)" in report
    used = export_report(my_labels())["train"]
    assert f"label_studio train (export.json): {used['tasks_used']} of {used['tasks']} tasks used" in report


# ---------------------------------------------------------------- bad exports


def _set_label(tasks, value):
    tasks[0]["annotations"][0]["result"][0]["value"]["labels"] = value


def _set_value(key, value):
    def edit(tasks):
        tasks[0]["annotations"][0]["result"][0]["value"][key] = value
    return edit


def _edit_result(key, value):
    def edit(tasks):
        tasks[0]["annotations"][0]["result"][0][key] = value
    return edit


def _twice_other_label(tasks):
    result = tasks[0]["annotations"][0]["result"]
    other = copy.deepcopy(result[0])
    other["value"]["labels"] = ["against" if other["value"]["labels"][0] != "against" else "favor"]
    result.append(other)


BAD = {
    "unknown label": (lambda t: _set_label(t, ["pro"]), "annotations[0].result[0].value.labels[0]: unknown label "
                      "'pro'; expected one of ['favor', 'against', 'neutral'] (data.labels)"),
    "two labels": (lambda t: _set_label(t, ["favor", "against"]),
                   "annotations[0].result[0].value.labels: a span takes one stance label, got ['favor', 'against']"),
    "no labels": (_set_value("labels", None), "annotations[0].result[0].value.labels: missing field"),
    "outside": (_set_value("end", 10_000), "annotations[0].result[0].value.start: span [{s},10000) is outside "
                "the sentence (length {n})"),
    "not integers": (_set_value("start", "nine"), "annotations[0].result[0].value.start: span ['nine',{e}) must be "
                     "two integers"),
    "text differs": (_set_value("text", "Atlantis"), "annotations[0].result[0].value.text: span [{s},{e}) is "
                     "{m!r} but the region's text is 'Atlantis'"),
    "to_name": (_edit_result("to_name", "title"), "annotations[0].result[0]: to_name 'title' and type 'labels'; "
                "the labelling config's 'stance' regions are spans of 'text' (to_name 'text', type 'labels')"),
    "conflict": (_twice_other_label, "annotations[0].result[1]: span [{s},{e}) is labelled {o} here and {l} at "
                 "annotations[0].result[0] of the same annotation"),
    "no text": (lambda t: t[0]["data"].pop("text"), "data.text: missing field"),
    "empty text": (lambda t: t[0]["data"].update(text="  "), "data.text: empty sentence"),
    "annotations": (lambda t: t[0].update(annotations={"id": 1}), "annotations: must be a list, got dict"),
    "result": (lambda t: t[0]["annotations"][0].update(result="favor"), "annotations[0].result: must be a list"),
}


def first_labelled(tasks: list[dict]) -> dict:
    """Move the first task whose first annotation has a region to the front (the mutations edit tasks[0])."""
    i = next(i for i, t in enumerate(tasks) if t["annotations"] and t["annotations"][0]["result"]
             and not t["annotations"][0]["was_cancelled"])
    tasks.insert(0, tasks.pop(i))
    return tasks[0]


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_bad_export_names_file_task_and_field(tmp_path, case):
    tasks = export_tasks()
    task = first_labelled(tasks)
    region = task["annotations"][0]["result"][0]["value"]
    facts = {"s": region["start"], "e": region["end"], "m": region["text"], "n": len(task["data"]["text"]),
             "l": region["labels"][0], "o": "against" if region["labels"][0] != "against" else "favor"}
    edit, message = BAD[case]
    edit(tasks)
    (tmp_path / "export.json").write_text(json.dumps(tasks))
    with pytest.raises(DataError) as err:
        build_splits(reading(tmp_path))
    assert f"  export.json:{task['id']}: {message.format(**facts)}" in str(err.value).splitlines()


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
                    max_leaves=6)
PATHS = [("data",), ("data", "text"), ("data", "doc_id"), ("data", "mentions"), ("id",), ("annotations",),
         ("annotations", 0), ("annotations", 0, "id"), ("annotations", 0, "completed_by"),
         ("annotations", 0, "was_cancelled"), ("annotations", 0, "result"), ("annotations", 0, "result", 0),
         ("annotations", 0, "result", 0, "from_name"), ("annotations", 0, "result", 0, "id"),
         ("annotations", 0, "result", 0, "value"), ("annotations", 0, "result", 0, "value", "start"),
         ("annotations", 0, "result", 0, "value", "labels"), ("annotations", 0, "result", 0, "value", "labels", 0)]


@settings(max_examples=30, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from(PATHS), value=JSON)
def test_any_value_anywhere_in_a_task_is_read_or_one_problem_per_line(tmp_path, path, value):
    """Hostile exports end in sentences or a DataError whose every problem is one line (tests/test_hostile_input.py)."""
    tasks = export_tasks()[:3]
    first_labelled(tasks)
    holder = tasks[0]
    for key in path[:-1]:
        holder = holder[key]
    holder[path[-1]] = value
    (tmp_path / "export.json").write_text(json.dumps(tasks))
    try:
        build_splits(reading(tmp_path, "data.split.validation=0", "data.split.test=0", "data.eval_splits=[]"))
    except DataError as err:
        assert_one_line(err)


@pytest.mark.parametrize(("text", "message"), [
    ('[{"id": 1,\n "data": {}', "export.json:2: file: invalid JSON: Expecting"),
    ('{"tasks": []}', "export.json:1: file: a Label Studio JSON export is a list of tasks, not dict"),
    ('[{"id": 5, "text": "Oslo", "stance": []}]', "export.json:5: data: missing field (this looks like Label "
     "Studio's JSON_MIN export; export the project as JSON)"),
    ('[{"id": 3, "data": {"text": "x"}, "annotations": [NaN]}]', "export.json:1: file: invalid JSON: NaN"),
])
def test_an_export_that_is_not_one_names_the_file(tmp_path, text, message):
    (tmp_path / "export.json").write_text(text)
    with pytest.raises(DataError) as err:
        build_splits(reading(tmp_path))
    assert any(line.strip().startswith(message) for line in str(err.value).splitlines())


def test_stance_prepare_exits_2_with_one_line_per_problem_and_no_traceback(tmp_path):
    tasks = export_tasks()
    task = first_labelled(tasks)
    _set_label(tasks, ["pro"])
    (tmp_path / "export.json").write_text(json.dumps(tasks))
    script = shutil.which("stance-prepare") or str(Path(sys.executable).parent / "stance-prepare")
    done = subprocess.run([script, "--config-dir", str(EXAMPLES / "configs"), "data=my_labels",
                           f"data.path={tmp_path}", f"prepared_root={tmp_path / 'prepared'}"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines()[0].startswith("error: 1 problem(s) in 1 row(s) of data=my_labels")
    assert done.stderr.splitlines()[1].startswith(f"  export.json:{task['id']}: annotations[0].result[0].value")
    assert "Traceback" not in done.stderr and not (tmp_path / "prepared").exists()


@pytest.mark.parametrize(("overrides", "message"), [
    (["data.format_options.annotations=vote"], "data.format_options.annotations='vote'; expected one of"),
    (["data.fields.text=sentence_text"], "data.fields: a Label Studio export is read by the names"),
    (["data.format=span", "data.format_options.annotations=adjudicate"], "only format label_studio has"),
])
def test_config_mistakes_name_the_key(overrides, message):
    from stance.data import validate_config

    with pytest.raises(ConfigError, match=message):
        validate_config(my_labels(*overrides))


# ---------------------------------------------------------------- selection and export


def rows_of(probs: list[tuple[str, list[float]]]) -> list[dict]:
    """Prediction rows as stance-predict writes them, one per (document, probabilities)."""
    rows = []
    for i, (doc, p) in enumerate(probs):
        sentence = f"Sentence {i} names Atlantis."
        rows.append({"doc_id": doc, "sentence_index": i, "sentence_start": 0, "sentence": sentence,
                     "actor": "Atlantis", "mention": "Atlantis", "start": 17, "end": 25, "spans": [[17, 25]],
                     "label": DEFAULT_LABELS[p.index(max(p))], "probs": dict(zip(DEFAULT_LABELS, p, strict=True))})
    return rows


ROWS = rows_of([("a", [0.9, 0.05, 0.05]), ("a", [0.4, 0.35, 0.25]), ("b", [0.5, 0.1, 0.4]),
                ("b", [0.34, 0.33, 0.33]), ("c", [0.1, 0.8, 0.1]), ("c", [0.2, 0.2, 0.6])])


def test_uncertain_selection_takes_the_smallest_margins_first():
    chosen = select_rows(ROWS, ExportConfig(path="t.json", select="uncertain", n=3))
    assert [r["sentence_index"] for r in chosen] == [3, 1, 2]  # margins 0.01, 0.05, 0.1
    by_entropy = select_rows(ROWS, ExportConfig(path="t.json", select="uncertain", n=2, uncertainty="entropy"))
    assert [r["sentence_index"] for r in by_entropy] == [3, 1]
    assert uncertainty([0.5, 0.5, 0.0]) == pytest.approx(1.0) and uncertainty([1.0, 0, 0]) == 0.0


def test_random_stratified_and_whole_documents():
    random_pick = select_rows(ROWS, ExportConfig(path="t.json", select="random", n=3, seed=1))
    assert random_pick == select_rows(ROWS, ExportConfig(path="t.json", select="random", n=3, seed=1))
    assert [r["sentence_index"] for r in random_pick] == sorted(r["sentence_index"] for r in random_pick)
    stratified = select_rows(ROWS, ExportConfig(path="t.json", select="stratified", n=3))
    assert Counter(r["label"] for r in stratified) == {"favor": 1, "against": 1, "neutral": 1}
    docs = select_rows(ROWS, ExportConfig(path="t.json", select="uncertain", n=3, whole_documents=True))
    # mean margins: b 0.945, a 0.55, c 0.45; two documents (4 pairs) cover n=3, the most uncertain first
    assert [r["doc_id"] for r in docs] == ["b", "b", "a", "a"]
    assert select_rows(ROWS, ExportConfig()) == ROWS


@pytest.mark.parametrize(("settings", "message"), [
    ({"path": "t.json", "select": "uncertain"}, "select=uncertain needs the number of pairs"),
    ({"path": "t.json", "n": 5}, "select=all exports every pair"),
    ({"select": "random", "n": 5}, "name its file too"),
    ({"path": "t.json", "select": "stratified", "n": 5, "whole_documents": True}, "cannot keep documents whole"),
    ({"path": "t.json", "format": "prodigy"}, "export.format='prodigy'; expected one of"),
    ({"path": "-"}, "export.path='-'; name the tasks file"),
    ({"exclude": ["round1.json"]}, "export.exclude: these settings choose what the export writes; name its file"),
    ({"path": "t.json", "exclude": [" "]}, r"export.exclude\[0\]=' '; name a tasks file"),
])
def test_export_settings_no_run_could_use(settings, message):
    with pytest.raises(ConfigError, match=message):
        PredictJob(export=ExportConfig(**settings)).check()


def test_a_task_per_sentence_with_the_models_stance_per_span():
    two = [dict(ROWS[0]), {**ROWS[0], "start": 0, "end": 8, "spans": [[0, 8]], "actor": "Sentence"}]
    [task] = build_tasks(two, "v0007")
    assert task["data"]["text"] == ROWS[0]["sentence"] and task["data"]["doc_id"] == "a"
    [prediction] = task["predictions"]
    assert prediction["model_version"] == "v0007" and prediction["score"] == 0.9
    assert [(r["value"]["start"], r["value"]["text"], r["value"]["labels"], r["score"]) for r in prediction["result"]] \
        == [(17, "Atlantis", ["favor"], 0.9), (0, "Sentence", ["favor"], 0.9)]
    assert {(r["from_name"], r["to_name"], r["type"]) for r in prediction["result"]} == {(FROM_NAME, TO_NAME, "labels")}


def test_accepted_pre_annotations_read_back_as_the_models_labels(tmp_path):
    """Our own round trip: exported tasks, each annotation the prediction unchanged, read by stance-prepare."""
    tasks = build_tasks(ROWS, "v0001")
    for number, task in enumerate(tasks, 1):
        task["id"] = number
        task["annotations"] = [{"id": number, "completed_by": 1, "was_cancelled": False,
                                "result": task["predictions"][0]["result"]}]
    (tmp_path / "export.json").write_text(json.dumps(tasks))
    splits, problems = build_splits(reading(tmp_path, "data.split.validation=0", "data.split.test=0",
                                            "data.eval_splits=[]"))
    assert problems == []
    assert pairs(splits) == {(str(i), 17, 25, row["label"]) for i, row in enumerate(ROWS, 1)}


def test_stance_predict_exports_the_least_confident_pairs(tiny_version, tmp_path):
    tasks_file, out = tmp_path / "tasks.json", tmp_path / "rows.jsonl"
    job = PredictJob(version=str(tiny_version), registry=str(tiny_version.parent), inputs=[str(ARTICLE)],
                     threads=1, progress=False, table=False, out=str(out),
                     export=ExportConfig(path=str(tasks_file), select="uncertain", n=4))
    result = run_prediction(job)
    tasks = json.loads(tasks_file.read_text())
    ranked = sorted(result.rows, key=lambda r: -uncertainty(list(r["probs"].values())))  # stable: ties in order
    want = [(r["sentence"], r["start"], r["label"]) for r in ranked[:4]]
    got = [(t["data"]["text"], g["value"]["start"], g["value"]["labels"][0]) for t in tasks
           for g in t["predictions"][0]["result"]]
    assert sorted(got) == sorted(want) and got[0] == want[0]  # the least confident pair leads
    assert result.meta["export"]["pairs"] == 4 and result.meta["export"]["of_pairs"] == len(result.rows)
    stored = json.loads((tiny_version / "config.json").read_text())["stance"]["temperature"]
    assert result.meta["export"]["temperature"] == stored  # the scores are the calibrated probabilities
    with pytest.raises(InputError, match="--export and --out both name"):
        run_prediction(PredictJob(version=str(tiny_version), registry=str(tiny_version.parent),
                                  inputs=[str(ARTICLE)], out=str(out), export=ExportConfig(path=str(out))))


def pair_keys(tasks_file: Path) -> set[tuple[str, int, str]]:
    """(sentence, where its mention starts counted in non-space characters, mention) of every task's mentions."""
    keys = set()
    for task in json.loads(tasks_file.read_text()):
        text = task["data"]["text"]
        keys |= {(" ".join(text.split()), len("".join(text[:m["start"]].split())), m["mention"])
                 for m in task["data"]["mentions"]}
    return keys


def test_a_second_round_leaves_out_the_pairs_sent_before(tiny_version, tmp_path, caplog):
    """--exclude: round 2 exports only pairs round 1 did not, even from a re-wrapped copy of the article."""
    rewrapped = tmp_path / "rewrapped.txt"
    rewrapped.write_text(ARTICLE.read_text().replace(" ", "\n", 3).replace(". ", ".  "))

    def export(name: str, inputs: list[Path], **settings) -> tuple[set, dict]:
        job = PredictJob(version=str(tiny_version), registry=str(tiny_version.parent), inputs=[str(i) for i in inputs],
                         threads=1, progress=False, table=False, segmentation=PredictJob().segmentation,
                         export=ExportConfig(path=str(tmp_path / name), **settings))
        job.segmentation.line_breaks = "wrap"  # a line break inside a paragraph does not end a sentence
        meta = run_prediction(job).meta["export"]
        return pair_keys(tmp_path / name), meta

    everything, _ = export("all.json", [ARTICLE])
    first, _ = export("round1.json", [ARTICLE], select="uncertain", n=4)
    second, meta = export("round2.json", [ARTICLE, rewrapped], exclude=[str(tmp_path / "round1.json")])
    assert len(first) == 4 and second and first.isdisjoint(second)
    assert first | second == everything  # nothing else is left out, and the re-wrapped copy adds no new pair
    assert meta["excluded_pairs"] == 2 * 4 and meta["exclude"] == [str(tmp_path / "round1.json")]
    third, meta = export("round3.json", [ARTICLE], exclude=[str(tmp_path / n) for n in ("round1.json", "round2.json")])
    assert third == set() and meta["excluded_pairs"] == meta["of_pairs"] > 0
    assert "every pair of the input is in --exclude" in caplog.text


SENTENCE = "Brazil welcomed the ceasefire brokered by Qatar, while Venezuela accused Washington."


def pair_row(mention: str, sentence: str = SENTENCE) -> dict:
    start = sentence.index(mention)
    return {"sentence": sentence, "spans": [[start, start + len(mention)]]}


def test_exclude_covers_the_mentions_shown_or_added_not_the_sentences_other_mentions(tmp_path):
    def span(mention: str) -> dict:
        return {"start": SENTENCE.index(mention), "end": SENTENCE.index(mention) + len(mention)}

    full = [{"id": 4, "data": {"text": SENTENCE, "mentions": [{**span("Brazil"), "mention": "Brazil"}]},
             "annotations": [{"result": [{"value": {**span("Qatar"), "labels": ["favor"]}},  # added by the annotator
                                         {"value": {"choices": ["hard"]}}]}]},  # a result that is no span
            {"data": {"text": "Chile   said nothing."}}]  # no span at all: the sentence counts
    washington = {key: float(value) for key, value in span("Washington").items()}  # 5.0: a JSON writer's choice
    minimal = [{"id": 9, "text": SENTENCE, "mentions": [], FROM_NAME: [{**washington, "labels": ["against"]}]}]
    (tmp_path / "full.json").write_text(json.dumps(full))
    (tmp_path / "min.json").write_text(json.dumps(minimal))
    seen = seen_in([str(tmp_path / "full.json"), str(tmp_path / "min.json")])
    rewrapped = SENTENCE.replace(" ", "\n  ")
    assert seen.covers(pair_row("Brazil")) and seen.covers(pair_row("Qatar", rewrapped))
    assert seen.covers(pair_row("Washington")) and seen.covers(pair_row("Chile", "Chile said nothing."))
    assert not seen.covers(pair_row("Venezuela")) and not seen.covers(pair_row("Brazil", "Brazil said nothing."))
    # A real Label Studio export covers every mention of its tasks.
    real = seen_in([str(EXPORT)])
    assert all(real.covers({"sentence": t["data"]["text"], "spans": [[m["start"], m["end"]]]})
               for t in export_tasks() for m in t["data"]["mentions"])


@pytest.mark.parametrize(("content", "message"), [
    (None, r"missing\.json: no such file \(--exclude takes"),
    ('[{"data": {"text": "A."}},\n  {"data": ', r"bad\.json:2: invalid JSON: Expecting value"),
    ('{"data": {"text": "A."}}', r"bad\.json: a list of tasks, not dict"),
    ('[{"data": {"text": "A."}}, {"id": 17, "data": {"sentence": "B."}}]', r"bad\.json: task 17: data\.text: missing"),
    ('[{"data": {"text": "A."}}, 5]', r"bad\.json: task 2: a task is an object, not int"),
    ('[{"data": {"text": "A.", "mentions": "A"}}]', r"bad\.json: task 1: data\.mentions: a list was expected, not str"),
    ('[{"id": 8, "text": "A.", "stance": {"start": 0, "end": 1}}]', r"bad\.json: task 8: stance: a list was expected"),
    ('[{"data": {"text": "A.", "mentions": [{"start": 0, "end": 9}]}}]',
     r"bad\.json: task 1: data\.mentions\[0\]: start 0, end 9 is not a span of data\.text \(2 characters\)"),
    ('[{"id": 3, "data": {"text": "A."}, "annotations": [{"result": [{"value": {"start": "one", "end": 1}}]}]}]',
     r"bad\.json: task 3: annotations\[0\]\.result\[0\]\.value: start 'one', end 1 is not a span"),
])
def test_a_bad_exclude_file_is_one_line_naming_it(tmp_path, content, message):
    path = tmp_path / ("missing.json" if content is None else "bad.json")
    if content is not None:
        path.write_text(content)
    with pytest.raises(InputError, match=message) as caught:
        seen_in([str(path)])
    assert_one_line(caught.value)


def test_a_bad_exclude_file_stops_stance_predict_before_the_model_loads(tmp_path):
    (tmp_path / "bad.json").write_text("{}")
    done = subprocess.run([str(Path(sys.executable).parent / "stance-predict"), str(ARTICLE), "--version",
                           str(tmp_path / "no_such_version"), "--export", "label-studio", str(tmp_path / "t.json"),
                           "--exclude", str(tmp_path / "bad.json")], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.strip().splitlines() == [f"error: {tmp_path / 'bad.json'}: a list of tasks, not dict, was "
                                                "expected (--exclude takes a tasks file or a Label Studio JSON export)"]
    assert not (tmp_path / "t.json").exists()


# ---------------------------------------------------------------- the labelling config


def test_the_packaged_labelling_config_matches_the_reader():
    root = ET.fromstring(labelling_config())
    labels = root.find("Labels")
    assert labels.get("name") == FROM_NAME and labels.get("toName") == TO_NAME
    assert root.find("Text").get("name") == TO_NAME and root.find("Text").get("value") == f"${TEXT_KEY}"
    assert config_labels(labelling_config()) == list(DEFAULT_LABELS)
    own = labelling_config(["pro", "con", "none"])
    assert config_labels(own) == ["pro", "con", "none"] and ET.fromstring(own).find("Labels") is not None


@pytest.mark.parametrize("labels", ["pro,pro", "pro,,none", ""])
def test_a_label_set_with_a_repeated_or_empty_label_is_refused(labels, capsys):
    from stance.label_studio import main

    with pytest.raises(SystemExit) as stopped:
        main(["--labels", labels])
    err = capsys.readouterr().err
    assert stopped.value.code == 2 and "each label once, none empty" in err and "Traceback" not in err


# ---------------------------------------------------------------- the real tool


@pytest.mark.slow
def test_the_loop_against_a_real_label_studio_server(tmp_path):
    """scripts/label_studio_roundtrip.py end to end (a few minutes: the server's first start migrates its database)."""
    python = os.environ.get("STANCE_LABEL_STUDIO_PYTHON")
    if not python:
        pytest.skip("set STANCE_LABEL_STUDIO_PYTHON to the Python of a venv with label-studio and label-studio-sdk "
                    "(docs/annotation_loop.md); Label Studio is not a dependency of stance")
    done = subprocess.run([python, str(ROOT / "scripts" / "label_studio_roundtrip.py"), "--stance-bin",
                           str(Path(sys.executable).parent), "--work", str(tmp_path), "--port", "8093"],
                          capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    summary = json.loads((tmp_path / "roundtrip.json").read_text())
    assert summary["check"]["accept"]["identical"] and summary["check"]["accept"]["pairs"] > 0
    assert summary["check"]["first"]["identical"] and summary["check"]["adjudicate"]["identical"]
