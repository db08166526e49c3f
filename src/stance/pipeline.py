"""The jobs behind the commands: each strings stages together, and only here do stages meet.

``run_training`` is ``stance-train``, the main job:

    prepare -> fine-tune -> evaluate -> manifest -> card -> publish

It prepares the data (:mod:`stance.data`), fine-tunes with ``transformers.Trainer``
(:mod:`stance.training`), evaluates the validation and test splits
(:mod:`stance.evaluation`), writes the manifest and the model card
(:mod:`stance.card`) into a private staging folder, and publishes it as one new,
immutable registry version. ``run_evaluation`` is ``stance-evaluate``: resolve
versions, prepare the data, evaluate, compare. The stages never import this
module.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from transformers.utils import logging as transformers_logging

from stance.card import write_card
from stance.config import DataConfig, EvaluateJob, TrainJob, portable_train_job
from stance.data import Prepared, prepare
from stance.errors import ConfigError, DivergenceError
from stance.evaluation import SplitResult, evaluate_checkpoint, evaluate_splits, split_meta
from stance.evaluation.calibrate import calibrate_checkpoint
from stance.evaluation.compare import saved_predictions, write_comparison
from stance.files import tree_hashes, write_text_atomic
from stance.gate.baseline import GateError, baseline_ref, check_baseline, read_baseline
from stance.gate.judge import BaselineRows, GateResult, judge
from stance.gate.outputs import write_outputs
from stance.labels import LabelSet
from stance.model.classifier import check_encoder
from stance.predict.onnx_export import export_for_version
from stance.provenance import encoder_provenance, git_state, library_versions
from stance.registry import Registry, read_version, sealed
from stance.runs import Run, complete_checkpoints, open_run
from stance.schemas import to_yaml
from stance.training import check_train_config, fine_tune
from stance.training.callbacks import GracefulStop
from stance.training.distill import resolve_teachers
from stance.version_format import CONFIG_YAML, EVAL_DIR, EVALUATIONS_DIR, MANIFEST, Manifest

log = logging.getLogger(__name__)


# ---------------------------------------------------------------- stance-train


@dataclass
class RunResult:
    version: str
    path: Path
    metrics: dict[str, dict[str, Any]]  # split -> metrics
    stage_seconds: dict[str, float] = field(default_factory=dict)  # wall time of each stage, for the summary


def prepare_mixes(job: TrainJob, labels: LabelSet) -> dict[str, Prepared]:
    mixes = {}
    for name, cfg in job.mix.items():
        if list(cfg.labels) != list(labels.names):
            raise ConfigError(f"mix.{name}.labels {list(cfg.labels)} differ from data.labels {list(labels.names)}")
        mixes[name] = prepare(cfg, job.prepared_root)
    return mixes


def _data_record(prepared: Prepared, cfg: DataConfig) -> dict:
    return {
        "name": prepared.manifest["name"],
        # The folder's name under prepared_root: its absolute path is this machine's (docs/versions.md).
        "prepared": prepared.path.name,
        "fingerprint": prepared.manifest["fingerprint"],
        "sources_sha256": prepared.manifest["sources"],
        "splits": prepared.manifest["splits"],
        "dropped": prepared.manifest["dropped"],
        "datasets_fingerprints": prepared.manifest["datasets_fingerprints"],
        "card_notes": list(cfg.card_notes),  # what the model card must say about this data
        "hub_id": cfg.hub_id,  # the card's `datasets` metadata
        "domain": cfg.domain,  # what the text is, for the card's intended use
    }


def _manifest(job: TrainJob, version: str, prepared: Prepared, mixes: dict[str, Prepared], training: dict,
              metrics: dict, git: dict, calibration: dict | None = None, run_id: str | None = None) -> Manifest:
    portable = portable_train_job(job)  # no absolute path of this machine in what readers see
    return Manifest(
        version=version,
        created=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        note=job.note,
        study=job.study,  # an ablation study and its row (configs/ablation/<study>/<variant>.yaml)
        variant=job.variant,
        task="target-dependent stance classification",
        labels=list(job.data.labels),
        encoder=encoder_provenance(job.model),
        model=asdict(portable.model),
        data=_data_record(prepared, job.data),
        mix={name: _data_record(p, job.mix[name]) for name, p in mixes.items()},
        validation_split=job.data.validation_split,
        seed=job.seed,
        train=asdict(job.train),
        training=training,
        run=run_id,  # the work folder's name: a resumer skips a run that was published (stance.runs)
        main_metric=job.train.selection_metric,  # picked the best epoch; leads the report and the card
        calibration=calibration,  # the temperature fitted on validation (None: train.calibrate=false)
        metrics=metrics,
        git=git,
        libraries=library_versions(),
    )


def write_manifest(stage: Path, manifest: Manifest) -> None:
    """The manifest, then the card rendered from it, then the manifest again with every file's hash.

    The card is part of the version, so it is written before the hashes are
    taken: the manifest lists every published file (itself excluded).
    """
    body = manifest.to_dict()
    (stage / MANIFEST).write_text(json.dumps(body, indent=2, default=str))
    write_card(stage)
    hashes = {name: sha for name, sha in tree_hashes(stage).items() if name != MANIFEST}
    write_text_atomic(stage / MANIFEST, json.dumps(sealed({**body, "artifacts_sha256": hashes}), indent=2))


def data_fingerprints(prepared: Prepared, mixes: dict[str, Prepared]) -> dict[str, str]:
    """What a run trains on, as a distillation teacher's manifest records it (``data``, ``mix.<name>``)."""
    return {"data": prepared.manifest["fingerprint"],
            **{f"mix.{name}": p.manifest["fingerprint"] for name, p in mixes.items()}}


def _rank() -> int:
    return int(os.environ.get("RANK", "0"))


def check_validation_split(job: TrainJob, prepared: Prepared) -> None:
    """A named validation split must exist; only the default name may be absent (no validation then)."""
    name = job.data.validation_split
    default = DataConfig.__dataclass_fields__["validation_split"].default
    if name not in prepared.splits and name != default:
        raise ConfigError(f"data.validation_split={name!r} is not a split of {prepared.manifest['name']} "
                          f"(splits: {', '.join(prepared.splits)})")


def _last_checkpoint(run: Run) -> str:
    ckpts = complete_checkpoints(run.path)
    if not ckpts:
        return "no checkpoint was saved before it (train.save_steps=N saves one every N steps)"
    return f"the last good checkpoint is {ckpts[-1]}"


def run_training(job: TrainJob) -> RunResult | None:
    """Prepare -> fine-tune -> evaluate -> manifest -> card, published as one new version.

    In a distributed launch every rank trains; only rank 0 evaluates and
    publishes, and the other ranks return None. SIGTERM and SIGINT stop the run
    with :class:`RunInterrupted`: during training after saving a resumable
    checkpoint in the run's work folder, elsewhere at once; either way no
    staging folder or reservation is left behind.
    """
    check_train_config(job)  # a bad train.* setting fails before data is prepared or a version reserved
    check_encoder(job.model)  # max_length and config_overrides against the encoder's own config
    library_bars_off()
    git = git_state()  # read before training, so edits made during a long run cannot be misattributed
    if job.train.resume != "never" and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise ConfigError("train.resume=auto works for single-process runs only, not under torchrun/accelerate")
    if job.train.threads:
        torch.set_num_threads(job.train.threads)
    stop = GracefulStop()
    with stop.installed():
        labels = LabelSet(tuple(job.data.labels))
        started = time.perf_counter()
        prepared = prepare(job.data, job.prepared_root)
        mixes = prepare_mixes(job, labels)
        stop.check("while preparing the data; nothing published")
        check_validation_split(job, prepared)
        teachers = resolve_teachers(job, data_fingerprints(prepared, mixes))
        if _rank() != 0:
            run = open_run(job.work_dir, job, resume=False, lock=False)
            with tempfile.TemporaryDirectory() as scratch:
                fine_tune(job, prepared, labels, Path(scratch), run.path, mixes, teachers=teachers)
            return None
        result = _train_and_publish(job, prepared, mixes, labels, git, stop, teachers)
        result.stage_seconds = {"prepare": result.stage_seconds["start"] - started,
                                **{k: v for k, v in result.stage_seconds.items() if k != "start"}}
        return result


def _train_and_publish(job: TrainJob, prepared: Prepared, mixes: dict[str, Prepared], labels: LabelSet,
                       git: dict, stop: GracefulStop, teachers: list[Path]) -> RunResult:
    registry = Registry(job.registry)
    eval_splits = [s for s in [job.data.validation_split, *job.data.eval_splits] if s in prepared.splits]
    clock = _StageClock()
    with registry.stage() as staged:
        run = open_run(job.work_dir, job, resume=job.train.resume == "auto")
        if run.checkpoint is not None:
            log.info("resuming %s from %s", run.path, run.checkpoint.name)
        finished = False
        try:
            try:
                training = fine_tune(job, prepared, labels, staged.path, run.path, mixes, run.checkpoint, stop,
                                     run_name=staged.version, teachers=teachers)
            except DivergenceError as err:
                run.mark_diverged(str(err))  # kept to inspect; never resumed, removed by gc
                raise DivergenceError(f"{err}; no version published; {_last_checkpoint(run)}") from err
            (staged.path / CONFIG_YAML).write_text(to_yaml(portable_train_job(job)))
            clock.lap("fine-tune")
            stop.check("after training; nothing published")
            calibration = _calibrate(job, prepared, staged.path)
            clock.lap("calibrate")
            metrics = evaluate_checkpoint(staged.path, prepared, eval_splits, job.train.eval_batch_size,
                                          staged.path / EVAL_DIR, job.train.progress, job.train.selection_metric)
            clock.lap("evaluate")
            stop.check("after evaluation; nothing published")
            export_for_version(staged.path)  # the ONNX export ships with the version, hashed like the rest
            clock.lap("export")
            write_manifest(staged.path, _manifest(job, staged.version, prepared, mixes, training, metrics, git,
                                                  calibration, run.path.name))
            # The last safe point: a stop requested from here on finds the version published (exit 0).
            stop.check("before publishing; nothing published")
            run.mark_published(registry.root, staged.version)
            finished = True
        finally:
            if not finished:
                # An interrupted or diverged run keeps its folder, to resume or inspect,
                # unless nothing in it can be resumed.
                run.close(remove=not complete_checkpoints(run.path))
    run.close(remove=True)  # published: the version holds what the checkpoints were for
    clock.lap("card and publish")
    path = registry.resolve(staged.version)
    return RunResult(staged.version, path, metrics, clock.laps)


class _StageClock:
    """Wall time per stage for the closing summary; ``laps['start']`` is when the clock was made."""

    def __init__(self) -> None:
        self.last = time.perf_counter()
        self.laps: dict[str, float] = {"start": self.last}

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.laps[stage] = now - self.last
        self.last = now


def _calibrate(job: TrainJob, prepared: Prepared, path: Path) -> dict | None:
    """Temperature scaling on the validation split, before any test split is scored."""
    split = job.data.validation_split
    if not job.train.calibrate or split not in prepared.splits:
        return None
    return calibrate_checkpoint(path, prepared.split(split), split, job.train.eval_batch_size, job.train.progress)


# ---------------------------------------------------------------- stance-evaluate


def library_bars_off() -> None:
    """One bar per long stage: transformers' own bars ("Loading weights", "Writing model shards") go.

    They flash by for each load and save of a checkpoint. The Trainer's bar and ours are plain tqdm
    and stay; ``train.progress=false`` turns those off.
    """
    transformers_logging.disable_progress_bar()


def run_evaluation(job: EvaluateJob) -> tuple[Path, dict[str, dict[str, Any]]]:
    """``stance-evaluate``: score a registry version on the configured splits.

    Each split's results and report go to ``<version>/evaluations/<data>/<split>/``;
    with ``compare=VERSION`` the comparison of the two versions on each split
    goes to ``compare-<VERSION>.md`` and ``.json`` there.
    """
    registry = Registry(job.registry)
    path = registry.resolve(job.version)
    baseline = registry.resolve(job.compare) if job.compare else None
    if baseline is not None and baseline.resolve() == path.resolve():
        raise ConfigError(f"compare={job.compare} is the version being evaluated ({path.name}); "
                          "name another version")
    if job.gate.enabled:
        check_gate_baseline(job, path)  # a missing, self or unreadable baseline is refused before any work
    library_bars_off()
    prepared = prepare(job.data, job.prepared_root)
    splits = job.splits or [s for s in job.data.eval_splits if s in prepared.splits] or prepared.splits
    unknown = [s for s in splits if s not in prepared.splits]
    if unknown:  # before the model loads, not when the first unknown split is scored
        raise ConfigError(f"splits=[{','.join(splits)}]: data {job.data.name} has no split {unknown[0]!r} "
                          f"(its splits: {', '.join(prepared.splits)})")
    if job.gate.enabled:
        job.gate.check_splits(splits)  # job.check() saw the configured splits; these are the prepared ones
    out_dir = path / EVALUATIONS_DIR / job.data.name
    main_metric = read_version(path).main_metric
    results = evaluate_splits(path, prepared, splits, job.batch_size, out_dir, main_metric=main_metric)
    if baseline is not None:
        for split in splits:
            compare_split(out_dir, path.name, baseline, prepared, results[split], job.batch_size)
    return out_dir, {split: result.metrics for split, result in results.items()}


def gate_baseline(job: EvaluateJob, path: Path) -> Path | None:
    """The gate's baseline: a registry version (by name) or a path to a version folder or predictions file."""
    if not job.baseline:
        return None
    ref = baseline_ref(job.baseline, job.registry)
    if ref.resolve() == path.resolve():
        raise ConfigError(f"baseline={job.baseline} is the version being evaluated ({path.name}); "
                          "name the version it must not fall behind")
    return ref


def _in_registry(job: EvaluateJob, ref: Path) -> bool:
    return ref.parent.resolve() == Path(job.registry).resolve()


def check_gate_baseline(job: EvaluateJob, path: Path) -> None:
    """Before evaluating: the baseline exists, is not ``path``, and, when it comes from outside the
    registry (only read, never evaluated), holds readable predictions of every split the gate checks."""
    ref = gate_baseline(job, path)
    if ref is not None and not _in_registry(job, ref):
        check_baseline(ref, job.gate.splits, job.data.name)


def _baseline_rows(job: EvaluateJob, ref: Path) -> BaselineRows:
    """Saved predictions of the baseline when it has them; a registry version without them is evaluated."""
    if not _in_registry(job, ref):  # a file or folder from elsewhere: only read
        return lambda split, rows: read_baseline(ref, split, job.data.name)[0]
    prepared = prepare(job.data, job.prepared_root)  # already prepared by the evaluation: found, not rebuilt
    return lambda split, rows: baseline_predictions(ref, prepared, split, job.batch_size, rows)


def run_gate(job: EvaluateJob, out_dir: Path, evaluated: list[str]) -> tuple[GateResult, dict[str, Path]]:
    """Judge ``stance-evaluate``'s results in ``out_dir`` (``<version>/evaluations/<data>``) with ``job.gate``.

    ``evaluated``: the splits this command just scored, the only ones the gate may judge (``out_dir``
    can hold other splits from earlier runs). The outputs go to ``gate.out``, by default
    ``<out_dir>/gate`` (beside the split folders), and only once every split is judged.
    """
    job.gate.check_splits(evaluated)
    path = out_dir.parent.parent  # the version just evaluated (not `latest` again: it may have moved)
    ref = gate_baseline(job, path)
    if job.gate.needs_baseline and ref is None:
        raise GateError(f"gate={job.gate.name} checks drops against a baseline; pass baseline=VERSION")
    result = judge(job.gate, out_dir, path.name, ref.stem if ref else None,
                   _baseline_rows(job, ref) if ref else None)
    out = Path(job.gate.out) if job.gate.out else out_dir / "gate"
    return result, write_outputs(result, out, Path(job.gate.junit) if job.gate.junit else None)


def compare_split(out_dir: Path, version: str, baseline: Path, prepared: Prepared, result: SplitResult,
                  batch_size: int) -> Path:
    """Write ``<out_dir>/<split>/compare-<baseline>.md``: ``version`` against ``baseline`` on one split."""
    rows = result.predictions
    baseline_rows = baseline_predictions(baseline, prepared, result.split, batch_size, rows)
    meta = {**split_meta(prepared, result.split), "version": version, "baseline": baseline.name}
    return write_comparison(out_dir / result.split, rows, baseline_rows, meta)


def baseline_predictions(version_dir: Path, prepared: Prepared, split: str, batch_size: int,
                         rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The baseline's predictions on the same pairs as ``rows``, computing them only when missing.

    Reuses an earlier ``stance-evaluate`` or the training run's ``eval/`` when
    they hold exactly these pairs (same sentences, spans and gold labels);
    otherwise evaluates the baseline, which writes to its
    ``evaluations/<data>/`` as ``stance-evaluate`` on it would.
    """
    data = prepared.manifest["name"]
    saved = saved_predictions(version_dir, data, split, rows)
    if saved is not None:
        return saved
    log.info("evaluating baseline %s on %s for the comparison", version_dir.name, split)
    evaluations = version_dir / EVALUATIONS_DIR / data
    return evaluate_splits(version_dir, prepared, [split], batch_size, evaluations)[split].predictions
