"""Predictions rows: one JSON object per (sentence, target), one file per split.

``evaluate_split`` builds the rows in memory and the report is computed from
those; the file ``<split>/predictions.jsonl`` is the record kept beside the
report. Reading one back is only for files written elsewhere: another version's
predictions in a comparison, or a report rebuilt later from the command line.
Such a file may be old, hand-edited or truncated, so every row is checked.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from stance.errors import DataError
from stance.files import write_text_atomic

PREDICTIONS_JSONL = "predictions.jsonl"
# The fields the report and the comparison read; other fields (doc_id, mention, start, end) are optional.
REQUIRED = {"sentence_id": str, "target_id": str, "text": str, "actor": str, "n_targets": int,
            "gold": str, "pred": str, "probs": dict}
# A text-free row (anonymised): enough to be a comparison's baseline, so a baseline of predictions
# can be committed without copying the evaluation data's text (or ids, which may quote it).
PAIR_DIGEST = "pair_sha256"
ANONYMOUS_REQUIRED = {PAIR_DIGEST: str, "unit_sha256": str, "gold": str, "pred": str, "probs": dict}


def _digest(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, ensure_ascii=False).encode("utf-8")).hexdigest()


def pair_digest(row: dict[str, Any]) -> str:
    """What identifies a scored pair: its ids, sentence text and span (an anonymised row carries it)."""
    if PAIR_DIGEST in row:
        return row[PAIR_DIGEST]
    return _digest(row["sentence_id"], row["target_id"], row["text"], row.get("start"), row.get("end"))


def unit_digest(row: dict[str, Any]) -> str:
    """The row's sentence, hashed: the bootstrap resamples sentences, which anonymised rows must keep."""
    return row["unit_sha256"] if "unit_sha256" in row else _digest(row["sentence_id"])


def anonymised(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows without text or ids: digests, gold, prediction and probabilities."""
    return [{PAIR_DIGEST: pair_digest(r), "unit_sha256": unit_digest(r), "gold": r["gold"], "pred": r["pred"],
             "probs": r["probs"]} for r in rows]


def is_anonymised(rows: list[dict[str, Any]]) -> bool:
    return bool(rows) and PAIR_DIGEST in rows[0]


def labels_of(rows: list[dict[str, Any]]) -> list[str]:
    """Class names in id order: the order of each row's ``probs``."""
    return list(rows[0]["probs"])


def write_predictions(path: Path, rows: list[dict[str, Any]]) -> None:
    write_text_atomic(path, "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))


def read_predictions(path: Path) -> list[dict[str, Any]]:
    """Rows of a ``predictions.jsonl`` file; a bad row raises DataError naming file, line and field."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"no predictions file {path}")
    rows, line_nos = [], []
    with open(path, encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise _problem(path, line_no, "(row)", f"not valid JSON: {err.msg}") from None
            _check_row(row, path, line_no)
            rows.append(row)
            line_nos.append(line_no)
    if not rows:
        raise DataError(f"{path}: no predictions")
    _check_labels(rows, line_nos, path)
    return rows


def _problem(path: Path, line_no: int, field: str, rule: str) -> DataError:
    # The same "file:line: field: rule" form as the data preparation's messages.
    return DataError(f"{path}:{line_no}: {field}: {rule}")


def _check_row(row: Any, path: Path, line_no: int) -> None:
    if not isinstance(row, dict):
        raise _problem(path, line_no, "(row)", "must be a JSON object")
    for field, kind in (ANONYMOUS_REQUIRED if PAIR_DIGEST in row else REQUIRED).items():
        if field not in row:
            raise _problem(path, line_no, field, "missing")
        if not isinstance(row[field], kind) or (kind is int and isinstance(row[field], bool)):
            raise _problem(path, line_no, field, f"must be {kind.__name__}")
    probs = row["probs"]
    if not probs or not all(isinstance(v, int | float) and 0 <= v <= 1 for v in probs.values()):
        raise _problem(path, line_no, "probs", "must map labels to probabilities in [0, 1]")


def _check_labels(rows: list[dict[str, Any]], line_nos: list[int], path: Path) -> None:
    labels = labels_of(rows)
    for line_no, row in zip(line_nos, rows, strict=True):
        if list(row["probs"]) != labels:
            raise _problem(path, line_no, "probs", f"labels must be {labels} in that order")
        for field in ("gold", "pred"):
            if row[field] not in labels:
                raise _problem(path, line_no, field, f"unknown label {row[field]!r}; expected one of {labels}")
