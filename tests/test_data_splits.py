"""Grouped carving (no sentence or article in two splits), determinism, the
manifest, and the prepared-folder cache."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from stance.config import DataConfig, PrepareJob, config_dir
from stance.data import DataError, Sentence, Target, build_splits, carve_splits, fingerprint, load_prepared, prepare
from stance.data import prepared as prepared_module
from stance.schemas import to_dataclass

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = config_dir()
NEWSMTSC = Path(os.environ.get("STANCE_NEWSMTSC_DIR", ROOT.parent / "shared" / "data" / "newsmtsc"))

PEOPLE = ["Ortiz", "Brandt", "Quinn", "Meyer", "Ruiz", "Hale", "Voss", "Doyle", "Marsh", "Kral"]
VERBS = [("praised", "favor"), ("attacked", "against"), ("met", "neutral")]
SHARED = "Officials declined to comment on Ortiz."  # appears in two articles


def data_config(*overrides: str) -> DataConfig:
    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        cfg = compose("prepare", overrides=list(overrides))
    return to_dataclass(cfg, PrepareJob).data


def article_rows(n_docs: int) -> list[dict]:
    """Invented articles of 2-5 sentences; articles 3 and 17 share one sentence."""
    rows = []
    for d in range(n_docs):
        for s in range(2 + d % 4):
            who = PEOPLE[(d + s) % len(PEOPLE)]
            verb, label = VERBS[(d * 7 + s) % 3]
            text = f"In report {d}, paragraph {s}, the committee {verb} {who}."
            start = text.index(who)
            rows.append(
                {
                    "id": f"doc{d}-{s}",
                    "doc": f"doc{d}",
                    "sentence": text,
                    "targets": [{"from": start, "to": start + len(who), "mention": who, "label": label}],
                }
            )
        if d in (3, 17):
            rows.append(
                {
                    "id": f"doc{d}-x",
                    "doc": f"doc{d}",
                    "sentence": SHARED,
                    "targets": [
                        {
                            "from": SHARED.index("Ortiz"),
                            "to": len(SHARED) - 1,
                            "mention": "Ortiz",
                            "label": "neutral",
                        }
                    ],
                }
            )
    return rows


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "corpus"
    rows = article_rows(40)
    # The shared sentence has the same target twice in train (exact duplicate):
    # keep only one labelled copy so the corpus is valid.
    write_jsonl(
        folder / "train.jsonl",
        [r for r in rows if r["id"] != "doc17-x"]
        + [
            {
                **next(r for r in rows if r["id"] == "doc17-x"),
                "targets": [{"from": 0, "to": 9, "mention": "Officials", "label": "neutral"}],
            }
        ],
    )
    return folder


def carve_config(folder: Path, *overrides: str) -> DataConfig:
    return data_config(
        "data=spans_jsonl",
        f"data.path={folder}",
        "~data.files.test",
        "data.split.validation=0.2",
        "data.split.test=0.2",
        *overrides,
    )


def split_sets(path: Path, names: list[str]) -> dict[str, tuple[set[str], set[str], list[str]]]:
    prepared = load_prepared(path)
    out = {}
    for name in names:
        ds = prepared.split(name)
        out[name] = (set(ds["doc_id"]), {" ".join(t.split()) for t in ds["text"]}, list(ds["id"]))
    return out


# ---------------------------------------------------------------- grouping


def test_carving_keeps_each_article_and_sentence_in_one_split(corpus: Path, tmp_path: Path) -> None:
    cfg = carve_config(corpus)
    prepared = prepare(cfg, tmp_path / "prepared")
    assert prepared.splits == ["train", "validation", "test"]
    sets = split_sets(prepared.path, prepared.splits)
    names = list(sets)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            assert not sets[a][0] & sets[b][0], f"article in {a} and {b}"
            assert not sets[a][1] & sets[b][1], f"sentence in {a} and {b}"
    # Nothing lost, and each share is met to within one group (at most 10
    # sentences: articles 3 and 17 joined by their shared sentence).
    n_total = sum(1 for _ in open(corpus / "train.jsonl"))
    counts = {n: len(sets[n][2]) for n in names}
    assert sum(counts.values()) == n_total
    for name in ("validation", "test"):
        assert 0.2 * n_total <= counts[name] < 0.2 * n_total + 10
    # Articles 3 and 17 share a sentence, so they travel together.
    together = [n for n in names if {"doc3", "doc17"} <= sets[n][0]]
    assert len(together) == 1


def test_documents_linked_by_a_shared_sentence_form_one_group() -> None:
    def sentence(doc: str, text: str) -> Sentence:
        return Sentence(f"{doc}:{text}", doc, text, [Target("t", -1, -1, "topic", "topic", "favor")], "f:1")

    corpus = [sentence(f"d{i}", f"Sentence {i}.") for i in range(30)]
    corpus += [
        sentence("d1", "Shared."),
        sentence("d2", "Shared. "),
        sentence("d2", "Also shared."),
        sentence("d3", "Also shared."),
    ]
    for seed in range(20):
        splits = carve_splits(corpus, 0.3, 0.3, seed)
        homes = {name for name, rows in splits.items() for s in rows if s.doc_id in ("d1", "d2", "d3")}
        assert len(homes) == 1


def test_too_few_groups_to_carve_is_an_error(tmp_path: Path) -> None:
    folder = tmp_path / "c"
    write_jsonl(folder / "train.jsonl", [r for r in article_rows(1)])
    cfg = carve_config(folder)
    with pytest.raises(DataError, match=r"data.split: 2 sentences in 1 document group\(s\) are too few"):
        prepare(cfg, tmp_path / "prepared")
    assert not (tmp_path / "prepared").exists()


def test_given_splits_that_share_articles_are_recorded(tmp_path: Path) -> None:
    rows = article_rows(6)
    folder = tmp_path / "c"
    write_jsonl(folder / "train.jsonl", [r for r in rows if not r["id"].endswith("-0")])
    write_jsonl(folder / "test.jsonl", [r for r in rows if r["id"].endswith("-0")])
    prepared = prepare(data_config("data=spans_jsonl", f"data.path={folder}"), tmp_path / "prepared")
    # Carved validation never shares an article with train; the given test split may.
    shared = prepared.manifest["shared_documents"]
    assert "train/validation" not in shared
    assert shared["train/test"] + shared.get("validation/test", 0) == 6


def test_newsmtsc_article_ids_come_from_primary_gid(tmp_path: Path) -> None:
    """NewsMTSC-shaped rows (invented text): the article is primary_gid up to the sentence index."""
    rows = []
    for a in range(12):
        for s in range(3):
            text = f"Article {a} sentence {s} quotes Senator Doyle."
            start = text.index("Doyle")
            gid = f"outlet_v2_{100 + a}_-{a % 3}_{s}_Doyle_{start}_{start + 5}"
            rows.append(
                {
                    "primary_gid": gid,
                    "sentence_normalized": text,
                    "targets": [
                        {
                            "Input.gid": gid,
                            "from": start,
                            "to": start + 5,
                            "mention": "Doyle",
                            "polarity": 2.0 + 2 * (s % 3),
                            "further_mentions": [{"from": 0, "to": 7, "mention": "Article"}],
                        }
                    ],
                }
            )
    folder = tmp_path / "nm"
    write_jsonl(folder / "train.jsonl", rows)
    write_jsonl(folder / "devtest_rw.jsonl", [{**rows[0], "primary_gid": "outlet_v2_900_0_0_Doyle_0_5"}])
    write_jsonl(folder / "devtest_mt.jsonl", [{**rows[4], "primary_gid": "outlet_v2_901_0_0_Doyle_0_5"}])
    prepared = prepare(
        data_config("data=newsmtsc", f"data.path={folder}", "data.split.validation=0.25"),
        tmp_path / "prepared",
    )
    train = prepared.split("train")
    assert set(prepared.split("validation")["doc_id"]).isdisjoint(train["doc_id"])
    assert len(set(train["doc_id"]) | set(prepared.split("validation")["doc_id"])) == 12
    assert all(d.startswith("outlet_v2_1") and d.count("_") == 3 for d in train["doc_id"])
    assert {t["label"] for ts in train["targets"] for t in ts} <= {"against", "neutral", "favor"}
    assert train["targets"][0][0]["further_starts"] == [0]
    # The two sentences the test sets share with train are dropped from the training side only.
    assert prepared.manifest["dropped"]["reasons"] == {"same sentence in two splits": 2}
    assert prepared.manifest["splits"]["test_rw"]["sentences"] == 1
    assert (
        prepared.manifest["splits"]["train"]["sentences"]
        + prepared.manifest["splits"]["validation"]["sentences"]
        == 34
    )


# ---------------------------------------------------------------- determinism


def test_same_seed_same_splits_in_any_folder(corpus: Path, tmp_path: Path) -> None:
    a = prepare(carve_config(corpus), tmp_path / "one")
    b = prepare(carve_config(corpus), tmp_path / "two")
    assert a.path.name == b.path.name
    assert a.manifest["datasets_fingerprints"] == b.manifest["datasets_fingerprints"]
    assert split_sets(a.path, a.splits) == split_sets(b.path, b.splits)


def test_a_different_seed_gives_different_splits(corpus: Path, tmp_path: Path) -> None:
    a = prepare(carve_config(corpus), tmp_path / "p")
    b = prepare(carve_config(corpus, "data.split.seed=14"), tmp_path / "p")
    assert a.path != b.path
    assert (
        split_sets(a.path, ["validation"])["validation"][2]
        != split_sets(b.path, ["validation"])["validation"][2]
    )


def test_max_train_rows_takes_a_deterministic_subset(corpus: Path) -> None:
    full, _ = build_splits(carve_config(corpus))
    small, _ = build_splits(carve_config(corpus, "data.max_train_rows=10"))
    again, _ = build_splits(carve_config(corpus, "data.max_train_rows=10"))
    ids = [s.id for s in small["train"]]
    assert len(ids) == 10 and ids == [s.id for s in again["train"]]
    assert set(ids) <= {s.id for s in full["train"]}
    assert [s.id for s in small["validation"]] == [s.id for s in full["validation"]]


# ---------------------------------------------------------------- manifest and cache


def test_manifest_records_hashes_counts_and_datasets_fingerprints(corpus: Path, tmp_path: Path) -> None:
    prepared = prepare(carve_config(corpus), tmp_path / "prepared")
    m = json.loads((prepared.path / "manifest.json").read_text())
    assert m["sources"] == {"train.jsonl": hashlib.sha256((corpus / "train.jsonl").read_bytes()).hexdigest()}
    assert m["config"]["split"] == {"carve_from": "train", "validation": 0.2, "test": 0.2, "seed": 13}
    assert prepared.path.name == f"spans_jsonl-{m['fingerprint'][:16]}"
    for name in prepared.splits:
        ds = prepared.split(name)
        state = json.loads((prepared.path / name / "state.json").read_text())
        assert m["datasets_fingerprints"][name] == state["_fingerprint"]
        labels = [t["label"] for ts in ds["targets"] for t in ts]
        assert m["splits"][name]["labels"] == {k: labels.count(k) for k in sorted(set(labels))}
        assert m["splits"][name]["sentences"] == len(ds)
    assert m["dropped"] == {"rows": 0, "reasons": {}, "examples": {}, "problems": [], "problems_not_listed": 0}
    assert not [p for p in prepared.path.parent.iterdir() if p.name.startswith(".")]  # no temp folder left


def test_second_prepare_reuses_the_folder(corpus: Path, tmp_path: Path, monkeypatch) -> None:
    first = prepare(carve_config(corpus), tmp_path / "p")
    stamp = (first.path / "manifest.json").stat().st_mtime_ns

    def must_not_run(cfg):
        raise AssertionError("build_splits ran although the cache was valid")

    monkeypatch.setattr(prepared_module, "build_splits", must_not_run)
    second = prepare(carve_config(corpus), tmp_path / "p")
    assert second.path == first.path
    assert second.manifest == first.manifest
    assert (second.path / "manifest.json").stat().st_mtime_ns == stamp


def test_a_concurrent_run_that_finished_first_is_reused(corpus: Path, tmp_path: Path, monkeypatch) -> None:
    real_build_splits = prepared_module.build_splits
    other: list = []

    def another_run_finishes_meanwhile(cfg):
        result = real_build_splits(cfg)
        monkeypatch.setattr(prepared_module, "build_splits", real_build_splits)
        other.append(prepare(cfg, tmp_path / "p"))  # renames its folder into place before ours
        return result

    monkeypatch.setattr(prepared_module, "build_splits", another_run_finishes_meanwhile)
    ours = prepare(carve_config(corpus), tmp_path / "p")
    assert ours.path == other[0].path
    assert ours.manifest == other[0].manifest
    assert [p.name for p in (tmp_path / "p").iterdir()] == [ours.path.name]  # our temporary folder is gone


def test_a_failed_write_leaves_nothing(corpus: Path, tmp_path: Path, monkeypatch) -> None:
    def disk_full(splits, folder):
        (folder / "train").mkdir()
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(prepared_module, "_save", disk_full)
    with pytest.raises(OSError, match="No space left"):
        prepare(carve_config(corpus), tmp_path / "p")
    assert list((tmp_path / "p").iterdir()) == []


def test_a_changed_input_changes_the_fingerprint_and_folder(corpus: Path, tmp_path: Path) -> None:
    first = prepare(carve_config(corpus), tmp_path / "p")
    with open(corpus / "train.jsonl", "a") as fh:
        fh.write(
            json.dumps(
                {
                    "id": "new-1",
                    "doc": "new",
                    "sentence": "A new sentence names Quinn.",
                    "targets": [{"from": 21, "to": 26, "mention": "Quinn", "label": "favor"}],
                }
            )
            + "\n"
        )
    second = prepare(carve_config(corpus), tmp_path / "p")
    assert second.manifest["fingerprint"] != first.manifest["fingerprint"]
    assert second.path != first.path
    assert second.manifest["sources"]["train.jsonl"] != first.manifest["sources"]["train.jsonl"]
    assert (first.path / "manifest.json").is_file()  # the earlier version is kept intact
    total = sum(second.manifest["splits"][n]["sentences"] for n in second.splits)
    assert total == sum(first.manifest["splits"][n]["sentences"] for n in first.splits) + 1


def test_the_same_files_elsewhere_have_the_same_fingerprint(corpus: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    copy.mkdir()
    (copy / "train.jsonl").write_bytes((corpus / "train.jsonl").read_bytes())
    a = prepare(carve_config(corpus), tmp_path / "p")
    b = prepare(carve_config(copy), tmp_path / "p")
    assert a.path == b.path


def test_the_source_hint_is_not_part_of_the_fingerprint(corpus: Path) -> None:
    cfg = carve_config(corpus)
    hashes = {"train.jsonl": "0" * 64}
    hinted = dataclasses.replace(cfg, source_hint="Download it from example.org.")
    assert fingerprint(hinted, hashes) == fingerprint(cfg, hashes)
    assert fingerprint(dataclasses.replace(cfg, drop_invalid=not cfg.drop_invalid), hashes) != fingerprint(cfg, hashes)


@pytest.mark.slow
@pytest.mark.skipif(not (NEWSMTSC / "train.jsonl").is_file(), reason="NewsMTSC is not available")
def test_newsmtsc_prepares_without_leaks(tmp_path: Path) -> None:
    prepared = prepare(data_config("data=newsmtsc", f"data.path={NEWSMTSC}"), tmp_path / "p")
    assert prepared.splits == ["train", "validation", "test_rw", "test_mt"]
    train, val = prepared.split("train"), prepared.split("validation")
    assert set(train["doc_id"]).isdisjoint(val["doc_id"])
    texts = {n: {" ".join(t.split()) for t in prepared.split(n)["text"]} for n in prepared.splits}
    for evaluation in ("validation", "test_rw", "test_mt"):
        assert texts["train"].isdisjoint(texts[evaluation])
    assert texts["validation"].isdisjoint(texts["test_rw"] | texts["test_mt"])
    assert set(prepared.manifest["dropped"]["reasons"]) <= {"exact duplicate", "same sentence in two splits"}
    assert prepared.manifest["splits"]["test_mt"]["multi_target_sentences"] > 0
