"""One JSONL line as a Python value, or a one-line reason why not.

The standard library's ``json.loads`` lets through what no other tool can write
back (a lone surrogate escape such as ``"\\ud800"``, which UTF-8 cannot encode)
and fails on hostile lines with errors that are not ``JSONDecodeError``: a
RecursionError for deep nesting, a ValueError for integers past Python's
int-digits limit. Both readers (``stance-prepare`` and ``stance-predict``) read
lines through :func:`load_json_line`, so each of these is the same user error.
"""

from __future__ import annotations

import json
from typing import Any

from stance.errors import JsonLineError


def _refuse_constant(name: str) -> Any:
    # json.loads accepts NaN and Infinity, which are not JSON; no offset, label or text is one.
    raise ValueError(f"{name} is not a JSON value")


def _surrogate_path(value: Any) -> str | None:
    """The path of the first string (value or key) holding a lone surrogate; None if there is none."""
    stack: list[tuple[str, Any]] = [("", value)]  # iterative: the depth is the input's to choose
    while stack:
        path, item = stack.pop()
        if isinstance(item, str):
            if not item.isascii() and _has_surrogate(item):
                return path or "line"
        elif isinstance(item, dict):
            for key, sub in reversed(item.items()):
                # A key goes into a one-line message: shown as written unless it holds a line break or the like.
                shown = key if key.isprintable() else ascii(key)
                here = f"{path}.{shown}" if path else shown
                if not key.isascii() and _has_surrogate(key):
                    return here
                stack.append((here, sub))
        elif isinstance(item, list):
            stack.extend((f"{path}[{i}]", sub) for i, sub in reversed(list(enumerate(item))))
    return None


def _has_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def load_json_line(line: str) -> Any:
    """The value of one JSON text; JsonLineError (field and rule) when it is not strict, UTF-8-safe JSON."""
    try:
        value = json.loads(line, parse_constant=_refuse_constant)
    except json.JSONDecodeError as err:
        # err.msg may end in "starting at"; the position goes in parentheses so it never reads "at at".
        raise JsonLineError("line", f"invalid JSON: {err.msg} (column {err.colno})") from None
    except RecursionError:
        raise JsonLineError("line", "invalid JSON: nested too deeply") from None
    except ValueError as err:
        # Python's int-digits limit (4300) on a huge number, or NaN/Infinity from _refuse_constant.
        reason = "a number is too long" if "digits" in str(err) else str(err)
        raise JsonLineError("line", f"invalid JSON: {reason}") from None
    bad = _surrogate_path(value)
    if bad is not None:
        raise JsonLineError(bad, "holds a lone surrogate escape (like \\ud800), which is not Unicode text")
    return value
