"""What earlier rounds of labelling showed the annotators: ``stance-predict --exclude FILE``.

An earlier round's tasks file, or Label Studio's JSON export of it (full or JSON-MIN), is read back
so that the next export does not send the same (sentence, mention) pairs again, and the held-out
set's pairs never reach the pool's tasks, even when syndicated news repeats a sentence in another
article. A sentence's other mentions, never shown, stay candidates. Sentences and mentions are
compared whatever the layout of their whitespace, so a re-wrapped copy of an article still matches.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stance.errors import InputError
from stance.label_studio import FROM_NAME, MENTIONS_KEY, TEXT_KEY
from stance.offsets import as_int

Row = dict[str, Any]


def sentence_key(text: str) -> str:
    """A sentence as ``--exclude`` compares it: runs of whitespace as one space (a re-wrapped article matches)."""
    return " ".join(text.split())


def mention_key(sentence: str, start: int, end: int) -> tuple[str, int, int]:
    """A mention as ``--exclude`` compares it: the sentence's key, and where the mention starts and how long it
    is counted in non-space characters, so that re-wrapping the article moves neither."""
    return sentence_key(sentence), _non_space(sentence[:start]), _non_space(sentence[start:end])


def _non_space(text: str) -> int:
    return sum(not c.isspace() for c in text)


@dataclass(frozen=True)
class Seen:
    """What earlier rounds put in front of the annotators (``--exclude``): each task's mentions, those the
    exporter found and those an annotator added; a task without any span counts as its whole sentence."""

    mentions: frozenset[tuple[str, int, int]] = frozenset()
    sentences: frozenset[str] = frozenset()

    def covers(self, row: Row) -> bool:
        """Whether a prediction row's pair was seen: its sentence, or any of its mentions (one, or several
        under ``--mentions aggregate``)."""
        sentence = row["sentence"]
        return sentence_key(sentence) in self.sentences or \
            any(mention_key(sentence, start, end) in self.mentions for start, end in row["spans"])


def seen_in(paths: list[str]) -> Seen:
    """The mentions and sentences of tasks files or Label Studio JSON exports (full or JSON-MIN); InputError
    names the file, and the task and field, of the first thing that is not one."""
    mentions: set[tuple[str, int, int]] = set()
    sentences: set[str] = set()
    for name in paths:
        path = Path(name)
        for sentence, spans in _tasks_of(path, _read_json(path)):
            mentions.update(mention_key(sentence, start, end) for start, end in spans)
            if not spans:
                sentences.add(sentence_key(sentence))
    return Seen(frozenset(mentions), frozenset(sentences))


_WHAT = "--exclude takes a tasks file or a Label Studio JSON export"


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_bytes().decode("utf-8-sig"))
    except FileNotFoundError:
        raise InputError(f"{path}: no such file ({_WHAT})") from None
    except OSError as err:
        raise InputError(f"{path}: cannot be read: {err.strerror or err} ({_WHAT})") from None
    except UnicodeDecodeError as err:
        raise InputError(f"{path}: invalid UTF-8 ({err.reason} at byte {err.start}; {_WHAT})") from None
    except json.JSONDecodeError as err:
        raise InputError(f"{path}:{err.lineno}: invalid JSON: {err.msg} (column {err.colno}; {_WHAT})") from None
    except (ValueError, RecursionError) as err:  # Python's limit on a number's digits; a nesting too deep
        raise InputError(f"{path}: invalid JSON: {err} ({_WHAT})") from None


def _tasks_of(path: Path, tasks: Any) -> Iterator[tuple[str, list[tuple[int, int]]]]:
    """(sentence, its spans) of every task."""
    if not isinstance(tasks, list):
        raise InputError(f"{path}: a list of tasks, not {type(tasks).__name__}, was expected ({_WHAT})")
    for position, task in enumerate(tasks, 1):
        if not isinstance(task, dict):
            raise InputError(f"{path}: task {position}: a task is an object, not {type(task).__name__} ({_WHAT})")
        where = _Where(path, task.get("id", position))
        # Label Studio's JSON export and our tasks keep the sentence in data.text; its JSON-MIN export at the top.
        minimal = "data" not in task
        data = task if minimal else task["data"]
        sentence = data.get(TEXT_KEY) if isinstance(data, dict) else None
        if not isinstance(sentence, str):
            raise where.error(f"data.{TEXT_KEY}", "missing or not a string")
        spans = [_span(where, field, region, sentence) for field, region in _regions(where, data, task, minimal)]
        yield sentence, [s for s in spans if s is not None]


@dataclass(frozen=True)
class _Where:
    """The file and task an error names."""

    path: Path
    task: Any

    def error(self, field: str, rule: str) -> InputError:
        return InputError(f"{self.path}: task {self.task}: {field}: {rule} ({_WHAT})")

    def items(self, field: str, value: Any) -> list:
        """A list field's items; absent is empty, anything else is an error (not silently no span)."""
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.error(field, f"a list was expected, not {type(value).__name__}")
        return value


def _regions(where: _Where, data: dict, task: dict, minimal: bool) -> Iterator[tuple[str, Any]]:
    """(field, value) of everything that may hold a span: the exporter's mentions, predictions, annotations."""
    for i, mention in enumerate(where.items(f"data.{MENTIONS_KEY}", data.get(MENTIONS_KEY))):
        yield f"data.{MENTIONS_KEY}[{i}]", mention
    if minimal:  # JSON-MIN: the annotation's regions under the control's name
        for i, region in enumerate(where.items(FROM_NAME, task.get(FROM_NAME))):
            yield f"{FROM_NAME}[{i}]", region
        return
    for kind in ("predictions", "annotations"):
        for i, entry in enumerate(where.items(kind, task.get(kind))):
            results = entry.get("result") if isinstance(entry, dict) else None
            for j, result in enumerate(where.items(f"{kind}[{i}].result", results)):
                yield f"{kind}[{i}].result[{j}].value", result.get("value") if isinstance(result, dict) else None


def _span(where: _Where, field: str, value: Any, sentence: str) -> tuple[int, int] | None:
    """A span's (start, end), or None for what holds no span (a choice, a relation); a bad span is an error."""
    if not isinstance(value, dict) or ("start" not in value and "end" not in value):
        return None
    start, end = as_int(value.get("start")), as_int(value.get("end"))
    if start is None or end is None or not 0 <= start < end <= len(sentence):
        raise where.error(field, f"start {value.get('start')!r}, end {value.get('end')!r} is not a span of "
                                 f"data.{TEXT_KEY} ({len(sentence)} characters)")
    return start, end
