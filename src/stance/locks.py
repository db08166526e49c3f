"""Folder locks that die with their process: how a live run or publish is told from a dead one."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

LOCK = ".lock"


class FolderLock:
    """An exclusive ``flock`` on ``<folder>/.lock``, held while a process works in the folder.

    The kernel drops the lock when the process dies, however it dies (SIGKILL
    included), so a free lock is how others tell a dead run from a live one.
    """

    def __init__(self, folder: Path) -> None:
        self.path = Path(folder) / LOCK
        self._fd: int | None = None

    def acquire(self) -> bool:
        fd = os.open(self.path, os.O_CREAT | os.O_RDWR, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())  # for people; the lock itself is what counts
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def is_live(folder: Path) -> bool:
    """Whether a live process holds ``folder``'s lock (a folder without a lock file is not live)."""
    if not (Path(folder) / LOCK).is_file():
        return False
    probe = FolderLock(folder)
    if probe.acquire():
        probe.release()
        return False
    return True
