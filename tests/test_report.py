"""Issue 5: the evaluation report (report.md, metrics.json, pictures) and the version comparison.

Predictions files are built by hand here, in the format ``evaluate_split`` writes, so no model
runs; the end-to-end test through a tiny training run is marked slow.
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest

from stance.errors import DataError
from stance.evaluation.compare import build_comparison, write_comparison
from stance.evaluation.predictions import PREDICTIONS_JSONL, read_predictions
from stance.evaluation.render import CONFUSION_PNG, RELIABILITY_PNG, marked_sentence
from stance.evaluation.report import (
    METRICS_JSON,
    REPORT_MD,
    ReportSettings,
    version_name,
    write_report,
    write_split_report,
)

LABELS = ["favor", "against", "neutral"]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def row(sid, tid, actor, n_targets, gold, pred, probs, text=None):
    text = text or f"In sentence {sid} the speaker talks about {actor}."
    start = text.index(actor)
    return {"sentence_id": sid, "doc_id": f"doc-{sid}", "text": text, "target_id": tid, "mention": actor,
            "actor": actor, "start": start, "end": start + len(actor), "n_targets": n_targets, "gold": gold,
            "pred": pred, "probs": dict(zip(LABELS, probs, strict=True))}


# Eight pairs worked through by hand in the tests below (gold / pred / confidence):
#   1 s1 Chile   favor/favor .9      5 s3 Chile   against/against .5
#   2 s1 Peru    favor/favor .6      6 s4 Chile   against/neutral .6 (error)
#   3 s2 Chile   favor/against .7 (error)   7 s5 Bolivia neutral/neutral .6
#   4 s3 Peru    against/against .8  8 s6 Chile   neutral/favor .95 (error)
HAND = [
    row("s1", "t1", "Chile", 2, "favor", "favor", [0.9, 0.05, 0.05]),
    row("s1", "t2", "Peru", 2, "favor", "favor", [0.6, 0.3, 0.1]),
    row("s2", "t1", "Chile", 1, "favor", "against", [0.2, 0.7, 0.1]),
    row("s3", "t1", "Peru", 2, "against", "against", [0.1, 0.8, 0.1]),
    row("s3", "t2", "Chile", 2, "against", "against", [0.3, 0.5, 0.2]),
    row("s4", "t1", "Chile", 1, "against", "neutral", [0.1, 0.3, 0.6]),
    row("s5", "t1", "Bolivia", 1, "neutral", "neutral", [0.2, 0.2, 0.6]),
    row("s6", "t1", "Chile", 1, "neutral", "favor", [0.95, 0.03, 0.02]),
]
SETTINGS = ReportSettings(top_actors=2, n_bins=5, n_resamples=200)
ACTORS = ["Chile", "Peru", "Bolivia", "Kenya", "Japan", "Canada"]


def synthetic_rows(n_sentences: int, accuracy: float, seed: int) -> list[dict]:
    """A model that is right with probability ``accuracy``, confident when right (our own sentences)."""
    rng = random.Random(seed)
    rows = []
    for i in range(n_sentences):
        actors = rng.sample(ACTORS, rng.choice([1, 1, 2, 3]))
        text = f"Officials in story {i} discussed " + " and ".join(actors) + "."
        for j, actor in enumerate(actors):
            gold = rng.choice(LABELS)
            right = rng.random() < accuracy
            pred = gold if right else rng.choice([lab for lab in LABELS if lab != gold])
            top = rng.uniform(0.6, 0.95) if right else rng.uniform(0.4, 0.7)
            probs = [top if lab == pred else (1 - top) / 2 for lab in LABELS]
            rows.append(row(f"s{i}", f"t{j}", actor, len(actors), gold, pred, probs, text))
    return rows


def shuffled_predictions(rows: list[dict], seed: int) -> list[dict]:
    """A broken model: each pair gets another pair's prediction."""
    moved = [(r["pred"], r["probs"]) for r in rows]
    random.Random(seed).shuffle(moved)
    return [{**r, "pred": p, "probs": probs} for r, (p, probs) in zip(rows, moved, strict=True)]


def write_predictions(eval_dir: Path, split: str, rows: list[dict], data: str = "toy") -> Path:
    """A split folder as an evaluation leaves it: predictions.jsonl, and metrics.json naming the data."""
    folder = eval_dir / split
    folder.mkdir(parents=True, exist_ok=True)
    (folder / METRICS_JSON).write_text(json.dumps({"split": split, "data": data,
                                                   "data_fingerprint": "f00d", "metrics": {}}))
    path = folder / PREDICTIONS_JSONL
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture(scope="module")
def hand_report(tmp_path_factory):
    eval_dir = tmp_path_factory.mktemp("eval")
    write_predictions(eval_dir, "test", HAND)
    md = write_split_report(eval_dir, "test", "v0007", SETTINGS)
    return md.parent, json.loads((md.parent / METRICS_JSON).read_text())


def test_report_folder_holds_every_item(hand_report):
    folder, _ = hand_report
    assert folder.name == "test"
    assert {REPORT_MD, METRICS_JSON, CONFUSION_PNG, RELIABILITY_PNG} <= {p.name for p in folder.iterdir()}
    for png in (CONFUSION_PNG, RELIABILITY_PNG):
        data = (folder / png).read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 5000
    assert not [p for p in folder.iterdir() if p.name.startswith(".")], "no temp files left behind"


def test_metrics_json_holds_the_hand_computed_numbers(hand_report):
    _, r = hand_report
    assert (r["version"], r["data"], r["split"], r["data_fingerprint"]) == ("v0007", "toy", "test", "f00d")
    assert (r["n"], r["n_sentences"], r["labels"]) == (8, 6, LABELS)
    m = r["metrics"]
    assert m["macro_f1"] == pytest.approx(11 / 18) and m["accuracy"] == pytest.approx(5 / 8)
    assert m["macro_f1_polar"] == pytest.approx(2 / 3)
    assert m["confusion_matrix"] == [[2, 1, 0], [0, 2, 1], [1, 0, 1]]
    assert r["bootstrap"]["macro_f1"]["estimate"] == pytest.approx(11 / 18)
    assert r["bootstrap"]["n_units"] == 6 and r["bootstrap"]["n_resamples"] == 200  # sentences resampled
    # Confidence bins of width 0.2: (0.4, 0.6] .6 .5 .6 .6, 3 of 4 right: gap |0.75 - 0.575| = 0.175;
    # (0.6, 0.8] .7 .8, 1 right: 0.25; (0.8, 1] .9 .95, 1 right: 0.425.
    assert r["calibration"]["ece"] == pytest.approx((4 * 0.175 + 2 * 0.25 + 2 * 0.425) / 8)
    assert r["calibration"]["mce"] == pytest.approx(0.425)


def test_breakdowns_by_actor_and_target_count(hand_report):
    _, r = hand_report
    actors = {g["group"]: g for g in r["breakdowns"]["actor"]}
    assert list(actors) == ["Chile", "Peru"]  # the two most frequent
    # Chile: gold f f a a n, pred f a a n f -> favor F1 1/2, against 1/2, neutral 0.
    assert actors["Chile"]["n"] == 5 and actors["Chile"]["macro_f1"] == pytest.approx(1 / 3)
    assert actors["Chile"]["accuracy"] == pytest.approx(2 / 5)
    assert actors["Chile"]["support"] == {"favor": 2, "against": 2, "neutral": 1}
    # Peru has no neutral pair at all: neutral is left out instead of counting as 0.
    assert actors["Peru"]["macro_f1"] == 1.0 and actors["Peru"]["f1"]["neutral"] == 0.0
    groups = {g["group"]: g for g in r["breakdowns"]["targets"]}
    # One target: gold f a n n, pred a n n f -> F1 0, 0, 1/2.
    assert groups["one target"]["n"] == 4 and groups["one target"]["macro_f1"] == pytest.approx(1 / 6)
    assert groups["several targets"]["n"] == 4 and groups["several targets"]["macro_f1"] == 1.0
    assert groups["several targets"]["macro_f1_low"] == groups["several targets"]["macro_f1_high"] == 1.0


def test_most_confident_errors_come_first(hand_report):
    _, r = hand_report
    errors = r["confident_errors"]
    assert [(e["sentence_id"], e["gold"], e["pred"]) for e in errors] == [
        ("s6", "neutral", "favor"), ("s2", "favor", "against"), ("s4", "against", "neutral")]
    assert [e["confidence"] for e in errors] == [0.95, 0.7, 0.6]


def test_report_md_has_every_section_with_the_numbers(hand_report):
    folder, r = hand_report
    md = (folder / REPORT_MD).read_text()
    for heading in ("# Evaluation report: v0007 on toy / test", "## Summary", "## Per class",
                    "## Confusion matrix", "## Calibration", "## By actor (2 most frequent)",
                    "## Sentences with one target vs several", "## 3 most confident errors"):
        assert heading in md
    assert f"| macro-F1 | {11 / 18:.4f} | [{r['bootstrap']['macro_f1']['low']:.4f}, " in md
    assert f"| expected calibration error | {r['calibration']['ece']:.4f} |" in md
    assert "| **favor** | 2 | 1 | 0 |" in md
    assert f"![confusion matrix]({CONFUSION_PNG})" in md
    assert f"![reliability diagram]({RELIABILITY_PNG})" in md
    assert "| 1 | In sentence s6 the speaker talks about **Chile**. | Chile | neutral | favor | 0.950 |" in md


def test_at_most_twenty_errors_are_listed(tmp_path):
    rows = synthetic_rows(120, accuracy=0.5, seed=3)
    report = write_report(tmp_path, rows, {"split": "test"}, ReportSettings(n_resamples=50))
    errors = report["confident_errors"]
    assert len(errors) == 20 < sum(r["gold"] != r["pred"] for r in rows)
    confidences = [e["confidence"] for e in errors]
    assert confidences == sorted(confidences, reverse=True)
    wrong = [r["probs"][r["pred"]] for r in rows if r["gold"] != r["pred"]]
    assert confidences[0] == max(wrong) and confidences[-1] == sorted(wrong, reverse=True)[19]


def test_report_is_identical_when_rebuilt(tmp_path):
    rows = synthetic_rows(40, accuracy=0.7, seed=1)
    first = write_report(tmp_path / "a", rows, {"split": "test"}, ReportSettings(n_resamples=100, seed=4))
    second = write_report(tmp_path / "b", rows, {"split": "test"}, ReportSettings(n_resamples=100, seed=4))
    assert first == second
    assert (tmp_path / "a" / REPORT_MD).read_text() == (tmp_path / "b" / REPORT_MD).read_text()


def test_marked_sentence_bolds_the_mention_and_escapes_table_characters():
    error = {"text": "A | B said *so*\nabout Chile.", "start": 22, "end": 27}
    assert marked_sentence(error) == r"A \| B said \*so\* about **Chile**."


@pytest.mark.parametrize(("line", "field", "message"), [
    ('{"sentence_id": "s1"}', "target_id", "missing"),
    ("not json", "(row)", "not valid JSON"),
    (json.dumps({**HAND[0], "n_targets": "2"}), "n_targets", "must be int"),
    (json.dumps({**HAND[0], "gold": "pro"}), "gold", "unknown label 'pro'"),
    (json.dumps({**HAND[0], "probs": {"favor": 1.0, "neutral": 0.0, "against": 0.0}}), "probs",
     "in that order"),
])
def test_a_bad_predictions_row_is_named_by_file_line_and_field(tmp_path, line, field, message):
    path = tmp_path / "test" / PREDICTIONS_JSONL
    path.parent.mkdir()
    path.write_text(json.dumps(HAND[0]) + "\n" + line + "\n")
    with pytest.raises(DataError, match=rf"test/predictions.jsonl:2: {re.escape(field)}: .*{message}"):
        read_predictions(path)


def test_missing_predictions_are_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="no predictions file"):
        write_split_report(tmp_path, "test")


def test_report_can_be_rebuilt_elsewhere_from_the_command_line(tmp_path, capsys):
    from stance.evaluation.report import main

    eval_dir = tmp_path / "registry" / "v0004" / "evaluations" / "toy"
    write_predictions(eval_dir, "test", HAND)
    assert main([str(eval_dir), "test", "--out", str(tmp_path / "out"), "--top-actors", "1",
                 "--n-resamples", "50", "--unit", "pair"]) == 0
    r = json.loads((tmp_path / "out" / METRICS_JSON).read_text())
    assert r["version"] == "v0004" and [g["group"] for g in r["breakdowns"]["actor"]] == ["Chile"]
    assert r["bootstrap"]["n_units"] == 8
    # Nothing was written into the evaluation folder it read.
    assert sorted(p.name for p in (eval_dir / "test").iterdir()) == [METRICS_JSON, PREDICTIONS_JSONL]
    assert main([str(tmp_path), "nope", "--out", str(tmp_path / "o2")]) == 2
    assert "no predictions file" in capsys.readouterr().err


def test_version_name_of_a_staging_folder():
    assert version_name(Path("registry/.staging/v0003-abc_12")) == "v0003"
    assert version_name(Path("registry/v0012")) == "v0012"


# ---------------------------------------------------------------- comparison


def test_comparison_of_two_versions_on_the_same_pairs(tmp_path):
    base = synthetic_rows(60, accuracy=0.4, seed=5)
    better = [{**r, "pred": r["gold"], "probs": {lab: float(lab == r["gold"]) for lab in LABELS}}
              for r in base]
    rng = random.Random(0)
    rng.shuffle(better)  # order must not matter: pairs are matched by (sentence, target)
    meta = {"split": "test", "data": "toy", "version": "v0002", "baseline": "v0001"}
    md = write_comparison(tmp_path / "test", better, base, meta, ReportSettings(n_resamples=300))
    assert md.name == "compare-v0001.md"
    c = json.loads(md.with_suffix(".json").read_text())
    acc_base = sum(r["gold"] == r["pred"] for r in base) / len(base)
    assert c["accuracy"]["a"] == 1.0 and c["accuracy"]["b"] == pytest.approx(acc_base)
    assert c["accuracy"]["delta"] == pytest.approx(1 - acc_base)
    assert c["macro_f1"]["low"] > 0 and c["macro_f1"]["p_value"] < 0.05
    wrong = len(base) - round(acc_base * len(base))
    assert c["mcnemar"]["a_only_correct"] == wrong and c["mcnemar"]["b_only_correct"] == 0
    assert c["changed_predictions"] == wrong
    text = md.read_text()
    assert "# Comparison: v0002 vs v0001 on toy / test" in text and "**significant** at 0.05" in text
    assert "## McNemar's test" in text


def test_comparison_refuses_different_pairs_or_gold():
    rows = synthetic_rows(10, accuracy=0.5, seed=2)
    with pytest.raises(DataError, match="not scored on the same pairs"):
        build_comparison(rows, rows[1:], {"split": "test", "version": "v2", "baseline": "v1"})
    relabelled = [{**rows[0], "gold": "favor" if rows[0]["gold"] != "favor" else "against"}, *rows[1:]]
    with pytest.raises(DataError, match="gold label of pair"):
        build_comparison(rows, relabelled, {"split": "test", "version": "v2", "baseline": "v1"})


# ---------------------------------------------------------------- end to end (slow)


@pytest.mark.slow
def test_training_and_stance_evaluate_write_reports_and_a_comparison(make_job, tmp_path):
    from stance.config import EvaluateJob
    from stance.pipeline import run_evaluation, run_training
    from stance.schemas import to_dataclass

    from .conftest import compose_config

    first = run_training(make_job())
    second = run_training(make_job("seed=7"))
    for split in ("validation", "test"):
        r = json.loads((second.path / "eval" / split / METRICS_JSON).read_text())
        assert r["version"] == "v0002" and r["metrics"]["macro_f1"] == second.metrics[split]["macro_f1"]
    cfg = compose_config("evaluate", [f"registry={second.path.parent}", f"prepared_root={tmp_path}/prepared",
                                      "splits=[test]", "compare=v0001"])
    out_dir, metrics = run_evaluation(to_dataclass(cfg, EvaluateJob))
    assert (out_dir / "test" / REPORT_MD).is_file()
    c = json.loads((out_dir / "test" / "compare-v0001.json").read_text())
    assert c["macro_f1"]["a"] == pytest.approx(metrics["test"]["macro_f1"])
    assert c["macro_f1"]["b"] == pytest.approx(first.metrics["test"]["macro_f1"])
    # The baseline's training-run predictions were reused: nothing new written into v0001.
    assert not (first.path / "evaluations").exists()
