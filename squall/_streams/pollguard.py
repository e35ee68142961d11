"""A periodic check for uvloop's lost wake-ups after a socket error.

uvloop reports an error condition on a watched descriptor (EPOLLERR: typically a reset that
arrived behind the last data) by calling the reader and the writer once each, then dropping the
watch for good. A stream that took data in that last call and now waits for more would wait
forever, and an idle one would never see its peer go. asyncio's own loop keeps reporting the
condition, so only uvloop needs this.

Streams watched for reading on a uvloop loop register here. Once a second, each one that has
had no read event since the previous round reads its socket's pending error (``SO_ERROR``: one
system call, no data moved); a stream with an error re-arms its watch, and the loop then reports
the end of the connection the ordinary way. A stream with traffic costs nothing; an idle one
costs one system call a second; a lost wake-up is found within two seconds.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Protocol

__all__ = ["SWEEP_INTERVAL", "PollGuard", "guard_for"]

SWEEP_INTERVAL = 1.0  # seconds between checks of the streams that had no read event


class Guarded(Protocol):
    """What the guard needs from a stream."""

    _read_event_seen: bool

    def _recheck_watch(self) -> None: ...


class PollGuard:
    """The streams of one loop waiting for read events, checked every ``SWEEP_INTERVAL``."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._streams: set[Guarded] = set()
        self._timer: asyncio.TimerHandle | None = None

    def add(self, stream: Guarded) -> None:
        """Check ``stream`` from now on (until ``discard``)."""
        self._streams.add(stream)
        if self._timer is None and not self._loop.is_closed():
            self._timer = self._loop.call_later(SWEEP_INTERVAL, self._sweep)

    def discard(self, stream: Guarded) -> None:
        """Stop checking ``stream``."""
        self._streams.discard(stream)
        if not self._streams and self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _sweep(self) -> None:
        self._timer = None
        for stream in list(self._streams):
            if stream._read_event_seen:
                stream._read_event_seen = False
            else:
                stream._recheck_watch()
        if self._streams and not self._loop.is_closed():
            self._timer = self._loop.call_later(SWEEP_INTERVAL, self._sweep)


_guards: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, PollGuard] = (
    weakref.WeakKeyDictionary()
)


def guard_for(loop: asyncio.AbstractEventLoop) -> PollGuard:
    """The guard of ``loop`` (made on first use)."""
    guard = _guards.get(loop)
    if guard is None:
        guard = _guards[loop] = PollGuard(loop)
    return guard
