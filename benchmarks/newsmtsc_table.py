#!/usr/bin/env python
"""Build the NewsMTSC ablation table (benchmarks/newsmtsc.md) from registry versions.

Every number is read from the versions' manifest.json files: validation and test
macro-F1 (mean ± std over seeds), training wall time and training pairs per
second.  Runs are grouped by the ablation row their config names
(``ablation=newsmtsc/<row>`` sets ``study`` and ``variant`` in the manifest);
``--baseline`` names the row that is the reference for deltas and time ratios.

    python benchmarks/newsmtsc_table.py --registry registry --baseline lr1e4_average2 \
        --header benchmarks/newsmtsc_header.md --header benchmarks/newsmtsc_earlier.md \
        --ensemble v0001,v0002,v0003 --footer benchmarks/newsmtsc_footer.md --out benchmarks/newsmtsc.md

``--ensemble`` adds the row of an ensemble of versions (e.g. a distillation's
teachers): the mean of their saved test probabilities (``eval/<split>/predictions.jsonl``),
scored like a single model.
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections import defaultdict
from pathlib import Path

from stance.evaluation import score
from stance.evaluation.predictions import PREDICTIONS_JSONL, labels_of, read_predictions
from stance.labels import LabelSet

SPLITS = ("validation", "test_rw", "test_mt")
STUDY = "newsmtsc"  # conf/ablation/newsmtsc/


def load_runs(registry: Path) -> list[dict]:
    runs = []
    for manifest in sorted(registry.glob("v*/manifest.json")):
        m = json.loads(manifest.read_text())
        if m.get("study") != STUDY or "test_rw" not in m["metrics"]:
            continue
        runs.append(m)
    return runs


def variant(manifest: dict) -> str:
    return manifest["variant"] or "unnamed"


def mean_std(values: list[float]) -> str:
    if not values:
        return "-"
    pct = [v * 100 for v in values]
    if len(pct) == 1:
        return f"{pct[0]:.1f}"
    return f"{statistics.mean(pct):.1f} ± {statistics.stdev(pct):.1f}"


def summarise(runs: list[dict], baseline: str | None) -> str:
    groups: dict[str, list[dict]] = defaultdict(list)
    for m in runs:
        groups[variant(m)].append(m)
    base = groups.get(baseline or "", [])
    base_f1 = statistics.mean(m["metrics"]["test_rw"]["macro_f1"] for m in base) if base else None
    # Wall times are medians: one run that shared the CPU should not move a variant's time.
    base_time = statistics.median(m["training"]["wall_seconds"] for m in base) if base else None
    lines = [
        "| variant | seeds | validation | test_rw | test_mt | Δ test_rw vs baseline | train wall (s, median) "
        "| time ratio | pairs/s (median) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, members in groups.items():
        f1 = {s: [m["metrics"][s]["macro_f1"] for m in members if s in m["metrics"]] for s in SPLITS}
        wall = statistics.median(m["training"]["wall_seconds"] for m in members)
        pps = statistics.median(m["training"]["pairs_per_second"] for m in members)
        delta = f"{(statistics.mean(f1['test_rw']) - base_f1) * 100:+.1f}" if base_f1 is not None else "-"
        ratio = f"{wall / base_time:.2f}" if base_time else "-"
        lines.append(f"| {name} | {len(members)} | {mean_std(f1['validation'])} | {mean_std(f1['test_rw'])} "
                     f"| {mean_std(f1['test_mt'])} | {delta} | {wall:.0f} | {ratio} | {pps:.1f} |")
    lines += ["", "Runs:", "",
              "| version | variant | seed | epochs | validation | test_rw | test_mt | wall (s) | commit |",
              "|---|---|---|---|---|---|---|---|---|"]
    for m in runs:
        met = m["metrics"]
        lines.append(
            f"| {m['version']} | {variant(m)} | {m['seed']} | {m['training']['epochs']} "
            f"| {met['validation']['macro_f1'] * 100:.1f} | {met['test_rw']['macro_f1'] * 100:.1f} "
            f"| {met.get('test_mt', {}).get('macro_f1', float('nan')) * 100:.1f} | {m['training']['wall_seconds']:.0f} "
            f"| {m['git']['commit'][:10]}{' (dirty)' if m['git']['dirty'] else ''} |"
        )
    return "\n".join(lines)


def ensemble_row(registry: Path, versions: list[str]) -> str:
    """Macro-F1 of the mean probabilities of ``versions`` on each split, from their saved predictions."""
    cells = []
    for split in SPLITS:
        runs = [read_predictions(registry / v / "eval" / split / PREDICTIONS_JSONL) for v in versions]
        names = labels_of(runs[0])
        for rows in runs[1:]:  # the same pairs in the same order, or the mean means nothing
            if [(r["sentence_id"], r["target_id"]) for r in rows] != [(r["sentence_id"], r["target_id"])
                                                                      for r in runs[0]]:
                raise SystemExit(f"error: {split}: the versions' predictions cover different pairs")
        gold = [names.index(r["gold"]) for r in runs[0]]
        mean = [[statistics.fmean(rows[i]["probs"][n] for rows in runs) for n in names] for i in range(len(gold))]
        pred = [max(range(len(names)), key=p.__getitem__) for p in mean]
        cells.append(f"{score(gold, pred, LabelSet(tuple(names)))['macro_f1'] * 100:.1f}")
    return (f"\nEnsemble of {', '.join(versions)} (mean probabilities; validation / test_rw / test_mt macro-F1): "
            f"{' / '.join(cells)}.\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--registry", type=Path, default=Path("registry"))
    parser.add_argument("--baseline", default=None, help="ablation row used as the reference, e.g. marker_span_3ep")
    parser.add_argument("--out", type=Path, default=None, help="write the table here (default: print)")
    parser.add_argument("--header", type=Path, action="append", default=[],
                        help="markdown prepended to the table (repeatable, in order)")
    parser.add_argument("--ensemble", default=None, help="comma-separated versions scored as one ensemble")
    parser.add_argument("--footer", type=Path, default=None, help="markdown appended to the table")
    args = parser.parse_args()
    runs = load_runs(args.registry)
    if not runs:
        raise SystemExit(f"error: no NewsMTSC versions with test_rw metrics in {args.registry}")
    table = summarise(runs, args.baseline)
    text = "".join(h.read_text() for h in args.header) + table + "\n"
    if args.ensemble:
        text += ensemble_row(args.registry, args.ensemble.split(","))
    if args.footer:
        text += "\n" + args.footer.read_text()
    if args.out:
        args.out.write_text(text)
    else:
        print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
