"""The Python API: load a version once, then label texts or documents.

``stance-predict`` itself goes through :class:`StancePredictor`, so a notebook or a
service gets the same rows as the command line::

    from stance.predict import StancePredictor

    predictor = StancePredictor.load("v0001", registry="registry", backend="onnx")
    rows = predictor.predict_texts(["Russia rejected the proposal."])

Settings not given keep the defaults of :class:`stance.config.PredictJob`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from stance.config import PredictJob, SegmentationConfig
from stance.errors import CheckpointError, InputError
from stance.labels import LabelSet
from stance.model.encoding import SentenceTargets, TargetSpec
from stance.predict.backends import load_predictor, resolve_version
from stance.predict.documents import Document
from stance.predict.finder import ActorFinder
from stance.predict.mentions import Actor, Mention
from stance.predict.outputs import build_rows, summarise
from stance.predict.predictor import Predictor
from stance.predict.segmentation import Sentence, sentences_of

Rows = list[dict[str, Any]]
# A sentence with more actor mentions than this is refused with one line (docs/predict.md): the time
# and memory of one sentence grow with its mentions, and no real sentence has a thousand of them.
MAX_MENTIONS_PER_SENTENCE = 1000


class StancePredictor:
    """A loaded version with its actor table and segmentation settings."""

    def __init__(self, model: Predictor, finder: ActorFinder, segmentation: SegmentationConfig,
                 mentions: str = "each", batch_size: int = PredictJob.batch_size,
                 min_confidence: float | None = None) -> None:
        self.model = model
        self.min_confidence = min_confidence  # rows below it are labelled "uncertain" (PredictJob.min_confidence)
        self.finder = finder
        self.segmentation = segmentation
        self.mentions = mentions
        self.batch_size = batch_size

    @classmethod
    def from_job(cls, job: PredictJob) -> StancePredictor:
        """What ``stance-predict`` loads for a checked job."""
        job.check()
        path = resolve_version(job.version, job.registry)
        finder = ActorFinder(job.alias_table, job.actors, job.segmentation.language if job.officials else None)
        model = load_predictor(path, job.backend, job.onnx_cache, job.threads)
        return cls(model, finder, job.segmentation, job.mentions, job.batch_size, job.min_confidence)

    @classmethod
    def load(cls, version: str | Path = PredictJob.version, **settings: Any) -> StancePredictor:
        """A registry version (``v0003``, ``latest``) or a checkpoint folder.

        ``settings`` are :class:`stance.config.PredictJob` fields: ``registry``,
        ``backend``, ``actors``, ``alias_table``, ``mentions``, ``threads``,
        ``batch_size``, ``onnx_cache``, ``min_confidence``, ``segmentation`` (a SegmentationConfig or a dict).
        """
        if isinstance(settings.get("segmentation"), dict):
            settings["segmentation"] = SegmentationConfig(**settings["segmentation"])
        try:
            job = PredictJob(version=str(version), **settings)
        except TypeError as err:  # an unknown keyword
            names = sorted(f.name for f in dataclasses.fields(PredictJob))
            raise InputError(f"StancePredictor.load: {err}; settings are PredictJob fields: {names}") from None
        return cls.from_job(job)

    @property
    def labels(self) -> LabelSet:
        return self.model.labels

    @property
    def actors(self) -> list[Actor]:
        return self.finder.actors

    def predict_documents(self, docs: Iterable[Document], progress: bool = False) -> tuple[Rows, Rows]:
        """Rows (one per sentence and actor mention) and per-document summaries, as the CLI writes them."""
        docs = list(docs)
        units: list[tuple[Sentence, list[Mention]]] = []
        n_sentences: dict[str, int] = {}
        for doc in docs:
            sentences = sentences_of(doc, self.segmentation)
            n_sentences[doc.id] = len(sentences)
            for sentence, mentions in zip(sentences, self.finder.mentions(doc, sentences), strict=True):
                if len(mentions) > MAX_MENTIONS_PER_SENTENCE:
                    raise InputError(f"{doc.source}: sentence {sentence.index} has {len(mentions)} actor mentions, "
                                     f"more than the {MAX_MENTIONS_PER_SENTENCE} one sentence may have; is it "
                                     "really one sentence? (split it, or check the segmentation settings)")
                if mentions:
                    units.append((sentence, mentions))
        batch = [SentenceTargets(s.text, [TargetSpec(m.start, m.end, m.mention) for m in ms]) for s, ms in units]
        probs = self.model.predict_proba(batch, self.batch_size, progress) if batch else []
        check_finite(probs, self.model.path)
        rows_by_doc: dict[str, Rows] = {doc.id: [] for doc in docs}
        for (sentence, mentions), p in zip(units, probs, strict=True):
            rows_by_doc[sentence.doc_id] += build_rows(sentence, mentions, p, self.labels, self.mentions,
                                                       self.min_confidence)
        rows = [r for doc in docs for r in rows_by_doc[doc.id]]
        summaries = [summarise(d.id, n_sentences[d.id], rows_by_doc[d.id], self.labels) for d in docs]
        return rows, summaries

    def predict_texts(self, texts: Iterable[str], ids: Iterable[str] | None = None) -> Rows:
        """Rows for plain texts (articles or sentences); document ids are ``ids`` or "0", "1", ..."""
        texts = list(texts)
        ids = [str(i) for i in ids] if ids is not None else [str(i) for i in range(len(texts))]
        if len(ids) != len(texts):
            raise InputError(f"predict_texts: {len(texts)} texts but {len(ids)} ids")
        docs = []
        for doc_id, text in zip(ids, texts, strict=True):
            if not isinstance(text, str) or not text.strip():
                raise InputError(f"predict_texts: text {doc_id!r} is empty or not a string")
            docs.append(Document(doc_id, text, f"<text {doc_id}>"))
        return self.predict_documents(docs)[0]


def check_finite(probs: list[list[list[float]]], path: Path) -> None:
    """Refuse NaN or infinite probabilities: JSON cannot hold them, and no label can be read from them."""
    bad = sum(1 for sentence in probs for target in sentence for p in target if not math.isfinite(p))
    if bad:
        raise CheckpointError(f"version {path.name} ({path}) gives non-finite probabilities ({bad} values); "
                              "its weights are broken, e.g. by a diverged training run")
