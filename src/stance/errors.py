"""User errors: mistakes a user can fix in their data, config or command line.

Every command catches :class:`StanceError` alone, prints its message on one line
(``error: ...``) and exits with the error's ``exit_code``: 2 for user errors. Two
ends of a training run that are not user mistakes still end this way, with their
own codes (docs/reliability.md): a diverged run (3) and a run stopped by a signal
(128 + the signal's number: 130 for Ctrl-C, 143 for SIGTERM). Anything else is a
bug and keeps its traceback. Each stage raises the subclass that names what went wrong.
"""

from __future__ import annotations

import errno

USER_ERROR_EXIT = 2  # the exit status of every user error, in every command
ENVIRONMENT_EXIT = 1  # the machine, not the user: a full disk, a read-only folder (docs/reliability.md)
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


class EnvironmentFailure(StanceError):
    """The machine refused a write (no space left, a read-only folder); one line, exit 1, nothing damaged."""

    exit_code = ENVIRONMENT_EXIT

    @classmethod
    def from_os_error(cls, err: OSError, doing: str) -> EnvironmentFailure:
        return cls(f"{doing}: {err.strerror or err} ({err.filename or 'no file named'})")


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


# The machine, not the user: exit 1 with one line (docs/reliability.md); staging folders are removed
# as the error unwinds, so nothing already written is damaged.
_ENVIRONMENT_ERRNOS = (errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EPERM, errno.EDQUOT)
_ENVIRONMENT_WORDS = ("No space left", "Read-only file system", "Permission denied", "Disk quota")


def environment_failure(err: BaseException) -> EnvironmentFailure | None:
    """A full disk or a read-only or forbidden folder as one line (exit 1); None for anything else."""
    if isinstance(err, OSError) and err.errno in _ENVIRONMENT_ERRNOS:
        return EnvironmentFailure.from_os_error(err, "the machine refused a write")
    if any(word in str(err) for word in _ENVIRONMENT_WORDS):  # safetensors reports them as text
        return EnvironmentFailure(f"the machine refused a write: {str(err).splitlines()[0][:200]}")
    return None
