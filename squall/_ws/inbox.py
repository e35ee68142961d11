"""The inbox of a WebSocket connection: what the delegate has yet to see, one item at a time.

Items (messages, pings, pongs and the connection's "ending") are consumed in order. When the
consumer returns an awaitable (an async ``on_message``), later items wait here until it
resolves, and reading from the socket pauses meanwhile: a slow handler holds back its peer
through TCP instead of letting messages pile up in memory.
"""

from __future__ import annotations

import asyncio
import inspect
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ["Inbox"]

Consumer = Callable[[int, Any], Awaitable[Any] | None]


class Inbox:
    """Feeds ``consume(kind, payload)`` one item at a time (see the module docstring).

    ``failed(exc)`` hears about an awaitable that raised (or was cancelled);
    ``pause()``/``resume()`` stop and restart reading; ``drained()`` runs after items that had
    to wait have been consumed."""

    __slots__ = (
        "_busy",
        "_consume",
        "_drained",
        "_failed",
        "_items",
        "_pause",
        "_resume",
        "paused",
    )

    def __init__(
        self,
        consume: Consumer,
        failed: Callable[[BaseException], None],
        pause: Callable[[], None],
        resume: Callable[[], None],
        drained: Callable[[], None],
    ) -> None:
        self._consume = consume
        self._failed = failed
        self._pause = pause
        self._resume = resume
        self._drained = drained
        self._items: deque[tuple[int, Any]] = deque()
        self._busy: asyncio.Future[Any] | None = None
        self.paused = False

    def put(self, kind: int, payload: Any) -> None:
        """Consume the item now if nothing is pending, else queue it (and pause reading)."""
        if self._busy is not None or self._items:
            self._items.append((kind, payload))
            if not self.paused:
                self.paused = True
                self._pause()
            return
        self._run(kind, payload)

    def take(self, kind: int) -> list[Any]:
        """Empty the inbox; return the payloads of the items of ``kind`` it held."""
        kept = [payload for k, payload in self._items if k == kind]
        self._items.clear()
        return kept

    def _run(self, kind: int, payload: Any) -> None:
        result = self._consume(kind, payload)
        if result is not None and inspect.isawaitable(result):
            busy = asyncio.ensure_future(result)
            self._busy = busy
            busy.add_done_callback(self._done)

    def _done(self, busy: asyncio.Future[Any]) -> None:
        self._busy = None
        if busy.cancelled():
            # The handler's coroutine ended by cancellation: a failure like any other.
            self._failed(asyncio.CancelledError())
        else:
            exc = busy.exception()
            if exc is not None:
                self._failed(exc)
        items = self._items
        while items and self._busy is None:
            self._run(*items.popleft())
        self._drained()
        if not items and self.paused:
            self.paused = False
            self._resume()
