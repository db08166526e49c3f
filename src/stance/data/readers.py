"""Source readers: a JSONL file, a CSV/TSV table, or a Hub dataset, as raw rows.

Readers do not judge content. A line that cannot even be read (bad UTF-8, bad
JSON, a wrong number of columns) comes back as a :class:`RawRow` holding a
:class:`Problem`, so the parser can list it with every other bad row instead of
the first one stopping the run.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import datasets

from stance.config import DataConfig
from stance.data.records import Problem, RawRow, is_flat
from stance.errors import DataError, JsonLineError
from stance.jsonl import load_json_line

JSONL_SUFFIXES = (".jsonl", ".json", ".ndjson")
TABLE_DELIMITERS = {".csv": ",", ".tsv": "\t", ".tab": "\t"}
FILE_TYPES = ("auto", "jsonl", "csv", "tsv")
_TYPE_DELIMITERS = {"csv": ",", "tsv": "\t"}
_BAD_BYTES = re.compile("[\udc80-\udcff]")  # undecodable bytes under errors="surrogateescape"


# ---------------------------------------------------------------- local files


def _source_dir(cfg: DataConfig) -> Path:
    root = Path(cfg.path).expanduser()
    if not root.is_dir():
        # Where to get a corpus that is not bundled is the data config's to say (source_hint).
        hint = f" {cfg.source_hint.strip()}" if cfg.source_hint else ""
        raise DataError(f"data.path: dataset folder {str(root)!r} for data={cfg.name} does not exist.{hint}")
    return root


def file_type(cfg: DataConfig, path: Path) -> str:
    """``jsonl``, ``csv`` or ``tsv``: data.format_options.file_type, or else the extension."""
    chosen = cfg.format_options.file_type
    if chosen != "auto":
        return chosen
    suffix = path.suffix.lower()
    if suffix in JSONL_SUFFIXES:
        return "jsonl"
    if suffix in TABLE_DELIMITERS:
        return "csv" if TABLE_DELIMITERS[suffix] == "," else "tsv"
    return ""


def source_file(cfg: DataConfig, split: str) -> Path:
    """The file of a source split; data.format_options.file_type or its extension decides how it is read."""
    path = _source_dir(cfg) / cfg.files[split]
    if path.is_dir():
        raise DataError(f"data.files.{split}: {str(path)!r} is a folder, not a file")
    if not path.is_file():
        raise DataError(f"data.files.{split}: file {str(path)!r} does not exist")
    if not file_type(cfg, path) and cfg.format != "label_studio":  # a Label Studio export is JSON, whatever its name
        raise DataError(
            f"data.files.{split}: cannot tell the format of {path.name!r} from its extension "
            f"(known: {sorted(JSONL_SUFFIXES + tuple(TABLE_DELIMITERS))}); "
            "set data.format_options.file_type to jsonl, csv or tsv"
        )
    return path


def _decode_problem(path: Path, line: int, field_name: str, encoding: str, byte: int) -> Problem:
    return Problem(path.name, line, field_name, f"invalid {_codec_label(encoding)} (byte 0x{byte:02x})",
                   f"invalid {_codec_label(encoding)}")


def _codec_label(encoding: str) -> str:
    # "invalid UTF-8" reads better than "invalid utf_8"; other codecs keep the name the user gave.
    return "UTF-8" if codecs.lookup(encoding).name == "utf-8" else encoding


def _read_jsonl(cfg: DataConfig, path: Path) -> Iterator[RawRow]:
    encoding = cfg.format_options.encoding
    with open(path, "rb") as fh:
        for n, raw in enumerate(fh, 1):
            if n == 1 and raw.startswith(b"\xef\xbb\xbf"):  # a UTF-8 byte-order mark, as some editors write
                raw = raw[3:]
            if not raw.strip():
                continue
            try:
                text = raw.decode(encoding)
            except UnicodeDecodeError as err:
                label = _codec_label(encoding)
                rule = f"invalid {label} ({err.reason} at byte {err.start})"
                yield RawRow(path.name, n, Problem(path.name, n, "line", rule, f"invalid {label}"))
                continue
            try:
                value = load_json_line(text)
            except JsonLineError as err:
                kind = "invalid JSON" if err.field == "line" else "lone surrogate"
                yield RawRow(path.name, n, Problem(path.name, n, err.field, err.rule, kind))
                continue
            if not isinstance(value, dict):
                rule = f"a row must be a JSON object, not {type(value).__name__}"
                yield RawRow(path.name, n, Problem(path.name, n, "line", rule, "not a JSON object"))
                continue
            yield RawRow(path.name, n, value)


def _table_text(path: Path, encoding: str) -> str:
    # surrogateescape keeps undecodable bytes visible, so each bad row is reported
    # on its own instead of the whole file failing at the first bad byte.
    text = path.read_bytes().decode(encoding, errors="surrogateescape")
    return text[1:] if text.startswith("\ufeff") else text


def _csv_reader(cfg: DataConfig, path: Path):  # csv's reader type is private (_csv.reader): no annotation
    opts = cfg.format_options
    delimiter = opts.delimiter or _TYPE_DELIMITERS[file_type(cfg, path)]
    return csv.reader(io.StringIO(_table_text(path, opts.encoding), newline=""), delimiter=delimiter)


def table_header(cfg: DataConfig, path: Path) -> list[str]:
    """The column names: the first row, or data.format_options.columns for a header-less file."""
    if not cfg.format_options.header:
        return list(cfg.format_options.columns)
    return next(_csv_reader(cfg, path), [])


def _read_table(cfg: DataConfig, path: Path) -> Iterator[RawRow]:
    reader = _csv_reader(cfg, path)
    header = list(cfg.format_options.columns) if not cfg.format_options.header else next(reader, None)
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
            yield RawRow(path.name, line,
                         _decode_problem(path, line, bad[0], cfg.format_options.encoding, ord(byte) - 0xDC00))
            continue
        if len(values) != len(header):
            what = "the header has" if cfg.format_options.header else "data.format_options.columns names"
            rule = f"row has {len(values)} values but {what} {len(header)} columns"
            yield RawRow(path.name, line, Problem(path.name, line, "row", rule, "wrong number of values"))
            continue
        yield RawRow(path.name, line, dict(zip(header, values, strict=True)))


# ---------------------------------------------------------------- Hub datasets


def _class_label(features: datasets.Features, cfg: DataConfig) -> datasets.ClassLabel | None:
    """The label feature when a Hub dataset stores labels as class ids."""
    holder: Any = features
    if not is_flat(cfg):
        holder = features.get(cfg.fields.targets)
        holder = getattr(holder, "feature", holder)
        holder = holder[0] if isinstance(holder, list) and holder else holder
    label = holder.get(cfg.fields.label) if isinstance(holder, dict) else None
    return label if isinstance(label, datasets.ClassLabel) else None


def load_hub(cfg: DataConfig, split_name: str) -> datasets.Dataset:
    """One split of a Hub dataset (or a local dataset folder), its errors as DataError."""
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
    ds = load_hub(cfg, split_name)
    decode = _class_label(ds.features, cfg)
    name = f"{cfg.path}[{cfg.files[split_name]}]"
    for n, row in enumerate(ds, 1):
        if decode is not None:  # class ids -> their names, which label_map then maps
            items = [row] if is_flat(cfg) else row.get(cfg.fields.targets) or []
            for item in items:
                if isinstance(item.get(cfg.fields.label), int):
                    item[cfg.fields.label] = decode.int2str(item[cfg.fields.label])
        yield RawRow(name, n, row)


# ---------------------------------------------------------------- entry point


def read_rows(cfg: DataConfig, split: str) -> Iterator[RawRow]:
    """Raw rows of one source split, in file order; ``cfg.files[split]`` names the source."""
    if cfg.format == "hub":
        yield from _read_hub(cfg, split)
        return
    path = source_file(cfg, split)
    if file_type(cfg, path) == "jsonl":
        yield from _read_jsonl(cfg, path)
    else:
        yield from _read_table(cfg, path)
