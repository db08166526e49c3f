"""Stage 4: the model card.

Everything on the card is read from the version's ``manifest.json`` into
:class:`CardInfo`, then rendered with the Jinja template shipped in
``stance/card/templates/model_card.md`` through ``huggingface_hub.ModelCard``,
which also writes the ``model-index`` metadata. Nothing is typed in by hand, so
every number on a card comes from its run, and what the card says about a
dataset (``card_notes``) comes from that dataset's config, recorded in the
manifest: the template knows no dataset by name.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from huggingface_hub import EvalResult, ModelCard, ModelCardData

TEMPLATE = Path(__file__).parent / "templates" / "model_card.md"
CARD = "README.md"


@dataclass
class SplitScores:
    split: str
    n: int
    macro_f1: float
    macro_f1_polar: float
    accuracy: float
    average_recall: float
    per_class: dict[str, dict[str, float]]


METRIC_NAMES = {"macro_f1": "Macro-F1", "macro_f1_polar": "Macro-F1 (favor, against)", "accuracy": "Accuracy",
                "average_recall": "Average recall"}
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
    base_model: str
    encoder: dict[str, Any]
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
    main_metric: str = "macro_f1"  # train.selection_metric: picked the best epoch, leads the results
    targets: str = "mention"  # one of TARGET_KINDS, from the data (target_kind)
    domain: str | None = None  # data.domain: what the text is, for the intended use

    @property
    def main_metric_name(self) -> str:
        return METRIC_NAMES.get(self.main_metric, self.main_metric)


def collect(version_dir: Path) -> CardInfo:
    manifest = json.loads((version_dir / "manifest.json").read_text())
    results = []
    for split, metrics in manifest["metrics"].items():
        results.append(SplitScores(split, metrics["n"], metrics["macro_f1"], metrics["macro_f1_polar"],
                                   metrics["accuracy"], metrics["average_recall"], metrics["per_class"]))
    model = manifest["model"]
    return CardInfo(
        version=manifest["version"],
        created=manifest["created"],
        model_name=f"stance-{manifest['data']['name']}-{manifest['version']}",
        base_model=model["name_or_path"] if not Path(model["name_or_path"]).exists() else model["name"],
        encoder=manifest["encoder"],
        encoding={k: model[k] for k in ("input", "pooling", "per_sentence", "max_length", "markers")},
        labels=manifest["labels"],
        data_name=manifest["data"]["name"],
        data_fingerprint=manifest["data"]["fingerprint"],
        data_sources=manifest["data"]["sources_sha256"],
        data_splits=manifest["data"]["splits"],
        data_dropped=manifest["data"]["dropped"],
        hyperparameters=manifest["train"],
        training=manifest["training"],
        seed=manifest["seed"],
        validation_split=manifest.get("validation_split", "validation"),
        # Versions published before card_notes existed have none recorded.
        card_notes=manifest["data"].get("card_notes", []),
        mix=manifest.get("mix", {}),
        results=results,
        libraries=manifest["libraries"],
        git=manifest["git"],
        note=manifest.get("note"),
        main_metric=manifest.get("main_metric", "macro_f1"),
        targets=target_kind(manifest["data"]["splits"]),
        domain=manifest["data"].get("domain"),
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
        model_name=info.model_name, base_model=info.base_model if "/" in info.base_model else None,
        library_name="transformers", pipeline_tag="text-classification", language="en",
        tags=["stance-detection", "target-dependent", info.data_name], metrics=["f1", "accuracy"],
        eval_results=eval_results,
    )
    return ModelCard.from_template(data, template_path=str(TEMPLATE), info=info)


def write_card(version_dir: Path) -> Path:
    card = render(collect(version_dir))
    path = version_dir / CARD
    card.save(str(path))
    return path
