"""Character offsets as data files give them: shared by stance-prepare's readers and stance-predict's
``--exclude`` (which must not import the data stage: it would load ``datasets`` on every prediction)."""

from __future__ import annotations

from typing import Any


def as_int(value: Any) -> int | None:
    """An offset given as an int, a whole float or a table cell's string; None otherwise (True is not 1)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return None
    return None
