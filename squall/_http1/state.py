"""What the connections of one server share: the registry and the timeout sweeper.

Timeouts are deadlines stored on each connection (a float, no timer object per request);
one sweeper per server wakes up a few times per shortest timeout and closes the connections
whose deadline has passed. That keeps the per-request cost of timeouts at one attribute write.
"""

from __future__ import annotations

import asyncio
import time
from typing import Final, Protocol

from squall._util import date_line

__all__ = [
    "DEADLINE_BODY",
    "DEADLINE_HEAD",
    "DEADLINE_IDLE",
    "DEADLINE_NONE",
    "ServerState",
    "Sweepable",
]

# What a connection's deadline is for: nothing, the request head, the body, idle keep-alive.
DEADLINE_NONE: Final = 0
DEADLINE_HEAD: Final = 1
DEADLINE_BODY: Final = 2
DEADLINE_IDLE: Final = 3


class Sweepable(Protocol):
    """What the sweeper needs from a connection."""

    deadline: float

    def on_deadline(self, now: float) -> None:
        """The connection's deadline has passed."""

    def shutdown(self) -> None:
        """Finish the request in flight, then close; close now when idle."""


class ServerState:
    """The live connections of one server and the timer that enforces their deadlines."""

    __slots__ = (
        "_changed",
        "_date_line",
        "_date_second",
        "_handle",
        "_interval",
        "connections",
        "draining",
        "loop",
    )

    def __init__(self, loop: asyncio.AbstractEventLoop, shortest_timeout: float) -> None:
        self.loop = loop
        self.connections: set[Sweepable] = set()
        self.draining = False
        # Check four times per shortest timeout, between 10 ms and 1 s.
        self._interval = min(1.0, max(0.01, shortest_timeout / 4))
        self._handle: asyncio.TimerHandle | None = None
        self._changed: asyncio.Future[None] | None = None
        self._date_second = -1
        self._date_line = ""

    def date_line(self) -> str:
        """The ``Date: ...\\r\\n`` line of a response written now (refreshed each second)."""
        second = int(time.time())
        if second != self._date_second:
            self._date_second = second
            self._date_line = date_line()
        return self._date_line

    def add(self, conn: Sweepable) -> None:
        """Register a new connection (and start the sweeper if it was idle)."""
        self.connections.add(conn)
        if self._handle is None:
            self._handle = self.loop.call_later(self._interval, self._sweep)

    def discard(self, conn: Sweepable) -> None:
        """Forget a closed connection (and wake whoever waits in :meth:`wait_changed`)."""
        self.connections.discard(conn)
        changed = self._changed
        if changed is not None and not changed.done():
            changed.set_result(None)

    async def wait_changed(self, timeout: float) -> None:  # noqa: ASYNC109 - a bounded wait
        """Wait until a connection goes away, or ``timeout`` seconds pass."""
        if self._changed is None or self._changed.done():
            self._changed = self.loop.create_future()
        try:
            await asyncio.wait_for(asyncio.shield(self._changed), max(0.0, timeout))
        except TimeoutError:
            pass

    def _sweep(self) -> None:
        self._handle = None
        now = self.loop.time()
        for conn in list(self.connections):
            deadline = conn.deadline
            if deadline and now >= deadline:
                conn.on_deadline(now)
        if self.connections:
            self._handle = self.loop.call_later(self._interval, self._sweep)

    def shutdown_all(self) -> None:
        """Ask every connection to finish its current request and close."""
        self.draining = True
        for conn in list(self.connections):
            conn.shutdown()

    def close(self) -> None:
        """Stop the sweeper."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
