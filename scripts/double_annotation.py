#!/usr/bin/env python
"""Double annotation of the world-affairs articles: a blind sample for a second annotator, and agreement.

``sample`` draws a seeded share of the sentences of some article files and
writes them with their actor mentions numbered but unlabelled, so a second
annotator labels them from the guide alone. ``score`` compares those labels
with the articles' gold: agreement, Cohen's kappa, macro-F1 of the second
annotator against the gold, and every disagreement.

    python scripts/double_annotation.py sample ARTICLES... --share 0.1 --out key.jsonl --blind blind.tsv
    python scripts/double_annotation.py score key.jsonl labels.tsv [--json out.json]

``key.jsonl`` holds the sample with its gold labels and stays with whoever
scores; ``blind.tsv`` (``sentence_id<TAB>sentence with numbered mentions``) is
all the second annotator sees.

The labels file has one line per mention: ``sentence_id<TAB>mention_number<TAB>label``.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from build_world_affairs import LABELS, ArticleError, _draft_table, parse_article  # noqa: E402
from stance.predict.mentions import ActorMatcher  # noqa: E402


def blind(row: dict) -> str:
    """The sentence with each mention wrapped as ⟦n mention⟧, numbered from 1 in text order."""
    text, out, pos = row["sentence"], [], 0
    for n, t in enumerate(row["targets"], 1):
        out += [text[pos : t["from"]], f"⟦{n} {text[t['from'] : t['to']]}⟧"]
        pos = t["to"]
    return "".join(out + [text[pos:]])


def sample(paths: list[Path], share: float, seed: int, aliases: Path | None) -> list[dict]:
    matcher = ActorMatcher(_draft_table(aliases)[0])
    rows = [row for path in sorted(paths) for row in parse_article(path, matcher).rows]
    k = max(1, round(len(rows) * share))
    picked = sorted(random.Random(seed).sample(range(len(rows)), k))
    return [{"id": rows[i]["id"], "blind": blind(rows[i]),
             "mentions": [t["mention"] for t in rows[i]["targets"]],
             "gold": [t["label"] for t in rows[i]["targets"]]} for i in picked]


def read_labels(path: Path) -> dict[tuple[str, int], str]:
    labels = {}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split("\t")
        if len(parts) != 3 or parts[2].strip() not in LABELS or not parts[1].strip().isdigit():
            raise ArticleError(f"{path}:{n}: expected 'sentence_id<TAB>mention_number<TAB>label', got {line!r}")
        labels[(parts[0].strip(), int(parts[1]))] = parts[2].strip()
    return labels


def kappa(a: list[str], b: list[str]) -> float:
    n = len(a)
    observed = sum(x == y for x, y in zip(a, b, strict=True)) / n
    ca, cb = Counter(a), Counter(b)
    expected = sum(ca[label] * cb[label] for label in LABELS) / n**2
    return (observed - expected) / (1 - expected) if expected < 1 else 1.0


def macro_f1(gold: list[str], pred: list[str]) -> float:
    scores = []
    for label in LABELS:
        tp = sum(g == p == label for g, p in zip(gold, pred, strict=True))
        fp = sum(p == label != g for g, p in zip(gold, pred, strict=True))
        fn = sum(g == label != p for g, p in zip(gold, pred, strict=True))
        scores.append(2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 1.0)
    return sum(scores) / len(scores)


def score(blind_rows: list[dict], labels: dict[tuple[str, int], str]) -> dict:
    gold, second, disagreements, missing = [], [], [], 0
    for row in blind_rows:
        for n, (mention, g) in enumerate(zip(row["mentions"], row["gold"], strict=True), 1):
            s = labels.get((row["id"], n))
            if s is None:
                missing += 1
                continue
            gold.append(g)
            second.append(s)
            if s != g:
                disagreements.append({"id": row["id"], "mention": n, "text": mention, "gold": g, "second": s})
    if not gold:
        raise ArticleError("no labelled mention matches the sample")
    flips = sum(1 for d in disagreements if {d["gold"], d["second"]} == {"favor", "against"})
    return {"sentences": len(blind_rows), "pairs": len(gold), "unlabelled": missing,
            "agreement": sum(g == s for g, s in zip(gold, second, strict=True)) / len(gold),
            "kappa": kappa(gold, second), "macro_f1": macro_f1(gold, second), "favor_against_flips": flips,
            "disagreements": disagreements}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("sample")
    s.add_argument("articles", nargs="+", type=Path)
    s.add_argument("--share", type=float, default=0.1)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--aliases", type=Path, help="a draft alias file the articles need")
    s.add_argument("--out", type=Path, required=True, help="the key: the sample with its gold labels")
    s.add_argument("--blind", type=Path, required=True, help="what the second annotator sees")
    c = sub.add_parser("score")
    c.add_argument("blind", type=Path)
    c.add_argument("labels", type=Path)
    c.add_argument("--json", type=Path, help="write the result here too")
    args = p.parse_args()
    try:
        if args.cmd == "sample":
            rows = sample(args.articles, args.share, args.seed, args.aliases)
            args.out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
            args.blind.write_text("".join(f"{r['id']}\t{r['blind']}\n" for r in rows), encoding="utf-8")
            print(f"{len(rows)} sentences, {sum(len(r['mentions']) for r in rows)} pairs -> {args.out}")
            return 0
        rows = [json.loads(line) for line in args.blind.read_text(encoding="utf-8").splitlines()]
        result = score(rows, read_labels(args.labels))
    except (ArticleError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"{result['pairs']} pairs in {result['sentences']} sentences ({result['unlabelled']} unlabelled): "
          f"agreement {result['agreement']:.3f}, kappa {result['kappa']:.3f}, macro-F1 {result['macro_f1']:.3f}, "
          f"favor/against flips {result['favor_against_flips']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
