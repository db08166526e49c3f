#!/usr/bin/env python
"""Build the bundled world-affairs stance dataset from its annotated articles.

Source: ``src/stance/datasets/world_affairs/articles/*.txt``.  Each file is one
article: ``key: value`` header lines, a ``---`` line, then one sentence per line.
Every actor mention is written inline as ``[mention|label]`` or
``[mention|label|Canonical Actor]``; the canonical actor defaults to the alias
table's entry for the mention.

Spans are computed here rather than typed by hand, so they cannot drift from the
text.  The build also fails when an alias from the table occurs in a sentence
without annotation, which keeps the data consistent with what the inference
script will find.

Output: ``train.jsonl``, ``validation.jsonl`` and ``test.jsonl`` in the span
format that ``stance-prepare`` reads (``configs/data/world_affairs.yaml``).
Articles are split by a stable hash of their id (25% test, 15% validation),
computed over the articles that do not pin their split.  A header line
``split: train`` or ``split: validation`` pins an article to that split and
keeps it out of the hash order, so articles added later never move an older
article between splits (in particular, never into or out of ``test``).

Hard test split: ``articles_hard/*.txt`` (ids ``wh-NNN``), written apart from the
training articles by a writer who saw only the annotation guide, in the style
of agency copy.  All of them go to ``test_hard.jsonl`` (no hash split); the
alias check and the markup rules are the same.  The second hard split,
``articles_hard2/*.txt`` (ids ``wx-NNN``, issue 23), goes to ``test_hard2.jsonl``:
explainers and analysis by another writer who saw no other article, with every
actor mention marked, including those the alias table cannot find.

    python scripts/build_world_affairs.py          # rebuild the JSONL files
    python scripts/build_world_affairs.py --check  # fail if they are stale
    python scripts/build_world_affairs.py --lint drafts/*.txt  # check draft articles anywhere, write nothing
    python scripts/build_world_affairs.py --lint drafts/*.txt --aliases drafts/aliases.yaml
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import shutil
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from stance.predict.mentions import (  # noqa: E402
    Actor,
    ActorMatcher,
    AliasTableError,
    bundled_table_dir,
    load_alias_table,
)

DATA_DIR = ROOT / "src" / "stance" / "datasets" / "world_affairs"
LABELS = ("favor", "against", "neutral")
MARKUP = re.compile(r"\[([^\[\]|]+)\|([^\[\]|]+)(?:\|([^\[\]|]+))?\]")
TEST_SHARE, VALIDATION_SHARE = 0.25, 0.15
# Splits an article may pin in its header; ``test`` is not among them, so the
# test split stays exactly the hash-assigned articles.
PINNABLE_SPLITS = ("train", "validation")


class ArticleError(ValueError):
    pass


@dataclass
class Article:
    doc_id: str
    header: dict[str, str]
    rows: list[dict] = field(default_factory=list)


def parse_sentence(line: str, where: str, matcher: ActorMatcher) -> tuple[str, list[dict]]:
    """Strip the markup from one sentence and return its text and targets."""
    text, targets, pos = [], [], 0
    length = 0
    for match in MARKUP.finditer(line):
        before = line[pos : match.start()]
        text.append(before)
        length += len(before)
        mention, label, actor = (g.strip() if g else g for g in match.groups())
        if label not in LABELS:
            raise ArticleError(f"{where}: unknown label {label!r} for {mention!r}; use one of {LABELS}")
        actor = actor or matcher.resolve(mention)
        if actor is None:
            raise ArticleError(f"{where}: {mention!r} is not in the alias table; write [{mention}|{label}|Actor]")
        end = length + len(mention)
        targets.append({"from": length, "to": end, "mention": mention, "actor": actor, "label": label})
        text.append(mention)
        length += len(mention)
        pos = match.end()
    text.append(line[pos:])
    sentence = "".join(text)
    if "[" in sentence or "]" in sentence or "|" in sentence:
        raise ArticleError(f"{where}: unbalanced markup in {line!r}")
    _check_unannotated(sentence, targets, where, matcher)
    return sentence, targets


def _check_unannotated(sentence: str, targets: list[dict], where: str, matcher: ActorMatcher) -> None:
    covered = [(t["from"], t["to"]) for t in targets]
    for m in matcher.find(sentence):
        if not any(a <= m.start and m.end <= b for a, b in covered):
            raise ArticleError(f"{where}: alias {m.mention!r} ({m.actor}) at {m.start} is not annotated")


def read_article(path: Path, matcher: ActorMatcher) -> tuple[dict[str, str], list[tuple[str, list[dict]]]]:
    """An article's header and every sentence line, with or without actors, as (text, targets).

    ``benchmarks/end_to_end.py`` rebuilds the raw article text from these, so
    it needs the sentences without actors too; :func:`parse_article` keeps only
    the sentences with pairs.
    """
    lines = path.read_text(encoding="utf-8").splitlines()
    if "---" not in lines:
        raise ArticleError(f"{path}: missing '---' line between header and sentences")
    cut = lines.index("---")
    header = {}
    for n, line in enumerate(lines[:cut], 1):
        if line.strip():
            key, sep, value = line.partition(":")
            if not sep:
                raise ArticleError(f"{path}:{n}: header line must be 'key: value'")
            header[key.strip()] = value.strip()
    if "split" in header and header["split"] not in PINNABLE_SPLITS:
        n = next(i for i, line in enumerate(lines[:cut], 1) if line.partition(":")[0].strip() == "split")
        raise ArticleError(f"{path}:{n}: header 'split' is {header['split']!r}; use one of {PINNABLE_SPLITS}")
    sentences = [parse_sentence(line.strip(), f"{path.name}:{n}", matcher)
                 for n, line in enumerate(lines[cut + 1 :], cut + 2) if line.strip()]
    return header, sentences


def parse_article(path: Path, matcher: ActorMatcher) -> Article:
    header, sentences = read_article(path, matcher)
    doc_id = header.get("id") or path.stem
    article = Article(doc_id=doc_id, header=header)
    for sentence, targets in sentences:
        if not targets:
            continue  # sentences without actors carry no pairs
        idx = len(article.rows)
        for t_idx, target in enumerate(targets):
            target["id"] = f"{doc_id}-s{idx:02d}-t{t_idx}"
        article.rows.append({"id": f"{doc_id}-s{idx:02d}", "doc_id": doc_id, "sentence": sentence, "targets": targets})
    return article


def assign_split(doc_ids: list[str], pinned: dict[str, str] | None = None) -> dict[str, str]:
    """Hash-split the unpinned ids; pinned ids keep their split and do not shift the others."""
    pinned = pinned or {}
    doc_ids = [d for d in doc_ids if d not in pinned]
    order = sorted(doc_ids, key=lambda d: hashlib.sha256(d.encode()).hexdigest())
    n_test = round(len(order) * TEST_SHARE)
    n_val = round(len(order) * VALIDATION_SHARE)
    split = {}
    for i, doc in enumerate(order):
        split[doc] = "test" if i < n_test else "validation" if i < n_test + n_val else "train"
    return {**split, **pinned}


def build(data_dir: Path) -> dict[str, str]:
    matcher = ActorMatcher(load_alias_table())
    articles = [parse_article(p, matcher) for p in sorted((data_dir / "articles").glob("*.txt"))]
    hard = [parse_article(p, matcher) for p in sorted((data_dir / "articles_hard").glob("*.txt"))]
    hard2 = [parse_article(p, matcher) for p in sorted((data_dir / "articles_hard2").glob("*.txt"))]
    # Ids must be unique across the folders: row ids derive from them, and the
    # hard splits must share no article with the others.
    ids = Counter(a.doc_id for a in articles + hard + hard2)
    dupes = [d for d, c in ids.items() if c > 1]
    if dupes:
        raise ArticleError(f"duplicate article ids: {dupes}")
    pinned = {a.doc_id: a.header["split"] for a in articles if "split" in a.header}
    split = assign_split([a.doc_id for a in articles], pinned)
    split.update({a.doc_id: "test_hard" for a in hard})
    split.update({a.doc_id: "test_hard2" for a in hard2})
    out: dict[str, list[str]] = {"train": [], "validation": [], "test": [], "test_hard": [], "test_hard2": []}
    for article in articles + hard + hard2:
        out[split[article.doc_id]] += [json.dumps(r, ensure_ascii=False) for r in article.rows]
    return {name: "".join(line + "\n" for line in lines) for name, lines in out.items()}


def stats(files: dict[str, str]) -> str:
    rows = [json.loads(line) for text in files.values() for line in text.splitlines()]
    labels = Counter(t["label"] for r in rows for t in r["targets"])
    pairs = sum(labels.values())
    multi = sum(1 for r in rows if len(r["targets"]) >= 2)
    actors = {t["actor"] for r in rows for t in r["targets"]}
    docs = {r["doc_id"] for r in rows}
    share = ", ".join(f"{k} {v} ({v / max(pairs, 1):.0%})" for k, v in sorted(labels.items()))
    per_split = ", ".join(f"{k} {sum(len(json.loads(x)['targets']) for x in v.splitlines())}" for k, v in files.items())
    return (
        f"{len(docs)} articles, {len(rows)} sentences, {pairs} pairs ({per_split}); {share}; "
        f"{multi / max(len(rows), 1):.0%} of sentences with 2+ actors; {len(actors)} actors"
    )


def _draft_table(extra: Path | None) -> tuple[list, list]:
    """The bundled alias table plus a writer's draft file, and the draft's own actors (for the clash check)."""
    if extra is None:
        return load_alias_table(), []
    with tempfile.TemporaryDirectory() as tmp:
        for file in bundled_table_dir().glob("*.yaml"):
            shutil.copy(file, tmp)
        draft = Path(tmp) / "zz_draft.yaml"
        shutil.copy(extra, draft)
        try:
            merged, bundled = load_alias_table(tmp), load_alias_table()
        except AliasTableError as err:  # name the writer's file, not the temporary copy
            raise AliasTableError(str(err).replace(str(draft), str(extra)).replace(tmp + "/", "")) from err
    # Only the aliases the draft adds can clash with shipped articles: an entry that names a known actor
    # (to add its leader, say) repeats that actor's name, which the shipped articles rightly use.
    known = {alias.lower() for actor in bundled for alias in actor.aliases}
    new = [Actor(a.name, a.kind, tuple(x for x in a.aliases if x.lower() not in known), a.ignore_case)
           for a in merged]
    return merged, [a for a in new if a.aliases]


def _clashes(draft_actors: list) -> list[str]:
    """Shipped articles where a draft alias occurs: the build would call it unannotated (ids only, no text)."""
    if not draft_actors:
        return []
    finder = ActorMatcher(draft_actors)
    hits = []
    for path in sorted(DATA_DIR.glob("articles*/*.txt")):
        found = {m.mention for m in finder.find(path.read_text(encoding="utf-8"))}
        hits += [f"{path.stem}: {alias!r}" for alias in sorted(found)]
    return hits


def lint(paths: list[Path], extra: Path | None = None) -> int:
    """Check draft articles outside the dataset folder, so writers can work apart; every error is listed."""
    try:
        table, draft = _draft_table(extra)
    except (AliasTableError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    clashes = _clashes(draft)
    for hit in clashes:
        print(f"error: draft alias occurs in a shipped article (choose a longer alias): {hit}", file=sys.stderr)
    matcher = ActorMatcher(table)
    errors, labels = len(clashes), Counter()
    for path in paths:
        try:
            article = parse_article(path, matcher)
        except (ArticleError, OSError) as err:
            print(f"error: {err}", file=sys.stderr)
            errors += 1
            continue
        labels.update(t["label"] for row in article.rows for t in row["targets"])
    print(f"{len(paths)} file(s), {errors} with errors; {sum(labels.values())} pairs: {dict(labels)}")
    return 1 if errors else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the JSONL files are out of date")
    parser.add_argument("--lint", nargs="+", type=Path, metavar="ARTICLE",
                        help="check these article files (markup, labels, alias coverage) and count their pairs")
    parser.add_argument("--aliases", type=Path, help="with --lint: a draft alias file added to the bundled table")
    args = parser.parse_args()
    if args.lint:
        return lint(args.lint, args.aliases)
    try:
        files = build(DATA_DIR)
    except ArticleError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    stale = [n for n, text in files.items() if not (DATA_DIR / f"{n}.jsonl").exists()
             or (DATA_DIR / f"{n}.jsonl").read_text(encoding="utf-8") != text]
    if args.check:
        if stale:
            print(f"error: stale files {stale}; run scripts/build_world_affairs.py", file=sys.stderr)
            return 1
    else:
        for name, text in files.items():
            (DATA_DIR / f"{name}.jsonl").write_text(text, encoding="utf-8")
    print(stats(files))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
