"""Actor alias tables, and finding actor mentions in sentences.

An alias table maps a canonical actor ("Russia") to the surface forms that refer
to it ("Russia", "Russian", "Moscow", "the Kremlin", "Vladimir Putin").  The
same matcher is used to check the bundled dataset (every alias occurrence must
be annotated) and by ``stance-predict``, so training data and inference agree
on what counts as a mention.

Matching rules, chosen for news text:
* longest alias wins where aliases overlap ("United States" beats "United");
* whole words only ("Iran" does not match inside "Iranian" unless listed;
  "US-led" does match "US");
* a trailing possessive ("Russia's", "Russians'") is not part of the mention;
* case-sensitive by default, because all-caps acronyms collide with words
  ("US" versus "us"); an alias table entry may opt into case-insensitivity.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml

from stance.errors import AliasTableError

DEFAULT_TABLE = "world_affairs"
# Office-holders of every country and major organisation (resources/actors/officials/): stance-predict's
# default table adds them to the world-affairs one. The training data's table does not include them,
# since its articles were annotated against the world-affairs table alone.
OFFICIALS_TABLE = "officials"


def prediction_table(path: str | Path | None = None) -> list[Actor]:
    """The table stance-predict looks for: the given one, or by default world affairs plus office-holders."""
    return load_alias_table(path, extra=(bundled_table_dir(OFFICIALS_TABLE),) if path is None else ())


@dataclass(frozen=True)
class Actor:
    name: str
    kind: str
    aliases: tuple[str, ...]
    ignore_case: bool = False


@dataclass(frozen=True)
class Mention:
    actor: str
    mention: str
    start: int  # character offset, inclusive
    end: int  # character offset, exclusive


def bundled_table_dir(name: str = DEFAULT_TABLE) -> Path:
    """Directory of a table shipped inside the package."""
    return Path(str(resources.files("stance") / "resources" / "actors" / name))


def _yaml_files(path: Path) -> list[Path]:
    if path.is_dir():
        files = sorted(path.glob("*.yaml")) + sorted(path.glob("*.yml"))
        if not files:
            raise AliasTableError(f"{path}: alias table directory holds no .yaml files")
        return files
    if not path.exists():
        raise AliasTableError(f"{path}: alias table not found")
    return [path]


def _parse_entry(file: Path, name: object, entry: object) -> Actor:
    where = f"{file}: actor {name!r}"
    if not isinstance(name, str) or not name.strip():
        raise AliasTableError(f"{where}: actor name must be a non-empty string")
    if not isinstance(entry, dict):
        raise AliasTableError(f"{where}: entry must be a mapping with 'aliases'")
    aliases = entry.get("aliases")
    if not isinstance(aliases, list) or not all(isinstance(a, str) and a.strip() for a in aliases):
        raise AliasTableError(f"{where}: field 'aliases' must be a list of non-empty strings")
    return Actor(
        name=name,
        kind=str(entry.get("type", "actor")),
        aliases=tuple(dict.fromkeys([name, *aliases])),
        ignore_case=bool(entry.get("ignore_case", False)),
    )


def load_alias_table(path: str | Path | None = None, extra: tuple[str | Path, ...] = ()) -> list[Actor]:
    """Load a table from a YAML file or a directory of YAML files, plus the files of ``extra``.

    ``None`` loads the bundled world-affairs table.  An actor named in several
    files gets the union of its aliases.  An alias claimed by two different
    actors is an error, since the matcher could not tell them apart.
    """
    root = bundled_table_dir() if path is None else Path(path)
    actors: dict[str, Actor] = {}
    owner: dict[str, tuple[str, Path]] = {}
    for file in [*_yaml_files(root), *(f for e in extra for f in _yaml_files(Path(e)))]:
        try:
            data = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as err:
            raise AliasTableError(f"{file}: invalid YAML: {err}") from err
        if not isinstance(data, dict):
            raise AliasTableError(f"{file}: top level must map actor names to entries")
        for name, entry in data.items():
            actor = _parse_entry(file, name, entry)
            if actor.name in actors:
                # Several files may add aliases to one actor (e.g. a leader's name
                # added beside the core table's country entry).
                prev = actors[actor.name]
                actor = Actor(prev.name, prev.kind, tuple(dict.fromkeys(prev.aliases + actor.aliases)),
                              prev.ignore_case or actor.ignore_case)
            for alias in actor.aliases:
                key = alias.lower()
                if key in owner and owner[key][0] != actor.name:
                    other, other_file = owner[key]
                    raise AliasTableError(
                        f"{file}: alias {alias!r} of {actor.name!r} is already an alias "
                        f"of {other!r} ({other_file})"
                    )
                owner[key] = (actor.name, file)
            actors[actor.name] = actor
    return list(actors.values())


def actors_from_names(names: list[str]) -> list[Actor]:
    """Ad-hoc actors given on the command line: each name is its own alias."""
    return [Actor(name=n.strip(), kind="actor", aliases=(n.strip(),)) for n in names if n.strip()]


class ActorMatcher:
    """Finds actor mentions in text with one compiled regular expression."""

    def __init__(self, actors: list[Actor]) -> None:
        self._lookup: dict[str, str] = {}
        self._lookup_ci: dict[str, str] = {}
        patterns: list[tuple[str, str]] = []
        for actor in actors:
            for alias in actor.aliases:
                if actor.ignore_case:
                    self._lookup_ci[alias.lower()] = actor.name
                else:
                    self._lookup[alias] = actor.name
                patterns.append((alias, "(?i:" + re.escape(alias) + ")" if actor.ignore_case else re.escape(alias)))
        # Regex alternation is first-match, so longer aliases must come first
        # for "United States" to win over "United".
        patterns.sort(key=lambda p: len(p[0]), reverse=True)
        body = "|".join(p for _, p in patterns) or r"(?!x)x"
        self._regex = re.compile(r"(?<!\w)(" + body + r")(?!\w)")

    def resolve(self, surface: str) -> str | None:
        """Canonical actor for a surface form, or None."""
        return self._lookup.get(surface) or self._lookup_ci.get(surface.lower())

    def find(self, text: str) -> list[Mention]:
        mentions = []
        for match in self._regex.finditer(text):
            surface = match.group(1)
            actor = self.resolve(surface)
            if actor is not None:
                mentions.append(Mention(actor, surface, match.start(1), match.end(1)))
        return mentions


# ---------------------------------------------------------------- finding mentions in a run


def select_actors(table: list[Actor], names: list[str]) -> list[Actor]:
    """The actors a user named: a table actor (by name or alias, any case) with all
    its aliases, or else an ad-hoc actor whose only alias is the name itself."""
    by_key: dict[str, Actor] = {}
    for actor in table:
        for key in (actor.name, *actor.aliases):
            by_key.setdefault(key.lower(), actor)
    chosen: dict[str, Actor] = {}
    for name in names:
        name = name.strip()
        if not name:
            continue
        actor = by_key.get(name.lower()) or actors_from_names([name])[0]
        chosen.setdefault(actor.name, actor)
    return list(chosen.values())
