"""Stage 4: inference on raw news text.

Articles (plain text, or JSONL with a text field) go in; out comes the stance of
every sentence toward every actor it mentions:

1. each article is split into sentences (:func:`segment`, with ``sentencex``);
2. actor mentions are found with an alias table (:mod:`stance.actors`), or taken
   from spans the input gives;
3. every (sentence, mention) pair is classified in length-sorted batches by
   :func:`stance.model.predict_proba`, on PyTorch or on ONNX Runtime;
4. rows (JSONL, CSV, a terminal table) and per-document aggregates are written.

Offsets: a row's ``start``/``end`` are character offsets into its ``sentence``
field; ``sentence_start`` is that sentence's offset in the document text (the
file decoded as UTF-8 without a byte-order mark), so the document offset of a
mention is ``sentence_start + start``.

Nothing is written until every document has been read, checked and classified,
and each output file appears with one rename: a failed run leaves no partial file.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import re
import shutil
import sys
import tempfile
import time
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any, TextIO

import torch

from stance.actors import Actor, ActorMatcher, Mention, actors_from_names, load_alias_table
from stance.config import PREDICT_BACKENDS, PredictJob, SegmentationConfig, check_choice
from stance.errors import CheckpointError, ConfigError, InputError
from stance.files import sha256_file
from stance.labels import LabelSet
from stance.model import Encoding, SentenceTargets, TargetSpec, predict_proba

log = logging.getLogger(__name__)

ONNX_VARIANTS = {"onnx": "int8", "onnx-fp32": "fp32"}
ONNX_INPUTS = ("input_ids", "attention_mask", "token_type_ids", "target_open", "target_start", "target_end")
ONNX_OPSET = 18
BERT_LIKE = ("bert", "roberta", "xlm-roberta", "electra")  # ORT's BERT fusions apply
MAX_THREADS = 8  # beyond this, small-batch encoder inference on CPU stops scaling


def default_threads() -> int:
    """CPUs this process may run on (affinity, not the host's count), capped."""
    try:
        available = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        available = os.cpu_count() or 1
    return max(1, min(available, MAX_THREADS))


# ---------------------------------------------------------------- input


@dataclass
class GivenTarget:
    """A span the input names itself (JSONL ``targets``), in document offsets."""

    start: int
    end: int
    actor: str | None
    where: str  # "file:line: field", for errors


@dataclass
class Document:
    id: str
    text: str
    source: str  # "file" or "file:line"
    actors: list[str] | None = None  # JSONL ``actors``: only these, for this document
    targets: list[GivenTarget] | None = None  # JSONL ``targets``: no actor finding for this document


def decode_text(raw: bytes, where: str) -> str:
    """UTF-8 text, or an InputError for empty or binary content."""
    if b"\x00" in raw[:8192]:
        raise InputError(f"{where}: not a text file (NUL byte at offset {raw.index(0)}); expected UTF-8 text")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise InputError(f"{where}: not UTF-8 text ({err.reason} at byte {err.start})") from None
    if not text.strip():
        raise InputError(f"{where}: empty input (no text)")
    return text


def _expand(inputs: list[str]) -> list[str]:
    """Files of each input; a folder gives its *.txt and *.jsonl files, sorted."""
    files: list[str] = []
    for item in inputs:
        if item == "-":
            files.append(item)
            continue
        path = Path(item)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.suffix in (".txt", ".jsonl") and p.is_file())
            if not found:
                raise InputError(f"{path}: folder holds no .txt or .jsonl files")
            files += [str(p) for p in found]
        elif path.is_file():
            files.append(item)
        else:
            raise InputError(f"{path}: input file not found")
    return files


def _format_of(name: str, fmt: str, text: str) -> str:
    if fmt != "auto":
        return fmt
    if name == "-":  # stdin has no suffix: JSONL if it starts like a JSON object
        return "jsonl" if text.lstrip().startswith("{") else "text"
    return "jsonl" if name.endswith(".jsonl") else "text"


def _int_field(value: Any, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise InputError(f"{where}: must be an integer, got {value!r}")
    return value


def _jsonl_targets(value: Any, text: str, where: str) -> list[GivenTarget]:
    if not isinstance(value, list):
        raise InputError(f"{where}: field 'targets' must be a list of {{start, end, actor}} objects")
    out = []
    for i, item in enumerate(value):
        here = f"{where}: field 'targets[{i}]'"
        if not isinstance(item, dict):
            raise InputError(f"{here}: must be an object with 'start' and 'end'")
        start = _int_field(item.get("start"), f"{here}.start")
        end = _int_field(item.get("end"), f"{here}.end")
        if not 0 <= start < end <= len(text):
            raise InputError(f"{here}: span {start}-{end} is outside the text (length {len(text)})")
        actor = item.get("actor")
        if actor is not None and (not isinstance(actor, str) or not actor.strip()):
            raise InputError(f"{here}.actor: must be a non-empty string")
        out.append(GivenTarget(start, end, actor, here))
    return out


def _jsonl_documents(name: str, stem: str, text: str, text_field: str, id_field: str) -> list[Document]:
    docs = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        where = f"{name}:{n}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise InputError(f"{where}: invalid JSON ({err.msg} at column {err.colno})") from None
        if not isinstance(row, dict):
            raise InputError(f"{where}: a row must be a JSON object")
        body = row.get(text_field)
        if not isinstance(body, str) or not body.strip():
            raise InputError(f"{where}: field {text_field!r}: must be a non-empty string")
        doc_id = row.get(id_field, f"{stem}:{n}")
        actors = row.get("actors")
        if actors is not None and not (isinstance(actors, list) and all(isinstance(a, str) for a in actors)):
            raise InputError(f"{where}: field 'actors' must be a list of actor names")
        targets = _jsonl_targets(row["targets"], body, where) if row.get("targets") is not None else None
        docs.append(Document(str(doc_id), body, where, actors, targets))
    if not docs:
        raise InputError(f"{name}: empty input (no JSONL rows)")
    return docs


def read_documents(inputs: list[str], fmt: str = "auto", text_field: str = "text", id_field: str = "id",
                   stdin: TextIO | None = None) -> list[Document]:
    """Every document of every input, checked; the first problem raises InputError."""
    files = _expand(inputs or ["-"])
    docs: list[Document] = []
    text_stems = [Path(f).stem for f in files if f != "-"]
    for name in files:
        if name == "-":
            stream = stdin or sys.stdin
            raw = stream.buffer.read() if hasattr(stream, "buffer") else stream.read().encode("utf-8")
            where = "<stdin>"
        else:
            raw = Path(name).read_bytes()
            where = name
        text = decode_text(raw, where)
        stem = Path(name).stem if name != "-" else "stdin"
        if _format_of(name, fmt, text) == "jsonl":
            docs += _jsonl_documents(where, stem, text, text_field, id_field)
        else:
            # Two files named alike in different folders keep their paths as ids.
            docs.append(Document(stem if text_stems.count(stem) <= 1 else name, text, where))
    seen: dict[str, str] = {}
    for doc in docs:
        if doc.id in seen:
            raise InputError(f"{doc.source}: document id {doc.id!r} is already used by {seen[doc.id]}")
        seen[doc.id] = doc.source
    return docs


# ---------------------------------------------------------------- segmentation


@dataclass(frozen=True)
class Sentence:
    doc_id: str
    index: int  # position in the document, from 0
    start: int  # character offsets in the document text
    end: int
    text: str  # the document's characters [start, end), with line breaks and tabs as spaces


_NEWLINE = r"(?:\r\n|\r|\n)"
_BLOCK_BREAKS = {
    "paragraph": re.compile(_NEWLINE),  # every line break
    "wrap": re.compile(_NEWLINE + r"[^\S\r\n]*" + _NEWLINE + r"\s*"),  # blank lines only
}
_WHITESPACE = re.compile(r"\s")


def _blocks(text: str, line_breaks: str) -> Iterable[tuple[int, int]]:
    """Stretches of text that no sentence crosses (lines, or blank-line paragraphs)."""
    pos = 0
    for match in _BLOCK_BREAKS[line_breaks].finditer(text):
        yield pos, match.start()
        pos = match.end()
    yield pos, len(text)


def _strip(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _split_block(block: str, language: str) -> list[tuple[int, int]]:
    """Sentence spans inside one block, located by search so offsets are exact."""
    import sentencex

    spans, cursor = [], 0
    for piece in sentencex.segment(language, block):
        if not piece.strip():
            continue
        at = block.find(piece, cursor)
        if at < 0:  # the segmenter changed the text: keep the rest as one sentence
            log.warning("segmenter output does not match its input; keeping %r as one sentence",
                        block[cursor:cursor + 40])
            spans.append((cursor, len(block)))
            return spans
        spans.append((at, at + len(piece)))
        cursor = at + len(piece)
    return spans


def segment(text: str, cfg: SegmentationConfig | None = None) -> list[tuple[int, int]]:
    """Sentence spans (start, end) of a document, whitespace-trimmed, in order."""
    cfg = cfg or SegmentationConfig()
    if not cfg.enabled:
        start, end = _strip(text, 0, len(text))
        return [(start, end)] if end > start else []
    spans = []
    for b_start, b_end in _blocks(text, cfg.line_breaks):
        block = text[b_start:b_end]
        if not block.strip():
            continue
        for s, e in _split_block(block, cfg.language):
            start, end = _strip(text, b_start + s, b_start + e)
            if end > start:
                spans.append((start, end))
    return spans


def sentences_of(doc: Document, cfg: SegmentationConfig) -> list[Sentence]:
    # Whitespace becomes a plain space one for one, so offsets stay the document's.
    return [Sentence(doc.id, i, s, e, _WHITESPACE.sub(" ", doc.text[s:e]))
            for i, (s, e) in enumerate(segment(doc.text, cfg))]


# ---------------------------------------------------------------- actors


def select_actors(table: list[Actor], names: list[str]) -> list[Actor]:
    """The actors a user named: a table actor (by name or alias, any case) with all
    its aliases, or else an ad-hoc actor whose only alias is the name itself."""
    by_key: dict[str, Actor] = {}
    for actor in table:
        for key in (actor.name, *actor.aliases):
            by_key.setdefault(key.lower(), actor)
    chosen: dict[str, Actor] = {}
    for name in names:
        name = name.strip()
        if not name:
            continue
        actor = by_key.get(name.lower()) or actors_from_names([name])[0]
        chosen.setdefault(actor.name, actor)
    return list(chosen.values())


class ActorFinder:
    """Matchers for the whole run and for documents that name their own actors."""

    def __init__(self, alias_table: str | None, names: list[str]) -> None:
        self.table = [] if alias_table == "none" else load_alias_table(alias_table)
        self.actors = select_actors(self.table, names) if names else self.table
        if not self.actors:
            raise ConfigError("no actors to look for: the alias table is empty and no actors were given")
        self.matcher = ActorMatcher(self.actors)
        self._per_doc: dict[tuple[str, ...], ActorMatcher] = {}

    def matcher_for(self, doc: Document) -> ActorMatcher:
        if not doc.actors:
            return self.matcher
        key = tuple(doc.actors)
        if key not in self._per_doc:
            self._per_doc[key] = ActorMatcher(select_actors(self.table, list(key)))
        return self._per_doc[key]

    def mentions(self, doc: Document, sentences: list[Sentence]) -> list[list[Mention]]:
        """Mentions per sentence, with offsets into the sentence text."""
        if doc.targets is not None:
            return self._given(doc, sentences)
        matcher = self.matcher_for(doc)
        return [matcher.find(s.text) for s in sentences]

    def _given(self, doc: Document, sentences: list[Sentence]) -> list[list[Mention]]:
        out: list[list[Mention]] = [[] for _ in sentences]
        for target in doc.targets or []:
            home = next((s for s in sentences if s.start <= target.start and target.end <= s.end), None)
            if home is None:
                raise InputError(f"{target.where}: span {target.start}-{target.end} "
                                 "does not lie inside one sentence; set segmentation.enabled=false "
                                 "for input that is already one sentence per row")
            surface = doc.text[target.start:target.end]
            actor = target.actor or self.matcher.resolve(surface) or surface
            start, end = target.start - home.start, target.end - home.start
            out[home.index].append(Mention(actor, surface, start, end))
        return out


# ---------------------------------------------------------------- backends


class OnnxRunner:
    """An ONNX Runtime session with the call signature ``predict_proba`` expects."""

    def __init__(self, path: Path, threads: int) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        # The exporter drops inputs the graph does not use (e.g. target_open under span pooling).
        self.input_names = [i.name for i in self.session.get_inputs()]

    def eval(self) -> OnnxRunner:
        return self

    def __call__(self, **batch: torch.Tensor) -> SimpleNamespace:
        feed = {name: batch[name].numpy() for name in self.input_names}
        logits = self.session.run(["logits"], feed)[0]
        return SimpleNamespace(logits=torch.from_numpy(logits))


@dataclass
class Predictor:
    """A loaded model (either backend) with its tokenizer and encoding."""

    path: Path
    backend: str
    runner: Any  # StanceClassifier or OnnxRunner
    tokenizer: Any
    encoding: Encoding
    labels: LabelSet
    onnx_path: Path | None = None

    def predict_proba(self, sentences: list[SentenceTargets], batch_size: int = 64,
                      progress: bool = False) -> list[list[list[float]]]:
        return predict_proba(self.runner, self.tokenizer, self.encoding, sentences, batch_size, progress)


_PREDICTORS: dict[tuple[str, str, str | None], Predictor] = {}


def load_predictor(path: Path, backend: str = "torch", onnx_cache: str | None = None,
                   threads: int | None = None) -> Predictor:
    """The model of a version folder on a backend; loaded once per process."""
    check_choice(backend, PREDICT_BACKENDS, "backend")
    key = (str(path.resolve()), backend, onnx_cache)
    if key in _PREDICTORS:
        return _PREDICTORS[key]
    from transformers import AutoConfig

    from stance.model import load_model, load_tokenizer

    threads = threads or default_threads()
    if backend == "torch":
        model, tokenizer, encoding = load_model(path)
        labels = LabelSet.from_model_config(model.config)
        predictor = Predictor(path, backend, model, tokenizer, encoding, labels)
    else:
        _check_checkpoint(path)
        onnx_path = export_onnx(path, ONNX_VARIANTS[backend], onnx_cache)
        config = AutoConfig.from_pretrained(path)
        predictor = Predictor(path, backend, OnnxRunner(onnx_path, threads), load_tokenizer(str(path)),
                              Encoding.from_pretrained_config(config), LabelSet.from_model_config(config),
                              onnx_path)
    _PREDICTORS[key] = predictor
    return predictor


def _check_checkpoint(path: Path) -> None:
    if not (path / "model.safetensors").is_file() or not (path / "config.json").is_file():
        raise CheckpointError(f"{path}: no model.safetensors and config.json; not a stance checkpoint")


# ---------------------------------------------------------------- ONNX export


def cache_root(onnx_cache: str | None = None) -> Path:
    if onnx_cache:
        return Path(onnx_cache).expanduser()
    base = os.environ.get("STANCE_CACHE_DIR") or Path(os.environ.get("XDG_CACHE_HOME", "~/.cache")) / "stance"
    return Path(base).expanduser() / "onnx"


def _export_folders(version: Path, weights_sha: str, onnx_cache: str | None) -> list[Path]:
    """Where an export may live: beside the version, else a cache keyed by the weights' hash."""
    return [version / "onnx", cache_root(onnx_cache) / weights_sha]


def _valid_export(folder: Path, weights_sha: str, variant: str) -> bool:
    """True for a complete export of these weights; an export that fails its hashes is an error."""
    meta_path, model = folder / "export.json", folder / f"model.{variant}.onnx"
    if not meta_path.is_file():
        return False
    meta = json.loads(meta_path.read_text())
    if meta.get("source_weights_sha256") != weights_sha:
        raise ConfigError(f"{folder}: this ONNX export was made from other weights; delete the folder to "
                          "export again")
    if not model.is_file() or meta.get("files", {}).get(model.name) != sha256_file(model):
        raise ConfigError(f"{model} is missing or does not match its hash in export.json; delete {folder} to "
                          "export again")
    return True


def export_onnx(version: Path, variant: str = "int8", onnx_cache: str | None = None) -> Path:
    """The ONNX model (``fp32`` or ``int8``) of a version, exported on first use.

    One export writes both variants and ``export.json`` (their hashes and the
    source weights' hash) into a hidden temporary folder that appears as
    ``<version>/onnx/`` with one rename: readers see a complete export or none,
    and two processes exporting at once cannot mix their files.  When the version
    folder cannot be written, the export goes to a cache keyed by the weights' hash.
    """
    if variant not in ONNX_VARIANTS.values():
        raise ConfigError(f"unknown ONNX variant {variant!r}; expected one of {list(ONNX_VARIANTS.values())}")
    weights_sha = sha256_file(version / "model.safetensors")
    folders = _export_folders(version, weights_sha, onnx_cache)
    for folder in folders:
        if _valid_export(folder, weights_sha, variant):
            return folder / f"model.{variant}.onnx"
    for folder in folders:
        try:
            folder.parent.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
        except OSError as err:  # a read-only version folder: fall back to the cache
            log.info("cannot write the ONNX export beside the version (%s); using %s", err, folders[-1])
            continue
        try:
            _build_export(version, weights_sha, staging)
            for file in staging.iterdir():
                file.chmod(0o444)  # like the version's own files
            try:
                os.rename(staging, folder)
            except OSError as err:  # another process published first; its export is as good
                if not _valid_export(folder, weights_sha, variant):
                    raise ConfigError(f"{folder} exists but holds no complete ONNX export; delete it to "
                                      "export again") from err
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return folder / f"model.{variant}.onnx"
    raise ConfigError(f"cannot write an ONNX export to any of {[str(f) for f in folders]}")


class _LogitsOnly(torch.nn.Module):
    """The classifier with positional inputs and a plain tensor output, for export."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask, token_type_ids, target_open, target_start, target_end):
        return self.model(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
                          target_open=target_open, target_start=target_start, target_end=target_end).logits


def _example_inputs() -> tuple[torch.Tensor, ...]:
    """Two rows of 12 tokens (one padded) with two targets: sizes above 1 keep every axis dynamic."""
    ids = torch.tensor([[101, *range(1000, 1010), 102], [101, *range(2000, 2007), 102, 0, 0, 0]])
    mask = (ids != 0).long()
    return (ids, mask, torch.zeros_like(ids), torch.tensor([[1, 4], [2, 5]]), torch.tensor([[2, 5], [3, 6]]),
            torch.tensor([[3, 7], [4, 8]]))


@contextmanager
def _quiet(*loggers: str) -> Iterator[None]:
    """Silence library chatter (missing torchvision ops, ORT's pre-processing hint) for one step."""
    saved = [(logging.getLogger(n), logging.getLogger(n).level) for n in loggers]
    for logger, _ in saved:
        logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for logger, level in saved:
            logger.setLevel(level)


def _export_fp32(model: torch.nn.Module, out: Path) -> None:
    batch, seq, targets = torch.export.Dim("batch"), torch.export.Dim("seq"), torch.export.Dim("targets")
    shapes = {name: {0: batch, 1: seq if name in ONNX_INPUTS[:3] else targets} for name in ONNX_INPUTS}
    with _quiet("torch.onnx"):
        torch.onnx.export(_LogitsOnly(model).eval(), _example_inputs(), str(out),
                          input_names=list(ONNX_INPUTS), output_names=["logits"], dynamic_shapes=shapes,
                          opset_version=ONNX_OPSET, dynamo=True, external_data=False, verbose=False)


def _optimize(model_type: str, src: Path, out: Path) -> dict[str, Any] | None:
    """ONNX Runtime's transformer fusions (SkipLayerNorm, BiasGelu), for BERT-like encoders.

    Level 1 keeps the graph portable across CPUs; measured on MiniLM it is ~1.5x
    faster than the plain export, and fused graphs quantize to fewer, larger MatMuls.
    """
    if model_type not in BERT_LIKE:
        return None
    from onnxruntime.transformers.optimizer import optimize_model

    with _quiet("onnxruntime", "onnxruntime.transformers"):
        optimized = optimize_model(str(src), model_type="bert", num_heads=0, hidden_size=0, opt_level=1)
        optimized.save_model_to_file(str(out))
    fused = {k: v for k, v in optimized.get_fused_operator_statistics().items() if v}
    return {"tool": "onnxruntime.transformers.optimizer", "model_type": "bert", "opt_level": 1,
            "fused": fused}


def _quantize(src: Path, out: Path) -> dict[str, Any]:
    """int8 dynamic quantization of the MatMul/Gemm weights.

    Per-channel scales: with one scale per tensor, a briefly trained MiniLM lost
    about 8 macro-F1 points; per channel it stayed within 1 point, for a small cost in speed.
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with _quiet(""):  # ORT logs its pre-processing hint on the root logger
        quantize_dynamic(src, out, weight_type=QuantType.QInt8, per_channel=True,
                         op_types_to_quantize=["MatMul", "Gemm"])
    return {"method": "onnxruntime.quantization.quantize_dynamic", "weight_type": "QInt8",
            "per_channel": True, "op_types": ["MatMul", "Gemm"]}


def _build_export(version: Path, weights_sha: str, staging: Path) -> None:
    from importlib import metadata

    from stance.model import load_model

    log.info("exporting %s to ONNX; this happens once per version", version)
    started = time.perf_counter()
    model, _, _ = load_model(version)
    raw, fp32, int8 = staging / "export.raw.onnx", staging / "model.fp32.onnx", staging / "model.int8.onnx"
    _export_fp32(model, raw)
    optimizer = _optimize(model.config.model_type, raw, fp32)
    if optimizer is None:
        raw.rename(fp32)
    raw.unlink(missing_ok=True)
    quantization = _quantize(fp32, int8)
    meta = {
        "files": {p.name: sha256_file(p) for p in (fp32, int8)},
        "source_weights_sha256": weights_sha,
        "source": str(version.resolve()),
        "exporter": "torch.onnx.export(dynamo=True)",
        "opset": ONNX_OPSET,
        "inputs": list(ONNX_INPUTS),
        "outputs": ["logits"],
        "optimizer": optimizer,
        "quantization": {"file": int8.name, **quantization},
        "libraries": {n: metadata.version(n) for n in ("torch", "onnx", "onnxruntime", "onnxscript")},
        "seconds": round(time.perf_counter() - started, 1),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    (staging / "export.json").write_text(json.dumps(meta, indent=2))


# ---------------------------------------------------------------- rows


def _row(sentence: Sentence, mentions: list[Mention], probs: list[float], labels: LabelSet) -> dict[str, Any]:
    best = max(range(len(probs)), key=probs.__getitem__)
    first = mentions[0]
    return {
        "doc_id": sentence.doc_id,
        "sentence_index": sentence.index,
        "sentence_start": sentence.start,
        "sentence": sentence.text,
        "actor": first.actor,
        "mention": first.mention,
        "start": first.start,
        "end": first.end,
        "spans": [[m.start, m.end] for m in mentions],
        "label": labels.names[best],
        "probs": {name: round(float(p), 6) for name, p in zip(labels.names, probs, strict=True)},
    }


def build_rows(sentence: Sentence, mentions: list[Mention], probs: list[list[float]], labels: LabelSet,
               mode: str = "each") -> list[dict[str, Any]]:
    """One row per mention, or one per actor with the mean of its mentions' probabilities."""
    if mode == "each":
        return [_row(sentence, [m], p, labels) for m, p in zip(mentions, probs, strict=True)]
    by_actor: dict[str, list[int]] = {}
    for i, m in enumerate(mentions):
        by_actor.setdefault(m.actor, []).append(i)
    rows = []
    for idx in by_actor.values():
        mean = [sum(probs[i][k] for i in idx) / len(idx) for k in range(len(labels))]
        rows.append(_row(sentence, [mentions[i] for i in idx], mean, labels))
    return rows


def summarise(doc_id: str, n_sentences: int, rows: list[dict[str, Any]], labels: LabelSet) -> dict[str, Any]:
    """Per actor: label counts, mean probabilities and a net stance score.

    ``net`` is (favor - against) / rows, from -1 (every row against) to +1
    (every row in favour); null when the label set has no favor/against pair.
    """
    actors: dict[str, dict[str, Any]] = {}
    for row in rows:
        a = actors.setdefault(row["actor"], {"rows": 0, "mentions": 0,
                                             "counts": dict.fromkeys(labels.names, 0),
                                             "mean_probs": dict.fromkeys(labels.names, 0.0)})
        a["rows"] += 1
        a["mentions"] += len(row["spans"])
        a["counts"][row["label"]] += 1
        for name in labels.names:
            a["mean_probs"][name] += row["probs"][name]
    polar = "favor" in labels.names and "against" in labels.names
    for a in actors.values():
        a["mean_probs"] = {k: round(v / a["rows"], 6) for k, v in a["mean_probs"].items()}
        a["net"] = round((a["counts"]["favor"] - a["counts"]["against"]) / a["rows"], 4) if polar else None
    ordered = dict(sorted(actors.items(), key=lambda kv: (-kv[1]["rows"], kv[0])))
    return {"doc_id": doc_id, "sentences": n_sentences, "pairs": len(rows), "actors": ordered}


# ---------------------------------------------------------------- the run


@dataclass
class PredictResult:
    rows: list[dict[str, Any]]
    summaries: list[dict[str, Any]]
    labels: LabelSet
    meta: dict[str, Any]
    written: list[Path] = field(default_factory=list)
    missing_actors: list[str] = field(default_factory=list)


def resolve_version(version: str, registry: str) -> Path:
    """A registry version (``v0003``, ``latest``) or a checkpoint folder given by path."""
    from stance.registry import Registry, RegistryError

    path = Path(version).expanduser()
    if (os.sep in version or version.startswith(".")) and path.is_dir():
        _check_checkpoint(path)
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
    rows_by_doc: dict[str, list[dict[str, Any]]] = {doc.id: [] for doc in docs}
    for (sentence, mentions), p in zip(units, probs, strict=True):
        rows_by_doc[sentence.doc_id] += build_rows(sentence, mentions, p, predictor.labels, mode)
    rows = [r for doc in docs for r in rows_by_doc[doc.id]]
    summaries = [summarise(d.id, n_sentences[d.id], rows_by_doc[d.id], predictor.labels) for d in docs]
    return rows, summaries


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


# ---------------------------------------------------------------- writers


def jsonl_text(rows: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def csv_text(rows: list[dict[str, Any]], labels: LabelSet) -> str:
    buf = io.StringIO()
    columns = ["doc_id", "sentence_index", "sentence_start", "actor", "mention", "start", "end", "spans",
               "label", *(f"p_{name}" for name in labels.names), "sentence"]
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for r in rows:
        spans = ";".join(f"{s}-{e}" for s, e in r["spans"])
        writer.writerow([r["doc_id"], r["sentence_index"], r["sentence_start"], r["actor"], r["mention"],
                         r["start"], r["end"], spans, r["label"], *(r["probs"][n] for n in labels.names),
                         r["sentence"]])
    return buf.getvalue()


def summary_text(result: PredictResult) -> str:
    return json.dumps({**result.meta, "missing_actors": result.missing_actors, "documents": result.summaries},
                      indent=2, ensure_ascii=False) + "\n"


def write_atomic(files: dict[Path, str]) -> list[Path]:
    """Write every file to a temporary name first, then rename them all.

    A failure while writing removes the temporaries, and no target is touched.
    """
    staged: list[tuple[Path, Path]] = []
    try:
        for target, text in files.items():
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
            staged.append((Path(tmp), target))
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
                fh.write(text)
        for tmp, target in staged:
            os.replace(tmp, target)
    finally:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
    return [target for _, target in staged]


def write_outputs(job: PredictJob, result: PredictResult, stdout: TextIO) -> list[Path]:
    files: dict[Path, str] = {}
    if job.out and job.out != "-":
        files[Path(job.out)] = jsonl_text(result.rows)
    if job.csv:
        files[Path(job.csv)] = csv_text(result.rows, result.labels)
    if job.summary:
        files[Path(job.summary)] = summary_text(result)
    written = write_atomic(files)
    if job.out == "-":
        stdout.write(jsonl_text(result.rows))
        stdout.flush()
    return written


# ---------------------------------------------------------------- terminal table


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


def _snippet(row: dict[str, Any], width: int) -> str:
    """The sentence around the mention, with the mention in [brackets]."""
    s, start, end = row["sentence"], row["start"], row["end"]
    marked = s[:start] + "[" + s[start:end] + "]" + s[end:]
    if len(marked) <= width:
        return marked
    lo = max(0, min(start - width // 3, len(marked) - width))
    hi = lo + width
    piece = marked[lo:hi]
    if lo > 0:
        piece = "…" + piece[1:]
    if hi < len(marked):
        piece = piece[:-1] + "…"
    return piece


def _grid(header: list[str], rows: list[list[str]], right: set[int]) -> list[str]:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(r: list[str]) -> str:
        return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths,
                                                                                                strict=True))).rstrip()
    return [line(header), line(["-" * w for w in widths]), *(line(r) for r in rows)]


def format_table(rows: list[dict[str, Any]], summaries: list[dict[str, Any]], labels: LabelSet,
                 width: int | None = None) -> str:
    """Rows, then each document's per-actor aggregate, as plain-text tables."""
    width = width or shutil.get_terminal_size((120, 20)).columns
    body = [[_clip(r["doc_id"], 16), str(r["sentence_index"]), _clip(r["actor"], 20), r["label"],
             f"{r['probs'][r['label']]:.2f}"] for r in rows]
    used = sum(max([len(b[i]) for b in body] + [8]) + 2 for i in range(5)) if body else 60
    for b, r in zip(body, rows, strict=True):
        b.append(_snippet(r, max(width - used, 30)))
    header = ["doc", "sent", "actor", "label", "p", "sentence"]
    lines = _grid(header, body, {1, 4}) if rows else ["no actor mentions found"]
    counts = [[_clip(s["doc_id"], 16), _clip(actor, 20), str(a["rows"]),
               *(str(a["counts"][n]) for n in labels.names), "-" if a["net"] is None else f"{a['net']:+.2f}"]
              for s in summaries for actor, a in s["actors"].items()]
    if counts:
        lines += ["", "per document:"]
        lines += _grid(["doc", "actor", "rows", *labels.names, "net"], counts, set(range(2, 4 + len(labels))))
    return "\n".join(lines)


__all__ = [
    "ActorFinder", "Document", "InputError", "PredictJob", "PredictResult", "Predictor", "SegmentationConfig",
    "Sentence", "build_rows", "export_onnx", "format_table", "load_predictor", "predict_documents",
    "read_documents", "run_prediction", "segment", "select_actors", "summarise", "write_atomic",
]
