"""Reading prediction input: plain-text files, JSONL rows, folders and stdin.

Every document is read and checked before anything is classified, so a bad
input line fails the run at once with an InputError that names the file, the
line and the field, and no output file is touched.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from stance.errors import InputError, JsonLineError
from stance.jsonl import load_json_line


@dataclass
class GivenTarget:
    """A span the input names itself (JSONL ``targets``), in document offsets."""

    start: int
    end: int
    actor: str | None
    where: str  # "file:line: field", for errors


@dataclass
class Document:
    id: str
    text: str
    source: str  # "file" or "file:line"
    actors: list[str] | None = None  # JSONL ``actors``: only these, for this document
    targets: list[GivenTarget] | None = None  # JSONL ``targets``: no actor finding for this document


def decode_text(raw: bytes, where: str) -> str:
    """UTF-8 text, or an InputError for empty or binary content."""
    if b"\x00" in raw[:8192]:
        raise InputError(f"{where}: not a text file (NUL byte at offset {raw.index(0)}); expected UTF-8 text")
    try:
        # utf-8-sig drops a byte-order mark, so offsets count from the first real character.
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise InputError(f"{where}: not UTF-8 text ({err.reason} at byte {err.start})") from None
    if not text.strip():
        raise InputError(f"{where}: empty input (no text)")
    return text


def _expand(inputs: list[str]) -> list[str]:
    """Files of each input; a folder gives its *.txt and *.jsonl files, sorted."""
    files: list[str] = []
    for item in inputs:
        if item == "-":
            files.append(item)
            continue
        path = Path(item)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.suffix in (".txt", ".jsonl") and p.is_file())
            if not found:
                raise InputError(f"{path}: folder holds no .txt or .jsonl files")
            files += [str(p) for p in found]
        elif path.is_file():
            files.append(item)
        else:
            raise InputError(f"{path}: input file not found")
    return files


def input_files(inputs: list[str]) -> list[str]:
    """The files ``read_documents`` reads for ``inputs``, in its order (batch jobs split the work by file)."""
    return _expand(inputs)


def _format_of(name: str, fmt: str, text: str) -> str:
    if fmt != "auto":
        return fmt
    if name == "-":  # stdin has no suffix: JSONL if it starts like a JSON object
        return "jsonl" if text.lstrip().startswith("{") else "text"
    return "jsonl" if name.endswith(".jsonl") else "text"


def _int_field(value: Any, where: str) -> int:
    """An offset: an integer, or a whole float (``0.0``) as some JSON writers emit; as stance-prepare reads them."""
    # bool is a subclass of int in Python; `true` is not an offset.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        raise InputError(f"{where}: must be an integer, got {value!r}")
    return value


def _jsonl_targets(value: Any, text: str, where: str) -> list[GivenTarget]:
    if not isinstance(value, list):
        raise InputError(f"{where}: field 'targets' must be a list of {{start, end, actor}} objects")
    out = []
    for i, item in enumerate(value):
        here = f"{where}: field 'targets[{i}]'"
        if not isinstance(item, dict):
            raise InputError(f"{here}: must be an object with 'start' and 'end'")
        start = _int_field(item.get("start"), f"{here}.start")
        end = _int_field(item.get("end"), f"{here}.end")
        if not 0 <= start < end <= len(text):
            raise InputError(f"{here}: span {start}-{end} is outside the text (length {len(text)})")
        if not text[start:end].strip():
            raise InputError(f"{here}: span {start}-{end} covers only whitespace; a target must name something")
        actor = item.get("actor")
        if actor is not None and (not isinstance(actor, str) or not actor.strip()):
            raise InputError(f"{here}.actor: must be a non-empty string")
        out.append(GivenTarget(start, end, actor, here))
    return out


def _jsonl_documents(name: str, stem: str, text: str, text_field: str, id_field: str) -> list[Document]:
    docs = []
    # Lines end at "\n" alone, as JSONL says: str.splitlines would also split at U+2028, U+2029,
    # U+0085 and the like, which JSON allows raw inside strings. A "\r" before "\n" is JSON whitespace.
    for n, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        where = f"{name}:{n}"
        try:
            row = load_json_line(line)
        except JsonLineError as err:
            raise InputError(f"{where}: field {err.field!r}: {err.rule}" if err.field != "line"
                             else f"{where}: {err.rule}") from None
        if not isinstance(row, dict):
            raise InputError(f"{where}: a row must be a JSON object")
        body = row.get(text_field)
        if not isinstance(body, str) or not body.strip():
            raise InputError(f"{where}: field {text_field!r}: must be a non-empty string")
        doc_id = row.get(id_field, f"{stem}:{n}")
        actors = row.get("actors")
        if actors is not None and not (isinstance(actors, list)
                                       and all(isinstance(a, str) and a.strip() for a in actors)):
            raise InputError(f"{where}: field 'actors' must be a list of non-blank actor names")
        targets = _jsonl_targets(row["targets"], body, where) if row.get("targets") is not None else None
        docs.append(Document(str(doc_id), body, where, actors, targets))
    if not docs:
        raise InputError(f"{name}: empty input (no JSONL rows)")
    return docs


def read_documents(inputs: list[str], fmt: str = "auto", text_field: str = "text", id_field: str = "id",
                   stdin: TextIO | None = None) -> list[Document]:
    """Every document of every input, checked; the first problem raises InputError."""
    files = _expand(inputs or ["-"])
    docs: list[Document] = []
    text_stems = [Path(f).stem for f in files if f != "-"]
    for name in files:
        if name == "-":
            stream = stdin or sys.stdin
            # Raw bytes where the stream has them, so stdin is decoded by the same rules as a file.
            raw = stream.buffer.read() if hasattr(stream, "buffer") else stream.read().encode("utf-8")
            where = "<stdin>"
        else:
            raw = Path(name).read_bytes()
            where = name
        text = decode_text(raw, where)
        stem = Path(name).stem if name != "-" else "stdin"
        if _format_of(name, fmt, text) == "jsonl":
            docs += _jsonl_documents(where, stem, text, text_field, id_field)
        else:
            # Two files named alike in different folders keep their paths as ids.
            docs.append(Document(stem if text_stems.count(stem) <= 1 else name, text, where))
    seen: dict[str, str] = {}
    for doc in docs:
        if doc.id in seen:
            raise InputError(f"{doc.source}: document id {doc.id!r} is already used by {seen[doc.id]}")
        seen[doc.id] = doc.source
    return docs
