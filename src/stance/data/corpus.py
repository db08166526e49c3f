"""The corpus in memory: read, check, drop, carve and subset every split.

Nothing here writes to disk; :mod:`stance.data.prepared` writes what
:func:`build_splits` returns. Problems are sorted by source file (in
``data.files`` order) and line, so an error message reads top to bottom.
"""

from __future__ import annotations

from collections import Counter

from stance.config import DataConfig
from stance.data.checks import check_cross_split, check_duplicates, header_problems
from stance.data.label_studio import read_export
from stance.data.parse import RowParser, merge_table_rows
from stance.data.readers import read_rows
from stance.data.records import Problem, Sentence, is_flat
from stance.data.splits import carve_splits, subset, subset_documents
from stance.errors import DataError

MAX_SHOWN = 200  # problems listed in an error message
EXAMPLES_PER_REASON = 3  # rows shown for each reason when dropping left a split empty (and in the manifest)


def reason_examples(problems: list[Problem], n: int = EXAMPLES_PER_REASON) -> dict[str, list[str]]:
    """The first ``n`` problems of each rule (``kind``), most frequent rule first."""
    kinds = Counter(p.kind for p in problems)
    return {kind: [str(p) for p in problems if p.kind == kind][:n] for kind, _ in kinds.most_common()}


def _empty_report(cfg: DataConfig, empty: list[str], problems: list[Problem]) -> str:
    """Why dropping left a split empty: counts by rule and the first rows of each, so no rerun is needed."""
    kinds = Counter(p.kind for p in problems)
    rows = len({(p.file, p.line) for p in problems})
    lines = [f"data.files: split(s) {empty} of data={cfg.name} have no rows after dropping {rows} invalid row(s) "
             f"({', '.join(f'{n} {kind}' for kind, n in kinds.most_common())}):"]
    for kind, shown in reason_examples(problems).items():
        more = kinds[kind] - len(shown)
        lines.append(f"  {kind} ({kinds[kind]}):")
        lines += [f"    {msg}" for msg in shown]
        if more:
            lines.append(f"    ... and {more} more")
    return "\n".join(lines)


def read_corpus(cfg: DataConfig, parser: RowParser | None = None) -> tuple[dict[str, list[Sentence]], list[Problem]]:
    """Parse and check every source split; returns the splits and all problems.
    Pass a ``parser`` to read what it counted afterwards (raw labels, rows read)."""
    parser = parser or RowParser(cfg)
    splits: dict[str, list[Sentence]] = {}
    problems: list[Problem] = []
    for split in cfg.files:
        header = header_problems(cfg, split)
        if header:
            problems += header
            splits[split] = []
            continue
        if cfg.format == "label_studio":  # a JSON list of tasks, each with its annotations
            sentences, _ = read_export(cfg, split, parser)
        else:
            sentences = [s for row in read_rows(cfg, split) if (s := parser.parse(row)) is not None]
        if is_flat(cfg):
            sentences = merge_table_rows(sentences)
        problems += check_duplicates(sentences)
        splits[split] = sentences
    problems = parser.problems + problems + check_cross_split(splits, cfg.eval_splits, cfg.fields.text)
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
    """One error for the whole corpus: a count per rule, then the first MAX_SHOWN problems."""
    kinds = Counter(p.kind for p in problems)
    summary = ", ".join(f"{n} {kind}" for kind, n in kinds.most_common())
    rows = len({(p.file, p.line) for p in problems})
    shown = "\n".join(f"  {p}" for p in problems[:MAX_SHOWN])
    more = f"\n  ... and {len(problems) - MAX_SHOWN} more" if len(problems) > MAX_SHOWN else ""
    return (
        f"{len(problems)} problem(s) in {rows} row(s) of data={cfg.name} ({summary}); nothing was written "
        f"(set data.drop_invalid=true to drop them instead):\n{shown}{more}"
    )


def build_splits(cfg: DataConfig) -> tuple[dict[str, list[Sentence]], list[Problem]]:
    """Read, check, drop (if allowed), carve and subset; nothing is written."""
    splits, problems = read_corpus(cfg)
    if problems and not cfg.drop_invalid:
        raise DataError(_problem_report(cfg, problems))
    splits = _drop_bad(splits, problems)
    empty = [name for name, rows in splits.items() if not rows]
    if empty and problems:
        raise DataError(_empty_report(cfg, empty, problems))
    if empty:
        raise DataError(f"data.files: split(s) {empty} of data={cfg.name} have no rows")
    src = cfg.split.carve_from
    if src is not None and (cfg.split.validation > 0 or cfg.split.test > 0):
        carved = carve_splits(splits.pop(src), cfg.split.validation, cfg.split.test, cfg.split.seed)
        splits = {**carved, **splits}
    if "train" in splits:
        kept = subset_documents(splits["train"], cfg.train_documents, cfg.split.seed)
        splits["train"] = subset(kept, cfg.max_train_rows, cfg.split.seed)
    return splits, problems
