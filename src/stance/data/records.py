"""The records every stage of preparation passes along, and the helpers they share.

A source row is read into a :class:`RawRow`, parsed into a :class:`Sentence`
holding its :class:`Target` s, and every rule it breaks becomes a
:class:`Problem`. Nothing here reads files or knows a format.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from stance.config import DataConfig


@dataclass
class Problem:
    """One bad row or target.  ``kind`` is the rule's short name, counted in the manifest."""

    file: str
    line: int
    field: str
    rule: str
    kind: str = ""
    drop: tuple[str, ...] = ()  # target uids to drop; empty means the whole row

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.field}: {self.rule}"


@dataclass
class Target:
    id: str
    start: int  # -1 when the target has no span (a topic, or a mention-free row)
    end: int
    mention: str
    actor: str
    label: str
    further_starts: list[int] = field(default_factory=list)
    further_ends: list[int] = field(default_factory=list)
    # Bookkeeping, not written out: where the target came from, and a key that
    # stays unique when a corpus repeats row ids.
    source: str = ""  # "file:line"
    where: str = ""  # field path in that row, e.g. "targets[1]"; empty for a flat row
    uid: str = ""


# The Target fields written to a prepared split, in this order; the rest is bookkeeping.
OUTPUT_TARGET_KEYS = ("id", "start", "end", "mention", "actor", "label", "further_starts", "further_ends")


@dataclass
class Sentence:
    id: str
    doc_id: str
    text: str
    targets: list[Target]
    source: str  # "file:line", for error messages further down the line


@dataclass
class RawRow:
    file: str
    line: int
    value: Any  # a dict, or a Problem when the line could not be read


def split_source(source: str) -> tuple[str, int]:
    """``"file:line"`` back into its parts (a file name may itself hold a colon)."""
    file, line = source.rsplit(":", 1)
    return file, int(line)


def norm_text(text: str) -> str:
    """Sentence identity for leak checks and grouping: whitespace differences do not count."""
    return " ".join(text.split())


def is_flat(cfg: DataConfig) -> bool:
    """One target per row: always for tables, and for other formats without a targets list."""
    return cfg.format == "table" or cfg.fields.targets is None
