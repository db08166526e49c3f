"""Stage 1: dataset preparation.

Reads a stance corpus (span JSONL, flat CSV/TSV/JSONL table, or a Hub dataset),
validates every row, carves grouped splits, and writes a prepared-dataset folder:

    prepared/<name>-<fingerprint>/
        manifest.json        sources and their SHA-256, config, counts, drops
        <split>/             one Hugging Face ``datasets`` split per folder

One prepared row is one sentence with all its targets, so both per-pair and
per-sentence encodings can be built from it later.  Preparing twice with the
same inputs and config reuses the folder; any change to an input file or to the
config changes the fingerprint and so the folder.
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

log = logging.getLogger(__name__)

PREPARE_FORMAT = 1  # bump when the prepared layout or validation rules change
MANIFEST = "manifest.json"
FORMATS = ("span", "table", "hub")


class DataError(ValueError):
    """Input data problems; the message lists every bad row."""


# ---------------------------------------------------------------- records


@dataclass
class Problem:
    file: str
    line: int
    field: str
    rule: str
    target: str | None = None  # set when only this target, not the whole row, is bad

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
    value: Any  # a dict, or None when the line could not be parsed


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


def _read_jsonl(path: Path) -> Iterator[RawRow]:
    with open(path, "rb") as fh:
        for n, raw in enumerate(fh, 1):
            if not raw.strip():
                continue
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                yield RawRow(path.name, n, Problem(path.name, n, "line", f"invalid UTF-8 ({err.reason} at byte {err.start})"))
                continue
            try:
                value = json.loads(text)
            except json.JSONDecodeError as err:
                yield RawRow(path.name, n, Problem(path.name, n, "line", f"invalid JSON ({err.msg} at column {err.colno})"))
                continue
            if not isinstance(value, dict):
                yield RawRow(path.name, n, Problem(path.name, n, "line", "a row must be a JSON object"))
                continue
            yield RawRow(path.name, n, value)


def _read_table(path: Path) -> Iterator[RawRow]:
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as err:
        line = path.read_bytes()[: err.start].count(b"\n") + 1
        yield RawRow(path.name, line, Problem(path.name, line, "line", f"invalid UTF-8 ({err.reason})"))
        return
    delimiter = "\t" if path.suffix.lower() in (".tsv", ".tab") else ","
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    for row in reader:
        # line_num counts physical lines read so far, so it names the row's last line.
        yield RawRow(path.name, reader.line_num, {k: v for k, v in row.items() if k is not None})


def _read_hub(cfg: DataConfig, split_name: str, split: str) -> Iterator[RawRow]:
    # Real loader so users with network access can pass Hub ids; tests pass a
    # local dataset folder, which load_dataset reads offline.
    ds = datasets.load_dataset(cfg.path, split=split, revision=cfg.revision)
    for n, row in enumerate(ds, 1):
        yield RawRow(f"{cfg.path}[{split}]", n, dict(row))


def read_rows(cfg: DataConfig, split: str, file: str) -> Iterator[RawRow]:
    if cfg.format == "hub":
        yield from _read_hub(cfg, split, file)
        return
    path = _source_dir(cfg) / file
    if not path.is_file():
        raise DataError(f"data.files.{split}: file {str(path)!r} does not exist")
    if path.suffix.lower() in (".jsonl", ".json"):
        yield from _read_jsonl(path)
    else:
        yield from _read_table(path)


# ---------------------------------------------------------------- row parsing


class _RowParser:
    """Turns raw rows into sentences, collecting every problem instead of stopping."""

    def __init__(self, cfg: DataConfig) -> None:
        self.cfg = cfg
        self.f = cfg.fields
        self.labels = set(cfg.labels)
        self.doc_re = re.compile(self.f.doc_id_pattern) if self.f.doc_id_pattern else None
        self.problems: list[Problem] = []

    def _problem(self, row: RawRow, field_name: str, rule: str) -> None:
        self.problems.append(Problem(row.file, row.line, field_name, rule))

    def _label(self, row: RawRow, where: str, raw: Any) -> str | None:
        key = str(raw)
        label = self.cfg.label_map.get(key, key)
        if label not in self.labels:
            self._problem(row, where, f"unknown label {raw!r}; known: {sorted(self.cfg.label_map) or sorted(self.labels)}")
            return None
        return label

    def _doc_id(self, row: RawRow, row_id: str) -> str:
        if self.f.doc_id and row.value.get(self.f.doc_id) not in (None, ""):
            return str(row.value[self.f.doc_id])
        if self.doc_re:
            match = self.doc_re.match(row_id)
            if match:
                return match.group(1)
            self._problem(row, self.f.id or "id", f"id {row_id!r} does not match doc_id_pattern {self.doc_re.pattern!r}")
        return row_id

    def _span(self, row: RawRow, where: str, text: str, item: dict, mention: str) -> tuple[int, int] | None:
        start, end = item.get(self.f.start) if self.f.start else None, item.get(self.f.end) if self.f.end else None
        if start in (None, "") and end in (None, ""):
            return (-1, -1)
        try:
            start, end = int(start), int(end)
        except (TypeError, ValueError):
            self._problem(row, where, f"span [{start!r},{end!r}) must be two integers")
            return None
        if not 0 <= start < end <= len(text):
            self._problem(row, where, f"span [{start},{end}) is outside the sentence (length {len(text)})")
            return None
        if text[start:end] != mention:
            self._problem(row, where, f"span [{start},{end}) is {text[start:end]!r} but mention is {mention!r}")
            return None
        return start, end

    def _target(self, row: RawRow, text: str, item: Any, where: str, tid: str) -> Target | None:
        if not isinstance(item, dict):
            self._problem(row, where, "a target must be an object")
            return None
        for key in (self.f.mention, self.f.label):
            if item.get(key) in (None, ""):
                self._problem(row, f"{where}.{key}", "missing field")
                return None
        mention = str(item[self.f.mention])
        label = self._label(row, f"{where}.{self.f.label}", item[self.f.label])
        span = self._span(row, f"{where}.{self.f.start}", text, item, mention)
        if label is None or span is None:
            return None
        further_s, further_e = [], []
        for fm in (item.get(self.f.further_mentions) or []) if self.f.further_mentions else []:
            fs, fe = fm.get("from"), fm.get("to")
            if isinstance(fs, int) and isinstance(fe, int) and 0 <= fs < fe <= len(text):
                further_s.append(fs)
                further_e.append(fe)
        actor = str(item.get(self.f.actor) or mention) if self.f.actor else mention
        return Target(tid, span[0], span[1], mention, actor, label, further_s, further_e)

    def parse(self, row: RawRow) -> Sentence | None:
        if isinstance(row.value, Problem):
            self.problems.append(row.value)
            return None
        value = row.value
        text = value.get(self.f.text)
        if text is None:
            self._problem(row, self.f.text, "missing field")
            return None
        if not isinstance(text, str) or not text.strip():
            self._problem(row, self.f.text, "empty sentence")
            return None
        row_id = str(value.get(self.f.id)) if self.f.id and value.get(self.f.id) not in (None, "") else f"{row.file}:{row.line}"
        doc_id = self._doc_id(row, row_id)
        if self.f.targets is None:  # flat table: the row itself is the one target
            items = [value]
        else:
            items = value.get(self.f.targets)
            if not isinstance(items, list) or not items:
                self._problem(row, self.f.targets, "missing field" if items is None else "must be a non-empty list")
                return None
        targets = []
        for i, item in enumerate(items):
            where = f"{self.f.targets}[{i}]" if self.f.targets else "target"
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
        key = (s.doc_id if s.doc_id != s.id else "", s.text)
        if key in merged:
            merged[key].targets.extend(s.targets)
        else:
            merged[key] = Sentence(s.id, s.doc_id if s.doc_id != s.id else s.id, s.text, list(s.targets), s.source)
    return list(merged.values())


def _check_duplicates(sentences: list[Sentence]) -> list[Problem]:
    """Exact duplicate pairs and conflicting labels for one (sentence, target)."""
    problems = []
    seen: dict[tuple, tuple[str, str]] = {}
    for s in sentences:
        for t in s.targets:
            key = (s.text, t.start, t.end, t.mention)
            where = s.source
            file, line = where.rsplit(":", 1)
            if key in seen:
                first_label, first_where = seen[key]
                rule = (
                    f"exact duplicate of {first_where} ({t.mention!r}, {t.label})"
                    if first_label == t.label
                    else f"conflicting labels for {t.mention!r}: {t.label} here, {first_label} at {first_where}"
                )
                problems.append(Problem(file, int(line), "target", rule, target=t.id))
            else:
                seen[key] = (t.label, where)
    return problems


def _check_cross_split(splits: dict[str, list[Sentence]], eval_splits: list[str]) -> list[Problem]:
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
            prev = first_split.get(s.text)
            if prev is None:
                first_split[s.text] = (name, s.source)
            elif prev[0] != name and not (prev[0] in eval_splits and name in eval_splits):
                file, line = s.source.rsplit(":", 1)
                problems.append(
                    Problem(file, int(line), "sentence", f"same sentence in split {prev[0]!r} ({prev[1]}) and {name!r}")
                )
    return problems


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
        if s.text in by_text:
            parent[find(s.doc_id)] = find(by_text[s.text])
        else:
            by_text[s.text] = s.doc_id
    groups: dict[str, list[Sentence]] = defaultdict(list)
    for s in sentences:
        groups[find(s.doc_id)].append(s)
    return groups


def carve_splits(sentences: list[Sentence], validation: float, test: float, seed: int) -> dict[str, list[Sentence]]:
    """Deterministic grouped split: shuffle the sorted group keys with ``seed`` and
    fill test, then validation, to their share of sentences."""
    if not 0 <= validation < 1 or not 0 <= test < 1 or validation + test >= 1:
        raise DataError(f"data.split: validation={validation} and test={test} must be shares in [0,1) summing below 1")
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
    return {name: rows for name, rows in out.items() if rows or name == "train"}


# ---------------------------------------------------------------- prepare


@dataclass
class Prepared:
    path: Path
    manifest: dict

    def split(self, name: str) -> datasets.Dataset:
        folder = self.path / name
        if not folder.is_dir():
            raise DataError(f"split {name!r} is not in prepared dataset {self.path} (has {self.manifest['splits']})")
        return datasets.load_from_disk(str(folder))

    @property
    def splits(self) -> list[str]:
        return list(self.manifest["splits"])


def _source_hashes(cfg: DataConfig) -> dict[str, str]:
    if cfg.format == "hub":
        local = Path(cfg.path)
        if local.exists():
            files = sorted(p for p in local.rglob("*") if p.is_file())
            return {str(p.relative_to(local)): sha256_file(p) for p in files}
        return {f"hub:{cfg.path}@{cfg.revision or 'main'}": "unhashed (remote)"}
    root = _source_dir(cfg)
    hashes = {}
    for split, file in cfg.files.items():
        path = root / file
        if not path.is_file():
            raise DataError(f"data.files.{split}: file {str(path)!r} does not exist")
        hashes[file] = sha256_file(path)
    return hashes


def fingerprint(cfg: DataConfig, hashes: dict[str, str]) -> str:
    # The path is left out: the same files elsewhere are the same data.
    payload = {k: v for k, v in asdict(cfg).items() if k != "path"}
    blob = json.dumps({"format": PREPARE_FORMAT, "config": payload, "sources": hashes}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def _validate_config(cfg: DataConfig) -> None:
    check_choice(cfg.format, FORMATS, "data.format")
    if not cfg.files:
        raise DataError("data.files: give at least one split, e.g. {train: train.jsonl}")
    unknown = sorted(set(cfg.label_map.values()) - set(cfg.labels))
    if unknown:
        raise DataError(f"data.label_map maps to {unknown}, which are not in data.labels {list(cfg.labels)}")


def read_corpus(cfg: DataConfig) -> tuple[dict[str, list[Sentence]], list[Problem]]:
    """Parse and check every source split; returns the splits and all problems."""
    parser = _RowParser(cfg)
    splits: dict[str, list[Sentence]] = {}
    problems: list[Problem] = []
    for split, file in cfg.files.items():
        sentences = [s for row in read_rows(cfg, split, file) if (s := parser.parse(row)) is not None]
        if cfg.fields.targets is None:
            sentences = _merge_table_rows(sentences)
        problems += _check_duplicates(sentences)
        splits[split] = sentences
    problems = parser.problems + problems + _check_cross_split(splits, cfg.eval_splits)
    return splits, problems


def _drop_bad(splits: dict[str, list[Sentence]], problems: list[Problem]) -> dict[str, list[Sentence]]:
    """Drop bad rows; a duplicate target is dropped alone, keeping its first copy."""
    bad_rows = {f"{p.file}:{p.line}" for p in problems if p.target is None}
    bad_targets = {p.target for p in problems if p.target is not None}
    out = {}
    for name, rows in splits.items():
        kept = []
        for s in rows:
            if s.source in bad_rows:
                continue
            targets = [t for t in s.targets if t.id not in bad_targets]
            if targets:
                kept.append(Sentence(s.id, s.doc_id, s.text, targets, s.source))
        out[name] = kept
    return out


def _reason(problem: Problem) -> str:
    """A problem's rule without its values, to count drops by kind."""
    rule = problem.rule.split(" (")[0].split(";")[0]
    return re.sub(r"'[^']*'|\"[^\"]*\"|\S+:\d+|\[[^)]*\)|-?\d+", "_", rule)


def _to_dataset(sentences: list[Sentence]) -> datasets.Dataset:
    rows = [
        {"id": s.id, "doc_id": s.doc_id, "text": s.text, "targets": [asdict(t) for t in s.targets]}
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
    }


def _subset(sentences: list[Sentence], n: int | None, seed: int) -> list[Sentence]:
    if n is None or n >= len(sentences):
        return sentences
    order = list(range(len(sentences)))
    random.Random(seed).shuffle(order)
    keep = sorted(order[:n])
    return [sentences[i] for i in keep]


def build_splits(cfg: DataConfig) -> tuple[dict[str, list[Sentence]], list[Problem]]:
    splits, problems = read_corpus(cfg)
    if problems and not cfg.drop_invalid:
        shown = "\n".join(f"  {p}" for p in problems[:200])
        more = f"\n  ... and {len(problems) - 200} more" if len(problems) > 200 else ""
        raise DataError(f"{len(problems)} invalid row(s) in data={cfg.name}; nothing was written:\n{shown}{more}")
    splits = _drop_bad(splits, problems)
    src = cfg.split.carve_from
    if src is not None and (cfg.split.validation > 0 or cfg.split.test > 0):
        if src not in splits:
            raise DataError(f"data.split.carve_from: split {src!r} is not in data.files {sorted(cfg.files)}")
        carved = carve_splits(splits.pop(src), cfg.split.validation, cfg.split.test, cfg.split.seed)
        clash = sorted(set(carved) & set(splits))
        if clash:
            raise DataError(f"data.split: carving would overwrite given split(s) {clash}")
        splits = {**carved, **splits}
    if "train" in splits:
        splits["train"] = _subset(splits["train"], cfg.max_train_rows, cfg.split.seed)
    return splits, problems


def prepare(cfg: DataConfig, prepared_root: str | Path) -> Prepared:
    """Prepare ``cfg`` under ``prepared_root``, reusing an identical earlier run."""
    _validate_config(cfg)
    hashes = _source_hashes(cfg)
    fp = fingerprint(cfg, hashes)
    out = Path(prepared_root) / f"{cfg.name}-{fp[:16]}"
    if (out / MANIFEST).is_file():
        log.info("reusing prepared data %s", out)
        return Prepared(out, json.loads((out / MANIFEST).read_text()))
    splits, problems = build_splits(cfg)
    out.parent.mkdir(parents=True, exist_ok=True)
    # Build in a temporary folder and rename: a prepared folder is complete or absent.
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        fingerprints = {}
        for name, sentences in splits.items():
            ds = _to_dataset(sentences)
            ds.save_to_disk(str(tmp / name))
            fingerprints[name] = ds._fingerprint
        manifest = {
            "name": cfg.name,
            "fingerprint": fp,
            "prepare_format": PREPARE_FORMAT,
            "sources": hashes,
            "config": asdict(cfg),
            "splits": {name: _counts(rows) for name, rows in splits.items()},
            "dropped": {"rows": len({f"{p.file}:{p.line}" for p in problems}),
                        "reasons": dict(Counter(_reason(p) for p in problems))},
            "datasets_fingerprints": fingerprints,
            "datasets_version": datasets.__version__,
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False))
        os.rename(tmp, out)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        if (out / MANIFEST).is_file():  # a concurrent run finished first; same content
            return Prepared(out, json.loads((out / MANIFEST).read_text()))
        raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("prepared %s: %s", out, {k: v["pairs"] for k, v in manifest["splits"].items()})
    return Prepared(out, manifest)


def load_prepared(path: str | Path) -> Prepared:
    path = Path(path)
    if not (path / MANIFEST).is_file():
        raise DataError(f"{path} is not a prepared dataset (no {MANIFEST}); run stance-prepare")
    return Prepared(path, json.loads((path / MANIFEST).read_text()))
