"""report.md: the report dict of :mod:`stance.evaluation.report` as markdown tables.

Rendering only formats numbers that are already in the dict, so report.md and
metrics.json can never disagree.
"""

from __future__ import annotations

import math
import re
from typing import Any

from stance.config import METRIC_NAMES
from stance.version_format import CONFUSION_PNG, RELIABILITY_PNG  # the pictures report.md links (beside it)


def fmt(x: float | None, digits: int = 4) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def interval(ci: dict[str, Any]) -> str:
    return f"[{fmt(ci['low'])}, {fmt(ci['high'])}]"


_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|])")


def md_escape(text: str) -> str:
    # Whitespace runs (newlines too) become one space, so a cell stays on its line.
    return _MD_SPECIAL.sub(r"\\\1", re.sub(r"\s+", " ", str(text)))


def marked_sentence(error: dict[str, Any]) -> str:
    """The sentence with the target mention in bold, escaped for a table cell."""
    text, start, end = error["text"], error.get("start"), error.get("end")
    if isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= len(text):
        return f"{md_escape(text[:start])}**{md_escape(text[start:end])}**{md_escape(text[end:])}".strip()
    return md_escape(text).strip()


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header),
            *("| " + " | ".join(r) + " |" for r in rows)]


# One name per metric, shared with the card (stance.config.METRIC_NAMES).


def _summary_section(r: dict[str, Any]) -> list[str]:
    m, b, c = r["metrics"], r["bootstrap"], r["calibration"]
    pct = round(100 * b["confidence"])
    main = r.get("main_metric", "macro_f1")  # reports written before selection_metric existed lead with macro-F1
    rows = [[METRIC_NAMES[k], fmt(m[k]), interval(b[k]) if k in b else ""] for k in METRIC_NAMES]
    order = sorted(range(len(rows)), key=lambda i: list(METRIC_NAMES)[i] != main)  # the headline first
    rows = [rows[i] for i in order] + [["expected calibration error", fmt(c["ece"]), ""]]
    rows[0][0] = f"**{rows[0][0]}** (headline)" if main != "macro_f1" else rows[0][0]
    unit = r["settings"]["unit"]
    return ["## Summary", "", *table(["metric", "value", f"{pct}% CI"], rows), "",
            f"Intervals: percentile bootstrap, {b['n_resamples']} resamples of {b['n_units']} {unit}s "
            f"(seed {b['seed']}).", ""]


def _per_class_section(r: dict[str, Any]) -> list[str]:
    rows = [[lab, fmt(c["precision"]), fmt(c["recall"]), fmt(c["f1"]), str(c["support"]), str(c["predicted"])]
            for lab, c in r["metrics"]["per_class"].items()]
    header = ["label", "precision", "recall", "F1", "support", "predicted"]
    return ["## Per class", "", *table(header, rows), ""]


def _confusion_section(r: dict[str, Any]) -> list[str]:
    labels, matrix = r["labels"], r["metrics"]["confusion_matrix"]
    rows = [[f"**{lab}**", *(str(x) for x in row)] for lab, row in zip(labels, matrix, strict=True)]
    return ["## Confusion matrix", "", "Rows: gold label; columns: predicted label.", "",
            *table(["gold \\ predicted", *labels], rows), "", f"![confusion matrix]({CONFUSION_PNG})", ""]


def _before_scaling(r: dict[str, Any]) -> list[str]:
    u = r.get("calibration_before_scaling")
    if not u:
        return []
    return [f"These probabilities are temperature-scaled (T = {u['temperature']:.3f}, fitted on validation). "
            f"Before scaling: expected calibration error {fmt(u['ece'])}, maximum {fmt(u['mce'])}, "
            f"Brier score {fmt(u['brier'])}, mean confidence {fmt(u['mean_confidence'])}.", ""]


def _calibration_section(r: dict[str, Any]) -> list[str]:
    c = r["calibration"]
    rows = [[f"({b['low']:.2f}, {b['high']:.2f}]", str(b["count"]), fmt(b["confidence"], 3),
             fmt(b["accuracy"], 3)] for b in c["bins"] if b["count"]]
    return ["## Calibration", "",
            f"Expected calibration error {fmt(c['ece'])}, maximum calibration error {fmt(c['mce'])}, "
            f"Brier score {fmt(c['brier'])}; mean confidence {fmt(c['mean_confidence'])} "
            f"against accuracy {fmt(c['accuracy'])}.", "", *_before_scaling(r),
            *table(["confidence bin", "pairs", "mean confidence", "accuracy"], rows), "",
            f"![reliability diagram]({RELIABILITY_PNG})", ""]


def _breakdown_table(groups: list[dict[str, Any]], labels: list[str], first: str) -> list[str]:
    header = [first, "pairs", "macro-F1", "CI", "macro-F1 (f, a)", "accuracy", "avg recall", "ECE",
              *(f"F1 {lab}" for lab in labels), "gold " + "/".join(labels)]
    rows = [[md_escape(g["group"]), str(g["n"]), fmt(g["macro_f1"]), f"[{fmt(g['macro_f1_low'], 3)}, "
             f"{fmt(g['macro_f1_high'], 3)}]", fmt(g["macro_f1_polar"]), fmt(g["accuracy"]),
             fmt(g["average_recall"]), fmt(g["ece"]), *(fmt(g["f1"][lab]) for lab in labels),
             "/".join(str(g["support"][lab]) for lab in labels)] for g in groups]
    return table(header, rows)


def _breakdown_sections(r: dict[str, Any]) -> list[str]:
    actors = r["breakdowns"]["actor"]
    return [f"## By actor ({len(actors)} most frequent)", "",
            "A class absent from a group (no gold and no predicted pairs) is left out of its macro averages.",
            "",
            *_breakdown_table(actors, r["labels"], "actor"), "",
            "## Sentences with one target vs several", "",
            *_breakdown_table(r["breakdowns"]["targets"], r["labels"], "sentences"), ""]


def _errors_section(r: dict[str, Any]) -> list[str]:
    errors = r["confident_errors"]
    rows = [[str(i), marked_sentence(e), md_escape(e["actor"]), e["gold"], e["pred"], fmt(e["confidence"], 3)]
            for i, e in enumerate(errors, 1)]
    return [f"## {len(errors)} most confident errors", "",
            "The target mention is in bold; confidence is the predicted label's probability.", "",
            *table(["#", "sentence", "actor", "gold", "predicted", "confidence"], rows), ""]


def render_report(r: dict[str, Any]) -> str:
    title = f"# Evaluation report: {r.get('version') or 'model'} on {r.get('data') or 'data'} / {r['split']}"
    facts = f"{r['n']} (sentence, target) pairs in {r['n_sentences']} sentences"
    if r.get("data_fingerprint"):
        facts += f"; data fingerprint `{r['data_fingerprint']}`"
    lines = [title, "", facts + ".", "", *_summary_section(r), *_per_class_section(r), *_confusion_section(r),
             *_calibration_section(r), *_breakdown_sections(r), *_errors_section(r)]
    return "\n".join(lines)
