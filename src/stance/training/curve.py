"""The training curve of a run: training loss and validation macro-F1 by step, as a PNG in the version.

Drawn from the training record that :func:`stance.training.fine_tune` returns
(Trainer's log history), so the picture and the manifest show the same numbers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stance.files import atomic_file


def write_training_curve(record: dict[str, Any], path: Path) -> Path | None:
    """Training loss (left axis) and validation macro-F1 (right axis) against the optimiser step.

    Writes nothing when the run logged neither (e.g. fewer steps than ``logging_steps``
    and no evaluation), so a card never links an empty picture.
    """
    losses, evals = record.get("loss_history") or [], record.get("validation_history") or []
    if not losses and not evals:
        return None
    # Figure + Agg canvas directly: no pyplot state and no display backend. Imported here, as
    # evaluation's plots are: matplotlib takes a while to import and only this picture needs it.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 3.6), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    ax.set_xlabel("optimiser step")
    ax.set_ylabel("loss")
    if losses:
        ax.plot([h["step"] for h in losses], [h["loss"] for h in losses], color="tab:blue", marker=".",
                label="training loss")
    eval_losses = [h for h in evals if h.get("loss") is not None]
    if eval_losses:
        ax.plot([h["step"] for h in eval_losses], [h["loss"] for h in eval_losses], color="tab:blue",
                linestyle="--", marker="s", label="validation loss")
    handles, labels = ax.get_legend_handles_labels()
    if evals:
        right = ax.twinx()
        right.plot([h["step"] for h in evals], [h["macro_f1"] for h in evals], color="tab:red", marker="o",
                   label="validation macro-F1")
        for h in evals:
            right.annotate(f"ep {h['epoch']:g}", (h["step"], h["macro_f1"]), textcoords="offset points",
                           xytext=(0, 6), ha="center", fontsize=7, color="tab:red")
        right.set_ylabel("validation macro-F1", color="tab:red")
        right.set_ylim(0, 1)
        more_handles, more_labels = right.get_legend_handles_labels()
        handles, labels = handles + more_handles, labels + more_labels
    ax.legend(handles, labels, loc="lower left", fontsize=8)
    ax.set_title(f"{record.get('global_steps', '?')} steps, {record.get('epochs', '?')} epochs", fontsize=9)
    with atomic_file(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    return path
