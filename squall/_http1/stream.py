"""``request.connection.stream``: an HTTP connection as Tornado code sees its IOStream.

Tornado's server connection reads and writes through an ``IOStream``, and applications reach
into it: ``if self.request.connection.stream.closed(): return`` (the chat demo),
``stream.set_close_callback(cb)``, ``stream.socket`` for the socket's options or addresses,
``stream.write(raw)`` for a hand-made interim response. A squall connection is an asyncio
protocol on the loop's transport; :class:`ConnectionStream` is the view of it those calls need,
one per connection (``HTTP1Protocol.connection_stream()``), made on first use so that a
connection nobody asks about pays nothing. Taking the connection over for good is
``request.connection.detach()`` (``takeover.py``), which returns a real IOStream.

The view refers to its connection only while the connection lives: the protocol calls
:meth:`~ConnectionStream.connection_lost` (or :meth:`~ConnectionStream.handed_over`), which lets
go of it, so the two never outlive each other in a reference cycle.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from typing import Any

from squall._http1.errors import StreamClosedError
from squall._http1.flow import DONE
from squall._http1.owner import ExchangeOwner
from squall.log import app_log

__all__ = ["ConnectionStream"]


class ConnectionStream:
    """The IOStream face of one HTTP connection (see the module docstring).

    ``error`` is the exception the connection was lost with, or None."""

    __slots__ = ("_callback", "_owner", "error")

    def __init__(self, owner: ExchangeOwner | None) -> None:
        self._owner = owner
        self._callback: Callable[[], object] | None = None
        self.error: BaseException | None = None

    def closed(self) -> bool:
        """True once the connection is closed or closing, or was handed over (an upgrade,
        ``detach()``)."""
        owner = self._owner
        return owner is None or owner.is_closing()

    def set_close_callback(self, callback: Callable[[], object] | None) -> None:
        """Call ``callback()`` (on the next loop iteration) once the connection closes.

        One callback at a time (a new one replaces the old; None removes it). Set once
        ``closed()`` is True, it is never called (as on an IOStream). It runs beside the
        request's own close notices (``on_connection_close``,
        ``request.connection.set_close_callback``), not instead of them. A connection handed
        over (``detach()``, an upgrade) drops it."""
        self._callback = None if self.closed() else callback

    @property
    def socket(self) -> Any:
        """The connection's socket as the event loop offers it (asyncio's ``TransportSocket``,
        uvloop's pseudo-socket: ``fileno()``, ``getpeername()``, ``getsockname()``,
        ``getsockopt()``, ``setsockopt()``); None once the connection is closed."""
        owner = self._owner
        return None if owner is None else owner.transport_info("socket")

    def write(self, data: bytes | bytearray | memoryview) -> asyncio.Future[None]:
        """Write raw bytes to the connection, after everything written before them.

        The bytes bypass HTTP framing: what they mean is the caller's business (Tornado code
        writes a hand-made ``100 Continue`` or a whole response this way). Returns a Future
        that resolves once the transport has taken them and is below its high-water mark.
        Raises StreamClosedError on a closed connection."""
        owner = self._owner
        if owner is None or owner.is_closing():
            raise StreamClosedError()
        if not isinstance(data, bytes | bytearray | memoryview):
            raise TypeError(f"write() takes bytes, not {type(data).__name__}")
        if data:
            owner.send(bytes(data))
        future: asyncio.Future[None] = owner.state.loop.create_future()
        waiter = owner.flow.drain()
        if waiter is DONE:
            future.set_result(None)
        elif isinstance(waiter, asyncio.Future):
            waiter.add_done_callback(lambda done: _settle(future, done.exception()))
        else:  # CLOSED: the connection went away inside send()
            _settle(future, StreamClosedError())
        return future

    def close(self) -> None:
        """Close the connection once what was written to it has been sent."""
        owner = self._owner
        if owner is not None:
            owner.close_connection()

    def set_nodelay(self, value: bool) -> None:
        """Set ``TCP_NODELAY`` (True: small writes leave at once); ignored for a connection
        that is not TCP or is closed."""
        sock = self.socket
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1 if value else 0)

    # -- what the protocol tells the view -------------------------------------------------------

    def connection_lost(self, exc: BaseException | None) -> None:
        """The connection closed: forget it, and call the close callback on the next turn."""
        owner = self._owner
        self._owner = None
        self.error = exc
        callback, self._callback = self._callback, None
        if callback is not None and owner is not None:
            owner.state.loop.call_soon(_run_callback, callback)

    def handed_over(self) -> None:
        """The connection went to another protocol or to the application: forget it."""
        self._owner = None
        self._callback = None


def _settle(future: asyncio.Future[None], exc: BaseException | None) -> None:
    if future.done():
        return
    if exc is None:
        future.set_result(None)
    else:
        future.set_exception(exc)
        future.exception()  # retrieved: a write nobody awaits is not reported as unhandled


def _run_callback(callback: Callable[[], object]) -> None:
    try:
        callback()
    except Exception:
        app_log.error("Exception in the connection's stream close callback", exc_info=True)
