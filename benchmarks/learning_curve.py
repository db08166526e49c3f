#!/usr/bin/env python
"""Learning curve from published versions (issue 23): macro-F1 against the number of training pairs.

Every number is read from the versions' manifests (``metrics``, ``data.splits``); nothing is
recomputed. Versions are grouped by their ``variant`` (``data.train_documents=S`` runs are
``docs_S``; pass ``--study`` to pick the study). The fit is macro-F1 = a + b * log10(train pairs)
per split, by least squares over the runs, and its extrapolation says how many training pairs that
line would need to reach ``--target``: a rough guide, since learning curves flatten.

    python benchmarks/learning_curve.py --registry /work/lc_reg --study learning_curve \\
        --png benchmarks/learning_curve.png --markdown /tmp/curve.md
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
from collections import defaultdict
from pathlib import Path

from stance.registry import VERSION_RE, read_manifest

SPLITS = ("validation", "test", "test_hard", "test_hard2")


def read_runs(registries: list[Path], study: str) -> list[dict]:
    runs = []
    for root in registries:
        for folder in sorted(p for p in root.glob("v*") if VERSION_RE.match(p.name)):
            # read_manifest, not read_version: the curve's registries (2026-12) predate the sealed format 2.
            # The fields read here are the same in both formats.
            m = read_manifest(folder)
            if m.get("study") != study:
                continue
            runs.append({"version": m["version"], "variant": m.get("variant"), "seed": m["seed"],
                         "train_pairs": m["data"]["splits"]["train"]["pairs"],
                         "documents": m["data"]["splits"]["train"].get("documents"),
                         "wall": m["training"].get("wall_seconds"),
                         "f1": {s: m["metrics"][s]["macro_f1"] * 100 for s in SPLITS if s in m["metrics"]},
                         "ece": {s: (m["metrics"][s].get("ece_before_scaling"), m["metrics"][s].get("ece"))
                                 for s in SPLITS if s in m["metrics"]}})
    return runs


def fit(points: list[tuple[float, float]]) -> tuple[float, float] | None:
    """Least squares y = a + b * log10(x); None with fewer than two distinct x."""
    xs = [math.log10(x) for x, _ in points]
    if len(set(xs)) < 2:
        return None
    mx, my = statistics.mean(xs), statistics.mean(y for _, y in points)
    b = sum((x - mx) * (y - my) for x, (_, y) in zip(xs, points, strict=True)) / sum((x - mx) ** 2 for x in xs)
    return my - b * mx, b


def _cell(values: list[float]) -> str:
    if not values:
        return "—"
    if len(values) == 1:
        return f"{values[0]:.1f}"
    return f"{statistics.mean(values):.1f} ± {statistics.stdev(values):.1f}"


def table(runs: list[dict], splits: list[str]) -> list[str]:
    groups: dict[str, list[dict]] = defaultdict(list)
    for r in runs:
        groups[r["variant"]].append(r)
    order = sorted(groups, key=lambda v: statistics.mean(r["train_pairs"] for r in groups[v]))
    lines = ["| variant | train pairs | articles | seeds | " + " | ".join(splits) + " |",
             "|---|---:|---:|---|" + "---:|" * len(splits)]
    for variant in order:
        rs = groups[variant]
        seeds = ", ".join(str(r["seed"]) for r in sorted(rs, key=lambda r: r["version"]))
        cells = [_cell([r["f1"][s] for r in rs if s in r["f1"]]) for s in splits]
        lines.append(f"| {variant} | {rs[0]['train_pairs']} | {rs[0]['documents']} | {seeds} | " + " | ".join(cells)
                     + " |")
    return lines


def calibration_table(runs: list[dict], splits: list[str]) -> list[str]:
    """ECE before and after temperature scaling, mean over each variant's seeds (versions that have it)."""
    groups: dict[str, list[dict]] = defaultdict(list)
    for r in runs:
        if any(after is not None for _, after in r["ece"].values()):
            groups[r["variant"]].append(r)
    if not groups:
        return []
    lines = ["| variant | seeds | " + " | ".join(f"ECE {s} (before → after)" for s in splits) + " |",
             "|---|---|" + "---|" * len(splits)]
    for variant, rs in sorted(groups.items()):
        cells = []
        for s in splits:
            before = [r["ece"][s][0] for r in rs if s in r["ece"] and r["ece"][s][0] is not None]
            after = [r["ece"][s][1] for r in rs if s in r["ece"] and r["ece"][s][1] is not None]
            cells.append(f"{statistics.mean(before):.3f} → {statistics.mean(after):.3f}" if before and after else "—")
        lines.append(f"| {variant} | {len(rs)} | " + " | ".join(cells) + " |")
    return lines


def extrapolation(runs: list[dict], splits: list[str], target: float) -> list[str]:
    lines = []
    for split in splits:
        line = fit([(r["train_pairs"], r["f1"][split]) for r in runs if split in r["f1"]])
        if line is None:
            continue
        a, b = line
        if b <= 0:
            lines.append(f"- {split}: no gain with more pairs in these runs (slope {b:+.1f} per tenfold).")
            continue
        needed = 10 ** ((target - a) / b)
        lines.append(f"- {split}: {b:+.1f} macro-F1 points per tenfold more pairs; the line reaches {target:g} "
                     f"at about {needed:,.0f} training pairs.")
    return lines


def plot(runs: list[dict], splits: list[str], png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for split in splits:
        pts = [(r["train_pairs"], r["f1"][split]) for r in runs if split in r["f1"]]
        if not pts:
            continue
        by_x: dict[int, list[float]] = defaultdict(list)
        for x, y in pts:
            by_x[x].append(y)
        xs = sorted(by_x)
        ax.errorbar(xs, [statistics.mean(by_x[x]) for x in xs],
                    yerr=[statistics.stdev(by_x[x]) if len(by_x[x]) > 1 else 0 for x in xs],
                    marker="o", capsize=3, label=split)
    ax.set_xscale("log")
    ax.set_xlabel("training pairs (log scale)")
    ax.set_ylabel("macro-F1 (%)")
    ax.set_title("world-affairs learning curve (mean ± s.d. over seeds)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(png, dpi=110)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--registry", type=Path, action="append", required=True)
    p.add_argument("--study", default="learning_curve")
    p.add_argument("--target", type=float, default=85.0)
    p.add_argument("--fit", action="store_true", help="add the log-linear fit and its extrapolation")
    p.add_argument("--png", type=Path)
    p.add_argument("--markdown", type=Path)
    args = p.parse_args()
    runs = read_runs(args.registry, args.study)
    if not runs:
        print(f"error: no version of study {args.study!r} in {[str(r) for r in args.registry]}", file=sys.stderr)
        return 2
    splits = [s for s in SPLITS if any(s in r["f1"] for r in runs)]
    cal = calibration_table(runs, splits)
    text = "\n".join([*table(runs, splits), "", *(cal + [""] if cal else []),
                      *(extrapolation(runs, [s for s in splits if s != "validation"], args.target)
                        if args.fit else [])]) + "\n"
    if args.png:
        plot(runs, splits, args.png)
    if args.markdown:
        args.markdown.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
