"""Label a corpus too large for one process with Ray Data: one model per actor, one shard per input file.

``ray.data`` spreads the input files over a pool of actors (``map_batches``
with an ``ActorPoolStrategy``); each actor loads the model once and labels
whole files with the code path of ``stance-predict`` (:func:`read_documents`
and :func:`predict_documents`), so a row here is a row there. Each finished
file becomes one JSONL shard, written atomically, named after the file's path:
a run that dies and is restarted skips the files whose shard exists. The merge
concatenates the shards in ``stance-predict``'s input order, so the merged
file is the single-process output, whatever order the workers finished in.

``ray.init()`` starts a local Ray on this machine, or joins the cluster that
``RAY_ADDRESS`` names; on a cluster the inputs and the output folder must be on
storage every node sees.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from stance.config import PredictJob
from stance.errors import InputError, StanceError
from stance.files import sha256_text, write_text_atomic
from stance.predict.backends import load_predictor
from stance.predict.documents import input_files, read_documents
from stance.predict.finder import ActorFinder
from stance.predict.outputs import jsonl_text
from stance.predict.run import predict_documents, resolve_version

log = logging.getLogger(__name__)

SHARDS = "shards"
MERGED = "rows.jsonl"


def shard_path(out_dir: Path, source: str) -> Path:
    """The shard of one input file; its name depends only on the file's absolute path."""
    return out_dir / SHARDS / f"{Path(source).stem}-{sha256_text(str(Path(source).absolute()))[:12]}.jsonl"


def _text_stems(files: list[str]) -> list[str]:
    return [Path(f).stem for f in files if not f.endswith(".jsonl")]


class LabelFiles:
    """A Ray actor: loads the model once, then labels the files it is given, one shard per file."""

    def __init__(self, job: PredictJob, model_path: str, out_dir: str, duplicate_stems: list[str]) -> None:
        self.job = job
        self.out_dir = Path(out_dir)
        # Text files named alike in different folders keep their paths as ids in stance-predict;
        # a worker sees one file at a time, so it is told which stems are shared.
        self.duplicate_stems = set(duplicate_stems)
        threads = job.threads or 1  # one CPU per actor by default: the pool's size is the parallelism
        torch.set_num_threads(threads)
        self.predictor = load_predictor(Path(model_path), job.backend, job.onnx_cache, threads)
        self.finder = ActorFinder(job.alias_table, job.actors, job.segmentation.language if job.officials else None)

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[Any]]:
        done: dict[str, list[Any]] = {"path": [], "rows": [], "error": []}
        for source, name in zip(batch["path"], batch["name"], strict=True):
            source, name = str(source), str(name)
            try:
                docs = read_documents([source], self.job.input_format, self.job.text_field, self.job.id_field)
            except StanceError as err:
                # Returned, not raised: Ray would wrap it past recognition and abort the other files;
                # this way they finish, and the driver reports this one line.
                done["path"].append(source), done["rows"].append(0), done["error"].append(str(err))
                continue
            if Path(source).stem in self.duplicate_stems and not source.endswith(".jsonl"):
                docs = [dataclasses.replace(d, id=name) for d in docs]  # the path as the user gave it
            rows, _ = predict_documents(self.predictor, docs, self.finder, self.job.segmentation, self.job.mentions,
                                        self.job.batch_size)
            write_text_atomic(shard_path(self.out_dir, source), jsonl_text(rows))
            done["path"].append(source), done["rows"].append(len(rows)), done["error"].append("")
        return done


@dataclass
class BatchResult:
    merged: Path
    files: list[str]
    skipped: list[str]  # finished by an earlier run
    n_rows: int
    seconds: float
    workers: int
    labelled: list[str] = field(default_factory=list)


def merge_shards(out_dir: Path, files: list[str]) -> tuple[Path, int]:
    """Concatenate the shards in input order into ``<out_dir>/rows.jsonl`` (atomically)."""
    parts = [shard_path(out_dir, f).read_text(encoding="utf-8") for f in files]
    text = "".join(parts)
    merged = out_dir / MERGED
    write_text_atomic(merged, text)
    return merged, text.count("\n")


def label_corpus(job: PredictJob, out_dir: str | Path, workers: int = 2) -> BatchResult:
    """Label every input file of ``job`` on a pool of ``workers`` Ray actors; merge into ``out_dir/rows.jsonl``."""
    import ray  # the `ray` extra; imported here so that stance.predict works without it

    job.check()
    out = Path(out_dir)
    files = input_files(job.inputs)
    model_path = resolve_version(job.version, job.registry)
    stems = _text_stems(files)
    duplicates = sorted({s for s in stems if stems.count(s) > 1})
    todo = [f for f in files if not shard_path(out, f).is_file()]
    skipped = [f for f in files if f not in todo]
    if skipped:
        log.info("skipping %d of %d files already labelled in %s", len(skipped), len(files), out / SHARDS)
    started = time.perf_counter()
    if todo:
        (out / SHARDS).mkdir(parents=True, exist_ok=True)
        ray.init(ignore_reinit_error=True, log_to_driver=False)  # local, or the cluster RAY_ADDRESS names
        dataset = ray.data.from_items([{"path": str(Path(f).absolute()), "name": f} for f in todo])
        labelled = dataset.map_batches(
            LabelFiles, batch_size=1, num_cpus=job.threads or 1,
            compute=ray.data.ActorPoolStrategy(size=min(workers, len(todo))),
            fn_constructor_kwargs={"job": job, "model_path": str(model_path.absolute()), "out_dir": str(out.absolute()),
                                   "duplicate_stems": duplicates},
        ).take_all()
        done = [str(row["path"]) for row in labelled if not row["error"]]
        errors = [str(row["error"]) for row in labelled if row["error"]]
        if errors:
            more = f" (and {len(errors) - 1} more files)" if errors[1:] else ""
            raise InputError(f"{errors[0]}{more}; the other files are labelled in {out / SHARDS}, "
                             "a rerun labels only what is missing")
    else:
        done = []
    merged, n_rows = merge_shards(out, files)
    return BatchResult(merged, files, skipped, n_rows, round(time.perf_counter() - started, 3), workers, done)
