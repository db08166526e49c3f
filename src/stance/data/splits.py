"""Splitting: carve validation/test splits out of one source split, and subset train.

Both are deterministic given the seed: the same sentences in the same order
give the same splits on every machine. Carving groups sentences first, so that
neither a document nor a repeated sentence lands in two splits.
"""

from __future__ import annotations

import random
from collections import defaultdict

from stance.data.records import Sentence, norm_text
from stance.errors import ConfigError, DataError


def _groups(sentences: list[Sentence]) -> dict[str, list[Sentence]]:
    """Group by document, and join documents that share a sentence text, so
    that neither an article nor a sentence can land in two splits."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    by_text: dict[str, str] = {}
    for s in sentences:
        find(s.doc_id)
        key = norm_text(s.text)
        if key in by_text:
            parent[find(s.doc_id)] = find(by_text[key])
        else:
            by_text[key] = s.doc_id
    groups: dict[str, list[Sentence]] = defaultdict(list)
    for s in sentences:
        groups[find(s.doc_id)].append(s)
    return groups


def check_shares(validation: float, test: float) -> None:
    """Shares of the carved split's sentences; also checked with the rest of the config."""
    if not 0 <= validation < 1 or not 0 <= test < 1 or validation + test >= 1:
        raise ConfigError(
            f"data.split: validation={validation} and test={test} must be shares in [0,1) summing below 1"
        )


def carve_splits(
    sentences: list[Sentence], validation: float, test: float, seed: int
) -> dict[str, list[Sentence]]:
    """Deterministic grouped split: shuffle the sorted group keys with ``seed`` and
    fill test, then validation, to their share of sentences; the rest is train."""
    check_shares(validation, test)
    groups = _groups(sentences)
    keys = sorted(groups)
    random.Random(seed).shuffle(keys)
    total = len(sentences)
    out: dict[str, list[Sentence]] = {"train": [], "validation": [], "test": []}
    targets = {"test": test * total, "validation": validation * total}
    for key in keys:
        for name in ("test", "validation"):
            if len(out[name]) < targets[name]:
                out[name].extend(groups[key])
                break
        else:
            out["train"].extend(groups[key])
    wanted = ["train"] + [name for name in ("validation", "test") if targets[name] > 0]
    empty = [name for name in wanted if not out[name]]
    if empty:
        raise DataError(
            f"data.split: {len(sentences)} sentences in {len(groups)} document group(s) are too few to carve "
            f"validation={validation}, test={test}: split(s) {empty} would be empty"
        )
    return {name: out[name] for name in wanted}


def subset(sentences: list[Sentence], n: int | None, seed: int) -> list[Sentence]:
    """``n`` sentences drawn with ``seed``, kept in their original order (data.max_train_rows)."""
    if n is None or n >= len(sentences):
        return sentences
    order = list(range(len(sentences)))
    random.Random(seed).shuffle(order)
    keep = sorted(order[:n])
    return [sentences[i] for i in keep]


def subset_documents(sentences: list[Sentence], share: float, seed: int) -> list[Sentence]:
    """Whole documents, ``share`` of them drawn with ``seed``, in their original order (data.train_documents).

    Documents rather than sentences, so a learning curve adds articles the way more data would
    arrive; the draw is nested (a smaller share keeps a subset of a larger one's documents).
    """
    if share >= 1:
        return sentences
    docs = list(dict.fromkeys(s.doc_id for s in sentences))
    random.Random(seed).shuffle(docs)
    keep = set(docs[: max(1, round(len(docs) * share))])
    return [s for s in sentences if s.doc_id in keep]
