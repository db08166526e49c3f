"""Evaluation reports: what an engineer reads after a run, and what CI keeps.

From one split's ``<split>.predictions.jsonl`` (written by
:func:`stance.evaluate.write_split_results`) this module writes, into
``<eval_dir>/<split>/``:

    report.md                 readable summary with tables
    metrics.json              the same numbers, for machines (the CI gate reads it)
    confusion_matrix.png      counts, coloured by share of the gold row
    reliability_diagram.png   accuracy against confidence, with the bin counts

and, for ``stance-evaluate ... compare=VERSION``, ``compare-<VERSION>.md`` and
``compare-<VERSION>.json``: the two versions' metric deltas on the same pairs
with a paired bootstrap and McNemar's test.

All numbers come from the package's ``evaluate`` modules
(:mod:`stance.metrics`); bootstrap intervals are seeded, so a report is stable.
"""

from __future__ import annotations

import functools
import json
import math
import os
import re
import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from stance.data import Problem
from stance.errors import DataError
from stance.metrics import load_metric

REPORT_MD = "report.md"
METRICS_JSON = "metrics.json"
CONFUSION_PNG = "confusion_matrix.png"
RELIABILITY_PNG = "reliability_diagram.png"
UNITS = {"pair": None, "sentence": "sentence_id", "doc": "doc_id"}
REQUIRED = {"sentence_id": str, "target_id": str, "text": str, "actor": str, "n_targets": int,
            "gold": str, "pred": str, "probs": dict}


@dataclass(frozen=True)
class ReportSettings:
    top_actors: int = 10  # breakdown rows for the most frequent actors
    n_errors: int = 20  # most confident errors listed
    n_resamples: int = 1000  # bootstrap resamples
    seed: int = 0  # bootstrap seed: same seed, same intervals
    confidence: float = 0.95
    n_bins: int = 10  # reliability bins
    unit: str = "sentence"  # bootstrap resampling unit: pair, sentence or doc

    def __post_init__(self) -> None:
        if self.unit not in UNITS:
            raise ValueError(f"unit must be one of {sorted(UNITS)}, got {self.unit!r}")


# ---------------------------------------------------------------- reading


def read_predictions(path: Path) -> list[dict[str, Any]]:
    """Rows of a ``.predictions.jsonl`` file; a bad row raises DataError naming file, line and field."""
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
                problem = Problem(str(path), line_no, "(row)", f"not valid JSON: {err.msg}")
                raise DataError(str(problem)) from None
            _check_row(row, path, line_no)
            rows.append(row)
            line_nos.append(line_no)
    if not rows:
        raise DataError(f"{path}: no predictions")
    _check_labels(rows, line_nos, path)
    return rows


def _check_row(row: Any, path: Path, line_no: int) -> None:
    if not isinstance(row, dict):
        raise DataError(str(Problem(str(path), line_no, "(row)", "must be a JSON object")))
    for field, kind in REQUIRED.items():
        if field not in row:
            raise DataError(str(Problem(str(path), line_no, field, "missing")))
        if not isinstance(row[field], kind) or (kind is int and isinstance(row[field], bool)):
            raise DataError(str(Problem(str(path), line_no, field, f"must be {kind.__name__}")))
    probs = row["probs"]
    if not probs or not all(isinstance(v, int | float) and 0 <= v <= 1 for v in probs.values()):
        rule = "must map labels to probabilities in [0, 1]"
        raise DataError(str(Problem(str(path), line_no, "probs", rule)))


def _check_labels(rows: list[dict[str, Any]], line_nos: list[int], path: Path) -> None:
    labels = list(rows[0]["probs"])
    for line_no, row in zip(line_nos, rows, strict=True):
        if list(row["probs"]) != labels:
            rule = f"labels must be {labels} in that order"
            raise DataError(str(Problem(str(path), line_no, "probs", rule)))
        for field in ("gold", "pred"):
            if row[field] not in labels:
                raise DataError(str(Problem(str(path), line_no, field, f"unknown label {row[field]!r}; "
                                                                       f"expected one of {labels}")))


def labels_of(rows: list[dict[str, Any]]) -> list[str]:
    """Class names in id order: the order of each row's ``probs``."""
    return list(rows[0]["probs"])


# ---------------------------------------------------------------- metrics


@functools.cache
def _metric(name: str):
    # Loading a module costs milliseconds and a report computes dozens of subsets; compute() resets it.
    return load_metric(name)


def _ids(rows: list[dict[str, Any]], field: str, labels: list[str]) -> list[int]:
    index = {name: i for i, name in enumerate(labels)}
    return [index[r[field]] for r in rows]


def _groups(rows: list[dict[str, Any]], unit: str) -> list[str] | None:
    key = UNITS[unit]
    return None if key is None else [str(r.get(key, "")) for r in rows]


def classification(rows: list[dict[str, Any]], labels: list[str]) -> dict[str, Any]:
    return _metric("stance_classification").compute(
        predictions=_ids(rows, "pred", labels), references=_ids(rows, "gold", labels), labels=labels)


def calibration(rows: list[dict[str, Any]], labels: list[str], n_bins: int) -> dict[str, Any]:
    probs = [[float(r["probs"][name]) for name in labels] for r in rows]
    return _metric("calibration").compute(predictions=probs, references=_ids(rows, "gold", labels),
                                              n_bins=n_bins)


def bootstrap(rows: list[dict[str, Any]], labels: list[str], settings: ReportSettings) -> dict[str, Any]:
    return _metric("stance_bootstrap").compute(
        predictions=_ids(rows, "pred", labels), references=_ids(rows, "gold", labels), labels=labels,
        groups=_groups(rows, settings.unit), n_resamples=settings.n_resamples, seed=settings.seed,
        confidence=settings.confidence)


def group_scores(name: str, rows: list[dict[str, Any]], labels: list[str],
                 settings: ReportSettings) -> dict[str, Any]:
    """One breakdown row: the headline metrics of a subset, with macro-F1's interval."""
    m = classification(rows, labels)
    ci = bootstrap(rows, labels, settings)
    return {
        "group": name, "n": m["n"], "macro_f1": m["macro_f1"],
        "macro_f1_low": ci["macro_f1"]["low"], "macro_f1_high": ci["macro_f1"]["high"],
        "macro_f1_polar": m["macro_f1_polar"], "accuracy": m["accuracy"],
        "average_recall": m["average_recall"],
        "ece": calibration(rows, labels, settings.n_bins)["ece"],
        "f1": {lab: c["f1"] for lab, c in m["per_class"].items()},
        "support": {lab: c["support"] for lab, c in m["per_class"].items()},
    }


def breakdown(rows: list[dict[str, Any]], labels: list[str], key: Callable[[dict], str], names: list[str],
              settings: ReportSettings) -> list[dict[str, Any]]:
    return [group_scores(name, [r for r in rows if key(r) == name], labels, settings)
            for name in names if any(key(r) == name for r in rows)]


def top_actors(rows: list[dict[str, Any]], n: int) -> list[str]:
    counts = Counter(r["actor"] for r in rows)
    # Ties broken by name so the report does not depend on row order.
    return [a for a, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:n]]


def target_count_group(row: dict[str, Any]) -> str:
    return "one target" if row["n_targets"] == 1 else "several targets"


def confidence_of(row: dict[str, Any]) -> float:
    return float(row["probs"][row["pred"]])


def confident_errors(rows: list[dict[str, Any]], n: int) -> list[dict[str, Any]]:
    errors = [r for r in rows if r["gold"] != r["pred"]]
    errors.sort(key=lambda r: (-confidence_of(r), r["sentence_id"], r["target_id"]))
    return [{"sentence_id": r["sentence_id"], "target_id": r["target_id"], "text": r["text"],
             "mention": r.get("mention", ""), "start": r.get("start"), "end": r.get("end"),
             "actor": r["actor"], "gold": r["gold"], "pred": r["pred"], "confidence": confidence_of(r)}
            for r in errors[:n]]


def build_report(rows: list[dict[str, Any]], meta: dict[str, Any],
                 settings: ReportSettings) -> dict[str, Any]:
    """Everything in metrics.json: headline metrics, intervals, calibration, breakdowns, errors."""
    labels = labels_of(rows)
    actors = top_actors(rows, settings.top_actors)
    return _clean({
        **meta,
        "labels": labels,
        "n": len(rows),
        "n_sentences": len({r["sentence_id"] for r in rows}),
        "settings": asdict(settings),
        "metrics": classification(rows, labels),
        "bootstrap": bootstrap(rows, labels, settings),
        "calibration": calibration(rows, labels, settings.n_bins),
        "breakdowns": {
            "actor": breakdown(rows, labels, lambda r: r["actor"], actors, settings),
            "targets": breakdown(rows, labels, target_count_group, ["one target", "several targets"],
                                 settings),
        },
        "confident_errors": confident_errors(rows, settings.n_errors),
    })


def _clean(obj: Any) -> Any:
    """NaN (an undefined metric) becomes null, so metrics.json is strict JSON."""
    if isinstance(obj, float) and math.isnan(obj):
        return None
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    return obj


# ---------------------------------------------------------------- markdown


def fmt(x: float | None, digits: int = 4) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def _interval(ci: dict[str, Any]) -> str:
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


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header),
            *("| " + " | ".join(r) + " |" for r in rows)]


def _summary_section(r: dict[str, Any]) -> list[str]:
    m, b, c = r["metrics"], r["bootstrap"], r["calibration"]
    pct = round(100 * b["confidence"])
    rows = [
        ["macro-F1", fmt(m["macro_f1"]), _interval(b["macro_f1"])],
        ["macro-F1 (favor, against)", fmt(m["macro_f1_polar"]), _interval(b["macro_f1_polar"])],
        ["accuracy", fmt(m["accuracy"]), _interval(b["accuracy"])],
        ["average recall", fmt(m["average_recall"]), ""],
        ["expected calibration error", fmt(c["ece"]), ""],
    ]
    unit = r["settings"]["unit"]
    return ["## Summary", "", *_table(["metric", "value", f"{pct}% CI"], rows), "",
            f"Intervals: percentile bootstrap, {b['n_resamples']} resamples of {b['n_units']} {unit}s "
            f"(seed {b['seed']}).", ""]


def _per_class_section(r: dict[str, Any]) -> list[str]:
    rows = [[lab, fmt(c["precision"]), fmt(c["recall"]), fmt(c["f1"]), str(c["support"]), str(c["predicted"])]
            for lab, c in r["metrics"]["per_class"].items()]
    header = ["label", "precision", "recall", "F1", "support", "predicted"]
    return ["## Per class", "", *_table(header, rows), ""]


def _confusion_section(r: dict[str, Any]) -> list[str]:
    labels, matrix = r["labels"], r["metrics"]["confusion_matrix"]
    rows = [[f"**{lab}**", *(str(x) for x in row)] for lab, row in zip(labels, matrix, strict=True)]
    return ["## Confusion matrix", "", "Rows: gold label; columns: predicted label.", "",
            *_table(["gold \\ predicted", *labels], rows), "", f"![confusion matrix]({CONFUSION_PNG})", ""]


def _calibration_section(r: dict[str, Any]) -> list[str]:
    c = r["calibration"]
    rows = [[f"({b['low']:.2f}, {b['high']:.2f}]", str(b["count"]), fmt(b["confidence"], 3),
             fmt(b["accuracy"], 3)] for b in c["bins"] if b["count"]]
    return ["## Calibration", "",
            f"Expected calibration error {fmt(c['ece'])}, maximum calibration error {fmt(c['mce'])}, "
            f"Brier score {fmt(c['brier'])}; mean confidence {fmt(c['mean_confidence'])} "
            f"against accuracy {fmt(c['accuracy'])}.", "",
            *_table(["confidence bin", "pairs", "mean confidence", "accuracy"], rows), "",
            f"![reliability diagram]({RELIABILITY_PNG})", ""]


def _breakdown_table(groups: list[dict[str, Any]], labels: list[str], first: str) -> list[str]:
    header = [first, "pairs", "macro-F1", "CI", "macro-F1 (f, a)", "accuracy", "avg recall", "ECE",
              *(f"F1 {lab}" for lab in labels), "gold " + "/".join(labels)]
    rows = [[md_escape(g["group"]), str(g["n"]), fmt(g["macro_f1"]), f"[{fmt(g['macro_f1_low'], 3)}, "
             f"{fmt(g['macro_f1_high'], 3)}]", fmt(g["macro_f1_polar"]), fmt(g["accuracy"]),
             fmt(g["average_recall"]), fmt(g["ece"]), *(fmt(g["f1"][lab]) for lab in labels),
             "/".join(str(g["support"][lab]) for lab in labels)] for g in groups]
    return _table(header, rows)


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
            *_table(["#", "sentence", "actor", "gold", "predicted", "confidence"], rows), ""]


def render_report(r: dict[str, Any]) -> str:
    title = f"# Evaluation report: {r.get('version') or 'model'} on {r.get('data') or 'data'} / {r['split']}"
    facts = f"{r['n']} (sentence, target) pairs in {r['n_sentences']} sentences"
    if r.get("data_fingerprint"):
        facts += f"; data fingerprint `{r['data_fingerprint']}`"
    lines = [title, "", facts + ".", "", *_summary_section(r), *_per_class_section(r), *_confusion_section(r),
             *_calibration_section(r), *_breakdown_sections(r), *_errors_section(r)]
    return "\n".join(lines)


# ---------------------------------------------------------------- pictures


def _figure(width: float, height: float, rows: int = 1, **kw):
    # Figure + Agg canvas directly: no pyplot state, no display backend.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.subplots(rows, 1, **kw)


def plot_confusion(r: dict[str, Any], path: Path) -> None:
    import numpy as np

    labels, matrix = r["labels"], np.asarray(r["metrics"]["confusion_matrix"], dtype=float)
    share = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    fig, ax = _figure(1.4 * len(labels) + 2, 1.2 * len(labels) + 1.6)
    image = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(labels)):
        for j in range(len(labels)):
            ax.text(j, i, f"{int(matrix[i, j])}\n{100 * share[i, j]:.0f}%", ha="center", va="center",
                    color="white" if share[i, j] > 0.6 else "black", fontsize=9)
    ax.set_xticks(range(len(labels)), labels)
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold")
    ax.set_title(f"{r.get('version') or ''} {r['split']}: confusion (colour: share of gold row)", fontsize=9)
    fig.colorbar(image, ax=ax, shrink=0.8)
    _save(fig, path)


def plot_reliability(r: dict[str, Any], path: Path) -> None:
    bins = [b for b in r["calibration"]["bins"] if b["count"]]  # empty bins have nothing to draw
    width = r["calibration"]["bins"][0]["high"] - r["calibration"]["bins"][0]["low"]
    centres = [(b["low"] + b["high"]) / 2 for b in bins]
    acc = [b["accuracy"] for b in bins]
    conf = [b["confidence"] for b in bins]
    fig, (top, bottom) = _figure(5, 5.5, 2, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    top.bar(centres, acc, width=width * 0.95, color="tab:blue", edgecolor="black", label="accuracy")
    top.bar(centres, [c - a for a, c in zip(acc, conf, strict=True)],
            bottom=acc, width=width * 0.95, color="tab:red", alpha=0.3, hatch="//", label="gap to confidence")
    top.plot([0, 1], [0, 1], "k--", linewidth=1, label="perfect calibration")
    top.set_ylim(0, 1)
    top.set_ylabel("accuracy")
    top.legend(loc="upper left", fontsize=8)
    top.set_title(f"{r.get('version') or ''} {r['split']}: reliability, ECE {fmt(r['calibration']['ece'])}",
                  fontsize=9)
    bottom.bar(centres, [b["count"] for b in bins], width=width * 0.95, color="grey")
    bottom.set_xlim(0, 1)
    bottom.set_xlabel("confidence (probability of the predicted label)")
    bottom.set_ylabel("pairs")
    _save(fig, path)


def _save(fig, path: Path) -> None:
    tmp = _tmp_beside(path)
    try:
        fig.savefig(tmp, format="png", dpi=110)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


# ---------------------------------------------------------------- writing


def _tmp_beside(path: Path) -> str:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    return tmp


def write_text_atomic(path: Path, text: str) -> None:
    """Write then rename: a reader never sees half a file, and a failure leaves the old one."""
    tmp = _tmp_beside(path)
    try:
        Path(tmp).write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def write_report(out_dir: Path, rows: list[dict[str, Any]], meta: dict[str, Any],
                 settings: ReportSettings | None = None) -> dict[str, Any]:
    """Write report.md, metrics.json and both pictures into ``out_dir``; returns the report dict."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    report = build_report(rows, meta, settings or ReportSettings())
    plot_confusion(report, out_dir / CONFUSION_PNG)
    plot_reliability(report, out_dir / RELIABILITY_PNG)
    write_text_atomic(out_dir / METRICS_JSON, json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    write_text_atomic(out_dir / REPORT_MD, render_report(report) + "\n")
    return report


def version_name(path: Path) -> str:
    """``v0003`` for a version folder, and for its staging folder ``.staging/v0003-abc123``."""
    match = re.match(r"^(v\d{4,})(?:-|$)", Path(path).name)
    return match.group(1) if match else Path(path).name


def split_meta(eval_dir: Path, split: str) -> dict[str, Any]:
    """Data name and fingerprint from ``<split>.json``, when present."""
    path = Path(eval_dir) / f"{split}.json"
    info = json.loads(path.read_text()) if path.is_file() else {}
    return {"split": split, "data": info.get("data"), "data_fingerprint": info.get("data_fingerprint")}


def write_split_report(eval_dir: Path, split: str, version: str | None = None,
                       settings: ReportSettings | None = None) -> Path:
    """The report of ``<eval_dir>/<split>.predictions.jsonl``, written to ``<eval_dir>/<split>/``."""
    eval_dir = Path(eval_dir)
    rows = read_predictions(eval_dir / f"{split}.predictions.jsonl")
    meta = {"version": version, **split_meta(eval_dir, split)}
    out_dir = eval_dir / split
    write_report(out_dir, rows, meta, settings)
    return out_dir / REPORT_MD


# ---------------------------------------------------------------- comparison


def pair_key(row: dict[str, Any]) -> tuple[str, str]:
    return row["sentence_id"], row["target_id"]


def _pair_content(row: dict[str, Any]) -> tuple:
    return pair_key(row), row["text"], row.get("start"), row.get("end"), row["gold"]


def same_pairs(rows_a: list[dict[str, Any]], rows_b: list[dict[str, Any]]) -> bool:
    """Whether two predictions files score the same pairs: sentences, spans and gold labels."""
    return (labels_of(rows_a) == labels_of(rows_b)
            and sorted(map(_pair_content, rows_a)) == sorted(map(_pair_content, rows_b)))


def align(rows_a: list[dict[str, Any]], rows_b: list[dict[str, Any]], name_a: str,
          name_b: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Pairs of rows for the same (sentence, target); both sides must hold the same pairs and gold labels."""
    by_b = {pair_key(r): r for r in rows_b}
    keys_a = [pair_key(r) for r in rows_a]
    if set(keys_a) != set(by_b) or len(keys_a) != len(set(keys_a)):
        missing = sorted(set(keys_a) ^ set(by_b))[:3]
        raise DataError(f"{name_a} and {name_b} were not scored on the same pairs "
                        f"(first differences: {missing}); compare them on the same data and split")
    if labels_of(rows_a) != labels_of(rows_b):
        raise DataError(f"{name_a} has labels {labels_of(rows_a)} but {name_b} has {labels_of(rows_b)}")
    for row in rows_a:
        if row["gold"] != by_b[pair_key(row)]["gold"]:
            raise DataError(f"gold label of pair {pair_key(row)} differs between {name_a} and {name_b}")
    return [(row, by_b[pair_key(row)]) for row in rows_a]


def build_comparison(rows_a: list[dict[str, Any]], rows_b: list[dict[str, Any]], meta: dict[str, Any],
                     settings: ReportSettings | None = None) -> dict[str, Any]:
    """Version A (``meta['version']``) against B (``meta['baseline']``) on the same pairs."""
    settings = settings or ReportSettings()
    pairs = align(rows_a, rows_b, meta.get("version") or "A", meta.get("baseline") or "B")
    labels = labels_of(rows_a)
    a_rows, b_rows = [a for a, _ in pairs], [b for _, b in pairs]
    result = _metric("stance_comparison").compute(
        predictions=_ids(a_rows, "pred", labels), baseline_predictions=_ids(b_rows, "pred", labels),
        references=_ids(a_rows, "gold", labels), labels=labels, groups=_groups(a_rows, settings.unit),
        n_resamples=settings.n_resamples, seed=settings.seed, confidence=settings.confidence)
    f1_a = {lab: c["f1"] for lab, c in classification(a_rows, labels)["per_class"].items()}
    f1_b = {lab: c["f1"] for lab, c in classification(b_rows, labels)["per_class"].items()}
    per_class = {lab: {"a": f1_a[lab], "b": f1_b[lab], "delta": f1_a[lab] - f1_b[lab]} for lab in labels}
    changed = sum(a["pred"] != b["pred"] for a, b in pairs)
    return _clean({**meta, "labels": labels, "settings": asdict(settings), **result,
                   "per_class_f1": per_class, "changed_predictions": changed})


def _signed(x: float | None) -> str:
    return "n/a" if x is None else f"{x:+.4f}"


def render_comparison(c: dict[str, Any], alpha: float = 0.05) -> str:
    a, b = c.get("version") or "A", c.get("baseline") or "B"
    pct = round(100 * c["confidence"])
    names = {"macro_f1": "macro-F1", "macro_f1_polar": "macro-F1 (favor, against)", "accuracy": "accuracy",
             "average_recall": "average recall"}
    rows = [[label, fmt(c[k]["a"]), fmt(c[k]["b"]), _signed(c[k]["delta"]), _interval(c[k]),
             fmt(c[k]["p_value"])] for k, label in names.items()]
    mc = c["mcnemar"]
    verdict = "significant" if (c["macro_f1"]["p_value"] or 1) < alpha else "not significant"
    lines = [
        f"# Comparison: {a} vs {b} on {c.get('data') or 'data'} / {c['split']}", "",
        f"{c['n']} pairs scored by both versions; {c['changed_predictions']} predictions differ. "
        f"Deltas are {a} - {b}.", "",
        *_table(["metric", a, b, "delta", f"{pct}% CI of delta", "p (paired bootstrap)"], rows), "",
        f"Paired bootstrap: {c['n_resamples']} resamples of {c['n_units']} {c['settings']['unit']}s "
        f"(seed {c['seed']}), both versions scored on each resample. The macro-F1 difference is "
        f"**{verdict}** at {alpha}.", "",
        "## McNemar's test (per-pair correctness)", "",
        *_table(["", f"{b} right", f"{b} wrong"],
                [[f"**{a} right**", str(mc["both_correct"]), str(mc["a_only_correct"])],
                 [f"**{a} wrong**", str(mc["b_only_correct"]), str(mc["both_wrong"])]]), "",
        f"Exact two-sided p = {fmt(mc['p_value'])}.", "",
        "## F1 per class", "",
        *_table(["label", a, b, "delta"], [[lab, fmt(v["a"]), fmt(v["b"]), f"{v['delta']:+.4f}"]
                                           for lab, v in c["per_class_f1"].items()]), "",
    ]
    return "\n".join(lines)


def comparison_paths(split_dir: Path, baseline: str) -> tuple[Path, Path]:
    return Path(split_dir) / f"compare-{baseline}.md", Path(split_dir) / f"compare-{baseline}.json"


def write_comparison(split_dir: Path, rows_a: list[dict[str, Any]], rows_b: list[dict[str, Any]],
                     meta: dict[str, Any], settings: ReportSettings | None = None) -> Path:
    """``compare-<baseline>.md`` and ``.json`` in ``split_dir``; returns the markdown path."""
    split_dir = Path(split_dir)
    split_dir.mkdir(parents=True, exist_ok=True)
    comparison = build_comparison(rows_a, rows_b, meta, settings)
    md, js = comparison_paths(split_dir, meta["baseline"])
    write_text_atomic(js, json.dumps(comparison, indent=2) + "\n")
    write_text_atomic(md, render_comparison(comparison) + "\n")
    return md


# ---------------------------------------------------------------- command line


def main(argv: list[str] | None = None) -> int:
    """Rebuild a report from an eval folder with other settings, into a folder of your choice.

    ``python -m stance.report registry/v0003/eval test_rw --out /tmp/report --top-actors 20``.
    It never writes into a published version.
    """
    import argparse
    import sys

    p = argparse.ArgumentParser(description=main.__doc__.split("\n\n")[0])
    p.add_argument("eval_dir", type=Path, help="folder holding <split>.predictions.jsonl")
    p.add_argument("split")
    p.add_argument("--out", type=Path, required=True, help="folder for report.md, metrics.json and the PNGs")
    p.add_argument("--version", help="name shown in the report (default: taken from eval_dir)")
    defaults = ReportSettings()
    for field, value in asdict(defaults).items():
        p.add_argument(f"--{field.replace('_', '-')}", type=type(value), default=value)
    args = p.parse_args(argv)
    settings = ReportSettings(**{f: getattr(args, f) for f in asdict(defaults)})
    try:
        rows = read_predictions(args.eval_dir / f"{args.split}.predictions.jsonl")
    except DataError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    folders = [args.eval_dir.resolve(), *args.eval_dir.resolve().parents]
    version = args.version or next((version_name(f) for f in folders if re.match(r"^v\d{4,}", f.name)), None)
    write_report(args.out, rows, {"version": version, **split_meta(args.eval_dir, args.split)}, settings)
    print(f"wrote {args.out / REPORT_MD}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
