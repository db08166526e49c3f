"""User errors: mistakes a user can fix in their data, config or command line.

Every command catches :class:`StanceError` alone, prints its message on one line
(``error: ...``) and exits with the error's ``exit_code``: 2 for user errors. Two
ends of a training run that are not user mistakes still end this way, with their
own codes (docs/reliability.md): a diverged run (3) and a run stopped by a signal
(128 + the signal's number: 130 for Ctrl-C, 143 for SIGTERM). Anything else is a
bug and keeps its traceback. Each stage raises the subclass that names what went wrong.
"""

from __future__ import annotations

USER_ERROR_EXIT = 2  # the exit status of every user error, in every command
DIVERGED_EXIT = 3  # stance-train: a non-finite loss or gradient; retrying the same config will not help


class StanceError(ValueError):
    """Base of every user error; the message names the file, line and field, or the key."""

    exit_code: int = USER_ERROR_EXIT


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


class DivergenceError(StanceError):
    """Training produced a non-finite loss or gradient; nothing is published."""

    exit_code = DIVERGED_EXIT


class RunInterrupted(StanceError):
    """SIGTERM or SIGINT stopped a run; while training, a resumable checkpoint was saved first."""

    def __init__(self, message: str, signum: int) -> None:
        super().__init__(message)
        self.exit_code = 128 + signum  # the shell's convention for "killed by signal N"


class JsonLineError(StanceError):
    """One JSONL line that is not strict, writable JSON; callers add the file and line.

    ``field`` is the path of the bad value (``targets[0].mention``), or ``"line"`` when
    the line cannot be parsed at all; ``rule`` says what is wrong, on one line.
    """

    def __init__(self, field: str, rule: str) -> None:
        super().__init__(f"{field}: {rule}")
        self.field = field
        self.rule = rule
