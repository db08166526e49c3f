"""Stop requests (SIGTERM, SIGINT) that no library can swallow (issue 27).

Raising from a signal handler throws an exception into whatever code runs at
that moment, and library code that catches every exception (``datasets``'
fingerprinting has a bare ``except:``, plotting code catches broadly) eats it:
the run then goes on and publishes. So the handler only records the request,
and our own code acts on it at its safe points with :meth:`StopRequests.check`.

``immediate=True`` (stance-predict, which has no such library in its loop)
raises at once, except inside :meth:`StopRequests.deferred` blocks (writing the
output files), so the outputs are complete or untouched as a set. A second
signal ends the process with the signal's default action, for a user who
really means it; a half-written staging folder is then left for
``stance-models gc``.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from stance.errors import RunInterrupted

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class StopRequests:
    def __init__(self, immediate: bool = False) -> None:
        self.signum: int | None = None
        self.immediate = immediate
        self._deferring = 0

    def handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is not None:  # the second request: stop now, the signal's default way
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        self.signum = signum
        if self.immediate and not self._deferring:
            self.check()

    def check(self, where: str = "") -> None:
        """Raise :class:`RunInterrupted` if a stop was requested (a safe point of our own code)."""
        if self.signum is not None:
            at = f" {where}" if where else ""
            raise RunInterrupted(f"stopped by {signal.Signals(self.signum).name}{at}", self.signum)

    @contextmanager
    def deferred(self) -> Iterator[None]:
        """A block that finishes even when a stop is requested inside it; the stop is acted on after it."""
        self._deferring += 1
        try:
            yield
        finally:
            self._deferring -= 1
        if self.immediate:
            self.check()

    @contextmanager
    def installed(self) -> Iterator[StopRequests]:
        """Handle SIGTERM and SIGINT inside the block (main thread only: Python allows no other)."""
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        previous = {s: signal.signal(s, self.handle) for s in SIGNALS}
        try:
            yield self
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
