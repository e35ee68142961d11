"""The relay behind a detached TLS connection: plain bytes between a TLS transport and a stream.

An HTTP connection served over TLS lives in the event loop's transport (asyncio's and uvloop's
TLS run over memory buffers): its session cannot move to a socket, so Tornado's ``detach()``
(``squall._streams.handover``) cannot hand the socket over. Instead the application gets an
IOStream over one end of a socket pair, and :class:`_TLSRelay`, the transport's new protocol,
carries the plain bytes between the transport and the pair's other end: the application reads
and writes as over the connection itself, the transport encrypts.

Rules:

1. Order: the client's bytes reach the stream in order, after ``data`` (what the HTTP layer
   read and did not deliver); the stream's bytes reach the client after everything the
   transport had been given before.
2. Back-pressure both ways: the transport stops reading while the pair cannot take what it
   delivered; the relay stops reading the pair while the transport's buffer is over its high
   mark.
3. Closes: the client's close (or the connection's loss) closes the stream once everything
   the client sent before is in it; the stream's close closes the connection once what it
   wrote has gone out (the transport ends TLS with close_notify).
4. ``stream.socket`` is the pair's end (a Unix socket), not the TCP connection: the peer's
   address is the request's (``request.remote_ip``), its certificate the transport's.
"""

from __future__ import annotations

import asyncio
import socket as _socket
from collections.abc import Callable
from typing import Any, TypeVar

from squall._streams.errors import StreamClosedError
from squall._streams.sockets import IOStream
from squall.log import gen_log

__all__ = ["relay_tls"]

S = TypeVar("S", bound=IOStream)
#: The most bytes the relay moves from the stream to the TLS transport in one go.
_RELAY_CHUNK = 65536


def relay_tls(transport: Any, data: bytes, stream_class: Callable[..., S]) -> S:
    """A stream (``stream_class(socket, data)``) over one end of a socket pair whose other end
    is relayed to the TLS ``transport``, which gets a :class:`_TLSRelay` as its protocol.
    ``data`` is readable first."""
    app_end, relay_end = _socket.socketpair()
    try:
        stream = stream_class(app_end, data)
        relay = IOStream(relay_end)
    except BaseException:
        app_end.close()
        relay_end.close()
        raise
    transport.set_protocol(_TLSRelay(transport, relay))
    return stream


class _TLSRelay(asyncio.Protocol):
    """The protocol of a TLS transport whose connection was handed over to a stream.

    The transport's plain bytes are written to ``relay`` (the socket pair's end facing the
    application's stream); what the application writes is read from ``relay`` by a task
    and written to the transport."""

    def __init__(self, transport: Any, relay: IOStream) -> None:
        self._transport = transport
        self._relay = relay
        self._last_write: asyncio.Future[None] | None = None  # the newest write to ``relay``
        self._reading_paused = False
        self._writable: asyncio.Future[None] | None = None  # set while the transport is full
        low_high = transport.get_write_buffer_limits()
        if transport.get_write_buffer_size() > low_high[1]:
            self.pause_writing()  # the HTTP protocol's pause, which this one would not hear
        if not transport.is_reading():
            transport.resume_reading()  # the HTTP protocol may have paused it
        self._pump_task: asyncio.Task[None] | None = asyncio.get_running_loop().create_task(
            self._pump()
        )

    # -- the client's bytes, to the application ------------------------------------------------

    def data_received(self, data: bytes) -> None:
        """Bytes from the client: to the application's stream, pausing the transport's reading
        while the socket pair cannot take them."""
        try:
            written = self._relay.write(data)
        except StreamClosedError:
            self._transport.close()  # the application closed its stream
            return
        self._last_write = written
        if not written.done() and not self._reading_paused:
            self._reading_paused = True
            self._transport.pause_reading()
            written.add_done_callback(self._relay_flushed)

    def _relay_flushed(self, future: asyncio.Future[None]) -> None:
        if self._reading_paused and not self._transport.is_closing():
            self._reading_paused = False
            self._transport.resume_reading()

    def eof_received(self) -> None:
        """The client closed its side: the transport closes itself; the application hears it
        once the bytes before are in its stream (``connection_lost``)."""
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        """The connection ended: the stream closes once the bytes relayed so far reached it,
        and the task reading it stops."""
        task, self._pump_task = self._pump_task, None
        if task is not None:
            task.cancel()
        writable, self._writable = self._writable, None
        if writable is not None and not writable.done():
            writable.set_result(None)
        last = self._last_write
        if last is None or last.done():
            self._relay.close()
        else:
            last.add_done_callback(lambda _future: self._relay.close())

    # -- the application's bytes, to the client ------------------------------------------------

    def pause_writing(self) -> None:
        """The transport's buffer is over its high mark: stop reading the application's."""
        if self._writable is None:
            self._writable = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        """The transport's buffer drained: read the application's bytes again."""
        writable, self._writable = self._writable, None
        if writable is not None and not writable.done():
            writable.set_result(None)

    async def _pump(self) -> None:
        relay, transport = self._relay, self._transport
        try:
            while True:
                chunk = await relay.read_bytes(_RELAY_CHUNK, partial=True)
                if transport.is_closing():
                    return
                transport.write(chunk)
                if self._writable is not None:
                    await self._writable
        except StreamClosedError:
            pass  # the application closed its stream: everything it wrote was read first
        except asyncio.CancelledError:
            return  # the connection is gone (connection_lost)
        except Exception:
            gen_log.error("Error relaying a detached TLS connection", exc_info=True)
            relay.close()
        self._pump_task = None
        transport.close()  # sends what is buffered, then TLS's close_notify
