"""WebSocketProtocol: one WebSocket connection after the upgrade, on its asyncio transport.

How this works
--------------
The HTTP/1.1 layer answers the handshake and hands the transport over (``set_protocol``);
from then on every byte goes through :class:`WebSocketProtocol`. The message layer (codec,
reassembly, the delegate's inbox) is its base class :class:`~squall._ws.session.Session`,
which never touches a socket; this class adds the transport side.

Rules:

1. Nothing here imports the framework or the HTTP layer.
2. Writes go out through :meth:`WebSocketProtocol._write_out`; the codec's end of stream
   becomes a close once the closing handshake is complete, a half-close (``write_eof``)
   after a failure (a close on TLS).
3. Closing is bounded: once we have sent a close frame or an end of stream, the transport is
   aborted if it is still open ``close_timeout`` seconds later.
4. Reading pauses while messages wait for a busy delegate; writers wait (the awaitable of
   :meth:`WebSocketProtocol.send`) while the transport's buffer is full.
5. The server's registry (its drain) reaches us through :meth:`register_with`, called by the
   HTTP/1.1 hand-off: a drain closes us with 1001.
6. A peer that misses its pong is closed as Tornado does it: close frame 1000 "ping timed
   out", then the close deadline (``close_timeout``) drops it if it stays silent.
7. Once the codec ends the stream (the closing handshake is complete, or the connection
   failed), the delegate hears ``closed`` at once (Tornado runs ``on_close`` then too), without
   waiting for the transport: what was queued before the close reply still goes out, but a
   peer that stops reading is dropped ``close_timeout`` seconds later (rule 3).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from typing import cast

from websockets.frames import CloseCode
from websockets.protocol import OPEN
from websockets.protocol import Protocol as Codec

from squall._ws.delegate import (
    ConnectionRegistry,
    WebSocketClosedError,
    WebSocketDelegate,
    WebSocketError,
)
from squall._ws.flow import WriteFlow
from squall._ws.keepalive import Timers
from squall._ws.session import Session

__all__ = ["PING_TIMED_OUT", "WebSocketClosedError", "WebSocketError", "WebSocketProtocol"]

#: The close reason sent to a peer that did not answer a keepalive ping in time (with 1000).
PING_TIMED_OUT = "ping timed out"


class WebSocketProtocol(Session, asyncio.Protocol):
    """An open server-side WebSocket connection (see the module docstring for how it works).

    ``codec`` is an OPEN ``websockets`` protocol object (from the handshake); ``ping_interval``
    seconds between keepalive pings (None or 0: none); a pong must come within
    ``ping_timeout`` seconds (None: the interval; 0: no deadline) or the connection is closed
    with 1000 "ping timed out". Instances take attributes of their own (``__dict__``), so code
    written for Tornado can wrap a method of one connection (``_handle_message``, ...)."""

    __slots__ = ("__dict__", "_flow", "_nodelay", "_registry", "_timers", "_transport", "deadline")

    def __init__(
        self,
        codec: Codec,
        delegate: WebSocketDelegate,
        *,
        ping_interval: float | None = None,
        ping_timeout: float | None = None,
        close_timeout: float = 5.0,
        nodelay: bool | None = None,
    ) -> None:
        super().__init__(codec, delegate)
        loop = asyncio.get_running_loop()
        timers = Timers(loop, ping_interval, ping_timeout, close_timeout)
        timers.on(self._keepalive, self._timed_out, self._abort)
        self._timers = timers
        self._flow = WriteFlow(loop)
        self._nodelay = nodelay
        self._transport: asyncio.Transport | None = None
        self._registry: ConnectionRegistry | None = None
        self.deadline = 0.0  # the registry's sweeper: our timers are our own

    @property
    def ping_interval(self) -> float:
        """Seconds between keepalive pings (0: none)."""
        return self._timers.interval

    @property
    def ping_timeout(self) -> float:
        """Seconds a pong may take before the connection is closed (0: no deadline)."""
        return self._timers.timeout

    @property
    def close_timeout(self) -> float:
        """Seconds the peer has to finish closing once we have sent a close (default 5)."""
        return self._timers.close_timeout

    @close_timeout.setter
    def close_timeout(self, value: float) -> None:
        self._timers.close_timeout = value

    # -- registry (drain) --------------------------------------------------------------------

    def register_with(self, registry: ConnectionRegistry) -> None:
        """Join the server's registry, so that its drain closes us with 1001 (see shutdown)."""
        self._registry = registry

    def shutdown(self) -> None:
        """Graceful server stop: close with 1001 "Going away"; aborted after close_timeout."""
        self.close(CloseCode.GOING_AWAY, "Going away")

    def on_deadline(self, now: float) -> None:
        """Registry sweeper hook (no deadline is ever set: timers do the work)."""

    # -- asyncio.Protocol --------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Take over the transport: keepalive timer, registry, then the delegate's ``opened``."""
        self._transport = cast(asyncio.Transport, transport)  # a stream transport: TCP or TLS
        if self._nodelay is not None:
            self.set_nodelay(self._nodelay)
        self._timers.start()
        registry = self._registry
        if registry is not None:
            registry.add(self)
        self._start()
        if registry is not None and registry.draining:
            self.shutdown()
        self._flush()

    def data_received(self, data: bytes) -> None:
        """Feed the message layer."""
        self._receive(data)

    def eof_received(self) -> bool:
        """The peer half-closed: let the codec conclude, then close the transport."""
        self._codec.receive_eof()
        self._flush()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        """Cancel the timers, wake blocked writers, tell the registry and the delegate."""
        if self._transport is None:
            return
        self._transport = None
        self._timers.cancel()
        self._flow.wake(WebSocketClosedError("WebSocket connection closed"))
        if self._registry is not None:
            self._registry.discard(self)
        self._lost()

    def pause_writing(self) -> None:
        """The transport's buffer is full: writers wait."""
        self._flow.paused = True

    def resume_writing(self) -> None:
        """The transport drained: wake the writers."""
        self._flow.wake()

    # -- what the framework calls ------------------------------------------------------------

    def set_nodelay(self, value: bool) -> None:
        """Set TCP_NODELAY on the socket (True sends small messages without delay)."""
        self._nodelay = value
        transport = self._transport
        sock = None if transport is None else transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1 if value else 0)
            except OSError:
                pass  # the socket is closing: nothing left to tune

    # -- the transport side of Session -------------------------------------------------------

    def _write_out(self, writes: list[bytes]) -> None:
        transport = self._transport
        if transport is None or not writes:
            return
        eof = not writes[-1]
        data = b"".join(writes)
        if data:
            self._wire_bytes_out += len(data)
            transport.write(data)
        if eof:
            self._end_stream(transport)

    def _end_stream(self, transport: asyncio.Transport) -> None:
        # The codec ended the stream: the conversation is over (rule 7). After a close
        # handshake the peer sends nothing more, so the transport closes once what is queued
        # has gone out; after a failure it half-closes (the peer may still be sending, and a
        # reset could destroy our close frame before the peer reads it).
        if self._codec.close_rcvd is not None or not transport.can_write_eof():
            transport.close()
        else:
            transport.write_eof()
        self._timers.closing()  # a peer that does not read cannot hold us open (rule 3)
        self._flow.wake(WebSocketClosedError("WebSocket connection closed"))
        self._end()

    def _call_soon(self, callback: Callable[[], None]) -> None:
        asyncio.get_running_loop().call_soon(callback)

    def _drained(self) -> Awaitable[None]:
        return self._flow.drain()

    def _pause_reading(self) -> None:
        if self._transport is not None:
            self._transport.pause_reading()

    def _resume_reading(self) -> None:
        if self._transport is not None:
            self._transport.resume_reading()

    def _closing_started(self) -> None:
        self._timers.closing()

    def _pong_received(self) -> None:
        self._timers.pong_received()

    # -- timers ------------------------------------------------------------------------------

    def _keepalive(self) -> bool:
        if self._closed or self._codec.state is not OPEN:
            return False
        self._write_frame(True, 0x9, b"")
        return True

    def _timed_out(self) -> None:
        self.close(CloseCode.NORMAL_CLOSURE, PING_TIMED_OUT)

    def _abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()
