"""The report's two pictures, drawn from the report dict: confusion matrix and reliability diagram."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stance.evaluation.render import fmt
from stance.files import atomic_file


def _figure(width: float, height: float, rows: int = 1, **kw):
    # Figure + Agg canvas directly: no pyplot state, no display backend. Imported here because
    # matplotlib takes a while to import and only the pictures need it.
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
    # savefig writes in pieces; writing beside the target and renaming keeps a reader from seeing half a PNG.
    with atomic_file(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
