"""Label Studio tasks from prediction rows: each sentence with its mentions pre-annotated by the model.

One task per sentence (the rows :mod:`.selection` chose, grouped by sentence). Its ``data`` holds the
sentence (``text``), the document and sentence index, and the mentions with their actors; its one
``prediction`` holds a region per mention, a span of ``text`` labelled with the model's stance and
scored with that label's (calibrated) probability. The prediction's ``score`` is the lowest of its
regions', so Label Studio's "sort by prediction score" puts the least sure sentences first.

An annotator who accepts a pre-annotation unchanged submits exactly the model's labels;
``stance-prepare`` reads the export back (``format: label_studio``, :mod:`stance.data.label_studio`).
The names shared with the labelling config are in :mod:`stance.label_studio`.
What earlier rounds showed the annotators (``--exclude``) is read back by :mod:`.seen`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

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


def version_temperature(path: Path) -> float | None:
    """The temperature a version stores (its probabilities are calibrated), or None (older versions: T = 1)."""
    try:
        stance = json.loads((path / "config.json").read_text()).get("stance", {})
    except (OSError, ValueError):
        return None
    value = stance.get(TEMPERATURE_KEY) if isinstance(stance, dict) else None
    return float(value) if isinstance(value, int | float) else None
