"""``stance-predict`` end to end: read, segment, find actors, classify, write.

Nothing is written until every document has been read, checked and classified,
so a bad input or a missing version fails before any output file is touched.
The work itself is :class:`stance.predict.api.StancePredictor`'s, the same object
the Python API gives.
"""

from __future__ import annotations

import logging
import sys
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any, TextIO

from stance.config import PredictJob, SegmentationConfig
from stance.predict.api import StancePredictor
from stance.predict.backends import default_threads, resolve_version
from stance.predict.documents import Document, read_documents
from stance.predict.finder import ActorFinder
from stance.predict.label_studio import build_tasks, version_temperature
from stance.predict.mentions import Actor
from stance.predict.outputs import PredictResult, check_output_paths, format_table, write_outputs
from stance.predict.predictor import Predictor
from stance.predict.seen import Seen, seen_in
from stance.predict.selection import select_rows
from stance.signals import StopRequests

log = logging.getLogger(__name__)

__all__ = ["missing_actors", "predict_documents", "resolve_version", "run_prediction"]


def predict_documents(predictor: Predictor, docs: list[Document], finder: ActorFinder,
                      segmentation: SegmentationConfig, mode: str = "each", batch_size: int = PredictJob.batch_size,
                      progress: bool = False) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Rows and per-document summaries for checked documents."""
    return StancePredictor(predictor, finder, segmentation, mode, batch_size).predict_documents(docs, progress)


def missing_actors(requested: list[Actor], rows: list[dict[str, Any]]) -> list[str]:
    found = {r["actor"] for r in rows}
    return [a.name for a in requested if a.name not in found]


def export_tasks(job: PredictJob, rows: list[dict[str, Any]], path: Path, meta: dict[str, Any],
                 seen: Seen | None = None) -> list[dict]:
    """The Label Studio tasks of ``--export``: the selected rows, pre-annotated; what was chosen goes in ``meta``.

    ``seen``: the pairs earlier rounds showed the annotators (``--exclude``); they are not candidates, so
    ``--n`` counts new pairs only.
    """
    cfg = job.export
    candidates = [r for r in rows if seen is None or not seen.covers(r)]
    if rows and not candidates:
        log.warning("every pair of the input is in --exclude: the tasks file will hold no task")
    chosen = select_rows(candidates, cfg)
    tasks = build_tasks(chosen, path.name)
    temperature = version_temperature(path)
    meta["export"] = {"path": cfg.path, "format": cfg.format, "select": cfg.select, "n": cfg.n,
                      "uncertainty": cfg.uncertainty if cfg.select == "uncertain" else None,
                      "whole_documents": cfg.whole_documents, "seed": cfg.seed, "pairs": len(chosen),
                      "tasks": len(tasks), "of_pairs": len(rows), "temperature": temperature,
                      "exclude": list(cfg.exclude), "excluded_pairs": len(rows) - len(candidates)}
    how = {"all": "every pair", "uncertain": f"the least confident by {cfg.uncertainty}",
           "random": f"a random sample (seed {cfg.seed})",
           "stratified": f"a sample stratified by predicted label (seed {cfg.seed})"}[cfg.select]
    probs = f"calibrated probabilities, T={temperature:.3g}" if temperature else "uncalibrated probabilities"
    skipped = f", {len(rows) - len(candidates)} pairs already in --exclude left out" if cfg.exclude else ""
    log.info("Label Studio export: %d of %d pairs in %d tasks (%s%s, %s%s) -> %s", len(chosen), len(rows),
             len(tasks), how, ", whole documents" if cfg.whole_documents else "", probs, skipped, cfg.path)
    return tasks


def run_prediction(job: PredictJob, stdin: TextIO | None = None,
                   stdout: TextIO | None = None, stop: StopRequests | None = None) -> PredictResult:
    """``stance-predict``: read, segment, find actors, classify, write.

    ``stop``: the command's signal handling; the outputs are written as one deferred block, so a
    SIGINT or SIGTERM leaves them all written or all untouched.
    """
    job.check()
    check_output_paths(job)
    seen = seen_in(job.export.exclude)  # a bad --exclude file fails before the model loads
    stdout = stdout or sys.stdout
    path = resolve_version(job.version, job.registry)  # a missing version fails before reading input
    docs = read_documents(job.inputs, job.input_format, job.text_field, job.id_field, stdin)
    predictor = StancePredictor.from_job(job)
    progress = job.progress if job.progress is not None else sys.stderr.isatty()
    started = time.perf_counter()
    rows, summaries = predictor.predict_documents(docs, progress)
    seconds = time.perf_counter() - started
    missing = missing_actors(predictor.actors, rows) if job.actors else []
    for name in missing:
        log.warning("actor %r was not found in any input document", name)
    for summary in summaries:
        if not summary["pairs"]:
            log.warning("document %r mentions none of the actors looked for", summary["doc_id"])
    model = predictor.model
    meta = {"version": path.name, "model_path": str(path), "backend": job.backend,
            "threads": job.threads or default_threads(), "n_documents": len(docs), "n_pairs": len(rows),
            "seconds": round(seconds, 3),
            "onnx": str(model.onnx_path) if model.onnx_path else None,
            "labels": list(predictor.labels.names)}
    result = PredictResult(rows, summaries, predictor.labels, meta, missing_actors=missing)
    if job.export.path:
        result.tasks = export_tasks(job, rows, path, meta, seen)
    with stop.deferred() if stop is not None else nullcontext():
        result.written = write_outputs(job, result, stdout)
    show_table = job.table if job.table is not None else job.out != "-"
    if show_table:
        out = sys.stderr if job.out == "-" else stdout
        print(format_table(rows, summaries, predictor.labels), file=out)
    return result
