"""Parsing: raw rows into sentences and their targets, every problem collected.

One parser serves all formats; the field map (``data.fields``) says where each
value lives. A bad row or target becomes a :class:`Problem` and parsing goes on,
so a single run lists every bad row (``file:line: field: rule``).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from typing import Any

from stance.config import DataConfig
from stance.data.records import Problem, RawRow, Sentence, Target, is_flat
from stance.offsets import as_int


def _at(where: str, key: str) -> str:
    """The field path a problem names: ``targets[1].label``, or ``label`` in a flat row."""
    return f"{where}.{key}" if where else key


def label_key(raw: Any) -> str:
    """A raw label as a ``label_map`` key: numbers in one spelling, so ``2``, ``2.0``, ``"2"`` and ``"2.0"``
    are the same key (a JSON integer, a float column and a quoted YAML key all meet)."""
    text = str(raw).strip()
    if isinstance(raw, bool):
        return text
    try:
        number = float(text)
    except ValueError:
        return text
    if math.isfinite(number) and number.is_integer():
        return str(int(number))
    return repr(number) if math.isfinite(number) else text


def _missing(value: Any) -> bool:
    """Absent, null, or blank: an empty table cell is missing, not the empty string."""
    return value is None or (isinstance(value, str) and not value.strip())


class RowParser:
    """Turns raw rows into sentences, collecting every problem instead of stopping."""

    def __init__(self, cfg: DataConfig) -> None:
        self.cfg = cfg
        self.f = cfg.fields
        self.flat = is_flat(cfg)
        self.spans_required = cfg.format == "span"  # tables and Hub rows may hold topic targets
        self.labels = set(cfg.labels)
        self.doc_re = re.compile(self.f.doc_id_pattern) if self.f.doc_id_pattern else None
        # Numeric keys normalised (label_key), so a JSON 2 matches the YAML key "2.0" and 2.0 matches "2".
        self.label_map = {label_key(k): v for k, v in cfg.label_map.items()}
        self.raw_labels: Counter[str] = Counter()  # raw values seen, before label_map (for --inspect)
        self.problems: list[Problem] = []
        self.rows_read: Counter[str] = Counter()  # non-blank rows per source file (for --inspect)

    def _problem(self, row: RawRow, field_name: str, rule: str, kind: str) -> None:
        self.problems.append(Problem(row.file, row.line, field_name, rule, kind))

    def map_label(self, raw: Any) -> str:
        """``raw`` through data.label_map (exact key first, then the number it spells); unmapped values pass."""
        key = str(raw)
        return self.cfg.label_map.get(key) or self.label_map.get(label_key(raw), key)

    def label(self, row: RawRow, where: str, raw: Any) -> str | None:
        """``raw`` as a label of data.labels (through data.label_map), counted; None and a problem if unknown."""
        self.raw_labels[str(raw)] += 1
        label = self.map_label(raw)
        if label in self.labels:
            return label
        expected = f"{list(self.cfg.labels)} (data.labels)"
        if self.cfg.label_map:
            expected = f"{list(self.cfg.label_map)} (data.label_map) or {expected}"
        self._problem(row, where, f"unknown label {raw!r}; expected one of {expected}", "unknown label")
        return None

    def _doc_id(self, row: RawRow, row_id: str) -> str | None:
        if self.f.doc_id and not _missing(row.value.get(self.f.doc_id)):
            return str(row.value[self.f.doc_id])
        if self.doc_re:
            match = self.doc_re.match(row_id)
            if match:
                return match.group(1)
            rule = f"id {row_id!r} does not match data.fields.doc_id_pattern {self.doc_re.pattern!r}"
            self._problem(row, self.f.id or "id", rule, "id does not match doc_id_pattern")
            return None
        return row_id

    def _span(self, row: RawRow, where: str, text: str, item: dict, mention: str) -> tuple[int, int] | None:
        if self.f.start is None or self.f.end is None:
            return (-1, -1)
        raw_start, raw_end = item.get(self.f.start), item.get(self.f.end)
        start_key, end_key = _at(where, self.f.start), _at(where, self.f.end)
        if _missing(raw_start) and _missing(raw_end) and not self.spans_required:
            return (-1, -1)  # a topic target
        for key, raw in ((start_key, raw_start), (end_key, raw_end)):
            if _missing(raw):
                self._problem(row, key, "missing field", "missing field")
                return None
        start, end = as_int(raw_start), as_int(raw_end)
        if start is None or end is None:
            rule = f"span [{raw_start!r},{raw_end!r}) must be two integers"
            self._problem(row, start_key, rule, "bad span")
            return None
        if not 0 <= start < end <= len(text):
            rule = f"span [{start},{end}) is outside the sentence (length {len(text)})"
            self._problem(row, start_key, rule, "span outside the sentence")
            return None
        if text[start:end] != mention:
            rule = f"span [{start},{end}) is {text[start:end]!r} but mention is {mention!r}"
            self._problem(row, start_key, rule, "span does not match mention")
            return None
        return start, end

    def _further(self, item: dict, text: str) -> tuple[list[int], list[int]]:
        # Coreferent mentions are extracted automatically (NewsMTSC); a bad one is
        # skipped rather than failing the row, since nothing is trained on them.
        starts, ends = [], []
        for fm in (item.get(self.f.further_mentions) or []) if self.f.further_mentions else []:
            if not isinstance(fm, dict):
                continue
            fs, fe = as_int(fm.get(self.f.start)), as_int(fm.get(self.f.end))
            if fs is not None and fe is not None and 0 <= fs < fe <= len(text):
                starts.append(fs)
                ends.append(fe)
        return starts, ends

    def _target(self, row: RawRow, text: str | None, item: Any, where: str, tid: str) -> Target | None:
        """One target, every problem of it reported; ``text`` is None when the sentence itself is bad."""
        if not isinstance(item, dict):
            self._problem(row, where, "a target must be an object", "target not an object")
            return None
        missing = [key for key in (self.f.mention, self.f.label) if _missing(item.get(key))]
        for key in missing:
            self._problem(row, _at(where, key), "missing field", "missing field")
        label = None if self.f.label in missing else self.label(row, _at(where, self.f.label), item[self.f.label])
        if self.f.mention in missing or text is None:
            return None  # a span is checked against the mention and the sentence; neither is usable
        mention = str(item[self.f.mention])
        span = self._span(row, where, text, item, mention)
        if label is None or span is None:
            return None
        actor = mention
        if self.f.actor and not _missing(item.get(self.f.actor)):
            actor = str(item[self.f.actor])
        elif self.f.actor and isinstance(item.get(self.f.actor), str) and item[self.f.actor]:
            # An empty cell means "the mention"; whitespace alone is a typo that would be published
            # as the actor " ", and the mention is no safe guess for what was meant.
            self._problem(row, _at(where, self.f.actor), "blank actor name", "blank actor")
            return None
        further_s, further_e = self._further(item, text)
        source = f"{row.file}:{row.line}"
        uid = f"{source}#{where}"
        return Target(tid, span[0], span[1], mention, actor, label, further_s, further_e, source, where, uid)

    def _items(self, row: RawRow) -> list | None:
        if self.flat:
            return [row.value]
        items = row.value.get(self.f.targets)
        if isinstance(items, list) and items:
            return items
        if items is None:
            self._problem(row, self.f.targets, "missing field", "missing field")
        else:
            self._problem(row, self.f.targets, f"must be a non-empty list, got {items!r}", "no targets")
        return None

    def _text(self, row: RawRow) -> str | None:
        text = row.value.get(self.f.text)
        if text is None:
            self._problem(row, self.f.text, "missing field", "missing field")
        elif not isinstance(text, str):
            self._problem(row, self.f.text, f"must be a string, got {text!r}", "sentence not a string")
        elif not text.strip():
            self._problem(row, self.f.text, "empty sentence", "empty sentence")
        else:
            return text
        return None

    def parse(self, row: RawRow) -> Sentence | None:
        """The row's sentence, or None when anything in it is bad; every problem of the row is
        recorded, not just the first, so one run shows all that needs fixing."""
        self.rows_read[row.file] += 1
        if isinstance(row.value, Problem):
            self.problems.append(row.value)
            return None
        text = self._text(row)
        raw_id = row.value.get(self.f.id) if self.f.id else None
        row_id = f"{row.file}:{row.line}" if _missing(raw_id) else str(raw_id)
        doc_id = self._doc_id(row, row_id)
        items = self._items(row)
        if items is None:
            return None
        targets = []
        for i, item in enumerate(items):
            where = "" if self.flat else f"{self.f.targets}[{i}]"
            target = self._target(row, text, item, where, f"{row_id}#{i}")
            if target is not None:
                targets.append(target)
        if text is None or doc_id is None or len(targets) != len(items):
            return None
        return Sentence(row_id, doc_id, text, targets, f"{row.file}:{row.line}")


def merge_table_rows(sentences: list[Sentence]) -> list[Sentence]:
    """Flat tables have one target per row; gather rows of one sentence together."""
    merged: dict[tuple[str, str], Sentence] = {}
    for s in sentences:
        own_doc = s.doc_id != s.id  # a real document id, not the row id standing in for one
        key = (s.doc_id if own_doc else "", s.text)
        if key in merged:
            merged[key].targets.extend(s.targets)
        else:
            merged[key] = Sentence(s.id, s.doc_id, s.text, list(s.targets), s.source)
    return list(merged.values())
