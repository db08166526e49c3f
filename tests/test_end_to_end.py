"""benchmarks/end_to_end.py: gold from article markup, the product's rows on raw text, detection and label scores.

Two hand-made articles and a small alias table of our own, so every count below
is worked out by hand: the table misses "Geneva" and "Kyiv", finds "Summit"
(no gold mention), finds "Lavrov" inside the gold "Sergei Lavrov" (an overlap,
not an exact span) and links "Moscow" to an actor other than the gold's Russia.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from functools import cache
from pathlib import Path

import pytest
from sklearn.metrics import f1_score

from stance.predict import StancePredictor

ROOT = Path(__file__).resolve().parents[1]

ARTICLE_A = """id: a1
title: hand-made
---
[Russia|against] rejected the plan, and Foreign Minister [Sergei Lavrov|against] called it a trap.
The Summit in [Geneva|neutral|Switzerland] ended without a deal.
Officials in [Moscow|neutral] said [Ukraine|favor] had been told.
"""
ARTICLE_B = """id: a2
---
Nothing happened on Monday.
[Kyiv|favor] thanked [Poland|favor] for its help.
"""
TABLE = """Russia: {type: country, aliases: [Russia, Lavrov]}
Moscow City: {type: city, aliases: [Moscow]}
Ukraine: {type: country, aliases: [Ukraine]}
Summit: {type: event, aliases: [Summit]}
Poland: {type: country, aliases: [Poland]}
"""


@cache
def bench():
    spec = importlib.util.spec_from_file_location("end_to_end", ROOT / "benchmarks" / "end_to_end.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file loads
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def articles(tmp_path) -> Path:
    folder = tmp_path / "articles"
    folder.mkdir()
    (folder / "a1.txt").write_text(ARTICLE_A, encoding="utf-8")
    (folder / "a2.txt").write_text(ARTICLE_B, encoding="utf-8")
    (tmp_path / "table.yaml").write_text(TABLE, encoding="utf-8")
    return folder


def test_raw_text_and_gold_spans(articles):
    texts, gold = bench().read_gold(articles)
    assert texts["a2"] == "Nothing happened on Monday. Kyiv thanked Poland for its help."
    assert texts["a1"].startswith("Russia rejected the plan, and Foreign Minister Sergei Lavrov called it a trap. The")
    assert [(g.doc, g.mention, g.actor, g.label) for g in gold] == [
        ("a1", "Russia", "Russia", "against"), ("a1", "Sergei Lavrov", "Russia", "against"),
        ("a1", "Geneva", "Switzerland", "neutral"), ("a1", "Moscow", "Russia", "neutral"),
        ("a1", "Ukraine", "Ukraine", "favor"), ("a2", "Kyiv", "Ukraine", "favor"), ("a2", "Poland", "Poland", "favor")]
    assert all(texts[g.doc][g.start:g.end] == g.mention for g in gold)
    paragraphs, _ = bench().read_gold(articles, per_paragraph=1)
    assert paragraphs["a2"] == "Nothing happened on Monday.\n\nKyiv thanked Poland for its help."


@pytest.mark.parametrize("per_paragraph", [0, 1])
def test_detection_and_label_scores_on_a_tiny_version(tiny_version, articles, per_paragraph):
    b = bench()
    predictor = StancePredictor.load(tiny_version, backend="onnx", threads=1,
                                     alias_table=str(articles.parent / "table.yaml"))
    texts, gold = b.read_gold(articles, per_paragraph)
    predicted = b.predict(texts, predictor)
    assert [p.mention for p in predicted] == ["Russia", "Lavrov", "Summit", "Moscow", "Ukraine", "Poland"]
    r = b.score(gold, predicted, list(predictor.labels.names))
    assert r == b.run(articles, predictor, per_paragraph)
    assert (r["gold"], r["predicted"], r["found"], r["exact"], r["missed"], r["spurious"]) == (7, 6, 5, 4, 2, 1)
    assert (r["recall"], r["precision"], r["linking_accuracy"]) == (5 / 7, 5 / 6, 4 / 5)
    assert r["top_missed"] == [("Geneva", 1), ("Kyiv", 1)] and r["top_spurious"] == [("Summit", 1)]
    assert r["inexact"] == [("Sergei Lavrov ~ Lavrov", 1)]
    assert r["mislinked"] == [("Moscow -> Moscow City (gold Russia)", 1)]

    # The label scores, checked against scikit-learn on the pairs worked out by hand.
    label = {p.mention: p.label for p in predicted}
    found_gold = ["against", "against", "neutral", "favor", "favor"]
    found_pred = [label[m] for m in ("Russia", "Lavrov", "Moscow", "Ukraine", "Poland")]
    three = ["favor", "against", "neutral"]
    assert r["found_labels"]["macro_f1"] == pytest.approx(
        f1_score(found_gold, found_pred, labels=three, average="macro", zero_division=0))
    e2e_gold = [*found_gold, "neutral", "favor", "none"]  # missed Geneva and Kyiv, spurious Summit
    e2e_pred = [*found_pred, "none", "none", label["Summit"]]
    assert r["end_to_end"]["macro_f1"] == pytest.approx(
        f1_score(e2e_gold, e2e_pred, labels=three, average="macro", zero_division=0))
    matrix = r["end_to_end"]["confusion_matrix"]
    assert r["end_to_end"]["labels"] == [*three, "none"]
    assert [row[3] for row in matrix] == [1, 0, 1, 0]  # missed: Kyiv (favor), Geneva (neutral)
    assert sum(matrix[3]) == 1 and sum(map(sum, matrix)) == 8


def test_the_command_writes_both_reports_and_refuses_bad_input(tiny_version, articles, tmp_path, capsys):
    b = bench()
    report, out = tmp_path / "e2e.md", tmp_path / "e2e.json"
    table = str(articles.parent / "table.yaml")
    assert b.main(["--articles", str(articles), "--version", str(tiny_version), "--threads", "1",
                   "--alias-table", table, "--alias-table", "bundled", "--backend", "onnx", "--backend", "torch",
                   "--report", str(report), "--json", str(out)]) == 0
    results = json.loads(out.read_text())["results"]
    assert list(results) == [f"{table}, onnx", "bundled, onnx", f"{table}, torch", "bundled, torch"]
    assert [r["found"] for r in results.values()] == [5, 6, 5, 6]  # Geneva is in no table
    assert "| 7 | 5 (4) | 2 | 1 | 71.4% | 83.3% | 80.0% |" in report.read_text()

    (articles / "a3.txt").write_text("id: a3\n---\n[Russia|angry] spoke.\n", encoding="utf-8")
    assert b.main(["--articles", str(articles), "--version", str(tiny_version), "--threads", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: a3.txt:3: unknown label 'angry' for 'Russia'; use one of ('favor', 'against', 'neutral')"]
