"""Label Studio tasks from prediction rows: each sentence with its mentions pre-annotated by the model.

One task per sentence (the rows :mod:`.selection` chose, grouped by sentence). Its ``data`` holds the
sentence (``text``), the document and sentence index, and the mentions with their actors; its one
``prediction`` holds a region per mention, a span of ``text`` labelled with the model's stance and
scored with that label's (calibrated) probability. The prediction's ``score`` is the lowest of its
regions', so Label Studio's "sort by prediction score" puts the least sure sentences first.

An annotator who accepts a pre-annotation unchanged submits exactly the model's labels;
``stance-prepare`` reads the export back (``format: label_studio``, :mod:`stance.data.label_studio`).
The names shared with the labelling config are in :mod:`stance.label_studio`.

``--exclude`` reads earlier tasks files or Label Studio exports back (:func:`labelled_sentences`), so a
second round of labelling does not send the same sentences again, and the held-out set's sentences
never reach the pool's tasks, even when syndicated news repeats them in another article.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from stance.errors import InputError
from stance.label_studio import DOC_KEY, FROM_NAME, INDEX_KEY, MENTIONS_KEY, REGION_TYPE, TEXT_KEY, TO_NAME
from stance.model.temperature import TEMPERATURE_KEY
from stance.predict.selection import predicted_label

Row = dict[str, Any]
Task = dict[str, Any]


def _region(row: Row, start: int, end: int, region_id: str) -> dict[str, Any]:
    label = predicted_label(row)
    return {
        "id": region_id,
        "from_name": FROM_NAME,
        "to_name": TO_NAME,
        "type": REGION_TYPE,
        "value": {"start": start, "end": end, "text": row["sentence"][start:end], "labels": [label]},
        "score": round(float(row["probs"][label]), 6),
    }


def build_tasks(rows: list[Row], model_version: str) -> list[Task]:
    """One task per sentence of ``rows``, in the order of each sentence's first row."""
    tasks: dict[tuple[str, int], Task] = {}
    for row in rows:
        key = (row["doc_id"], row["sentence_index"])
        task = tasks.get(key)
        if task is None:
            task = tasks[key] = {
                "data": {TEXT_KEY: row["sentence"], DOC_KEY: row["doc_id"], INDEX_KEY: row["sentence_index"],
                         "sentence_start": row["sentence_start"], MENTIONS_KEY: []},
                "predictions": [{"model_version": model_version, "score": 1.0, "result": []}],
            }
        prediction = task["predictions"][0]
        for start, end in row["spans"]:  # one span, or several under --mentions aggregate
            region_id = f"m{len(prediction['result'])}"
            region = _region(row, start, end, region_id)
            prediction["result"].append(region)
            prediction["score"] = min(prediction["score"], region["score"])
            task["data"][MENTIONS_KEY].append({"id": region_id, "start": start, "end": end,
                                               "mention": row["sentence"][start:end], "actor": row["actor"]})
    return list(tasks.values())


def tasks_text(tasks: list[Task]) -> str:
    """The tasks file: a JSON list, as Label Studio's import takes it."""
    return json.dumps(tasks, ensure_ascii=False, indent=1) + "\n"


def sentence_key(text: str) -> str:
    """A sentence as ``--exclude`` compares it: runs of whitespace as one space (a re-wrapped article matches)."""
    return " ".join(text.split())


def labelled_sentences(paths: list[str]) -> set[str]:
    """The sentences (as :func:`sentence_key`) of tasks files or Label Studio JSON exports; InputError names
    the file, and the task and field, of the first thing that is not one."""
    found: set[str] = set()
    for name in paths:
        found |= _sentences_of(Path(name))
    return found


def _sentences_of(path: Path) -> set[str]:
    what = "--exclude takes a tasks file or a Label Studio JSON export"
    try:
        value = json.loads(path.read_bytes().decode("utf-8-sig"))
    except FileNotFoundError:
        raise InputError(f"{path}: no such file ({what})") from None
    except OSError as err:
        raise InputError(f"{path}: cannot be read: {err.strerror or err} ({what})") from None
    except UnicodeDecodeError as err:
        raise InputError(f"{path}: invalid UTF-8 ({err.reason} at byte {err.start})") from None
    except json.JSONDecodeError as err:
        raise InputError(f"{path}:{err.lineno}: invalid JSON: {err.msg} (column {err.colno}; {what})") from None
    except (ValueError, RecursionError) as err:  # Python's limit on a number's digits; a nesting too deep
        raise InputError(f"{path}: invalid JSON: {err} ({what})") from None
    if not isinstance(value, list):
        raise InputError(f"{path}: a list of tasks, not {type(value).__name__}, was expected ({what})")
    sentences = set()
    for position, task in enumerate(value, 1):
        # Label Studio's JSON export and our tasks keep the sentence in data.text; its JSON-MIN export at the top.
        data = task.get("data", task) if isinstance(task, dict) else None
        sentence = data.get(TEXT_KEY) if isinstance(data, dict) else None
        if not isinstance(sentence, str):
            number = task.get("id", position) if isinstance(task, dict) else position
            raise InputError(f"{path}: task {number}: data.{TEXT_KEY}: missing or not a string ({what})")
        sentences.add(sentence_key(sentence))
    return sentences


def version_temperature(path: Path) -> float | None:
    """The temperature a version stores (its probabilities are calibrated), or None (older versions: T = 1)."""
    try:
        stance = json.loads((path / "config.json").read_text()).get("stance", {})
    except (OSError, ValueError):
        return None
    value = stance.get(TEMPERATURE_KEY) if isinstance(stance, dict) else None
    return float(value) if isinstance(value, int | float) else None
