"""``stance-predict`` end to end: read, segment, find actors, classify, write.

Nothing is written until every document has been read, checked and classified,
so a bad input or a missing version fails before any output file is touched.
"""

from __future__ import annotations

import logging
import math
import os
import sys
import time
from pathlib import Path
from typing import Any, TextIO

import torch

from stance.config import PredictJob, SegmentationConfig
from stance.errors import CheckpointError, RegistryError
from stance.model import SentenceTargets, TargetSpec
from stance.predict.backends import Predictor, check_checkpoint, default_threads, load_predictor
from stance.predict.documents import Document, read_documents
from stance.predict.mentions import Actor, ActorFinder, Mention
from stance.predict.outputs import PredictResult, build_rows, format_table, summarise, write_outputs
from stance.predict.segmentation import Sentence, sentences_of
from stance.registry import Registry

log = logging.getLogger(__name__)


def resolve_version(version: str, registry: str) -> Path:
    """A registry version (``v0003``, ``latest``) or a checkpoint folder given by path."""
    path = Path(version).expanduser()
    if (os.sep in version or version.startswith(".")) and path.is_dir():
        check_checkpoint(path)
        return path
    if not Path(registry).is_dir():
        raise RegistryError(f"registry folder {registry!r} does not exist; pass --registry")
    return Registry(registry).resolve(version)


def predict_documents(predictor: Predictor, docs: list[Document], finder: ActorFinder,
                      segmentation: SegmentationConfig, mode: str = "each", batch_size: int = 64,
                      progress: bool = False) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Rows and per-document summaries for checked documents."""
    units: list[tuple[Sentence, list[Mention]]] = []
    n_sentences: dict[str, int] = {}
    for doc in docs:
        sentences = sentences_of(doc, segmentation)
        n_sentences[doc.id] = len(sentences)
        for sentence, mentions in zip(sentences, finder.mentions(doc, sentences), strict=True):
            if mentions:
                units.append((sentence, mentions))
    batch = [SentenceTargets(s.text, [TargetSpec(m.start, m.end, m.mention) for m in ms]) for s, ms in units]
    probs = predictor.predict_proba(batch, batch_size, progress) if batch else []
    check_finite(probs, predictor.path)
    rows_by_doc: dict[str, list[dict[str, Any]]] = {doc.id: [] for doc in docs}
    for (sentence, mentions), p in zip(units, probs, strict=True):
        rows_by_doc[sentence.doc_id] += build_rows(sentence, mentions, p, predictor.labels, mode)
    rows = [r for doc in docs for r in rows_by_doc[doc.id]]
    summaries = [summarise(d.id, n_sentences[d.id], rows_by_doc[d.id], predictor.labels) for d in docs]
    return rows, summaries


def check_finite(probs: list[list[list[float]]], path: Path) -> None:
    """Refuse NaN or infinite probabilities: JSON cannot hold them, and no label can be read from them."""
    bad = sum(1 for sentence in probs for target in sentence for p in target if not math.isfinite(p))
    if bad:
        raise CheckpointError(f"version {path.name} ({path}) gives non-finite probabilities ({bad} values); "
                              "its weights are broken, e.g. by a diverged training run")


def missing_actors(requested: list[Actor], rows: list[dict[str, Any]]) -> list[str]:
    found = {r["actor"] for r in rows}
    return [a.name for a in requested if a.name not in found]


def run_prediction(job: PredictJob, stdin: TextIO | None = None,
                   stdout: TextIO | None = None) -> PredictResult:
    """``stance-predict``: read, segment, find actors, classify, write."""
    job.check()
    stdout = stdout or sys.stdout
    threads = job.threads or default_threads()
    torch.set_num_threads(threads)
    path = resolve_version(job.version, job.registry)
    docs = read_documents(job.inputs, job.input_format, job.text_field, job.id_field, stdin)
    finder = ActorFinder(job.alias_table, job.actors)
    predictor = load_predictor(path, job.backend, job.onnx_cache, threads)
    progress = job.progress if job.progress is not None else sys.stderr.isatty()
    started = time.perf_counter()
    rows, summaries = predict_documents(predictor, docs, finder, job.segmentation, job.mentions,
                                        job.batch_size, progress)
    seconds = time.perf_counter() - started
    missing = missing_actors(finder.actors, rows) if job.actors else []
    for name in missing:
        log.warning("actor %r was not found in any input document", name)
    for summary in summaries:
        if not summary["pairs"]:
            log.warning("document %r mentions none of the actors looked for", summary["doc_id"])
    meta = {"version": path.name, "model_path": str(path), "backend": job.backend, "threads": threads,
            "n_documents": len(docs), "n_pairs": len(rows), "seconds": round(seconds, 3),
            "onnx": str(predictor.onnx_path) if predictor.onnx_path else None,
            "labels": list(predictor.labels.names)}
    result = PredictResult(rows, summaries, predictor.labels, meta, missing_actors=missing)
    result.written = write_outputs(job, result, stdout)
    show_table = job.table if job.table is not None else job.out != "-"
    if show_table:
        out = sys.stderr if job.out == "-" else stdout
        print(format_table(rows, summaries, predictor.labels), file=out)
    return result
