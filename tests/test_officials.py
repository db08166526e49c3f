"""Officials the alias table does not list, found by title (stance.predict.officials)."""

from __future__ import annotations

from pathlib import Path

import pytest

from stance.config import SegmentationConfig
from stance.predict.documents import Document
from stance.predict.finder import ActorFinder
from stance.predict.segmentation import sentences_of

TABLE = """
Nigeria: {type: country, aliases: [Nigerian, Abuja]}
China: {type: country, aliases: [Chinese, Beijing, Wang Yi]}
United Nations: {type: organisation, aliases: [UN]}
Kenya: {type: country, aliases: [Kenyan, Nairobi]}
"""


@pytest.fixture()
def table(tmp_path: Path) -> str:
    path = tmp_path / "actors.yaml"
    path.write_text(TABLE, encoding="utf-8")
    return str(path)


def found(table: str, text: str, names: list[str] | None = None, officials: str | None = "en") -> list[tuple]:
    finder = ActorFinder(table, names or [], officials)
    doc = Document("d", text, "<test>")
    sentences = sentences_of(doc, SegmentationConfig())
    return [(m.mention, m.actor) for per in finder.mentions(doc, sentences) for m in per]


def test_title_before_name_links_the_actor_before_the_title(table: str) -> None:
    text = "Nigeria's foreign minister Yusuf Tuggar rejected the plan. Tuggar later said talks would go on."
    assert found(table, text) == [("Nigeria", "Nigeria"), ("Yusuf Tuggar", "Nigeria"), ("Tuggar", "Nigeria")]


def test_name_before_title_with_a_demonym_the_table_lacks_is_its_own_actor(table: str) -> None:
    text = "Tomas Vrba, the Czech deputy foreign minister, said the vote was premature."
    assert found(table, text) == [("Tomas Vrba", "Tomas Vrba")]


def test_name_before_title_links_an_actor_in_the_apposition(table: str) -> None:
    text = "Folake Adeyemi, Nigeria's top diplomat, praised the deal."
    assert found(table, text) == [("Folake Adeyemi", "Nigeria"), ("Nigeria", "Nigeria")]


def test_title_followed_by_for_the_actor_links_it(table: str) -> None:
    text = "Guo Jiakun, a spokesman for the Chinese foreign ministry, called the report false."
    assert found(table, text) == [("Guo Jiakun", "China"), ("Chinese", "China")]


def test_table_names_win_and_bodies_are_not_people(table: str) -> None:
    text = "Foreign Minister Wang Yi addressed the General Assembly on Monday, the UN Secretary-General said."
    assert found(table, text) == [("Wang Yi", "China"), ("UN", "United Nations")]


def test_leading_words_and_possessives_are_not_part_of_the_name(table: str) -> None:
    text = "On Tuesday, Kenyan President William Ruto's envoy met UN envoy Tomasz Nowak's team in Nairobi."
    assert found(table, text) == [("Kenyan", "Kenya"), ("William Ruto", "Kenya"), ("UN", "United Nations"),
                                  ("Tomasz Nowak", "United Nations"), ("Nairobi", "Kenya")]


def test_chosen_actors_keep_only_officials_linked_to_them(table: str) -> None:
    text = "Nigeria's foreign minister Yusuf Tuggar met Tomas Vrba, the Czech deputy foreign minister."
    assert found(table, text, names=["Nigeria"]) == [("Nigeria", "Nigeria"), ("Yusuf Tuggar", "Nigeria")]


def test_a_documents_own_actors_keep_only_officials_linked_to_them(table: str) -> None:
    text = "Nigeria's foreign minister Yusuf Tuggar met Tomas Vrba, the Czech deputy foreign minister."
    finder = ActorFinder(table, [], "en")
    doc = Document("d", text, "<test>", actors=["Nigeria"])
    sentences = sentences_of(doc, SegmentationConfig())
    found = [(m.mention, m.actor) for per in finder.mentions(doc, sentences) for m in per]
    assert found == [("Nigeria", "Nigeria"), ("Yusuf Tuggar", "Nigeria")]


def test_officials_off_finds_table_actors_only(table: str) -> None:
    text = "Nigeria's foreign minister Yusuf Tuggar rejected the plan."
    assert found(table, text, officials=None) == [("Nigeria", "Nigeria")]


def test_a_language_without_a_title_file_looks_for_table_actors_only(table: str) -> None:
    text = "Nigeria's foreign minister Yusuf Tuggar rejected the plan."
    assert found(table, text, officials="xx") == [("Nigeria", "Nigeria")]


def test_the_default_prediction_table_adds_the_office_holders():
    """Issue 23 item 6: stance-predict's default table knows office-holders the training table lacks."""
    from stance.predict.mentions import ActorMatcher, load_alias_table, prediction_table

    text = "Radosław Sikorski met Abiy Ahmed in Kiev, where the Russian Federation was condemned."
    found = {(m.mention, m.actor) for m in ActorMatcher(prediction_table()).find(text)}
    assert {("Radosław Sikorski", "Poland"), ("Abiy Ahmed", "Ethiopia"), ("Kiev", "Ukraine"),
            ("Russian Federation", "Russia")} <= found
    training = {m.mention for m in ActorMatcher(load_alias_table()).find(text)}
    assert "Radosław Sikorski" not in training  # the training data's table is the world-affairs one alone
