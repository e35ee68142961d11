"""Write-side flow control for a WebSocket: what ``write_message`` returns.

While the transport takes data, a write returns :data:`READY`, a shared object that is already
done (no Future on the fast path). Once the transport pauses writing, each write gets a Future
that resolves when it resumes, or fails with ``WebSocketClosedError`` if the connection is lost.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from squall._util import DONE, wake_waiters

__all__ = ["READY", "WriteFlow"]


#: A write that needs no waiting (the shared completed awaitable).
READY: Awaitable[None] = DONE


class WriteFlow:
    """Whether the transport asked us to stop writing, and who waits for it to resume."""

    __slots__ = ("_loop", "_waiters", "paused")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self.paused = False
        self._waiters: list[asyncio.Future[None]] = []

    def drain(self) -> Awaitable[None]:
        """An awaitable that resolves when writing may continue (:data:`READY` if it may now)."""
        if not self.paused:
            return READY
        fut: asyncio.Future[None] = self._loop.create_future()
        self._waiters.append(fut)
        return fut

    def wake(self, exc: BaseException | None = None) -> None:
        """Resolve every waiter (or fail them with ``exc``); a paused transport resumed."""
        self.paused = False
        waiters, self._waiters = self._waiters, []
        wake_waiters(waiters, exc)
