"""Officials the alias table does not list, found by their title or office.

Real news names many more foreign ministers, spokespeople, envoys and commanders
than any alias table can hold ("Foreign Minister Badr Abdelatty", "Wang Yi,
China's top diplomat").  Rule M9 of the annotation guide makes a named official
a mention of the actor whose office they hold, so a sentence about them carries
a pair.  We find them with two patterns over the title words of a packaged
language file (``resources/officials/<lang>.yaml``):

* a title before the name: ``[<actor>['s]] [modifiers] <title> <Name>``;
* a name before the title: ``<Name>, [the|a] [<actor>['s]] [modifiers] <title>``.

The official is linked to the table actor named next to the title ("Egypt's
foreign minister", "a spokesman for the Chinese foreign ministry"); with no
such actor the person is an actor of their own.  Once found, the full name and a
distinctive surname are mentions everywhere in the same document ("Abdelatty
said ...").  Hand-written patterns rather than an NER model: they install
nothing, run in microseconds, and each decision can be read off the rule that
made it; the price is recall on names without a title, which
``benchmarks/end_to_end.py`` measures.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable

import yaml

from stance.predict.mentions import Mention

# Every upper-case letter Python knows in the Latin, Greek and Cyrillic ranges, so
# that "Álvaro" and "Ögmundur" start a name as "Alvaro" does.
_UPPER = "".join(re.escape(c) for c in map(chr, range(0x41, 0x530)) if c.isupper())
_TOKEN = rf"[{_UPPER}][\w'’.-]*"
_POSSESSIVE = re.compile(r"['’]s?$")


@dataclass(frozen=True)
class TitleRules:
    titles: tuple[str, ...]
    modifiers: frozenset[str]
    not_names: frozenset[str]
    particles: tuple[str, ...]


def has_title_file(language: str) -> bool:
    return _title_file(language).is_file()


def _title_file(language: str) -> Traversable:
    return resources.files("stance") / "resources" / "officials" / f"{language}.yaml"


@cache
def title_rules(language: str = "en") -> TitleRules:
    """The packaged title file of a language (read once per process)."""
    data = yaml.safe_load(_title_file(language).read_text(encoding="utf-8"))
    return TitleRules(
        titles=tuple(sorted(data["titles"], key=len, reverse=True)),  # longest title first
        modifiers=frozenset(data["modifiers"]),
        not_names=frozenset(data["not_names"]),
        particles=tuple(data["particles"]),
    )


class OfficialsFinder:
    """Finds titled officials in the sentences of one document."""

    def __init__(self, rules: TitleRules) -> None:
        self.rules = rules
        title = "|".join(re.escape(t).replace(r"\ ", r"\s+") for t in rules.titles)
        particle = "|".join(re.escape(p) for p in rules.particles)
        # A name: up to five capitalised tokens, with lower-case particles between them.
        name = rf"{_TOKEN}(?:\s(?:(?:{particle})[\s-])*{_TOKEN}){{0,4}}"
        self._before = re.compile(rf"(?<![\w-])(?i:{title})\s+(?P<name>{name})")
        self._after = re.compile(rf"(?P<name>{name}),\s+(?P<gap>(?:[\w'’.-]+\s+){{0,5}}?)(?i:{title})(?![\w-])")

    def find(self, sentences: list[str], table: list[list[Mention]]) -> list[list[Mention]]:
        """Official mentions per sentence, never overlapping the table's own mentions."""
        names: dict[str, str] = {}  # surface form -> actor
        for text, known in zip(sentences, table, strict=True):
            for surface, actor in self._titled(text, known):
                names.setdefault(surface, actor)
        for surface, actor in list(names.items()):
            surname = self._surname(surface)
            if surname and surname not in names:
                names[surname] = actor
        if not names:
            return [[] for _ in sentences]
        pattern = re.compile(r"(?<![\w-])(" + "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
                             + r")(?![\w-]|['’]\w\w)")
        out = []
        for text, known in zip(sentences, table, strict=True):
            found = [Mention(names[m.group(1)], m.group(1), m.start(1), m.end(1)) for m in pattern.finditer(text)]
            out.append([m for m in found if not _overlaps(m, known)])
        return out

    def _titled(self, text: str, known: list[Mention]) -> list[tuple[str, str]]:
        found = []
        for match in self._before.finditer(text):
            start, name = self._clean(match.start("name"), match.group("name"))
            if not name or _overlaps(Mention("", name, start, start + len(name)), known):
                continue
            actor = self._actor_before(text, match.start(), known) or self._actor_after(text, match.end(), known)
            found.append((name, actor or name))
        for match in self._after.finditer(text):
            start, name = self._clean(match.start("name"), match.group("name"))
            if len(name.split()) < 2 or _overlaps(Mention("", name, start, start + len(name)), known):
                continue
            gap_start, gap_end = match.start("gap"), match.end("gap")
            if not self._plain_gap(text[gap_start:gap_end], gap_start, known):
                continue
            actor = next((m.actor for m in known if gap_start <= m.start < gap_end), None)
            found.append((name, actor or self._actor_after(text, match.end(), known) or name))
        return found

    def _clean(self, start: int, name: str) -> tuple[int, str]:
        """Drop leading non-name words ("On Tuesday Badr ...") and a trailing possessive."""
        words = name.split(" ")
        while words and words[0] in self.rules.not_names:
            start += len(words[0]) + 1
            words = words[1:]
        for i, word in enumerate(words):
            if word in self.rules.not_names:
                words = words[:i]
                break
        name = _POSSESSIVE.sub("", " ".join(words)).rstrip(".")
        return start, name

    def _actor_before(self, text: str, title_start: int, known: list[Mention]) -> str | None:
        """The actor just before the title: "Egypt's foreign minister", "US Treasury Secretary",
        "the Taliban government's spokesman", "Ecuador, whose President"."""
        before = [m for m in known if m.end <= title_start]
        if not before:
            return None
        nearest = max(before, key=lambda m: m.end)
        between = re.sub(r"^(?:['’]s?|,\s+whose)", "", text[nearest.end:title_start])
        words = [_POSSESSIVE.sub("", w) for w in between.split()]
        # Modifiers and capitalised portfolio words ("Defense", "Information") may stand between.
        return nearest.actor if all(w in self.rules.modifiers or w[:1].isupper() for w in words) else None

    def _actor_after(self, text: str, title_end: int, known: list[Mention]) -> str | None:
        """The actor a title belongs to: "spokesman for the Chinese foreign ministry"."""
        tail = re.match(r"(?:\s+(?i:[\w-]+))?\s+(?:for|of|at)\s+(?:the\s+)?", text[title_end:])
        if tail is None:
            return None
        at = title_end + tail.end()
        return next((m.actor for m in known if m.start == at), None)

    def _plain_gap(self, gap: str, offset: int, known: list[Mention]) -> bool:
        """Between "Name," and the title only articles, modifiers and capitalised words may stand."""
        pos = offset
        for word in gap.split():
            start = gap.index(word, pos - offset) + offset
            pos = start + len(word)
            core = _POSSESSIVE.sub("", word)
            if core.lower() in {"the", "a", "an"} or core in self.rules.modifiers or core[:1].isupper():
                continue  # a capitalised word the table lacks: a demonym ("the Czech deputy minister")
            if not any(m.start <= start < m.end for m in known):
                return False
        return True

    def _surname(self, name: str) -> str | None:
        """The last word of a full name, where it is long enough to be distinctive."""
        words = name.split()
        if len(words) < 2 or len(words[-1]) < 4 or words[-1] in self.rules.not_names:
            return None
        return words[-1]


def _overlaps(mention: Mention, others: list[Mention]) -> bool:
    return any(mention.start < o.end and o.start < mention.end for o in others)
