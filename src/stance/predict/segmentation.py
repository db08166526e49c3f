"""Sentence splitting with exact character offsets.

``sentencex`` finds the sentence boundaries; this module keeps the offsets
honest. Line breaks are cut first (no sentence crosses a paragraph, or a blank
line in ``wrap`` mode), each segmenter piece is located in the original text by
search, and whitespace is trimmed without moving any character, so a
sentence's ``start``/``end`` always index the document text.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass

import sentencex

from stance.config import SegmentationConfig
from stance.predict.documents import Document

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Sentence:
    doc_id: str
    index: int  # position in the document, from 0
    start: int  # character offsets in the document text
    end: int
    text: str  # the document's characters [start, end), with line breaks and tabs as spaces


_NEWLINE = r"(?:\r\n|\r|\n)"
_BLOCK_BREAKS = {
    "paragraph": re.compile(_NEWLINE),  # every line break
    "wrap": re.compile(_NEWLINE + r"[^\S\r\n]*" + _NEWLINE + r"\s*"),  # blank lines only
}
_WHITESPACE = re.compile(r"\s")


def _blocks(text: str, line_breaks: str) -> Iterable[tuple[int, int]]:
    """Stretches of text that no sentence crosses (lines, or blank-line paragraphs)."""
    pos = 0
    for match in _BLOCK_BREAKS[line_breaks].finditer(text):
        yield pos, match.start()
        pos = match.end()
    yield pos, len(text)


def _strip(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _split_block(block: str, language: str) -> list[tuple[int, int]]:
    """Sentence spans inside one block, located by search so offsets are exact."""
    spans, cursor = [], 0
    for piece in sentencex.segment(language, block):
        if not piece.strip():
            continue
        at = block.find(piece, cursor)
        if at < 0:  # the segmenter changed the text: keep the rest as one sentence
            log.warning("segmenter output does not match its input; keeping %r as one sentence",
                        block[cursor:cursor + 40])
            spans.append((cursor, len(block)))
            return spans
        spans.append((at, at + len(piece)))
        cursor = at + len(piece)
    return spans


def segment(text: str, cfg: SegmentationConfig | None = None) -> list[tuple[int, int]]:
    """Sentence spans (start, end) of a document, whitespace-trimmed, in order."""
    cfg = cfg or SegmentationConfig()
    if not cfg.enabled:
        start, end = _strip(text, 0, len(text))
        return [(start, end)] if end > start else []
    spans = []
    for b_start, b_end in _blocks(text, cfg.line_breaks):
        block = text[b_start:b_end]
        if not block.strip():
            continue
        for s, e in _split_block(block, cfg.language):
            start, end = _strip(text, b_start + s, b_start + e)
            if end > start:
                spans.append((start, end))
    return spans


def sentences_of(doc: Document, cfg: SegmentationConfig) -> list[Sentence]:
    # Whitespace becomes a plain space one for one, so offsets stay the document's.
    return [Sentence(doc.id, i, s, e, _WHITESPACE.sub(" ", doc.text[s:e]))
            for i, (s, e) in enumerate(segment(doc.text, cfg))]
