"""``HTTP1ServerConnection``: the request loop of one server-side HTTP/1.1 connection.

For code that accepts connections itself (a ``TCPServer.handle_stream``) and wants to serve
HTTP on the stream with any ``HTTPServerConnectionDelegate``, an ``Application`` included:

    class Server(TCPServer):
        async def handle_stream(self, stream, address):
            HTTP1ServerConnection(stream).start_serving(application)

Requests are served one at a time (HTTP/1.1 pipelining is read in order); the loop ends when
either side closes or a request cannot keep the connection alive. squall's own
``HTTPServer`` does not use this (it has its own protocol layer on asyncio transports).
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

from squall._h1stream.connection import HTTP1Connection, HTTP1ConnectionParameters
from squall._streams.base import BaseIOStream
from squall._streams.errors import StreamClosedError, UnsatisfiableReadError
from squall._streams.sockets import SSLIOStream
from squall.httputil import HTTPServerConnectionDelegate
from squall.log import gen_log

__all__ = ["HTTP1ServerConnection", "StreamContext"]


class StreamContext:
    """What a request learns of its peer when no context is given: ``remote_ip`` (None when
    the stream is not a socket), ``address`` and ``protocol`` (``https`` over TLS)."""

    def __init__(self, stream: BaseIOStream) -> None:
        self.address: Any = None
        sock = stream.fileno()
        if isinstance(sock, socket.socket):
            try:
                self.address = sock.getpeername()
            except OSError:
                self.address = None
        if isinstance(self.address, tuple) and self.address:
            self.remote_ip: str | None = str(self.address[0])
        else:
            self.remote_ip = None
        self.protocol = "https" if isinstance(stream, SSLIOStream) else "http"

    def __str__(self) -> str:
        return self.remote_ip or "a local peer"


class HTTP1ServerConnection:
    """Serves HTTP/1.1 requests arriving on ``stream`` (see the module docstring).

    ``params`` (:class:`HTTP1ConnectionParameters`) applies to every request; ``context`` is
    handed to each :class:`HTTP1Connection` (default: a :class:`StreamContext` of the
    stream, giving requests their ``remote_ip`` and ``protocol``).
    """

    def __init__(
        self,
        stream: BaseIOStream,
        params: HTTP1ConnectionParameters | None = None,
        context: object = None,
    ) -> None:
        self.stream = stream
        self.params = params if params is not None else HTTP1ConnectionParameters()
        self.context = context if context is not None else StreamContext(stream)
        self._serving_future: asyncio.Future[None] | None = None

    def start_serving(self, delegate: HTTPServerConnectionDelegate) -> None:
        """Start reading requests and handing them to ``delegate`` (``start_request`` for
        each, ``on_close`` when the connection ends). Returns at once."""
        if self._serving_future is not None:
            raise RuntimeError("HTTP1ServerConnection.start_serving() called twice")
        self.stream.set_nodelay(True)
        future = self.stream.io_loop.asyncio_loop.create_task(self._serve(delegate))
        self._serving_future = future

    async def close(self) -> None:
        """Close the stream and wait for the request loop to end."""
        self.stream.close()
        if self._serving_future is None:
            return
        try:
            await self._serving_future
        except Exception:
            pass  # already logged by the loop

    async def _serve(self, delegate: HTTPServerConnectionDelegate) -> None:
        try:
            while True:
                connection = HTTP1Connection(self.stream, False, self.params, self.context)
                request_delegate = delegate.start_request(self, connection)
                try:
                    keep_going = await connection.read_response(request_delegate)
                except (StreamClosedError, UnsatisfiableReadError):
                    return  # the peer went away, or sent a head too large (logged by the stream)
                except Exception:
                    gen_log.error("Uncaught exception serving %s", self.context, exc_info=True)
                    connection.close()
                    return
                if not keep_going:
                    return
                await asyncio.sleep(0)  # let other connections run between requests
        finally:
            try:
                delegate.on_close(self)
            except Exception:
                gen_log.error("Uncaught exception in on_close", exc_info=True)
