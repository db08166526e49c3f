"""``stance-prepare --inspect``: what a data config reads, shown before anything is trained or written.

Runs the same reader, parser and checks as preparation (:func:`stance.data.corpus.read_corpus`), so
what it shows is what ``prepare`` would see: rows per split, the raw label values and what
``data.label_map`` makes of them, targets with and without spans, a few parsed examples, and every
problem. It writes nothing: no prepared folder, no cache.
"""

from __future__ import annotations

from collections import Counter

from stance.config import DataConfig
from stance.data.checks import validate_config
from stance.data.corpus import read_corpus
from stance.data.label_studio import export_report, summary
from stance.data.parse import RowParser
from stance.data.readers import file_type, source_file
from stance.data.records import Problem, Sentence

N_EXAMPLES = 3  # parsed sentences shown per split


def _how_read(cfg: DataConfig, split: str) -> str:
    if cfg.format == "hub":
        return f"{cfg.path} [{cfg.files[split]}] (Hub dataset)"
    path = source_file(cfg, split)
    opts = cfg.format_options
    if cfg.format == "label_studio":
        return f"{path} (Label Studio JSON export, {opts.encoding}; several annotations: {opts.annotations})"
    kind = file_type(cfg, path)
    header = "" if kind == "jsonl" else (", header row" if opts.header else f", no header: columns {opts.columns}")
    delimiter = f", delimiter {opts.delimiter!r}" if opts.delimiter and kind != "jsonl" else ""
    return f"{path} ({kind}, {opts.encoding}{delimiter}{header})"


def _example(s: Sentence) -> str:
    targets = "; ".join(
        f"{t.mention!r} " + (f"[{t.start},{t.end})" if t.start >= 0 else "(topic)") + f" -> {t.label}"
        for t in s.targets
    )
    return f"    {s.source}: {s.text[:100]!r}{'...' if len(s.text) > 100 else ''}  targets: {targets}"


def _split_lines(cfg: DataConfig, split: str, rows: list[Sentence], parser: RowParser) -> list[str]:
    targets = [t for s in rows for t in s.targets]
    topics = sum(1 for t in targets if t.start < 0)
    labels = Counter(t.label for t in targets)
    file = cfg.files[split] if cfg.format != "hub" else f"{cfg.path}[{cfg.files[split]}]"
    read = parser.rows_read.get(file, parser.rows_read.get(str(file).rsplit("/", 1)[-1], 0))
    return [
        f"split {split}: {_how_read(cfg, split)}",
        f"  {read} rows read -> {len(rows)} sentences, {len(targets)} targets "
        f"({len(targets) - topics} with a span, {topics} topics without one)",
        "  labels after data.label_map: " + (", ".join(f"{k} {labels[k]}" for k in cfg.labels if labels[k]) or "none"),
        "  examples:", *(_example(s) for s in rows[:N_EXAMPLES]),
    ]


def inspect_corpus(cfg: DataConfig) -> tuple[str, list[Problem]]:
    """A readable account of what ``cfg`` reads, and the problems found; nothing is written."""
    validate_config(cfg)
    parser = RowParser(cfg)
    splits, problems = read_corpus(cfg, parser)
    lines = [f"data={cfg.name} (format {cfg.format}): what this config reads; nothing is written"]
    for split, rows in splits.items():
        lines += _split_lines(cfg, split, rows, parser)
    mapped = [f"{raw!r} {n} -> {parser.map_label(raw)}" + ("" if parser.map_label(raw) in cfg.labels else " (unknown)")
              for raw, n in sorted(parser.raw_labels.items())]
    lines.append("label values in the files, before data.label_map: " + (", ".join(mapped) or "none"))
    if cfg.format == "label_studio":
        lines.append(summary(export_report(cfg)))
    if cfg.split.carve_from and (cfg.split.validation > 0 or cfg.split.test > 0):
        lines.append(f"split.carve_from={cfg.split.carve_from}: validation {cfg.split.validation}, "
                     f"test {cfg.split.test} of its sentences are carved off by document (seed {cfg.split.seed})")
    if problems:
        kinds = Counter(p.kind for p in problems)
        action = "dropped (data.drop_invalid=true)" if cfg.drop_invalid else "fatal (data.drop_invalid=false)"
        lines.append(f"{len(problems)} problem(s), {action}: "
                     + ", ".join(f"{n} {kind}" for kind, n in kinds.most_common()))
        lines += [f"  {p}" for p in problems]
    else:
        lines.append("no problems")
    return "\n".join(lines), problems
