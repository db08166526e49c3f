"""Which prediction rows go to the annotators: all, the least confident, a random or a stratified sample.

The rows are ``stance-predict``'s (one per sentence and mention), whose ``probs`` are the version's
calibrated probabilities whenever it stores a temperature (every backend applies it), so "least
confident" is measured on probabilities that mean what they say. ``benchmarks/annotation_loop.py``
selects its simulated labelling with this same code.

- ``uncertain``: the ``n`` rows with the highest uncertainty, most uncertain first. ``margin`` is
  1 - (p1 - p2), one minus the gap between the two most probable labels; ``entropy`` is the Shannon
  entropy of the probabilities (nats). Ties keep document order.
- ``random``: ``n`` rows drawn with ``seed``, in document order.
- ``stratified``: ``n`` rows split as evenly as the rows allow over the predicted labels (a label with
  too few rows gives its share to the others), drawn with ``seed``, in document order; the way to get
  the rare labels in front of the annotators.

With ``whole_documents`` the unit is the document: all its rows or none. Documents are ranked by the
mean uncertainty of their rows (``uncertain``: labelling cost grows with the rows, so a long document
of confident rows ranks low) or drawn at random, and taken until at least ``n`` rows are in.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from typing import Any

from stance.config import ExportConfig

Row = dict[str, Any]


def uncertainty(probs: Sequence[float], measure: str = "margin") -> float:
    """How unsure a prediction is: higher is less sure (``margin`` in [0, 1], ``entropy`` in nats)."""
    if measure == "entropy":
        return -sum(p * math.log(p) for p in probs if p > 0)
    top = sorted(probs, reverse=True)
    return 1.0 - (top[0] - (top[1] if len(top) > 1 else 0.0))


def predicted_label(row: Row) -> str:
    """The model's label of a row (``label`` may be "uncertain" under --min-confidence)."""
    return row.get("model_label") or max(row["probs"], key=row["probs"].get)


def select_rows(rows: list[Row], cfg: ExportConfig) -> list[Row]:
    """The rows ``cfg`` selects, in the order the tasks should be labelled."""
    if cfg.select == "all" or not rows:
        return list(rows)
    n = cfg.n or len(rows)
    if cfg.whole_documents:
        return _whole_documents(rows, cfg, n)
    if cfg.select == "uncertain":
        scores = [uncertainty(list(r["probs"].values()), cfg.uncertainty) for r in rows]
        order = sorted(range(len(rows)), key=lambda i: -scores[i])  # sorted() is stable: ties keep document order
        return [rows[i] for i in order[:n]]
    if cfg.select == "random":
        keep = random.Random(cfg.seed).sample(range(len(rows)), min(n, len(rows)))
        return [rows[i] for i in sorted(keep)]
    return _stratified(rows, n, cfg.seed)


def _stratified(rows: list[Row], n: int, seed: int) -> list[Row]:
    by_label: dict[str, list[int]] = {}
    for i, row in enumerate(rows):
        by_label.setdefault(predicted_label(row), []).append(i)
    rng = random.Random(seed)
    for members in by_label.values():
        rng.shuffle(members)
    quota = dict.fromkeys(by_label, 0)
    left = min(n, len(rows))
    while left:  # deal one place at a time to the labels that still have rows: as even as the rows allow
        open_labels = [label for label in sorted(by_label) if quota[label] < len(by_label[label])]
        for label in open_labels[:left]:
            quota[label] += 1
        left -= min(left, len(open_labels))
    keep = sorted(i for label, members in by_label.items() for i in members[: quota[label]])
    return [rows[i] for i in keep]


def _whole_documents(rows: list[Row], cfg: ExportConfig, n: int) -> list[Row]:
    docs: dict[str, list[Row]] = {}
    for row in rows:
        docs.setdefault(row["doc_id"], []).append(row)
    names = list(docs)
    if cfg.select == "uncertain":
        mean = {d: sum(uncertainty(list(r["probs"].values()), cfg.uncertainty) for r in docs[d]) / len(docs[d])
                for d in names}
        names.sort(key=lambda d: -mean[d])
    else:
        random.Random(cfg.seed).shuffle(names)
    chosen: list[str] = []
    total = 0
    for name in names:
        if total >= n:
            break
        chosen.append(name)
        total += len(docs[name])
    if cfg.select == "random":
        chosen = [d for d in docs if d in set(chosen)]  # a random sample is labelled in document order
    return [row for name in chosen for row in docs[name]]
