"""User errors: mistakes a user can fix in their data, config or command line.

Every command catches :class:`StanceError` alone, prints its message on one line
(``error: ...``) and exits with status 2. Anything else is a bug and keeps its
traceback. Each stage raises the subclass that names what went wrong.
"""

from __future__ import annotations

USER_ERROR_EXIT = 2  # the exit status of every user error, in every command


class StanceError(ValueError):
    """Base of every user error; the message names the file, line and field, or the key."""


class ConfigError(StanceError):
    """A bad or missing config value; the message names the key."""


class DataError(StanceError):
    """Input data problems; the message lists every bad row."""


class RegistryError(StanceError, LookupError):
    """A version that is missing, incomplete or not what its manifest says."""


class UnknownLabelError(StanceError):
    """A label outside the label set."""


class InputError(StanceError):
    """Bad prediction input; the message names the file, the line and the field."""


class AliasTableError(StanceError):
    """A bad actor alias table; the message names the file and the entry."""


class CheckpointError(StanceError):
    """A folder that is not a loadable stance checkpoint."""


class JsonLineError(StanceError):
    """One JSONL line that is not strict, writable JSON; callers add the file and line.

    ``field`` is the path of the bad value (``targets[0].mention``), or ``"line"`` when
    the line cannot be parsed at all; ``rule`` says what is wrong, on one line.
    """

    def __init__(self, field: str, rule: str) -> None:
        super().__init__(f"{field}: {rule}")
        self.field = field
        self.rule = rule
