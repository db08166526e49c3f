"""Two versions on the same pairs: ``compare-<baseline>.md`` and ``.json`` in a split's report folder.

Metric deltas come with a paired bootstrap (both versions scored on the same
resamples) and McNemar's exact test, from the ``stance_comparison`` module.
The baseline's predictions usually come from disk, from an evaluation run
earlier and elsewhere, so they are read with :func:`read_predictions`' row
checks and used only when they cover exactly the same pairs.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from stance.errors import DataError
from stance.evaluation.predictions import PREDICTIONS_JSONL, labels_of, read_predictions
from stance.evaluation.render import fmt, interval, table
from stance.evaluation.report import ReportSettings, cached_metric, classification, label_ids, nan_to_null, unit_groups
from stance.files import write_files_atomic
from stance.version_format import EVAL_DIR, EVALUATIONS_DIR


def pair_key(row: dict[str, Any]) -> tuple[str, str]:
    return row["sentence_id"], row["target_id"]


def _pair_content(row: dict[str, Any]) -> tuple:
    return pair_key(row), row["text"], row.get("start"), row.get("end"), row["gold"]


def same_pairs(rows_a: list[dict[str, Any]], rows_b: list[dict[str, Any]]) -> bool:
    """Whether two predictions files score the same pairs: sentences, spans and gold labels."""
    return (labels_of(rows_a) == labels_of(rows_b)
            and sorted(map(_pair_content, rows_a)) == sorted(map(_pair_content, rows_b)))


def saved_predictions(version_dir: Path, data: str, split: str,
                      rows: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
    """A version's saved predictions on exactly the pairs of ``rows``, or None when it has none.

    Looks in its ``stance-evaluate`` results for ``data`` first, then in its
    training run's ``eval/``.
    """
    for folder in (version_dir / EVALUATIONS_DIR / data, version_dir / EVAL_DIR):
        path = folder / split / PREDICTIONS_JSONL
        if path.is_file():
            candidate = read_predictions(path)
            if same_pairs(rows, candidate):
                return candidate
    return None


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
    result = cached_metric("stance_comparison").compute(
        predictions=label_ids(a_rows, "pred", labels), baseline_predictions=label_ids(b_rows, "pred", labels),
        references=label_ids(a_rows, "gold", labels), labels=labels, groups=unit_groups(a_rows, settings.unit),
        n_resamples=settings.n_resamples, seed=settings.seed, confidence=settings.confidence)
    f1_a = {lab: c["f1"] for lab, c in classification(a_rows, labels)["per_class"].items()}
    f1_b = {lab: c["f1"] for lab, c in classification(b_rows, labels)["per_class"].items()}
    per_class = {lab: {"a": f1_a[lab], "b": f1_b[lab], "delta": f1_a[lab] - f1_b[lab]} for lab in labels}
    changed = sum(a["pred"] != b["pred"] for a, b in pairs)
    return nan_to_null({**meta, "labels": labels, "settings": asdict(settings), **result,
                        "per_class_f1": per_class, "changed_predictions": changed})


def _signed(x: float | None) -> str:
    return "n/a" if x is None else f"{x:+.4f}"


def render_comparison(c: dict[str, Any], alpha: float = 0.05) -> str:
    a, b = c.get("version") or "A", c.get("baseline") or "B"
    pct = round(100 * c["confidence"])
    names = {"macro_f1": "macro-F1", "macro_f1_polar": "macro-F1 (favor, against)", "accuracy": "accuracy",
             "average_recall": "average recall"}
    rows = [[label, fmt(c[k]["a"]), fmt(c[k]["b"]), _signed(c[k]["delta"]), interval(c[k]),
             fmt(c[k]["p_value"])] for k, label in names.items()]
    mc = c["mcnemar"]
    verdict = "significant" if (c["macro_f1"]["p_value"] or 1) < alpha else "not significant"
    lines = [
        f"# Comparison: {a} vs {b} on {c.get('data') or 'data'} / {c['split']}", "",
        f"{c['n']} pairs scored by both versions; {c['changed_predictions']} predictions differ. "
        f"Deltas are {a} - {b}.", "",
        *table(["metric", a, b, "delta", f"{pct}% CI of delta", "p (paired bootstrap)"], rows), "",
        f"Paired bootstrap: {c['n_resamples']} resamples of {c['n_units']} {c['settings']['unit']}s "
        f"(seed {c['seed']}), both versions scored on each resample. The macro-F1 difference is "
        f"**{verdict}** at {alpha}.", "",
        "## McNemar's test (per-pair correctness)", "",
        *table(["", f"{b} right", f"{b} wrong"],
               [[f"**{a} right**", str(mc["both_correct"]), str(mc["a_only_correct"])],
                [f"**{a} wrong**", str(mc["b_only_correct"]), str(mc["both_wrong"])]]), "",
        f"Exact two-sided p = {fmt(mc['p_value'])}.", "",
        "## F1 per class", "",
        *table(["label", a, b, "delta"], [[lab, fmt(v["a"]), fmt(v["b"]), f"{v['delta']:+.4f}"]
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
    write_files_atomic({js: json.dumps(comparison, indent=2) + "\n", md: render_comparison(comparison) + "\n"})
    return md
