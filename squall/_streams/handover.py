"""A stream over a socket taken from an asyncio transport: what Tornado's ``detach()`` returns.

squall's HTTP server reads and writes through the event loop's transports (``squall._http1``),
but Tornado code can take a connection over (``request.connection.detach()``,
``RequestHandler.detach()``) and expects an ``IOStream`` that owns the socket.
:func:`take_over` makes one. It duplicates the transport's descriptor, gives the transport a
protocol that hears nothing but its end (so the HTTP layer is not told that the connection
closed), closes the transport (which closes its own descriptor only: the connection lives on in
the duplicate, and no FIN is sent while a descriptor of it is open) and wraps the duplicate in a
:class:`HandedOverStream`.

Rules:

1. The bytes the HTTP layer read but did not use (``data``: a request body not delivered yet,
   what followed an upgrade or CONNECT request) are in the stream's read buffer before anything
   the socket gives.
2. What the transport still had to send goes out before anything written to the stream: while
   the transport holds unsent bytes, the stream *holds*: its writes queue and it does not watch
   the descriptor; once the transport has flushed and closed, the stream starts
   (:meth:`HandedOverStream.release`).
3. A TLS transport keeps its connection: its TLS session lives inside the transport (asyncio's
   and uvloop's TLS run over memory buffers) and cannot move to a socket. The stream is then
   one end of a socket pair relayed through the transport (``squall._streams.tlsrelay``).
"""

from __future__ import annotations

import asyncio
import os
import socket as _socket
from typing import Any

from squall._streams.errors import StreamClosedError
from squall._streams.sockets import IOStream
from squall._streams.tlsrelay import relay_tls

__all__ = ["HandedOverStream", "take_over"]


class HandedOverStream(IOStream):
    """An :class:`~squall.iostream.IOStream` over a socket an HTTP connection handed over.

    It behaves as any ``IOStream`` over a connected socket. ``data`` is readable at once; while
    ``held`` (the transport it came from still sends its last bytes) writes queue and nothing
    is read from the socket, until :meth:`release`."""

    def __init__(
        self, socket: _socket.socket, data: bytes = b"", *, held: bool = False, **kwargs: Any
    ) -> None:
        self._held = held  # read by _update_watch, which IOStream.__init__ calls
        super().__init__(socket, **kwargs)
        if held:
            self._connecting = True  # BaseIOStream.write queues while connecting
        if data:
            self._read_buffer += data
            self._update_watch()  # idle with data waiting: not reading (BaseIOStream rule 3)

    def _update_watch(self) -> None:
        if not self._held:
            super()._update_watch()

    def release(self) -> None:
        """The transport has sent what it held and closed: send what was written meanwhile,
        and start watching the socket."""
        if not self._held:
            return
        self._held = False
        self._connecting = False
        if self._closed:
            return
        self._flush()
        self._update_watch()


class _Released(asyncio.Protocol):
    """The transport's protocol once its socket is handed over: it waits for the end only."""

    def __init__(self, stream: HandedOverStream | None) -> None:
        self._stream = stream

    def connection_lost(self, exc: Exception | None) -> None:
        """The transport flushed (or failed to) and closed: the stream may write now."""
        stream, self._stream = self._stream, None
        if stream is not None:
            stream.release()


def take_over(transport: Any, data: bytes = b"") -> HandedOverStream:
    """Take the socket of ``transport`` (an asyncio or uvloop socket transport) as a stream.

    ``data`` goes first into the stream's read buffer. The transport is closed (its protocol
    is replaced first, so the old protocol hears nothing more); a TLS transport instead stays
    open under a relay (rule 3 of the module). Raises StreamClosedError for a transport that
    is closing or has no socket any more, leaving it as it was."""
    if transport.is_closing():
        raise StreamClosedError()
    if transport.get_extra_info("ssl_object") is not None:
        return relay_tls(transport, data, HandedOverStream)
    raw = transport.get_extra_info("socket")
    if raw is None:
        raise StreamClosedError()
    fd = os.dup(raw.fileno())
    try:
        sock = _socket.socket(fileno=fd)
    except OSError:
        os.close(fd)
        raise
    held = transport.get_write_buffer_size() > 0
    try:
        stream = HandedOverStream(sock, data, held=held)
    except BaseException:
        sock.close()
        raise
    transport.set_protocol(_Released(stream if held else None))
    transport.close()
    return stream
