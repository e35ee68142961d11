"""Write-side flow control: an awaitable drain that waits while the transport is full.

The transport calls ``pause_writing``/``resume_writing`` around its high-water mark; writers
get an awaitable from :meth:`FlowControl.drain` that resolves once the buffer has drained.
When nothing is paused the awaitable is a shared, already-complete object: no Future is
created on the fast path.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Generator
from typing import Any, Final

from squall._http1.errors import StreamClosedError
from squall._util import DONE, CompletedAwaitable, wake_waiters

__all__ = ["CLOSED", "DONE", "FlowControl", "StreamClosedError", "settled"]


class _Closed(CompletedAwaitable):
    """An awaitable that raises :class:`StreamClosedError` when awaited (and only then)."""

    __slots__ = ()

    def __await__(self) -> Generator[Any, None, None]:
        raise StreamClosedError()
        yield  # pragma: no cover

    def exception(self) -> BaseException:
        """The error a writer would get."""
        return StreamClosedError()

    def __repr__(self) -> str:
        return "<squall write: connection closed>"


CLOSED: Final[Awaitable[None]] = _Closed()


def settled(result: Awaitable[Any]) -> bool:
    """Whether an awaitable a delegate returned needs no waiting for.

    :data:`DONE` (a write that did not have to wait: the common streaming case), :data:`CLOSED`
    (a write on a connection that is gone), or a future already done without an error: no
    Task, no pause. A future that failed is waited for, so that its error is reported."""
    if result is DONE or result is CLOSED:
        return True
    if isinstance(result, asyncio.Future) and result.done():
        return result.cancelled() or result.exception() is None
    return False


class FlowControl:
    """Tracks whether the transport asked us to stop writing, and who waits for it."""

    __slots__ = ("_loop", "_waiters", "closed", "write_paused")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self.write_paused = False
        self.closed = False
        self._waiters: list[asyncio.Future[None]] = []

    def drain(self) -> Awaitable[None]:
        """An awaitable that resolves when writing may continue (at once if it may now)."""
        if self.closed:
            return CLOSED
        if not self.write_paused:
            return DONE
        fut: asyncio.Future[None] = self._loop.create_future()
        self._waiters.append(fut)
        return fut

    def pause_writing(self) -> None:
        """The transport's buffer went over its high-water mark."""
        self.write_paused = True

    def resume_writing(self) -> None:
        """The transport's buffer drained below its low-water mark: wake the writers."""
        self.write_paused = False
        self._wake(None)

    def connection_lost(self) -> None:
        """Wake every writer with :class:`StreamClosedError`."""
        self.closed = True
        self.write_paused = False
        self._wake(StreamClosedError())

    def _wake(self, exc: BaseException | None) -> None:
        waiters, self._waiters = self._waiters, []
        wake_waiters(waiters, exc)
