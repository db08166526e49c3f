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
from stance.evaluation.metrics.core import mcnemar_exact
from stance.evaluation.predictions import (
    PREDICTIONS_JSONL,
    is_anonymised,
    labels_of,
    pair_digest,
    read_predictions,
    unit_digest,
)
from stance.evaluation.render import fmt, interval, md_escape, table
from stance.evaluation.report import ReportSettings, cached_metric, label_ids, nan_to_null, unit_groups
from stance.files import write_files_atomic
from stance.version_format import EVAL_DIR, EVALUATIONS_DIR


def pair_key(row: dict[str, Any]) -> tuple[str, str]:
    return row["sentence_id"], row["target_id"]


def _pair_content(row: dict[str, Any]) -> tuple[str, str]:
    # Digests, not text: a baseline may be anonymised (a committed file must not copy the data's text).
    return pair_digest(row), row["gold"]


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
    """Pairs of rows for the same (sentence, target, text, span); both sides must hold the same pairs and gold."""
    by_b = {pair_digest(r): r for r in rows_b}
    keys_a = [pair_digest(r) for r in rows_a]
    if set(keys_a) != set(by_b) or len(keys_a) != len(set(keys_a)) or len(rows_b) != len(by_b):
        only_a = [pair_key(r) if "sentence_id" in r else pair_digest(r) for r in rows_a
                  if pair_digest(r) not in by_b][:2]
        raise DataError(f"{name_a} ({len(rows_a)} pairs) and {name_b} ({len(rows_b)} pairs) were not scored on "
                        f"the same pairs (e.g. only in {name_a}: {only_a}); compare them on the same data and split")
    if labels_of(rows_a) != labels_of(rows_b):
        raise DataError(f"{name_a} has labels {labels_of(rows_a)} but {name_b} has {labels_of(rows_b)}")
    for row in rows_a:
        if row["gold"] != by_b[pair_digest(row)]["gold"]:
            shown = pair_key(row) if "sentence_id" in row else pair_digest(row)
            raise DataError(f"gold label of pair {shown} differs between {name_a} and {name_b}")
    return [(row, by_b[pair_digest(row)]) for row in rows_a]


def _groups(rows: list[dict[str, Any]], settings: ReportSettings) -> list[str] | None:
    if is_anonymised(rows):  # no ids: resample sentences by their digest
        return None if settings.unit == "pair" else [unit_digest(r) for r in rows]
    return unit_groups(rows, settings.unit)


def actor_changes(pairs: list[tuple[dict[str, Any], dict[str, Any]]]) -> list[dict[str, Any]]:
    """Per actor: accuracy of A and B on its pairs, the change, and McNemar's exact p; largest drops first."""
    by_actor: dict[str, list[tuple[bool, bool]]] = {}
    for a, b in pairs:
        if "actor" in a:
            by_actor.setdefault(a["actor"], []).append((a["pred"] == a["gold"], b["pred"] == b["gold"]))
    out = []
    for actor, marks in by_actor.items():
        only_a = sum(ra and not rb for ra, rb in marks)
        only_b = sum(rb and not ra for ra, rb in marks)
        acc_a, acc_b = sum(ra for ra, _ in marks) / len(marks), sum(rb for _, rb in marks) / len(marks)
        out.append({"actor": actor, "n": len(marks), "a": acc_a, "b": acc_b, "delta": acc_a - acc_b,
                    "a_only_correct": only_a, "b_only_correct": only_b, "p_value": mcnemar_exact(only_a, only_b)})
    return sorted(out, key=lambda r: (r["delta"], r["p_value"], r["actor"]))


def build_comparison(rows_a: list[dict[str, Any]], rows_b: list[dict[str, Any]], meta: dict[str, Any],
                     settings: ReportSettings | None = None) -> dict[str, Any]:
    """Version A (``meta['version']``) against B (``meta['baseline']``) on the same pairs."""
    settings = settings or ReportSettings()
    pairs = align(rows_a, rows_b, meta.get("version") or "A", meta.get("baseline") or "B")
    labels = labels_of(rows_a)
    a_rows, b_rows = [a for a, _ in pairs], [b for _, b in pairs]
    result = cached_metric("stance_comparison").compute(
        predictions=label_ids(a_rows, "pred", labels), baseline_predictions=label_ids(b_rows, "pred", labels),
        references=label_ids(a_rows, "gold", labels), labels=labels, groups=_groups(a_rows, settings),
        n_resamples=settings.n_resamples, seed=settings.seed, confidence=settings.confidence)
    changed = sum(a["pred"] != b["pred"] for a, b in pairs)
    return nan_to_null({**meta, "labels": labels, "settings": asdict(settings), **result,
                        "per_actor": actor_changes(pairs), "changed_predictions": changed})


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
        *table(["label", a, b, "delta", f"{pct}% CI of delta", "p"],
               [[lab, fmt(v["a"]), fmt(v["b"]), _signed(v["delta"]), interval(v), fmt(v["p_value"])]
                for lab, v in c["per_class_f1"].items()]), "",
        *actor_drop_lines(c, alpha), ]
    return "\n".join(lines)


def significant_actor_drops(c: dict[str, Any], alpha: float, limit: int = 10) -> list[dict[str, Any]]:
    return [r for r in c.get("per_actor", []) if r["delta"] < 0 and r["p_value"] < alpha][:limit]


def actor_drop_lines(c: dict[str, Any], alpha: float, limit: int = 10, level: int = 2) -> list[str]:
    """The actors whose accuracy dropped significantly (McNemar's exact test on their pairs); ``level``: heading's."""
    a, b = c.get("version") or "A", c.get("baseline") or "B"
    drops = significant_actor_drops(c, alpha, limit)
    head = [f"{'#' * level} Actors with significant drops (McNemar, p < {alpha})", ""]
    if not c.get("per_actor"):
        return [*head, "No actor names on these pairs.", ""]
    if not drops:
        worst = c["per_actor"][0]
        if worst["delta"] >= 0:
            return [*head, "None: no actor's accuracy dropped.", ""]
        return [*head, f"None. The largest drop is {md_escape(worst['actor'])} ({worst['delta']:+.4f} accuracy "
                       f"on {worst['n']} pairs, p = {fmt(worst['p_value'])}).", ""]
    rows = [[md_escape(r["actor"]), str(r["n"]), fmt(r["b"]), fmt(r["a"]), _signed(r["delta"]), fmt(r["p_value"])]
            for r in drops]
    return [*head, *table(["actor", "pairs", f"accuracy {b}", f"accuracy {a}", "delta", "p"], rows), ""]


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
