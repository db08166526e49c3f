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
        raise InputError(f"{path}: invalid UTF-8 ({err.reason} at byte {err.start})") from None
    except json.JSONDecodeError as err:
        raise InputError(f"{path}:{err.lineno}: invalid JSON: {err.msg} (column {err.colno}; {_WHAT})") from None
    except (ValueError, RecursionError) as err:  # Python's limit on a number's digits; a nesting too deep
        raise InputError(f"{path}: invalid JSON: {err} ({_WHAT})") from None


def _tasks_of(path: Path, value: Any) -> Iterator[tuple[str, list[tuple[int, int]]]]:
    """(sentence, its spans) of every task."""
    if not isinstance(value, list):
        raise InputError(f"{path}: a list of tasks, not {type(value).__name__}, was expected ({_WHAT})")
    for position, task in enumerate(value, 1):
        number = task.get("id", position) if isinstance(task, dict) else position
        # Label Studio's JSON export and our tasks keep the sentence in data.text; its JSON-MIN export at the top.
        minimal = isinstance(task, dict) and "data" not in task
        data = task if minimal else task.get("data") if isinstance(task, dict) else None
        sentence = data.get(TEXT_KEY) if isinstance(data, dict) else None
        if not isinstance(sentence, str):
            raise InputError(f"{path}: task {number}: data.{TEXT_KEY}: missing or not a string ({_WHAT})")
        spans = [_span(path, number, field, value, sentence) for field, value in _span_values(task, minimal)]
        yield sentence, [s for s in spans if s is not None]


def _span_values(task: dict, minimal: bool) -> Iterator[tuple[str, Any]]:
    """(field, value) of everything that may hold a span: the exporter's mentions, predictions, annotations."""
    data = task if minimal else task["data"]
    for i, mention in enumerate(_list(data.get(MENTIONS_KEY))):
        yield f"data.{MENTIONS_KEY}[{i}]", mention
    if minimal:  # JSON-MIN: the annotation's regions under the control's name
        for i, region in enumerate(_list(task.get(FROM_NAME))):
            yield f"{FROM_NAME}[{i}]", region
        return
    for kind in ("predictions", "annotations"):
        for i, entry in enumerate(_list(task.get(kind))):
            results = entry.get("result") if isinstance(entry, dict) else None
            for j, result in enumerate(_list(results)):
                yield f"{kind}[{i}].result[{j}].value", result.get("value") if isinstance(result, dict) else None


def _list(value: Any) -> list:
    return value if isinstance(value, list) else []


def _span(path: Path, number: Any, field: str, value: Any, sentence: str) -> tuple[int, int] | None:
    """A span's (start, end), or None for what holds no span (a choice, a relation); a bad span is an error."""
    if not isinstance(value, dict) or ("start" not in value and "end" not in value):
        return None
    start, end = value.get("start"), value.get("end")
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (start, end)) or \
            not 0 <= start < end <= len(sentence):
        raise InputError(f"{path}: task {number}: {field}: start {start!r}, end {end!r} is not a span of "
                         f"data.{TEXT_KEY} ({len(sentence)} characters)")
    return start, end
