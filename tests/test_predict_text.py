"""Issue 6, the model-free half of stance-predict: reading input, sentences, actors, rows."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from stance.files import write_files_atomic
from stance.labels import LabelSet
from stance.predict import (
    ActorFinder,
    ActorMatcher,
    Document,
    InputError,
    SegmentationConfig,
    Sentence,
    build_rows,
    load_alias_table,
    read_documents,
    segment,
    select_actors,
    sentences_of,
    summarise,
)

FIXTURE = Path(__file__).parent / "fixtures" / "articles" / "geneva_talks.txt"


def sentences(text: str, **cfg) -> list[str]:
    return [text[s:e] for s, e in segment(text, SegmentationConfig(**cfg))]


# ---------------------------------------------------------------- segmentation


def test_abbreviations_do_not_end_sentences():
    text = ("The U.S. and the U.K. signed the accord. Mr. Blinken and Dr. Ortiz met at 5 p.m. on Monday. "
            "Talks ended.")
    assert sentences(text) == [
        "The U.S. and the U.K. signed the accord.",
        "Mr. Blinken and Dr. Ortiz met at 5 p.m. on Monday.",
        "Talks ended.",
    ]


def test_quotes_stay_with_their_sentence():
    text = ('"We will not back down," the minister said. "Never." NATO urged calm. '
            'He called it "frank but useful." Russia declined to comment. '
            "She asked: \u201cIs this a threat?\u201d Nobody answered.")
    assert sentences(text) == [
        '"We will not back down," the minister said.',
        '"Never."',
        "NATO urged calm.",
        'He called it "frank but useful."',
        "Russia declined to comment.",
        "She asked: \u201cIs this a threat?\u201d",
        "Nobody answered.",
    ]


def test_line_breaks_paragraph_and_wrap():
    text = ("Headline without a stop\nFirst line of a body that is\nwrapped by the sender.\n\n"
            "Second paragraph.")
    assert sentences(text) == ["Headline without a stop", "First line of a body that is",
                               "wrapped by the sender.", "Second paragraph."]
    assert sentences(text, line_breaks="wrap") == [
        "Headline without a stop\nFirst line of a body that is\nwrapped by the sender.", "Second paragraph."]


def test_sentence_offsets_point_into_the_document():
    text = FIXTURE.read_text(encoding="utf-8")
    doc = Document("geneva", text, str(FIXTURE))
    sents = sentences_of(doc, SegmentationConfig())
    assert len(sents) == 11
    assert sents[0].text == "Ceasefire talks resume in Geneva as allies press Moscow"
    for s in sents:
        assert text[s.start:s.end].replace("\n", " ") == s.text
        assert s.text == s.text.strip()
    assert [s.index for s in sents] == list(range(11))


def test_wrapped_sentence_text_has_spaces_not_newlines():
    doc = Document("d", "Russia and\nChina met.", "x")
    (sent,) = sentences_of(doc, SegmentationConfig(line_breaks="wrap"))
    assert sent.text == "Russia and China met." and (sent.start, sent.end) == (0, 21)


def test_segmentation_off_keeps_one_sentence():
    assert sentences("  One. Two. Three.  ", enabled=False) == ["One. Two. Three."]


# ---------------------------------------------------------------- actors


@pytest.fixture(scope="module")
def bundled() -> ActorMatcher:
    return ActorMatcher(load_alias_table())


def found(matcher: ActorMatcher, text: str) -> list[tuple[str, str, int, int]]:
    return [(m.actor, m.mention, m.start, m.end) for m in matcher.find(text)]


def test_alias_case_sensitive_by_default(bundled):
    assert found(bundled, "The US said it would help us.") == [("United States", "US", 4, 6)]
    assert found(bundled, "china and CHINA are not China.") == [("China", "China", 24, 29)]


def test_possessives_are_not_part_of_the_mention(bundled):
    text = "Russia's envoy, Russians' hopes and the Kremlin\u2019s line."
    assert found(bundled, text) == [("Russia", "Russia", 0, 6), ("Russia", "Russians", 16, 24),
                                    ("Russia", "Kremlin", 40, 47)]


def test_longest_alias_wins_over_overlapping_ones(tmp_path):
    table = tmp_path / "table.yaml"
    table.write_text("United States: {aliases: [United States, U.S.]}\n"
                     "United: {aliases: [United]}\n"
                     "United Nations: {aliases: [United Nations]}\n"
                     "Manchester: {aliases: [manchester], ignore_case: true}\n")
    matcher = ActorMatcher(load_alias_table(table))
    text = "The United States told the United Nations that United and MANCHESTER would play."
    assert found(matcher, text) == [("United States", "United States", 4, 17),
                                    ("United Nations", "United Nations", 27, 41),
                                    ("United", "United", 47, 53), ("Manchester", "MANCHESTER", 58, 68)]


def test_whole_words_only(bundled):
    text = "Chinatown and Iranians are not actors; US-led is."
    assert found(bundled, text) == [("United States", "US", 39, 41)]


def test_select_actors_by_name_alias_or_new_name():
    table = load_alias_table()
    chosen = select_actors(table, ["russia", "Beijing", "Atlantis", "Moscow"])
    assert [a.name for a in chosen] == ["Russia", "China", "Atlantis"]
    assert "Kremlin" in chosen[0].aliases and chosen[2].aliases == ("Atlantis",)


def test_finder_with_only_given_actors(tmp_path):
    finder = ActorFinder("none", ["Atlantis"])
    doc = Document("d", "Atlantis and Russia met.", "x")
    sents = sentences_of(doc, SegmentationConfig())
    assert [(m.actor, m.start) for m in finder.mentions(doc, sents)[0]] == [("Atlantis", 0)]


# ---------------------------------------------------------------- input


def test_text_files_folders_and_ids(tmp_path):
    (tmp_path / "a.txt").write_text("Russia spoke.")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.txt").write_text("China spoke.")
    (tmp_path / "notes.md").write_text("ignored")
    docs = read_documents([str(tmp_path), str(tmp_path / "sub")])
    assert [d.text for d in docs] == ["Russia spoke.", "China spoke."]
    assert [d.id for d in docs] == [str(tmp_path / "a.txt"), str(tmp_path / "sub" / "a.txt")]
    (only,) = read_documents([str(tmp_path / "a.txt")])
    assert only.id == "a"


def test_stdin_text_and_jsonl():
    (doc,) = read_documents(["-"], stdin=io.StringIO("Russia spoke."))
    assert (doc.id, doc.text) == ("stdin", "Russia spoke.")
    docs = read_documents([], stdin=io.StringIO('{"id": "x", "text": "NATO met."}\n{"text": "EU met."}\n'))
    assert [(d.id, d.text) for d in docs] == [("x", "NATO met."), ("stdin:2", "EU met.")]


def test_jsonl_targets_and_actors(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text('{"id": "a", "text": "Moscow and Rome met. Paris did not.", '
                    '"targets": [{"start": 0, "end": 6}, {"start": 21, "end": 26, "actor": "France!"}]}\n'
                    '{"id": "b", "text": "China and Russia met.", "actors": ["China"]}\n')
    docs = read_documents([str(path)])
    finder = ActorFinder(None, [])
    a = finder.mentions(docs[0], sentences_of(docs[0], SegmentationConfig()))
    assert [[(m.actor, m.mention, m.start, m.end) for m in ms] for ms in a] == [
        [("Russia", "Moscow", 0, 6)], [("France!", "Paris", 0, 5)]]
    b = finder.mentions(docs[1], sentences_of(docs[1], SegmentationConfig()))
    assert [m.actor for m in b[0]] == ["China"]


@pytest.mark.parametrize(("content", "message"), [
    (b"", "empty input"),
    (b"  \n\t\n", "empty input"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not a text file"),
    (b"Caf\xe9 talks", "not UTF-8 text"),
])
def test_empty_and_binary_files_are_errors(tmp_path, content, message):
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    with pytest.raises(InputError, match=message) as err:
        read_documents([str(path)])
    assert str(path) in str(err.value)


@pytest.mark.parametrize(("line", "where"), [
    ("not json", "in.jsonl:2: invalid JSON"),
    ('["a"]', "in.jsonl:2: a row must be a JSON object"),
    ('{"text": ""}', "in.jsonl:2: field 'text'"),
    ('{"text": "Hi.", "targets": [{"start": 0, "end": 9}]}', r"in.jsonl:2: field 'targets\[0\]': span 0-9"),
    ('{"text": "Hi.", "targets": [{"start": "0", "end": 2}]}', r"targets\[0\]'.start: must be an integer"),
    ('{"text": "Hi.", "actors": "China"}', "field 'actors'"),
    ('{"id": "a", "text": "Again."}', "document id 'a' is already used by"),
])
def test_bad_jsonl_rows_name_file_line_and_field(tmp_path, line, where):
    path = tmp_path / "in.jsonl"
    path.write_text('{"id": "a", "text": "Fine."}\n' + line + "\n")
    with pytest.raises(InputError, match=where):
        read_documents([str(path)])


def test_missing_input_and_empty_folder(tmp_path):
    with pytest.raises(InputError, match="input file not found"):
        read_documents([str(tmp_path / "nope.txt")])
    with pytest.raises(InputError, match="no .txt or .jsonl files"):
        read_documents([str(tmp_path)])


def test_given_span_across_sentences_is_an_error(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text('{"text": "Russia met. China left.", "targets": [{"start": 7, "end": 15}]}\n')
    (doc,) = read_documents([str(path)])
    finder = ActorFinder(None, [])
    with pytest.raises(InputError, match=r"in.jsonl:1: field 'targets\[0\]'.*one sentence"):
        finder.mentions(doc, sentences_of(doc, SegmentationConfig()))


# ---------------------------------------------------------------- rows and aggregates


LABELS = LabelSet(("favor", "against", "neutral"))


def _mentions(text: str):
    return ActorMatcher(load_alias_table()).find(text)


def test_rows_per_mention_and_aggregated():
    sent = Sentence("d", 3, 100, 140, "Moscow said Russia and China would talk.")
    mentions = _mentions(sent.text)
    probs = [[0.1, 0.8, 0.1], [0.3, 0.3, 0.4], [0.7, 0.2, 0.1]]
    each = build_rows(sent, mentions, probs, LABELS, "each")
    assert [(r["actor"], r["mention"], r["label"]) for r in each] == [
        ("Russia", "Moscow", "against"), ("Russia", "Russia", "neutral"), ("China", "China", "favor")]
    assert each[0]["spans"] == [[0, 6]] and each[0]["sentence_start"] == 100
    agg = build_rows(sent, mentions, probs, LABELS, "aggregate")
    assert [(r["actor"], r["spans"], r["label"]) for r in agg] == [
        ("Russia", [[0, 6], [12, 18]], "against"), ("China", [[23, 28]], "favor")]
    assert agg[0]["probs"] == pytest.approx({"favor": 0.2, "against": 0.55, "neutral": 0.25})


def test_summary_counts_and_net_score():
    sent = Sentence("d", 0, 0, 40, "Moscow said Russia and China would talk.")
    rows = build_rows(sent, _mentions(sent.text), [[0.1, 0.8, 0.1], [0.6, 0.3, 0.1], [0.7, 0.2, 0.1]], LABELS)
    summary = summarise("d", 5, rows, LABELS)
    russia = summary["actors"]["Russia"]
    assert summary["sentences"] == 5 and summary["pairs"] == 3
    assert russia["counts"] == {"favor": 1, "against": 1, "neutral": 0} and russia["net"] == 0.0
    assert summary["actors"]["China"]["net"] == 1.0
    assert russia["mean_probs"]["against"] == pytest.approx(0.55)
    assert list(summary["actors"]) == ["Russia", "China"]  # most rows first


def test_write_atomic_keeps_old_files_on_failure(tmp_path):
    good, bad = tmp_path / "a.jsonl", tmp_path / "missing" / "b.csv"
    good.write_text("old\n")
    (tmp_path / "missing").write_text("a file where a folder should be")
    with pytest.raises(OSError):
        write_files_atomic({good: "new\n", bad: "x"})
    assert good.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.jsonl", "missing"]
    assert write_files_atomic({good: "new\n"}) == [good] and good.read_text() == "new\n"
