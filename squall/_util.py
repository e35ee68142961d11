"""Tiny helpers with no other home (a leaf: stdlib only)."""

from __future__ import annotations

import asyncio
import email.utils
import time
from collections.abc import Generator
from typing import Any

__all__ = [
    "DONE",
    "CompletedAwaitable",
    "date_header_value",
    "date_line",
    "http_date",
    "wake_waiters",
]

_date_second = -1
_date_value = b""
_date_line = ""


def http_date(timestamp: float) -> str:
    """Format an epoch timestamp as an RFC 9110 IMF-fixdate (``Sun, 06 Nov 1994 08:49:37 GMT``)."""
    return email.utils.formatdate(timestamp, usegmt=True)


def date_header_value() -> bytes:
    """Return the current ``Date`` header value as bytes, recomputed at most once a second.

    The hot path calls this for every response; one ``time.time()`` and an integer compare
    is all it costs between refreshes."""
    global _date_second, _date_value, _date_line
    now = time.time()
    second = int(now)
    if second != _date_second:
        _date_second = second
        text = http_date(second)
        _date_value = text.encode("ascii")
        _date_line = f"Date: {text}\r\n"
    return _date_value


def date_line() -> str:
    """The whole ``Date: ...\\r\\n`` header line as text, refreshed once a second."""
    if int(time.time()) != _date_second:
        date_header_value()
    return _date_line


class CompletedAwaitable:
    """An awaitable (and Future-like object) that is already complete: ``await`` returns None.

    Writers return the shared :data:`DONE` when the transport takes data without waiting, so
    the fast path creates no Future."""

    __slots__ = ()

    def __await__(self) -> Generator[Any, None, None]:
        return
        yield  # pragma: no cover - makes this a generator

    def done(self) -> bool:
        """Always True: there is nothing to wait for."""
        return True

    def result(self) -> None:
        """Always None."""
        return None

    def exception(self) -> BaseException | None:
        """Always None."""
        return None

    def add_done_callback(self, fn: Any) -> None:
        """Call ``fn(self)`` soon on the running loop (Future-like interface)."""
        asyncio.get_running_loop().call_soon(fn, self)

    def __repr__(self) -> str:
        return "<squall: done>"


#: The shared completed awaitable.
DONE = CompletedAwaitable()


def wake_waiters(waiters: list[asyncio.Future[None]], exc: BaseException | None) -> None:
    """Resolve each pending future in ``waiters`` (or fail it with ``exc``).

    A failed future is marked retrieved: a writer that stopped waiting must not cause an
    "exception was never retrieved" warning."""
    for fut in waiters:
        if fut.done():
            continue
        if exc is None:
            fut.set_result(None)
        else:
            fut.set_exception(exc)
            fut.exception()
