"""``format: label_studio``: Label Studio's JSON export as prepared sentences.

A project labelled with the packaged config (:mod:`stance.label_studio`) exports a JSON list of
tasks. Each task is one sentence (``data.text``); each annotation of it holds regions, spans of the
sentence labelled with their stance (``from_name: stance``). One task becomes one sentence whose
targets are the labelled spans:

- an annotation with ``was_cancelled`` (the annotator pressed Skip) is not used, and counted;
- a task without a usable annotation is not labelled yet and is left out, and counted;
- several annotations of one task: ``data.format_options.annotations`` says which count. ``first``:
  the earliest annotation (lowest id). ``adjudicate``: each span's majority label among the task's
  annotations, where an annotation without the span votes "no mention"; a tie is dropped. Either
  way every span the annotations disagree on is reported;
- a span's actor is the one the exporter recorded for that span (``data.mentions``), else its text;
- the document is ``data.doc_id`` (so carving keeps an article in one split), else the task itself.

A bad export is reported like every other format, one problem per line as ``file:task: field: rule``,
where ``task`` is the Label Studio task id (its position in the file when it has none) and ``field``
the path inside the task (``annotations[0].result[2].value.labels``). Results of other controls (a
comment box added to the config) are not read.

:func:`export_report` is what the prepared manifest records under ``label_studio``: for each split,
the tasks and annotations used, the skipped and unlabelled ones, and every disagreement.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stance.config import DataConfig
from stance.data.parse import RowParser
from stance.data.readers import source_file
from stance.data.records import Problem, RawRow, Sentence, Target
from stance.errors import JsonLineError
from stance.jsonl import load_json_line
from stance.label_studio import DOC_KEY, FROM_NAME, MENTIONS_KEY, REGION_TYPE, TEXT_KEY, TO_NAME
from stance.offsets import as_int

NO_MENTION = None  # an annotation's vote for a span it does not mark
MAX_LISTED = 1000  # disagreements listed per split in the manifest (all are counted)

Span = tuple[int, int]


@dataclass
class Region:
    """One labelled span of one annotation."""

    label: str
    where: str  # the field path, e.g. "annotations[0].result[2]"
    region_id: str


@dataclass
class Annotation:
    id: Any
    annotator: Any  # Label Studio's completed_by: a user id, or the user's email in some exports
    where: str
    regions: dict[Span, Region]


@dataclass
class ExportReport:
    """What one export file held and what preparation took from it."""

    file: str
    policy: str
    tasks: int = 0
    used: dict[str, list[Any]] = field(default_factory=dict)  # task id -> the annotation ids its targets come from
    skipped: list[dict[str, Any]] = field(default_factory=list)  # cancelled annotations (Skip)
    unlabelled: list[Any] = field(default_factory=list)  # tasks with no usable annotation
    no_spans: list[Any] = field(default_factory=list)  # tasks left with no labelled span (all deleted, or ties)
    annotators: Counter = field(default_factory=Counter)  # annotator -> annotations read (not cancelled)
    several: int = 0  # tasks with more than one usable annotation
    disagreements: list[dict[str, Any]] = field(default_factory=list)
    ties: int = 0  # adjudicate: spans without a majority, dropped

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file, "annotations": self.policy, "tasks": self.tasks, "tasks_used": len(self.used),
            "annotations_used": self.used, "skipped": self.skipped, "unlabelled": self.unlabelled,
            "no_spans": self.no_spans, "annotators": {str(k): n for k, n in sorted(self.annotators.items(), key=str)},
            "tasks_with_several_annotations": self.several, "disagreement_count": len(self.disagreements),
            "disagreements": self.disagreements[:MAX_LISTED], "ties_dropped": self.ties,
        }


# ---------------------------------------------------------------- the file


def _load(path: Path) -> tuple[Any, Problem | None]:
    """The export's JSON value, or the problem that stops it being read at all."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as err:
        return None, Problem(path.name, 1, "file", f"invalid UTF-8 ({err.reason} at byte {err.start})", "invalid UTF-8")
    try:
        value = load_json_line(text)
    except JsonLineError as err:
        return None, Problem(path.name, _error_line(text), "file" if err.field == "line" else err.field, err.rule,
                             "invalid JSON")
    if not isinstance(value, list):
        rule = f"a Label Studio JSON export is a list of tasks, not {type(value).__name__}"
        return None, Problem(path.name, 1, "file", rule, "not a Label Studio export")
    return value, None


def _error_line(text: str) -> int:
    """The line of a JSON syntax error (load_json_line reports the column only: it reads one line)."""
    try:
        json.loads(text)
    except json.JSONDecodeError as err:
        return err.lineno
    except ValueError:
        pass
    return 1


def _task_number(task: Any, position: int) -> int:
    """Label Studio's task id, the number its UI shows; the position in the file when there is none."""
    value = task.get("id") if isinstance(task, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else position


# ---------------------------------------------------------------- one task


class _TaskReader:
    """Reads one task's sentence and annotations, recording every problem with the parser's."""

    def __init__(self, parser: RowParser, file: str, number: int, task: dict) -> None:
        self.parser = parser
        self.row = RawRow(file, number, task)
        self.task = task
        self.ok = True

    def problem(self, where: str, rule: str, kind: str) -> None:
        self.parser.problems.append(Problem(self.row.file, self.row.line, where, rule, kind))
        self.ok = False

    def text(self) -> str | None:
        data = self.task.get("data")
        if not isinstance(data, dict):
            rule = "missing field" if data is None else "must be an object"
            if data is None and TEXT_KEY in self.task and "annotations" not in self.task:
                rule += " (this looks like Label Studio's JSON_MIN export; export the project as JSON)"
            self.problem("data", rule, "missing field")
            return None
        text = data.get(TEXT_KEY)
        if not isinstance(text, str) or not text.strip():
            if text is None:
                rule, kind = "missing field", "missing field"
            elif isinstance(text, str):
                rule, kind = "empty sentence", "empty sentence"
            else:
                rule, kind = f"must be a string, got {text!r}", "sentence not a string"
            self.problem(f"data.{TEXT_KEY}", rule, kind)
            return None
        return text

    def annotations(self, text: str, report: ExportReport) -> list[Annotation]:
        """The task's usable annotations, lowest id first; cancelled ones go to the report."""
        items = self.task.get("annotations", [])
        if not isinstance(items, list):
            self.problem("annotations", f"must be a list, got {type(items).__name__}", "bad annotations")
            return []
        out = []
        for j, item in enumerate(items):
            where = f"annotations[{j}]"
            if not isinstance(item, dict):
                self.problem(where, "an annotation must be an object", "bad annotations")
                continue
            annotator = _annotator(item.get("completed_by"))
            if item.get("was_cancelled") is True:
                report.skipped.append({"task": self.row.line, "annotation": _key(item.get("id")),
                                       "annotator": annotator})
                continue
            regions = self.regions(text, item.get("result"), where)
            if regions is not None:
                out.append(Annotation(_key(item.get("id")), annotator, where, regions))
        return sorted(out, key=lambda a: (not isinstance(a.id, int), a.id if isinstance(a.id, int) else 0))

    def regions(self, text: str, result: Any, where: str) -> dict[Span, Region] | None:
        if not isinstance(result, list):
            self.problem(f"{where}.result", "missing field" if result is None else "must be a list", "bad annotations")
            return None
        regions: dict[Span, Region] = {}
        for k, item in enumerate(result):
            here = f"{where}.result[{k}]"
            if isinstance(item, dict) and item.get("from_name") != FROM_NAME:
                continue  # another control of a config of one's own (a comment box): not ours to read
            region = self.region(text, item, here)
            if region is None:
                continue
            span, found = region
            earlier = regions.get(span)
            if earlier is not None and earlier.label != found.label:
                rule = (f"span [{span[0]},{span[1]}) is labelled {found.label} here and {earlier.label} at "
                        f"{earlier.where} of the same annotation")
                self.problem(here, rule, "conflicting labels")
            regions.setdefault(span, found)
        return regions

    def region(self, text: str, item: Any, here: str) -> tuple[Span, Region] | None:
        """One region of our Labels control, checked against the sentence; None (and a problem) if bad."""
        if not isinstance(item, dict):
            self.problem(here, "a result must be an object", "bad annotations")
            return None
        if item.get("to_name") != TO_NAME or item.get("type") != REGION_TYPE:
            rule = (f"to_name {item.get('to_name')!r} and type {item.get('type')!r}; the labelling config's "
                    f"'{FROM_NAME}' regions are spans of '{TO_NAME}' (to_name {TO_NAME!r}, type {REGION_TYPE!r})")
            self.problem(here, rule, "not a span of the sentence")
            return None
        value = item.get("value")
        if not isinstance(value, dict):
            self.problem(f"{here}.value", "missing field" if value is None else "must be an object", "missing field")
            return None
        span = self.span(text, value, f"{here}.value")
        label = self.label(value, f"{here}.value.labels")
        if span is None or label is None:
            return None
        return span, Region(label, here, str(item.get("id", "")))

    def span(self, text: str, value: dict, here: str) -> Span | None:
        raw_start, raw_end = value.get("start"), value.get("end")
        start, end = as_int(raw_start), as_int(raw_end)
        if start is None or end is None:
            rule = "missing field" if raw_start is None or raw_end is None else \
                f"span [{raw_start!r},{raw_end!r}) must be two integers"
            self.problem(f"{here}.start", rule, "missing field" if rule == "missing field" else "bad span")
            return None
        if not 0 <= start < end <= len(text):
            self.problem(f"{here}.start", f"span [{start},{end}) is outside the sentence (length {len(text)})",
                         "span outside the sentence")
            return None
        shown = value.get("text")
        if shown is not None and shown != text[start:end]:
            rule = f"span [{start},{end}) is {text[start:end]!r} but the region's text is {shown!r}"
            self.problem(f"{here}.text", rule, "span does not match mention")
            return None
        return start, end

    def label(self, value: dict, here: str) -> str | None:
        labels = value.get("labels")
        if not isinstance(labels, list) or len(labels) != 1:
            rule = "missing field" if labels is None else f"a span takes one stance label, got {labels!r}"
            self.problem(here, rule, "missing field" if labels is None else "not one label")
            return None
        label = self.parser.label(self.row, f"{here}[0]", labels[0])
        if label is None:
            self.ok = False
        return label


def _annotator(value: Any) -> Any:
    """completed_by as a name for the report: a user id, or the email when the export expands the user."""
    if isinstance(value, dict):
        value = value.get("email") or value.get("id")
    return _key(value)


def _key(value: Any) -> Any:
    """An id as the report can count and sort it: a number or a string as given, anything else as text."""
    return value if isinstance(value, str | int | float) or value is None else json.dumps(value)


# ---------------------------------------------------------------- several annotations


def _votes(annotations: list[Annotation], span: Span) -> list[str | None]:
    return [a.regions[span].label if span in a.regions else NO_MENTION for a in annotations]


def _resolve(annotations: list[Annotation], policy: str, task: int, text: str,
             report: ExportReport) -> dict[Span, tuple[str, list[Annotation]]]:
    """Each span's label and the annotations it comes from; every disagreement goes to the report."""
    spans = sorted({span for a in annotations for span in a.regions})
    chosen: dict[Span, tuple[str, list[Annotation]]] = {}
    for span in spans:
        votes = _votes(annotations, span)
        counts = Counter(votes).most_common()
        tie = len(counts) > 1 and counts[0][1] == counts[1][1]
        if policy == "first":
            winner = votes[0]
        else:
            winner = None if tie else counts[0][0]
            report.ties += tie
        if len(counts) > 1:
            report.disagreements.append({
                "task": task, "span": list(span), "mention": text[span[0]:span[1]],
                "votes": {str(a.id): vote for a, vote in zip(annotations, votes, strict=True)},
                "annotators": {str(a.id): a.annotator for a in annotations},
                "outcome": "tie, dropped" if policy == "adjudicate" and tie else winner or "no mention",
            })
        if winner is not None:
            chosen[span] = (winner, [a for a, vote in zip(annotations, votes, strict=True) if vote == winner])
    return chosen


# ---------------------------------------------------------------- entry points


def _actors(task: dict) -> dict[Span, str]:
    """The actor of each span the exporter recorded; the reader falls back to the span's text."""
    data = task.get("data") if isinstance(task.get("data"), dict) else {}
    mentions = data.get(MENTIONS_KEY)
    out = {}
    for item in mentions if isinstance(mentions, list) else []:
        if isinstance(item, dict) and isinstance(item.get("actor"), str) and item["actor"].strip():
            start, end = as_int(item.get("start")), as_int(item.get("end"))
            if start is not None and end is not None:
                out[(start, end)] = item["actor"]
    return out


def _sentence(reader: _TaskReader, text: str, chosen: dict[Span, tuple[str, list[Annotation]]]) -> Sentence:
    row, data = reader.row, reader.task["data"]
    actors = _actors(reader.task)
    doc = data.get(DOC_KEY)
    sentence_id = str(row.line)
    targets = []
    for (start, end), (label, sources) in chosen.items():
        region = sources[0].regions[(start, end)]
        annotations = "+".join(str(a.id) for a in sources)
        mention = text[start:end]
        target_id = f"{sentence_id}:{annotations}:{region.region_id}"
        source = f"{row.file}:{row.line}"
        targets.append(Target(target_id, start, end, mention, actors.get((start, end), mention), label,
                              source=source, where=region.where, uid=f"{source}#{sources[0].where}.{region.where}"))
    doc_id = str(doc) if isinstance(doc, str | int) and str(doc).strip() else sentence_id
    return Sentence(sentence_id, doc_id, text, targets, f"{row.file}:{row.line}")


def read_export(cfg: DataConfig, split: str, parser: RowParser) -> tuple[list[Sentence], ExportReport]:
    """The labelled sentences of one split's export, and what was taken from it; problems go to ``parser``."""
    path = source_file(cfg, split)
    report = ExportReport(path.name, cfg.format_options.annotations)
    tasks, problem = _load(path)
    if problem is not None:
        parser.problems.append(problem)
        return [], report
    sentences = []
    for position, task in enumerate(tasks, 1):
        number = _task_number(task, position)
        parser.rows_read[path.name] += 1
        report.tasks += 1
        if not isinstance(task, dict):
            parser.problems.append(Problem(path.name, number, "task", "a task must be an object", "bad task"))
            continue
        sentence = _read_task(_TaskReader(parser, path.name, number, task), report)
        if sentence is not None:
            sentences.append(sentence)
    return sentences, report


def _read_task(reader: _TaskReader, report: ExportReport) -> Sentence | None:
    text = reader.text()
    annotations = reader.annotations(text, report) if text is not None else []
    if not reader.ok or text is None:
        return None
    number = reader.row.line
    if not annotations:
        report.unlabelled.append(number)
        return None
    report.annotators.update(a.annotator for a in annotations)
    report.several += len(annotations) > 1
    policy = report.policy
    chosen = _resolve(annotations, policy, number, text, report)
    if not chosen:
        report.no_spans.append(number)
        return None
    report.used[str(number)] = sorted({a.id for _, sources in chosen.values() for a in sources}, key=str)
    return _sentence(reader, text, chosen)


def export_report(cfg: DataConfig) -> dict[str, dict[str, Any]]:
    """Each split's :class:`ExportReport` as the manifest records it (the exports are read again: they are small)."""
    parser = RowParser(cfg)
    return {split: read_export(cfg, split, parser)[1].to_dict() for split in cfg.files}


def summary(reports: dict[str, dict[str, Any]]) -> str:
    """One line per split for the command's output: what was used, skipped and disputed."""
    lines = []
    for split, r in reports.items():
        disputed = f", {r['disagreement_count']} disagreeing span(s)" if r["tasks_with_several_annotations"] else ""
        ties = f" ({r['ties_dropped']} tie(s) dropped)" if r["ties_dropped"] else ""
        lines.append(
            f"label_studio {split} ({r['file']}): {r['tasks_used']} of {r['tasks']} tasks used, "
            f"{len(r['skipped'])} annotation(s) skipped, {len(r['unlabelled'])} task(s) unlabelled, "
            f"{len(r['no_spans'])} left without a labelled span; {len(r['annotators'])} annotator(s), "
            f"{r['tasks_with_several_annotations']} task(s) with several annotations ({r['annotations']})"
            f"{disputed}{ties}")
    return "\n".join(lines)
