"""Stage 4: inference on raw news text (``stance-predict``).

Articles (plain text, or JSONL with a text field) go in; out comes the stance of
every sentence toward every actor it mentions:

1. each article is read and checked (:mod:`.documents`) and split into
   sentences (:mod:`.segmentation`, with ``sentencex``);
2. actor mentions are found with an alias table (:mod:`.mentions`), or taken
   from spans the input gives;
3. every (sentence, mention) pair is classified in length-sorted batches, on
   ONNX Runtime (:mod:`.onnx_backend`, without torch or transformers) or on
   PyTorch (:mod:`.torch_backend`); :mod:`.backends` loads either, and
   :mod:`.onnx_export` builds exports (``stance-train`` publishes them with each version);
4. rows (JSONL, CSV, a terminal table) and per-document aggregates are written
   (:mod:`.outputs`), and with ``--export label-studio`` the pairs :mod:`.selection`
   picks as Label Studio tasks (:mod:`.label_studio`); :mod:`.api` (``StancePredictor``,
   the Python API) and :mod:`.run` (the command) tie the steps together.

Offsets: a row's ``start``/``end`` are character offsets into its ``sentence``
field; ``sentence_start`` is that sentence's offset in the document text (the
file decoded as UTF-8 without a byte-order mark), so the document offset of a
mention is ``sentence_start + start``.

Nothing is written until every document has been read, checked and classified,
and each output file appears with one rename: a failed run leaves no partial file.

Importing this package loads neither torch nor transformers (a cold start of the
ONNX path takes well under a second); the PyTorch backend and the exporter load
them when used.

Arrows point one way: the modules here import ``stance.config``, ``errors``,
``files``, ``labels``, ``model`` and ``registry``, never the training stages.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stance.config import PredictJob, SegmentationConfig
from stance.errors import AliasTableError, CheckpointError, InputError
from stance.predict.api import StancePredictor
from stance.predict.backends import default_threads, load_predictor, resolve_version
from stance.predict.documents import Document, GivenTarget, decode_text, read_documents
from stance.predict.finder import ActorFinder
from stance.predict.mentions import (
    DEFAULT_TABLE,
    Actor,
    ActorMatcher,
    Mention,
    actors_from_names,
    bundled_table_dir,
    load_alias_table,
    select_actors,
)
from stance.predict.officials import OfficialsFinder, title_rules
from stance.predict.onnx_files import find_export
from stance.predict.outputs import PredictResult, build_rows, format_table, summarise
from stance.predict.predictor import Predictor
from stance.predict.run import predict_documents, run_prediction
from stance.predict.segmentation import Sentence, segment, sentences_of

if TYPE_CHECKING:
    from stance.predict.onnx_export import export_for_version, export_onnx


def __getattr__(name: str) -> Any:
    # The exporters trace the model with torch: loaded on first use (PEP 562), so that
    # importing this package stays torch-free for the ONNX path.
    if name in ("export_onnx", "export_for_version"):
        from stance.predict import onnx_export

        return getattr(onnx_export, name)
    raise AttributeError(f"module 'stance.predict' has no attribute {name!r}")


__all__ = [
    "Actor", "ActorFinder", "ActorMatcher", "actors_from_names", "AliasTableError", "build_rows",
    "bundled_table_dir", "CheckpointError", "decode_text", "DEFAULT_TABLE", "default_threads", "Document",
    "export_for_version", "export_onnx", "find_export", "format_table", "GivenTarget", "InputError",
    "load_alias_table", "load_predictor", "Mention", "OfficialsFinder", "predict_documents", "PredictJob",
    "Predictor", "PredictResult", "read_documents", "resolve_version", "run_prediction", "segment",
    "SegmentationConfig", "select_actors", "Sentence", "sentences_of", "StancePredictor", "summarise",
    "title_rules",
]
