"""Stage 2: fine-tuning, and the whole run that turns a config into a version.

``run_training`` is the main job: prepare the data, fine-tune with
``transformers.Trainer``, evaluate on the validation and test splits, and
publish an immutable registry version with its manifest and model card.
Each stage reads what the previous one wrote into the staging folder.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from stance import card as card_stage
from stance.config import ConfigError, TrainJob, to_yaml
from stance.data import Prepared, prepare
from stance.evaluate import MAIN_METRIC, evaluate_split, write_split_results
from stance.labels import LabelSet
from stance.model import load_model
from stance.provenance import artifact_hashes, encoder_provenance, git_state, library_versions
from stance.registry import MANIFEST, Registry
from stance.training import fine_tune

log = logging.getLogger(__name__)


@dataclass
class RunResult:
    version: str
    path: Path
    metrics: dict[str, dict[str, Any]]  # split -> metrics


def prepare_mixes(job: TrainJob, labels: LabelSet) -> dict[str, Prepared]:
    mixes = {}
    for name, cfg in job.mix.items():
        if list(cfg.labels) != list(labels.names):
            raise ConfigError(f"mix.{name}.labels {list(cfg.labels)} differ from data.labels {list(labels.names)}")
        mixes[name] = prepare(cfg, job.prepared_root)
    return mixes


# ---------------------------------------------------------------- the run


def evaluate_checkpoint(path: Path, prepared: Prepared, splits: list[str], batch_size: int,
                        out_dir: Path, progress: bool = True) -> dict[str, dict[str, Any]]:
    """Stage 3 on a checkpoint folder: score each split and write its results."""
    from stance.report import version_name, write_split_report

    model, tokenizer, encoding = load_model(path)
    labels = LabelSet.from_model_config(model.config)
    results = {}
    for split in splits:
        result = evaluate_split(model, tokenizer, encoding, prepared.split(split), labels, split, batch_size, progress)
        write_split_results(out_dir, result, {"data": prepared.manifest["name"],
                                              "data_fingerprint": prepared.manifest["fingerprint"]})
        # The readable report (report.md, metrics.json, PNGs) goes to <out_dir>/<split>/.
        write_split_report(out_dir, split, version_name(path))
        results[split] = result.metrics
    return results


def _data_record(prepared: Prepared) -> dict:
    return {
        "name": prepared.manifest["name"],
        "prepared": str(prepared.path),
        "fingerprint": prepared.manifest["fingerprint"],
        "sources_sha256": prepared.manifest["sources"],
        "splits": prepared.manifest["splits"],
        "dropped": prepared.manifest["dropped"],
        "datasets_fingerprints": prepared.manifest["datasets_fingerprints"],
    }


def _manifest(job: TrainJob, version: str, prepared: Prepared, mixes: dict[str, Prepared], training: dict,
              metrics: dict, stage: Path, git: dict) -> dict:
    return {
        "version": version,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "note": job.note,
        "task": "target-dependent stance classification",
        "labels": list(job.data.labels),
        "encoder": encoder_provenance(job.model.name_or_path, job.model.revision),
        "model": asdict(job.model),
        "data": _data_record(prepared),
        "mix": {name: _data_record(p) for name, p in mixes.items()},
        "validation_split": job.data.validation_split,
        "seed": job.seed,
        "train": asdict(job.train),
        "training": training,
        "main_metric": MAIN_METRIC,
        "metrics": metrics,
        "git": git,
        "libraries": library_versions(),
        "artifacts_sha256": artifact_hashes(stage),
    }


def _rank() -> int:
    return int(os.environ.get("RANK", "0"))


def _work_dir(job: TrainJob) -> Path:
    # Under torchrun/accelerate every rank must see the same Trainer output_dir;
    # TORCHELASTIC_RUN_ID is shared by the ranks of one launch.
    run_id = os.environ.get("TORCHELASTIC_RUN_ID") or f"{os.getpid()}-{time.time_ns()}"
    return Path(job.work_dir) / f"run-{run_id}"


def run_training(job: TrainJob) -> RunResult | None:
    """Prepare -> fine-tune -> evaluate -> manifest -> card, published as one new version.

    In a distributed launch every rank trains; only rank 0 evaluates and
    publishes, and the other ranks return None.
    """
    git = git_state()  # read before training, so edits made during a long run cannot be misattributed
    if job.train.threads:
        torch.set_num_threads(job.train.threads)
    labels = LabelSet(tuple(job.data.labels))
    prepared = prepare(job.data, job.prepared_root)
    mixes = prepare_mixes(job, labels)
    if _rank() != 0:
        with tempfile.TemporaryDirectory() as scratch:
            fine_tune(job, prepared, labels, Path(scratch), _work_dir(job), mixes)
        return None
    registry = Registry(job.registry)
    eval_splits = [s for s in [job.data.validation_split, *job.data.eval_splits] if s in prepared.splits]
    with registry.stage() as staged:
        work_dir = _work_dir(job)
        try:
            training = fine_tune(job, prepared, labels, staged.path, work_dir, mixes)
        finally:
            shutil.rmtree(work_dir, ignore_errors=True)
        (staged.path / "config.yaml").write_text(to_yaml(job))
        metrics = evaluate_checkpoint(staged.path, prepared, eval_splits, job.train.eval_batch_size,
                                      staged.path / "eval", job.train.progress)
        manifest = _manifest(job, staged.version, prepared, mixes, training, metrics, staged.path, git)
        (staged.path / MANIFEST).write_text(json.dumps(manifest, indent=2, default=str))
        card_stage.write_card(staged.path)
    path = registry.resolve(staged.version)
    return RunResult(staged.version, path, metrics)
