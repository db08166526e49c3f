"""Finding the actor mentions of a run: the alias table, then officials beyond it.

The table's matches come first and win every overlap; titled officials the table
lacks (:mod:`stance.predict.officials`) are added per document, because a name
introduced with its title in one sentence ("Foreign Minister Badr Abdelatty") is
a mention by surname in the next ("Abdelatty said").
"""

from __future__ import annotations

import logging

from stance.errors import ConfigError, InputError
from stance.predict.documents import Document
from stance.predict.mentions import ActorMatcher, Mention, prediction_table, select_actors
from stance.predict.officials import OfficialsFinder, has_title_file, title_rules
from stance.predict.segmentation import Sentence

log = logging.getLogger(__name__)


def officials_finder(language: str | None) -> OfficialsFinder | None:
    """The finder for a language, or None when it is off or the language has no title file."""
    if language is None:
        return None
    if not has_title_file(language):
        log.warning("no title file for language %r: officials outside the alias table are not looked for", language)
        return None
    return OfficialsFinder(title_rules(language))


class ActorFinder:
    """Matchers for the whole run and for documents that name their own actors.

    ``officials``: the language whose titles find officials the table lacks
    (``segmentation.language``), or None to look for table actors only.
    """

    def __init__(self, alias_table: str | None, names: list[str], officials: str | None = None) -> None:
        self.table = [] if alias_table == "none" else prediction_table(alias_table)
        self.actors = select_actors(self.table, names) if names else self.table
        if not self.actors:
            raise ConfigError("no actors to look for: the alias table is empty and no actors were given")
        self.matcher = ActorMatcher(self.actors)
        self.officials = officials_finder(officials)
        # With --actors, an official counts only when linked to one of them.
        self.only = {a.name for a in self.actors} if names else None
        self._per_doc: dict[tuple[str, ...], ActorMatcher] = {}

    def matcher_for(self, doc: Document) -> ActorMatcher:
        if not doc.actors:
            return self.matcher
        key = tuple(doc.actors)
        if key not in self._per_doc:
            self._per_doc[key] = ActorMatcher(select_actors(self.table, list(key)))
        return self._per_doc[key]

    def mentions(self, doc: Document, sentences: list[Sentence]) -> list[list[Mention]]:
        """Mentions per sentence, with offsets into the sentence text."""
        if doc.targets is not None:
            return self._given(doc, sentences)
        matcher = self.matcher_for(doc)
        found = [matcher.find(s.text) for s in sentences]
        if self.officials is None:
            return found
        only = {a.name for a in select_actors(self.table, list(doc.actors))} if doc.actors else self.only
        extra = self.officials.find([s.text for s in sentences], found)
        return [sorted(table + [m for m in more if only is None or m.actor in only], key=lambda m: m.start)
                for table, more in zip(found, extra, strict=True)]

    def _given(self, doc: Document, sentences: list[Sentence]) -> list[list[Mention]]:
        out: list[list[Mention]] = [[] for _ in sentences]
        for target in doc.targets or []:
            home = next((s for s in sentences if s.start <= target.start and target.end <= s.end), None)
            if home is None:
                raise InputError(f"{target.where}: span {target.start}-{target.end} "
                                 "does not lie inside one sentence; set segmentation.enabled=false "
                                 "for input that is already one sentence per row")
            surface = doc.text[target.start:target.end]
            actor = target.actor or self.matcher.resolve(surface) or surface
            start, end = target.start - home.start, target.end - home.start
            out[home.index].append(Mention(actor, surface, start, end))
        return out
