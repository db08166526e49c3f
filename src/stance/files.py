"""Hashing and atomic writes, written once for every stage.

Every file a command writes goes to a temporary name beside its target and is
renamed into place, so a reader never sees half a file and a failure leaves the
old file as it was. Folders (prepared datasets, versions, ONNX exports) are
built under a temporary name and renamed as a whole: complete or absent.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_BLOCK = 1 << 20


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(_BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def tree_hashes(folder: Path) -> dict[str, str]:
    """SHA-256 of every file below ``folder``, keyed by relative path."""
    return {str(p.relative_to(folder)): sha256_file(p) for p in sorted(folder.rglob("*")) if p.is_file()}


def temp_beside(path: Path, suffix: str = ".tmp") -> Path:
    """An empty temporary file in ``path``'s folder (same file system, so rename is atomic)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    return Path(tmp)


@contextmanager
def atomic_file(path: Path) -> Iterator[Path]:
    """A temporary path beside ``path`` for a writer that wants a file name (matplotlib,
    safetensors); renamed onto ``path`` when the block succeeds, removed when it fails."""
    tmp = temp_beside(Path(path))
    try:
        yield tmp
        tmp.chmod(0o644)  # mkstemp creates files 0600; outputs are meant to be read by others too
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_files_atomic(files: dict[Path, str | bytes]) -> list[Path]:
    """Write every file under a temporary name first, then rename them all.

    A failure while writing removes the temporaries, and no target is touched.
    """
    staged: list[tuple[Path, Path]] = []
    try:
        for target, content in files.items():
            tmp = temp_beside(target)
            staged.append((tmp, target))
            if isinstance(content, bytes):
                tmp.write_bytes(content)
            else:
                with open(tmp, "w", encoding="utf-8", newline="") as fh:
                    fh.write(content)
            # mkstemp creates files 0600; outputs are meant to be read by others too.
            tmp.chmod(0o644)
        for tmp, target in staged:
            os.replace(tmp, target)
    finally:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
    return [target for _, target in staged]


def write_text_atomic(path: Path, text: str) -> None:
    write_files_atomic({Path(path): text})


@contextmanager
def staged_dir(parent: Path, prefix: str) -> Iterator[Path]:
    """A private temporary folder under ``parent``, removed if the block fails.

    The caller renames it into place inside the block; whatever is left at
    the end (a failure, or a rename that lost a race) is removed.
    """
    parent.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    path.chmod(0o755)  # mkdtemp makes 0700 folders; published folders are readable by others
    try:
        yield path
    finally:
        if path.exists():
            shutil.rmtree(path, ignore_errors=True)
