"""Stage 1: dataset preparation.

Reads a stance corpus (span JSONL, flat CSV/TSV/JSONL table, or a Hub dataset),
validates every row, carves grouped splits, and writes a prepared-dataset folder:

    prepared/<name>-<fingerprint>/
        manifest.json        sources and their SHA-256, config, counts, drops
        <split>/             one Hugging Face ``datasets`` split per folder

One prepared row is one sentence with all its targets, so both per-pair and
per-sentence encodings can be built from it later.  A target without a span (a
topic such as "Legalization of Abortion" that the text never names) has
``start == end == -1``; the model encodes it as a sentence pair without markers.

Validation collects every problem before failing, so one run lists all bad rows
(``file:line: field: rule``).  Preparing twice with the same inputs and config
reuses the folder; any change to an input file or to the config changes the
fingerprint and so the folder.  docs/data.md describes the formats and rules.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import os
import random
import re
import shutil
import tempfile
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import datasets

from stance.config import DataConfig, check_choice
from stance.errors import ConfigError, DataError

log = logging.getLogger(__name__)

PREPARE_FORMAT = 2  # bump when the prepared layout or validation rules change
MANIFEST = "manifest.json"
FORMATS = ("span", "table", "hub")
JSONL_SUFFIXES = (".jsonl", ".json", ".ndjson")
TABLE_DELIMITERS = {".csv": ",", ".tsv": "\t", ".tab": "\t"}
MAX_SHOWN = 200  # problems listed in an error message
MAX_RECORDED = 1000  # problems listed in a manifest
_BAD_BYTES = re.compile("[\udc80-\udcff]")  # undecodable bytes under errors="surrogateescape"


# ---------------------------------------------------------------- records


@dataclass
class Problem:
    """One bad row or target.  ``kind`` is the rule's short name, counted in the manifest."""

    file: str
    line: int
    field: str
    rule: str
    kind: str = ""
    drop: tuple[str, ...] = ()  # target uids to drop; empty means the whole row

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.field}: {self.rule}"


@dataclass
class Target:
    id: str
    start: int  # -1 when the target has no span (a topic, or a mention-free row)
    end: int
    mention: str
    actor: str
    label: str
    further_starts: list[int] = field(default_factory=list)
    further_ends: list[int] = field(default_factory=list)
    # Bookkeeping, not written out: where the target came from, and a key that
    # stays unique when a corpus repeats row ids.
    source: str = ""  # "file:line"
    where: str = ""  # field path in that row, e.g. "targets[1]"; empty for a flat row
    uid: str = ""


OUTPUT_TARGET_KEYS = ("id", "start", "end", "mention", "actor", "label", "further_starts", "further_ends")


@dataclass
class Sentence:
    id: str
    doc_id: str
    text: str
    targets: list[Target]
    source: str  # "file:line", for error messages further down the line


@dataclass
class RawRow:
    file: str
    line: int
    value: Any  # a dict, or a Problem when the line could not be read


def _split_source(source: str) -> tuple[str, int]:
    file, line = source.rsplit(":", 1)
    return file, int(line)


def _norm(text: str) -> str:
    """Sentence identity for leak checks and grouping: whitespace differences do not count."""
    return " ".join(text.split())


def _at(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


# ---------------------------------------------------------------- hashing


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# ---------------------------------------------------------------- readers


def _source_dir(cfg: DataConfig) -> Path:
    root = Path(cfg.path).expanduser()
    if not root.is_dir():
        hint = ""
        if cfg.name == "newsmtsc":
            hint = (
                " NewsMTSC is not bundled: set STANCE_NEWSMTSC_DIR to the folder holding train.jsonl,"
                " or pass data.path=/path/to/newsmtsc (developers and CI have it at ../shared/data/newsmtsc)."
            )
        raise DataError(f"data.path: dataset folder {str(root)!r} for data={cfg.name} does not exist.{hint}")
    return root


def _source_file(cfg: DataConfig, split: str) -> Path:
    path = _source_dir(cfg) / cfg.files[split]
    if not path.is_file():
        raise DataError(f"data.files.{split}: file {str(path)!r} does not exist")
    suffix = path.suffix.lower()
    if suffix not in JSONL_SUFFIXES and suffix not in TABLE_DELIMITERS:
        raise DataError(
            f"data.files.{split}: cannot tell the format of {path.name!r} from its extension; "
            f"use one of {sorted(JSONL_SUFFIXES + tuple(TABLE_DELIMITERS))}"
        )
    return path


def _read_jsonl(path: Path) -> Iterator[RawRow]:
    with open(path, "rb") as fh:
        for n, raw in enumerate(fh, 1):
            if n == 1 and raw.startswith(b"\xef\xbb\xbf"):  # a UTF-8 byte-order mark, as some editors write
                raw = raw[3:]
            if not raw.strip():
                continue
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                rule = f"invalid UTF-8 ({err.reason} at byte {err.start})"
                yield RawRow(path.name, n, Problem(path.name, n, "line", rule, "invalid UTF-8"))
                continue
            try:
                value = json.loads(text)
            except json.JSONDecodeError as err:
                rule = f"invalid JSON ({err.msg} at column {err.colno})"
                yield RawRow(path.name, n, Problem(path.name, n, "line", rule, "invalid JSON"))
                continue
            if not isinstance(value, dict):
                rule = f"a row must be a JSON object, not {type(value).__name__}"
                yield RawRow(path.name, n, Problem(path.name, n, "line", rule, "not a JSON object"))
                continue
            yield RawRow(path.name, n, value)


def _table_text(path: Path) -> str:
    # surrogateescape keeps undecodable bytes visible, so each bad row is reported
    # on its own instead of the whole file failing at the first bad byte.
    text = path.read_bytes().decode("utf-8", errors="surrogateescape")
    return text[1:] if text.startswith("\ufeff") else text


def _csv_reader(path: Path):
    delimiter = TABLE_DELIMITERS[path.suffix.lower()]
    return csv.reader(io.StringIO(_table_text(path), newline=""), delimiter=delimiter)


def table_header(path: Path) -> list[str]:
    return next(_csv_reader(path), [])


def _read_table(path: Path) -> Iterator[RawRow]:
    reader = _csv_reader(path)
    header = next(reader, None)
    if header is None:
        return
    last = reader.line_num
    for values in reader:
        line, last = last + 1, reader.line_num  # a quoted field may span lines; name the first
        if not any(v.strip() for v in values):
            continue
        bad = [header[i] if i < len(header) else f"column {i + 1}"
               for i, v in enumerate(values) if _BAD_BYTES.search(v)]
        if bad:
            byte = _BAD_BYTES.search("".join(values)).group()  # type: ignore[union-attr]
            rule = f"invalid UTF-8 (byte 0x{ord(byte) - 0xDC00:02x})"
            yield RawRow(path.name, line, Problem(path.name, line, bad[0], rule, "invalid UTF-8"))
            continue
        if len(values) != len(header):
            rule = f"row has {len(values)} values but the header has {len(header)} columns"
            yield RawRow(path.name, line, Problem(path.name, line, "row", rule, "wrong number of values"))
            continue
        yield RawRow(path.name, line, dict(zip(header, values, strict=True)))


def _class_label(features: datasets.Features, cfg: DataConfig) -> datasets.ClassLabel | None:
    """The label feature when a Hub dataset stores labels as class ids."""
    holder: Any = features
    if not _flat(cfg):
        holder = features.get(cfg.fields.targets)
        holder = getattr(holder, "feature", holder)
        holder = holder[0] if isinstance(holder, list) and holder else holder
    label = holder.get(cfg.fields.label) if isinstance(holder, dict) else None
    return label if isinstance(label, datasets.ClassLabel) else None


def _load_hub(cfg: DataConfig, split_name: str) -> datasets.Dataset:
    hub_split = cfg.files[split_name]
    try:
        return datasets.load_dataset(cfg.path, split=hub_split, revision=cfg.revision)
    except ValueError as err:  # datasets' "Unknown split" and bad-config errors
        raise DataError(
            f"data.files.{split_name}: cannot load split {hub_split!r} of {cfg.path!r}: {err}"
        ) from err
    except OSError as err:  # not found, offline, or unreadable
        raise DataError(f"data.path: cannot load Hub dataset {cfg.path!r}: {err}") from err


def _read_hub(cfg: DataConfig, split_name: str) -> Iterator[RawRow]:
    # Real loader so users with network access can pass Hub ids; tests pass a
    # local dataset folder, which load_dataset reads offline.
    ds = _load_hub(cfg, split_name)
    decode = _class_label(ds.features, cfg)
    name = f"{cfg.path}[{cfg.files[split_name]}]"
    for n, row in enumerate(ds, 1):
        if decode is not None:  # class ids -> their names, which label_map then maps
            items = [row] if _flat(cfg) else row.get(cfg.fields.targets) or []
            for item in items:
                if isinstance(item.get(cfg.fields.label), int):
                    item[cfg.fields.label] = decode.int2str(item[cfg.fields.label])
        yield RawRow(name, n, row)


def read_rows(cfg: DataConfig, split: str, file: str | None = None) -> Iterator[RawRow]:
    """Raw rows of one source split (``file`` is accepted for compatibility; config decides)."""
    if cfg.format == "hub":
        yield from _read_hub(cfg, split)
        return
    path = _source_file(cfg, split)
    if path.suffix.lower() in JSONL_SUFFIXES:
        yield from _read_jsonl(path)
    else:
        yield from _read_table(path)


# ---------------------------------------------------------------- row parsing


def _flat(cfg: DataConfig) -> bool:
    """One target per row: always for tables, and for other formats without a targets list."""
    return cfg.format == "table" or cfg.fields.targets is None


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return None
    return None


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


class _RowParser:
    """Turns raw rows into sentences, collecting every problem instead of stopping."""

    def __init__(self, cfg: DataConfig) -> None:
        self.cfg = cfg
        self.f = cfg.fields
        self.flat = _flat(cfg)
        self.spans_required = cfg.format == "span"  # tables and Hub rows may hold topic targets
        self.labels = set(cfg.labels)
        self.doc_re = re.compile(self.f.doc_id_pattern) if self.f.doc_id_pattern else None
        self.problems: list[Problem] = []

    def _problem(self, row: RawRow, field_name: str, rule: str, kind: str) -> None:
        self.problems.append(Problem(row.file, row.line, field_name, rule, kind))

    def _label(self, row: RawRow, where: str, raw: Any) -> str | None:
        key = str(raw)
        label = self.cfg.label_map.get(key, key)
        if label in self.labels:
            return label
        expected = f"{list(self.cfg.labels)} (data.labels)"
        if self.cfg.label_map:
            expected = f"{list(self.cfg.label_map)} (data.label_map) or {expected}"
        self._problem(row, where, f"unknown label {raw!r}; expected one of {expected}", "unknown label")
        return None

    def _doc_id(self, row: RawRow, row_id: str) -> str | None:
        if self.f.doc_id and not _missing(row.value.get(self.f.doc_id)):
            return str(row.value[self.f.doc_id])
        if self.doc_re:
            match = self.doc_re.match(row_id)
            if match:
                return match.group(1)
            rule = f"id {row_id!r} does not match data.fields.doc_id_pattern {self.doc_re.pattern!r}"
            self._problem(row, self.f.id or "id", rule, "id does not match doc_id_pattern")
            return None
        return row_id

    def _span(self, row: RawRow, where: str, text: str, item: dict, mention: str) -> tuple[int, int] | None:
        if self.f.start is None or self.f.end is None:
            return (-1, -1)
        raw_start, raw_end = item.get(self.f.start), item.get(self.f.end)
        start_key, end_key = _at(where, self.f.start), _at(where, self.f.end)
        if _missing(raw_start) and _missing(raw_end) and not self.spans_required:
            return (-1, -1)  # a topic target
        for key, raw in ((start_key, raw_start), (end_key, raw_end)):
            if _missing(raw):
                self._problem(row, key, "missing field", "missing field")
                return None
        start, end = _as_int(raw_start), _as_int(raw_end)
        if start is None or end is None:
            rule = f"span [{raw_start!r},{raw_end!r}) must be two integers"
            self._problem(row, start_key, rule, "bad span")
            return None
        if not 0 <= start < end <= len(text):
            rule = f"span [{start},{end}) is outside the sentence (length {len(text)})"
            self._problem(row, start_key, rule, "span outside the sentence")
            return None
        if text[start:end] != mention:
            rule = f"span [{start},{end}) is {text[start:end]!r} but mention is {mention!r}"
            self._problem(row, start_key, rule, "span does not match mention")
            return None
        return start, end

    def _further(self, item: dict, text: str) -> tuple[list[int], list[int]]:
        # Coreferent mentions are extracted automatically (NewsMTSC); a bad one is
        # skipped rather than failing the row, since nothing is trained on them.
        starts, ends = [], []
        for fm in (item.get(self.f.further_mentions) or []) if self.f.further_mentions else []:
            if not isinstance(fm, dict):
                continue
            fs, fe = _as_int(fm.get(self.f.start)), _as_int(fm.get(self.f.end))
            if fs is not None and fe is not None and 0 <= fs < fe <= len(text):
                starts.append(fs)
                ends.append(fe)
        return starts, ends

    def _target(self, row: RawRow, text: str, item: Any, where: str, tid: str) -> Target | None:
        if not isinstance(item, dict):
            self._problem(row, where, "a target must be an object", "target not an object")
            return None
        missing = [key for key in (self.f.mention, self.f.label) if _missing(item.get(key))]
        for key in missing:
            self._problem(row, _at(where, key), "missing field", "missing field")
        if missing:
            return None
        mention = str(item[self.f.mention])
        label = self._label(row, _at(where, self.f.label), item[self.f.label])
        span = self._span(row, where, text, item, mention)
        if label is None or span is None:
            return None
        further_s, further_e = self._further(item, text)
        actor = str(item.get(self.f.actor) or mention) if self.f.actor else mention
        source = f"{row.file}:{row.line}"
        uid = f"{source}#{where}"
        return Target(tid, span[0], span[1], mention, actor, label, further_s, further_e, source, where, uid)

    def _items(self, row: RawRow) -> list | None:
        if self.flat:
            return [row.value]
        items = row.value.get(self.f.targets)
        if isinstance(items, list) and items:
            return items
        if items is None:
            self._problem(row, self.f.targets, "missing field", "missing field")
        else:
            self._problem(row, self.f.targets, f"must be a non-empty list, got {items!r}", "no targets")
        return None

    def parse(self, row: RawRow) -> Sentence | None:
        if isinstance(row.value, Problem):
            self.problems.append(row.value)
            return None
        text = row.value.get(self.f.text)
        if text is None:
            self._problem(row, self.f.text, "missing field", "missing field")
            return None
        if not isinstance(text, str):
            self._problem(row, self.f.text, f"must be a string, got {text!r}", "sentence not a string")
            return None
        if not text.strip():
            self._problem(row, self.f.text, "empty sentence", "empty sentence")
            return None
        raw_id = row.value.get(self.f.id) if self.f.id else None
        row_id = f"{row.file}:{row.line}" if _missing(raw_id) else str(raw_id)
        doc_id = self._doc_id(row, row_id)
        items = self._items(row)
        if doc_id is None or items is None:
            return None
        targets = []
        for i, item in enumerate(items):
            where = "" if self.flat else f"{self.f.targets}[{i}]"
            target = self._target(row, text, item, where, f"{row_id}#{i}")
            if target is not None:
                targets.append(target)
        if len(targets) != len(items):
            return None
        return Sentence(row_id, doc_id, text, targets, f"{row.file}:{row.line}")


# ---------------------------------------------------------------- corpus checks


def _merge_table_rows(sentences: list[Sentence]) -> list[Sentence]:
    """Flat tables have one target per row; gather rows of one sentence together."""
    merged: dict[tuple[str, str], Sentence] = {}
    for s in sentences:
        own_doc = s.doc_id != s.id  # a real document id, not the row id standing in for one
        key = (s.doc_id if own_doc else "", s.text)
        if key in merged:
            merged[key].targets.extend(s.targets)
        else:
            merged[key] = Sentence(s.id, s.doc_id, s.text, list(s.targets), s.source)
    return list(merged.values())


def _check_duplicates(sentences: list[Sentence]) -> list[Problem]:
    """Exact duplicate pairs, and conflicting labels for one (sentence, target).

    A duplicate is dropped alone (its first copy stays); a conflict drops every
    copy, since nobody can tell which label is right.
    """
    problems = []
    seen: dict[tuple, Target] = {}
    for s in sentences:
        for t in s.targets:
            key = (s.text, t.start, t.end, t.mention)
            first = seen.setdefault(key, t)
            if first is t:
                continue
            file, line = _split_source(t.source)
            target = f"{t.mention!r}" + (f" [{t.start},{t.end})" if t.start >= 0 else "")
            origin = f"{first.source} {first.where}".rstrip()
            if first.label == t.label:
                rule = f"exact duplicate of {origin} ({target}, {t.label})"
                problems.append(Problem(file, line, t.where or "row", rule, "exact duplicate", (t.uid,)))
            else:
                rule = f"conflicting labels for {target}: {t.label} here, {first.label} at {origin}"
                drop = (t.uid, first.uid)
                problems.append(Problem(file, line, t.where or "row", rule, "conflicting labels", drop))
    return problems


def _check_cross_split(
    splits: dict[str, list[Sentence]], eval_splits: list[str], text_field: str
) -> list[Problem]:
    """A sentence in a training split and in another split is a leak.

    Evaluation splits are read first, so the problem (and, with drop_invalid,
    the drop) falls on the training side and test sets stay as published.  Two
    evaluation splits may share sentences: neither is trained on.
    """
    problems = []
    first_split: dict[str, tuple[str, str]] = {}
    order = sorted(splits, key=lambda n: (n not in eval_splits, n == "train"))
    for name in order:
        for s in splits[name]:
            prev = first_split.setdefault(_norm(s.text), (name, s.source))
            if prev[0] != name and not (prev[0] in eval_splits and name in eval_splits):
                file, line = _split_source(s.source)
                rule = f"same sentence in split {prev[0]!r} ({prev[1]}) and {name!r}"
                problems.append(Problem(file, line, text_field, rule, "same sentence in two splits"))
    return problems


def shared_documents(splits: dict[str, list[Sentence]]) -> dict[str, int]:
    """Documents that given splits share (carved splits never do); recorded, not an error,
    since published test sets such as NewsMTSC's share articles with their train set."""
    docs = {name: {s.doc_id for s in rows if s.doc_id != s.id} for name, rows in splits.items()}
    names = list(docs)
    out = {}
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            n = len(docs[a] & docs[b])
            if n:
                out[f"{a}/{b}"] = n
    return out


# ---------------------------------------------------------------- splitting


def _groups(sentences: list[Sentence]) -> dict[str, list[Sentence]]:
    """Group by document, and join documents that share a sentence text, so
    that neither an article nor a sentence can land in two splits."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    by_text: dict[str, str] = {}
    for s in sentences:
        find(s.doc_id)
        key = _norm(s.text)
        if key in by_text:
            parent[find(s.doc_id)] = find(by_text[key])
        else:
            by_text[key] = s.doc_id
    groups: dict[str, list[Sentence]] = defaultdict(list)
    for s in sentences:
        groups[find(s.doc_id)].append(s)
    return groups


def _check_shares(validation: float, test: float) -> None:
    if not 0 <= validation < 1 or not 0 <= test < 1 or validation + test >= 1:
        raise ConfigError(
            f"data.split: validation={validation} and test={test} must be shares in [0,1) summing below 1"
        )


def carve_splits(
    sentences: list[Sentence], validation: float, test: float, seed: int
) -> dict[str, list[Sentence]]:
    """Deterministic grouped split: shuffle the sorted group keys with ``seed`` and
    fill test, then validation, to their share of sentences; the rest is train."""
    _check_shares(validation, test)
    groups = _groups(sentences)
    keys = sorted(groups)
    random.Random(seed).shuffle(keys)
    total = len(sentences)
    out: dict[str, list[Sentence]] = {"train": [], "validation": [], "test": []}
    targets = {"test": test * total, "validation": validation * total}
    for key in keys:
        for name in ("test", "validation"):
            if len(out[name]) < targets[name]:
                out[name].extend(groups[key])
                break
        else:
            out["train"].extend(groups[key])
    wanted = ["train"] + [name for name in ("validation", "test") if targets[name] > 0]
    empty = [name for name in wanted if not out[name]]
    if empty:
        raise DataError(
            f"data.split: {len(sentences)} sentences in {len(groups)} document group(s) are too few to carve "
            f"validation={validation}, test={test}: split(s) {empty} would be empty"
        )
    return {name: out[name] for name in wanted}


# ---------------------------------------------------------------- prepare


@dataclass
class Prepared:
    path: Path
    manifest: dict

    def split(self, name: str) -> datasets.Dataset:
        folder = self.path / name
        if not folder.is_dir():
            have = list(self.manifest["splits"])
            raise DataError(f"split {name!r} is not in prepared dataset {self.path} (has {have})")
        return datasets.load_from_disk(str(folder))

    @property
    def splits(self) -> list[str]:
        return list(self.manifest["splits"])


def _hub_is_local(cfg: DataConfig) -> bool:
    return Path(cfg.path).expanduser().is_dir()


def _source_hashes(cfg: DataConfig) -> dict[str, str]:
    if cfg.format == "hub":
        if _hub_is_local(cfg):
            local = Path(cfg.path).expanduser()
            # Hidden entries (.git, caches) are not data.
            files = sorted(p.relative_to(local) for p in local.rglob("*") if p.is_file())
            files = [p for p in files if not any(part.startswith(".") for part in p.parts)]
            return {str(p): sha256_file(local / p) for p in files}
        # A remote dataset: datasets' own fingerprint of each split follows the
        # resolved revision's files, so a new upload gives a new fingerprint.
        return {f"hub:{cfg.path}@{cfg.revision or 'main'}[{cfg.files[s]}]": _load_hub(cfg, s)._fingerprint
                for s in cfg.files}
    return {cfg.files[split]: sha256_file(_source_file(cfg, split)) for split in cfg.files}


def fingerprint(cfg: DataConfig, hashes: dict[str, str]) -> str:
    # The path is left out: the same files elsewhere are the same data.
    payload = {k: v for k, v in asdict(cfg).items() if k != "path"}
    blob = json.dumps({"format": PREPARE_FORMAT, "config": payload, "sources": hashes}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def _validate_fields(cfg: DataConfig) -> None:
    f = cfg.fields
    if (f.start is None) != (f.end is None):
        raise ConfigError(f"data.fields.start={f.start!r} and data.fields.end={f.end!r}: set both or neither")
    if cfg.format == "span" and f.start is None:
        raise ConfigError(
            "data.fields.start: format=span needs span fields; use format=table for rows without spans"
        )
    if cfg.format == "span" and not f.targets and f.targets is not None:
        raise ConfigError("data.fields.targets: give the targets list's key, or null for one target per row")
    if f.doc_id_pattern:
        try:
            groups = re.compile(f.doc_id_pattern).groups
        except re.error as err:
            raise ConfigError(
                f"data.fields.doc_id_pattern={f.doc_id_pattern!r} is not a regular expression: {err}"
            ) from err
        if groups < 1 or not f.id:
            raise ConfigError(
                f"data.fields.doc_id_pattern={f.doc_id_pattern!r} needs a capture group for the document id "
                "and data.fields.id to apply it to"
            )


def _validate_splits(cfg: DataConfig) -> None:
    produced = set(cfg.files)
    src = cfg.split.carve_from
    if src is not None and (cfg.split.validation > 0 or cfg.split.test > 0):
        _check_shares(cfg.split.validation, cfg.split.test)
        if src not in cfg.files:
            raise ConfigError(
                f"data.split.carve_from: split {src!r} is not in data.files {sorted(cfg.files)}"
            )
        carved = {"train"} | {n for n in ("validation", "test") if getattr(cfg.split, n) > 0}
        clash = sorted(carved & (produced - {src}))
        if clash:
            raise ConfigError(
                f"data.split: carving {src!r} would overwrite given split(s) {clash} in data.files"
            )
        produced = (produced - {src}) | carved
    unknown = sorted(set(cfg.eval_splits) - produced)
    if unknown:
        raise ConfigError(f"data.eval_splits: {unknown} will not exist; the splits are {sorted(produced)}")


def validate_config(cfg: DataConfig) -> None:
    """Config mistakes, caught before any file is read; each message names its key."""
    check_choice(cfg.format, FORMATS, "data.format")
    if not cfg.files:
        raise ConfigError("data.files: give at least one split, e.g. {train: train.jsonl}")
    if len(cfg.labels) < 2 or len(set(cfg.labels)) != len(cfg.labels):
        raise ConfigError(f"data.labels={list(cfg.labels)}: need at least two distinct labels")
    unknown = sorted(set(cfg.label_map.values()) - set(cfg.labels))
    if unknown:
        raise ConfigError(
            f"data.label_map maps to {unknown}, which are not in data.labels {list(cfg.labels)}"
        )
    if cfg.max_train_rows is not None and cfg.max_train_rows < 1:
        raise ConfigError(f"data.max_train_rows={cfg.max_train_rows} must be positive or null")
    _validate_fields(cfg)
    _validate_splits(cfg)


def _header_problems(cfg: DataConfig, split: str) -> list[Problem]:
    """A table missing a needed column fails once, not once per row."""
    if cfg.format == "hub":
        return []
    path = _source_file(cfg, split)
    if path.suffix.lower() not in TABLE_DELIMITERS:
        return []
    header = table_header(path)
    needed = {"text": cfg.fields.text, "mention": cfg.fields.mention, "label": cfg.fields.label}
    return [
        Problem(path.name, 1, "header",
                f"missing column {column!r} (data.fields.{key}); the columns are {header}", "missing column")
        for key, column in needed.items() if column not in header
    ]


def read_corpus(cfg: DataConfig) -> tuple[dict[str, list[Sentence]], list[Problem]]:
    """Parse and check every source split; returns the splits and all problems."""
    parser = _RowParser(cfg)
    splits: dict[str, list[Sentence]] = {}
    problems: list[Problem] = []
    for split in cfg.files:
        header = _header_problems(cfg, split)
        if header:
            problems += header
            splits[split] = []
            continue
        sentences = [s for row in read_rows(cfg, split) if (s := parser.parse(row)) is not None]
        if _flat(cfg):
            sentences = _merge_table_rows(sentences)
        problems += _check_duplicates(sentences)
        splits[split] = sentences
    problems = parser.problems + problems + _check_cross_split(splits, cfg.eval_splits, cfg.fields.text)
    order = {name: i for i, name in enumerate(cfg.files.values())}
    problems.sort(key=lambda p: (order.get(p.file, len(order)), p.file, p.line))
    return splits, problems


def _drop_bad(splits: dict[str, list[Sentence]], problems: list[Problem]) -> dict[str, list[Sentence]]:
    """Drop bad rows, and bad targets alone where only a target is at fault."""
    bad_rows = {f"{p.file}:{p.line}" for p in problems if not p.drop}
    bad_targets = {tid for p in problems for tid in p.drop}
    out = {}
    for name, rows in splits.items():
        kept = []
        for s in rows:
            if s.source in bad_rows:
                continue
            targets = [t for t in s.targets if t.uid not in bad_targets and t.source not in bad_rows]
            if targets:
                kept.append(Sentence(s.id, s.doc_id, s.text, targets, s.source))
        out[name] = kept
    return out


def _problem_report(cfg: DataConfig, problems: list[Problem]) -> str:
    kinds = Counter(p.kind for p in problems)
    summary = ", ".join(f"{n} {kind}" for kind, n in kinds.most_common())
    rows = len({(p.file, p.line) for p in problems})
    shown = "\n".join(f"  {p}" for p in problems[:MAX_SHOWN])
    more = f"\n  ... and {len(problems) - MAX_SHOWN} more" if len(problems) > MAX_SHOWN else ""
    return (
        f"{len(problems)} problem(s) in {rows} row(s) of data={cfg.name} ({summary}); nothing was written "
        f"(set data.drop_invalid=true to drop them instead):\n{shown}{more}"
    )


def _subset(sentences: list[Sentence], n: int | None, seed: int) -> list[Sentence]:
    if n is None or n >= len(sentences):
        return sentences
    order = list(range(len(sentences)))
    random.Random(seed).shuffle(order)
    keep = sorted(order[:n])
    return [sentences[i] for i in keep]


def build_splits(cfg: DataConfig) -> tuple[dict[str, list[Sentence]], list[Problem]]:
    """Read, check, drop (if allowed), carve and subset; nothing is written."""
    splits, problems = read_corpus(cfg)
    if problems and not cfg.drop_invalid:
        raise DataError(_problem_report(cfg, problems))
    splits = _drop_bad(splits, problems)
    empty = [name for name, rows in splits.items() if not rows]
    if empty:
        why = " after dropping invalid rows" if problems else ""
        raise DataError(f"data.files: split(s) {empty} of data={cfg.name} have no rows{why}")
    src = cfg.split.carve_from
    if src is not None and (cfg.split.validation > 0 or cfg.split.test > 0):
        carved = carve_splits(splits.pop(src), cfg.split.validation, cfg.split.test, cfg.split.seed)
        splits = {**carved, **splits}
    if "train" in splits:
        splits["train"] = _subset(splits["train"], cfg.max_train_rows, cfg.split.seed)
    return splits, problems


def _to_dataset(sentences: list[Sentence]) -> datasets.Dataset:
    rows = [
        {"id": s.id, "doc_id": s.doc_id, "text": s.text,
         "targets": [{k: getattr(t, k) for k in OUTPUT_TARGET_KEYS} for t in s.targets]}
        for s in sentences
    ]
    features = datasets.Features(
        {
            "id": datasets.Value("string"),
            "doc_id": datasets.Value("string"),
            "text": datasets.Value("string"),
            "targets": datasets.List(
                {
                    "id": datasets.Value("string"),
                    "start": datasets.Value("int32"),
                    "end": datasets.Value("int32"),
                    "mention": datasets.Value("string"),
                    "actor": datasets.Value("string"),
                    "label": datasets.Value("string"),
                    "further_starts": datasets.List(datasets.Value("int32")),
                    "further_ends": datasets.List(datasets.Value("int32")),
                }
            ),
        }
    )
    return datasets.Dataset.from_list(rows, features=features)


def _counts(sentences: list[Sentence]) -> dict:
    labels = Counter(t.label for s in sentences for t in s.targets)
    return {
        "sentences": len(sentences),
        "pairs": sum(labels.values()),
        "documents": len({s.doc_id for s in sentences}),
        "labels": dict(sorted(labels.items())),
        "multi_target_sentences": sum(1 for s in sentences if len(s.targets) > 1),
        "topic_targets": sum(1 for s in sentences for t in s.targets if t.start < 0),
    }


def _dropped(problems: list[Problem]) -> dict:
    return {
        "rows": len({(p.file, p.line) for p in problems}),
        "reasons": dict(Counter(p.kind for p in problems).most_common()),
        "problems": [str(p) for p in problems[:MAX_RECORDED]],
        "problems_not_listed": max(0, len(problems) - MAX_RECORDED),
    }


def _save(splits: dict[str, list[Sentence]], folder: Path) -> dict[str, str]:
    """Write each split; returns the ``datasets`` fingerprint of each."""
    fingerprints = {}
    quiet = datasets.is_progress_bar_enabled()  # saving takes milliseconds; its bars are noise
    if quiet:
        datasets.disable_progress_bars()
    try:
        for name, sentences in splits.items():
            ds = _to_dataset(sentences)
            ds.save_to_disk(str(folder / name))
            fingerprints[name] = ds._fingerprint
    finally:
        if quiet:
            datasets.enable_progress_bars()
    return fingerprints


def _write(cfg: DataConfig, out: Path, fp: str, hashes: dict[str, str],
           splits: dict[str, list[Sentence]], problems: list[Problem], shared: dict[str, int]) -> dict:
    """Build in a temporary folder and rename: a prepared folder is complete or absent."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        manifest = {
            "name": cfg.name,
            "fingerprint": fp,
            "prepare_format": PREPARE_FORMAT,
            "sources": hashes,
            "config": asdict(cfg),
            "splits": {name: _counts(rows) for name, rows in splits.items()},
            "dropped": _dropped(problems),
            "shared_documents": shared,
            "datasets_fingerprints": _save(splits, tmp),
            "datasets_version": datasets.__version__,
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False))
        os.rename(tmp, out)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        if (out / MANIFEST).is_file():  # a concurrent run finished first; same content
            return json.loads((out / MANIFEST).read_text())
        raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return manifest


def prepare(cfg: DataConfig, prepared_root: str | Path) -> Prepared:
    """Prepare ``cfg`` under ``prepared_root``, reusing an identical earlier run."""
    validate_config(cfg)
    hashes = _source_hashes(cfg)
    fp = fingerprint(cfg, hashes)
    out = Path(prepared_root) / f"{cfg.name}-{fp[:16]}"
    if (out / MANIFEST).is_file():
        log.info("reusing prepared data %s", out)
        return Prepared(out, json.loads((out / MANIFEST).read_text()))
    splits, problems = build_splits(cfg)
    shared = shared_documents(splits)
    if shared:
        log.warning("given splits share documents (recorded in the manifest): %s", shared)
    if problems:
        log.warning("dropped %d invalid row(s): %s", len({(p.file, p.line) for p in problems}),
                    dict(Counter(p.kind for p in problems)))
    manifest = _write(cfg, out, fp, hashes, splits, problems, shared)
    log.info("prepared %s: %s", out, {k: v["pairs"] for k, v in manifest["splits"].items()})
    return Prepared(out, manifest)


def load_prepared(path: str | Path) -> Prepared:
    path = Path(path)
    if not (path / MANIFEST).is_file():
        raise DataError(f"{path} is not a prepared dataset (no {MANIFEST}); run stance-prepare")
    return Prepared(path, json.loads((path / MANIFEST).read_text()))


__all__ = [
    "DataError", "Prepared", "Problem", "Sentence", "Target", "build_splits", "carve_splits", "fingerprint",
    "load_prepared", "prepare", "read_corpus", "read_rows", "sha256_file", "shared_documents",
    "validate_config",
]
