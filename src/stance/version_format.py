"""The version format: what a published version folder holds and what its manifest says (issue 26).

One module owns it, so the pipeline that writes a version and the card, the
registry, the CLI, the scripts and the benchmarks that read one agree by
construction:

    vNNNN/
        manifest.json           Manifest below, sealed with its own SHA-256 (stance.registry)
        model.safetensors, config.json, tokenizer.json, tokenizer_config.json
        config.yaml             the resolved, portable Hydra config of the run
        README.md               the model card
        training_curve.png      loss and validation score by step
        eval/<split>/           the run's evaluation: predictions, metrics.json, report.md, pictures
        onnx/                   the ONNX export (export.json, model.fp32.onnx, model.int8.onnx)
        evaluations/<data>/     later stance-evaluate runs (the only thing written after publishing)

``FORMAT`` changes whenever a reader could misread an older manifest; every
loader refuses another format with one line saying which it is and what to do.
This module imports nothing of the project's: it is the bottom of the tree.
"""

from __future__ import annotations

from dataclasses import MISSING, asdict, dataclass, field, fields
from typing import Any

FORMAT = 2  # 1: manifests before issue 26 (no "format" key); 2: typed, sealed, with calibration and run

MANIFEST = "manifest.json"
CARD = "README.md"
CONFIG_YAML = "config.yaml"
TRAINING_CURVE_PNG = "training_curve.png"
EVAL_DIR = "eval"  # the run's own evaluation, published with the version
EVALUATIONS_DIR = "evaluations"  # later stance-evaluate runs, written into the published version
ONNX_DIR = "onnx"
CONFUSION_PNG = "confusion_matrix.png"  # in eval/<split>/ (and evaluations/<data>/<split>/)
RELIABILITY_PNG = "reliability_diagram.png"


class FormatError(ValueError):
    """A manifest of another format, or missing a field; the registry turns it into a RegistryError."""


@dataclass
class Manifest:
    """Provenance, settings and results of one version: the typed content of ``manifest.json``."""

    version: str
    created: str
    task: str
    labels: list[str]
    encoder: dict[str, Any]  # stance.provenance.encoder_provenance
    model: dict[str, Any]  # the portable ModelConfig
    data: dict[str, Any]  # name, prepared folder, fingerprint, sources, splits, card notes, hub id, domain
    validation_split: str
    seed: int
    train: dict[str, Any]  # the TrainConfig
    training: dict[str, Any]  # what happened: wall time, steps, history, device, distillation
    main_metric: str  # train.selection_metric
    metrics: dict[str, dict[str, Any]]  # split -> headline metrics (with ece, ece_before_scaling)
    git: dict[str, Any]
    libraries: dict[str, str]
    note: str | None = None
    study: str | None = None  # an ablation study and its row
    variant: str | None = None
    mix: dict[str, dict[str, Any]] = field(default_factory=dict)
    run: str | None = None  # the work folder's name: a resumer skips a published run
    calibration: dict[str, Any] | None = None  # the temperature fitted on validation
    artifacts_sha256: dict[str, str] = field(default_factory=dict)  # every other file of the version
    format: int = FORMAT

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Manifest:
        """The manifest of a version written in this format; FormatError names what is off."""
        found = raw.get("format", 1)
        if found != FORMAT:
            raise FormatError(f"written in version format {found} (this stance reads format {FORMAT}); "
                              "retrain it with this stance (its config.yaml holds the settings)")
        names = {f.name for f in fields(cls)}
        missing = [f.name for f in fields(cls)
                   if f.name not in raw and f.default is MISSING and f.default_factory is MISSING]
        if missing:
            raise FormatError(f"lacks {missing}")
        return cls(**{k: v for k, v in raw.items() if k in names})
