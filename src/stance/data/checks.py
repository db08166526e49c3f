"""Checks: config mistakes before any file is read, and corpus rules across rows.

The parser judges one row at a time; the rules here need more than one row (a
repeated target, a sentence in two splits) or none at all (the config, a
table's header). The corpus checks return problems, to be listed with the
parser's; the config checks raise, since a bad config stops the run at once
and its message names the key.
"""

from __future__ import annotations

import codecs
import re

from stance.config import DataConfig, FieldMap, FormatOptions, check_choice
from stance.data.parse import label_key
from stance.data.readers import FILE_TYPES, file_type, source_file, table_header
from stance.data.records import Problem, Sentence, Target, norm_text, split_source
from stance.data.splits import check_shares
from stance.errors import ConfigError

FORMATS = ("span", "table", "hub", "label_studio")
ANNOTATION_POLICIES = ("first", "adjudicate")


# ---------------------------------------------------------------- config


def _validate_fields(cfg: DataConfig) -> None:
    """The field map fits the format: spans come as a pair, a doc_id_pattern can capture."""
    f = cfg.fields
    if cfg.format == "label_studio" and f != FieldMap():
        raise ConfigError("data.fields: a Label Studio export is read by the names of the packaged labelling config "
                          "(data.text, the 'stance' regions; docs/annotation_loop.md); remove data.fields")
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


def _validate_format_options(cfg: DataConfig) -> None:
    """File type, delimiter, encoding and header settings that can be read as given."""
    opts = cfg.format_options
    if cfg.format == "hub" and opts != FormatOptions():
        raise ConfigError("data.format_options: applies to local files (format span or table); "
                          "a Hub dataset is read by datasets.load_dataset")
    check_choice(opts.file_type, FILE_TYPES, "data.format_options.file_type")
    check_choice(opts.annotations, ANNOTATION_POLICIES, "data.format_options.annotations")
    if opts.annotations != FormatOptions.annotations and cfg.format != "label_studio":
        raise ConfigError(f"data.format_options.annotations={opts.annotations!r}: only format label_studio has "
                          "several annotations of one sentence to choose from")
    if cfg.format == "label_studio" and (opts.file_type != "auto" or not opts.header or opts.delimiter):
        raise ConfigError("data.format_options: a Label Studio export is JSON; of the reading options only "
                          "annotations (first | adjudicate) applies to it")
    if opts.delimiter is not None and len(opts.delimiter) != 1:
        raise ConfigError(f"data.format_options.delimiter={opts.delimiter!r} must be one character, e.g. ';' or '\\t'")
    try:
        codecs.lookup(opts.encoding)
    except LookupError as err:
        raise ConfigError(f"data.format_options.encoding={opts.encoding!r} is not a known text encoding "
                          "(e.g. utf-8, cp1252, latin-1)") from err
    if not opts.header and not opts.columns:
        raise ConfigError("data.format_options.header=false needs data.format_options.columns, the column names "
                          "in file order")
    if opts.header and opts.columns:
        raise ConfigError("data.format_options.columns names the columns of a header-less file; "
                          "set data.format_options.header=false too, or remove columns")


def _validate_splits(cfg: DataConfig) -> None:
    """Carving can happen as configured, and every evaluation split will exist afterwards."""
    produced = set(cfg.files)
    src = cfg.split.carve_from
    if src is not None and (cfg.split.validation > 0 or cfg.split.test > 0):
        check_shares(cfg.split.validation, cfg.split.test)
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
    cfg.check()  # the values config.py can judge alone: labels, split shares, max_train_rows
    unknown = sorted(set(cfg.label_map.values()) - set(cfg.labels))
    if unknown:
        raise ConfigError(
            f"data.label_map maps to {unknown}, which are not in data.labels {list(cfg.labels)}"
        )
    keys: dict[str, str] = {}
    for key, label in cfg.label_map.items():
        other = keys.setdefault(label_key(key), key)
        if other != key and cfg.label_map[other] != label:
            raise ConfigError(f"data.label_map: keys {other!r} and {key!r} are the same number but map to "
                              f"{cfg.label_map[other]!r} and {label!r}")
    _validate_fields(cfg)
    _validate_format_options(cfg)
    _validate_splits(cfg)


# ---------------------------------------------------------------- corpus


def header_problems(cfg: DataConfig, split: str) -> list[Problem]:
    """A table missing a needed column fails once, not once per row."""
    if cfg.format in ("hub", "label_studio"):
        return []
    path = source_file(cfg, split)
    if file_type(cfg, path) == "jsonl":
        return []
    header = table_header(cfg, path)
    needed = {"text": cfg.fields.text, "mention": cfg.fields.mention, "label": cfg.fields.label}
    return [
        Problem(path.name, 1, "header",
                f"missing column {column!r} (data.fields.{key}); the columns are {header}", "missing column")
        for key, column in needed.items() if column not in header
    ]


def check_duplicates(sentences: list[Sentence]) -> list[Problem]:
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
            file, line = split_source(t.source)
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


def check_cross_split(
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
            prev = first_split.setdefault(norm_text(s.text), (name, s.source))
            if prev[0] != name and not (prev[0] in eval_splits and name in eval_splits):
                file, line = split_source(s.source)
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
