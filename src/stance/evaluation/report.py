"""Evaluation reports: what an engineer reads after a run, and what CI keeps.

From one split's predictions rows (in memory, straight from
:func:`stance.evaluation.evaluate.evaluate_split`) :func:`write_report` writes
into the split's folder:

    report.md                 readable summary with tables (render.py)
    report.html               the same, self-contained: pictures embedded (html.py)
    metrics.json              the same numbers, for machines (the CI gate reads it)
    confusion_matrix.png      counts, coloured by share of the gold row (plots.py)
    reliability_diagram.png   accuracy against confidence, with the bin counts

All numbers come from the package's ``evaluate`` modules
(:mod:`stance.evaluation.metrics`); bootstrap intervals are seeded, so a report
is stable. ``python -m stance.evaluation.report`` rebuilds a report from a
``predictions.jsonl`` with other settings.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from stance.errors import USER_ERROR_EXIT, DataError
from stance.evaluation.html import REPORT_HTML, html_page
from stance.evaluation.metrics import load_metric
from stance.evaluation.plots import plot_confusion, plot_reliability
from stance.evaluation.predictions import PREDICTIONS_JSONL, labels_of, read_predictions
from stance.evaluation.render import CONFUSION_PNG, RELIABILITY_PNG, render_report
from stance.files import write_files_atomic
from stance.model.temperature import retemper

REPORT_MD = "report.md"
METRICS_JSON = "metrics.json"
REPORT_FILES = (REPORT_MD, REPORT_HTML, METRICS_JSON, CONFUSION_PNG, RELIABILITY_PNG)
UNITS = {"pair": None, "sentence": "sentence_id", "doc": "doc_id"}


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


# ---------------------------------------------------------------- metrics


@functools.cache
def cached_metric(name: str):
    # Loading a module costs milliseconds and a report computes dozens of subsets; compute() resets it.
    return load_metric(name)


def label_ids(rows: list[dict[str, Any]], field: str, labels: list[str]) -> list[int]:
    index = {name: i for i, name in enumerate(labels)}
    return [index[r[field]] for r in rows]


def unit_groups(rows: list[dict[str, Any]], unit: str) -> list[str] | None:
    """The bootstrap's resampling unit of each row; None resamples single pairs."""
    key = UNITS[unit]
    return None if key is None else [str(r.get(key, "")) for r in rows]


def classification(rows: list[dict[str, Any]], labels: list[str]) -> dict[str, Any]:
    return cached_metric("stance_classification").compute(
        predictions=label_ids(rows, "pred", labels), references=label_ids(rows, "gold", labels), labels=labels)


def calibration(rows: list[dict[str, Any]], labels: list[str], n_bins: int) -> dict[str, Any]:
    probs = [[float(r["probs"][name]) for name in labels] for r in rows]
    return cached_metric("calibration").compute(predictions=probs, references=label_ids(rows, "gold", labels),
                                                n_bins=n_bins)


def uncalibrated(rows: list[dict[str, Any]], labels: list[str], n_bins: int,
                 temperature: float | None) -> dict[str, Any] | None:
    """ECE, MCE and Brier of the probabilities before temperature scaling (None when the version has none).

    The rows hold calibrated probabilities softmax(z / T); raising them to the power T and renormalising
    gives softmax(z) back exactly, so no second pass over the model is needed.
    """
    if not temperature or temperature == 1.0:
        return None
    raw = retemper(np.array([[float(r["probs"][name]) for name in labels] for r in rows]), temperature)
    result = cached_metric("calibration").compute(predictions=raw.tolist(),
                                                  references=label_ids(rows, "gold", labels), n_bins=n_bins)
    return {"temperature": temperature, **{k: result[k] for k in ("ece", "mce", "brier", "mean_confidence")}}


def bootstrap(rows: list[dict[str, Any]], labels: list[str], settings: ReportSettings) -> dict[str, Any]:
    return cached_metric("stance_bootstrap").compute(
        predictions=label_ids(rows, "pred", labels), references=label_ids(rows, "gold", labels), labels=labels,
        groups=unit_groups(rows, settings.unit), n_resamples=settings.n_resamples, seed=settings.seed,
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


# ---------------------------------------------------------------- the report


def build_report(rows: list[dict[str, Any]], meta: dict[str, Any], settings: ReportSettings,
                 metrics: dict[str, Any] | None = None) -> dict[str, Any]:
    """Everything in metrics.json: headline metrics, intervals, calibration, breakdowns, errors.

    ``metrics``: the split's stance_classification result when the caller has
    already computed it from these rows (evaluate_split has), so it is not computed twice.
    """
    labels = labels_of(rows)
    actors = top_actors(rows, settings.top_actors)
    return nan_to_null({
        **meta,
        "labels": labels,
        "n": len(rows),
        "n_sentences": len({r["sentence_id"] for r in rows}),
        "settings": asdict(settings),
        "metrics": metrics if metrics is not None else classification(rows, labels),
        "bootstrap": bootstrap(rows, labels, settings),
        "calibration": calibration(rows, labels, settings.n_bins),
        "calibration_before_scaling": uncalibrated(rows, labels, settings.n_bins, meta.get("temperature")),
        "breakdowns": {
            "actor": breakdown(rows, labels, lambda r: r["actor"], actors, settings),
            "targets": breakdown(rows, labels, target_count_group, ["one target", "several targets"],
                                 settings),
        },
        "confident_errors": confident_errors(rows, settings.n_errors),
    })


def nan_to_null(obj: Any) -> Any:
    """NaN (an undefined metric) becomes null, so metrics.json is strict JSON."""
    if isinstance(obj, float) and math.isnan(obj):
        return None
    if isinstance(obj, dict):
        return {k: nan_to_null(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [nan_to_null(v) for v in obj]
    return obj


def write_report(out_dir: Path, rows: list[dict[str, Any]], meta: dict[str, Any],
                 settings: ReportSettings | None = None, metrics: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write report.md, report.html, metrics.json and both pictures into ``out_dir``; returns the report dict."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    report = build_report(rows, meta, settings or ReportSettings(), metrics)
    plot_confusion(report, out_dir / CONFUSION_PNG)
    plot_reliability(report, out_dir / RELIABILITY_PNG)
    markdown = render_report(report) + "\n"
    write_files_atomic({out_dir / METRICS_JSON: json.dumps(report, indent=2, ensure_ascii=False) + "\n",
                        out_dir / REPORT_MD: markdown,
                        out_dir / REPORT_HTML: html_page(markdown.splitlines()[0].lstrip("# "), [(markdown, out_dir)])})
    return report


# ---------------------------------------------------------------- rebuilding from disk


def version_name(path: Path) -> str:
    """``v0003`` for a version folder, and for its staging folder ``.staging/v0003-abc123``."""
    match = re.match(r"^(v\d{4,})(?:-|$)", Path(path).name)
    return match.group(1) if match else Path(path).name


def read_split_meta(eval_dir: Path, split: str) -> dict[str, Any]:
    """Split, data name and fingerprint from an earlier ``<split>/metrics.json``, when present."""
    path = Path(eval_dir) / split / METRICS_JSON
    info = json.loads(path.read_text()) if path.is_file() else {}
    return {"split": split, "data": info.get("data"), "data_fingerprint": info.get("data_fingerprint")}


def write_split_report(eval_dir: Path, split: str, version: str | None = None,
                       settings: ReportSettings | None = None, out_dir: Path | None = None) -> Path:
    """The report of ``<eval_dir>/<split>/predictions.jsonl``, written to ``out_dir`` (default: that folder)."""
    eval_dir = Path(eval_dir)
    rows = read_predictions(eval_dir / split / PREDICTIONS_JSONL)
    meta = {"version": version, **read_split_meta(eval_dir, split)}
    out_dir = Path(out_dir) if out_dir is not None else eval_dir / split
    write_report(out_dir, rows, meta, settings)
    return out_dir / REPORT_MD


def main(argv: list[str] | None = None) -> int:
    """Rebuild a report from an eval folder with other settings, into a folder of your choice.

    ``python -m stance.evaluation.report registry/v0003/eval test_rw --out /tmp/report --top-actors 20``.
    It never writes into a published version.
    """
    import argparse
    import sys

    p = argparse.ArgumentParser(description=main.__doc__.split("\n\n")[0])
    p.add_argument("eval_dir", type=Path, help=f"folder holding <split>/{PREDICTIONS_JSONL}")
    p.add_argument("split")
    p.add_argument("--out", type=Path, required=True, help="folder for report.md, metrics.json and the PNGs")
    p.add_argument("--version", help="name shown in the report (default: taken from eval_dir)")
    defaults = ReportSettings()
    for field, value in asdict(defaults).items():
        p.add_argument(f"--{field.replace('_', '-')}", type=type(value), default=value)
    args = p.parse_args(argv)
    settings = ReportSettings(**{f: getattr(args, f) for f in asdict(defaults)})
    folders = [args.eval_dir.resolve(), *args.eval_dir.resolve().parents]
    version = args.version or next((version_name(f) for f in folders if re.match(r"^v\d{4,}", f.name)), None)
    try:
        md = write_split_report(args.eval_dir, args.split, version, settings, out_dir=args.out)
    except DataError as err:
        print(f"error: {err}", file=sys.stderr)
        return USER_ERROR_EXIT
    print(f"wrote {md}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
