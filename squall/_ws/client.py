"""Tornado's WebSocket client (``websocket_connect``, ``WebSocketClientConnection``) on
squall's own stack: a ``TCPClient`` connection (an ``IOStream``), the handshake of
:mod:`squall._ws.client_handshake`, and a :class:`~squall._ws.client_session.ClientSession`
(the same message layer as the server end).

How this works
--------------
:class:`WebSocketClientConnection` starts connecting at construction (its
``connect_future``): connect (``resolver``, TLS options and ``connect_timeout`` from the
request), then the handshake, bounded by the request's ``request_timeout``. From then on the
session calls the connection through :class:`_ClientDelegate`, and messages go to
``on_message``: to an ``on_message_callback``, or to the buffer
:meth:`WebSocketClientConnection.read_message` takes from; ``None`` marks the end.

Rule: reading waits while a message waits for ``read_message`` (one is buffered), so a client
that does not read holds back its server through TCP, as in Tornado.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from websockets.exceptions import InvalidURI
from websockets.typing import Subprotocol
from websockets.uri import parse_uri

from squall import escape
from squall._streams.sockets import IOStream
from squall._ws import client_handshake as opening
from squall._ws.client_session import ClientSession
from squall._ws.codec import CODEC_LOG, ClientCodec
from squall._ws.delegate import WebSocketClosedError
from squall.httputil import HTTPHeaders
from squall.ioloop import IOLoop
from squall.log import app_log
from squall.tcpclient import TCPClient

__all__ = ["DEFAULT_MAX_MESSAGE_SIZE", "WebSocketClientConnection", "websocket_connect"]

DEFAULT_MAX_MESSAGE_SIZE = 10 * 1024 * 1024  # bytes, as for the server end

MessageCallback = Callable[[str | bytes | None], object]


class _ClientDelegate:
    """The :class:`~squall._ws.delegate.WebSocketDelegate` of a client connection."""

    __slots__ = ("_conn",)

    def __init__(self, conn: WebSocketClientConnection) -> None:
        self._conn = conn

    def opened(self) -> None:
        """Nothing to run: the connection object is handed out once the handshake is done."""

    def message_received(self, message: str | bytes) -> Awaitable[None] | None:
        """Hand the message to ``on_message`` (may return an awaitable: rule 1)."""
        return self._conn.on_message(message)

    def ping_received(self, data: bytes) -> None:
        """Run ``on_ping``."""
        self._conn.on_ping(data)

    def pong_received(self, data: bytes) -> None:
        """Run ``on_pong``."""
        self._conn.on_pong(data)

    def closed(self) -> None:
        """The connection is gone: ``None`` goes to the reader or the callback."""
        self._conn._finish()

    def log_exception(self, exc: BaseException) -> None:
        """Log an exception from a callback (the connection then closes with 1011)."""
        app_log.error(
            "Uncaught exception in a WebSocket client callback: %r",
            exc,
            exc_info=(type(exc), exc, exc.__traceback__),
        )


class WebSocketClientConnection:
    """A client WebSocket connection (usually made by :func:`websocket_connect`).

    Constructing one starts connecting; ``connect_future`` resolves to the connection once
    the handshake is done. Messages go to ``on_message_callback`` if one was given (and
    ``None`` once closed); otherwise :meth:`read_message` returns them. Subclasses may
    override :meth:`on_message`, :meth:`on_ping` and :meth:`on_pong`.

    Attributes: ``request`` (the ``HTTPRequest``), ``headers`` (the ``101`` response's
    ``HTTPHeaders``), ``stream`` (the ``IOStream``), ``protocol`` (the
    :class:`ClientSession`; None once :meth:`close` was called), ``close_code`` and
    ``close_reason`` (what the server's close frame said), ``selected_subprotocol``, and
    ``code``/``reason``, which are None as in Tornado (they describe a refused handshake,
    which raises instead)."""

    def __init__(
        self,
        request: Any,
        on_message_callback: MessageCallback | None = None,
        compression_options: Mapping[str, Any] | None = None,
        ping_interval: float | None = None,
        ping_timeout: float | None = None,
        max_message_size: int | None = DEFAULT_MAX_MESSAGE_SIZE,
        subprotocols: list[str] | None = None,
        resolver: Any = None,
    ) -> None:
        self.request = request
        self.headers: HTTPHeaders | None = None
        self.stream: IOStream | None = None
        self.protocol: ClientSession | None = None
        self.code: int | None = None
        self.reason: str | None = None
        self._session: ClientSession | None = None
        self._callback = on_message_callback
        self._messages: deque[str | bytes | None] = deque()
        self._readers: deque[asyncio.Future[str | bytes | None]] = deque()
        self._space: asyncio.Future[None] | None = None  # rule 1: a message waits for a reader
        self._finished = False
        self._reader: asyncio.Task[None] | None = None
        loop = IOLoop.current().asyncio_loop
        self.connect_future: asyncio.Future[WebSocketClientConnection] = loop.create_task(
            self._connect(
                compression_options,
                ping_interval,
                ping_timeout,
                max_message_size,
                subprotocols,
                resolver,
            )
        )

    # -- Tornado's interface -----------------------------------------------------------------

    @property
    def selected_subprotocol(self) -> str | None:
        """The subprotocol the server selected, or None."""
        session = self._session
        return None if session is None else session.selected_subprotocol

    @property
    def close_code(self) -> int | None:
        """The code of the server's close frame (None before it, or if it had none)."""
        return None if self._session is None else self._session.close_code

    @property
    def close_reason(self) -> str | None:
        """The reason of the server's close frame (None if none)."""
        return None if self._session is None else self._session.close_reason

    def get_websocket_protocol(self) -> ClientSession | None:
        """The connection's protocol object (None once closed by :meth:`close`)."""
        return self.protocol

    def on_message(self, message: str | bytes) -> Awaitable[None] | None:
        """Called with each message: the default hands it to the callback or the reader."""
        return self._on_message(message)

    def on_ping(self, data: bytes) -> None:
        """Called when a ping arrives (it has already been answered)."""

    def on_pong(self, data: bytes) -> None:
        """Called when a pong arrives."""

    def read_message(
        self, callback: Callable[[asyncio.Future[Any]], object] | None = None
    ) -> asyncio.Future[str | bytes | None]:
        """A future for the next message; it resolves to None once the connection is closed.

        Not available with ``on_message_callback``. ``callback(future)`` (legacy) is called
        when the future resolves."""
        if self._callback is not None:
            raise RuntimeError("read_message() cannot be used with an on_message_callback")
        future: asyncio.Future[str | bytes | None] = IOLoop.current().asyncio_loop.create_future()
        if self._messages:
            message = self._messages.popleft()
            if message is None:
                self._messages.append(None)  # every later read also sees the end
            future.set_result(message)
            space = self._space
            if space is not None and not space.done():
                space.set_result(None)
        elif self._finished:
            future.set_result(None)
        else:
            self._readers.append(future)
        if callback is not None:
            future.add_done_callback(callback)
        return future

    def write_message(
        self, message: str | bytes | dict[str, Any], binary: bool = False
    ) -> Awaitable[None]:
        """Send a message (a dict as JSON); the future resolves once it has been written.

        Raises :class:`WebSocketClosedError` if the connection is closed or closing."""
        protocol = self.protocol
        if protocol is None or protocol.is_closing():
            raise WebSocketClosedError("WebSocket is closed: cannot write a message")
        return protocol.write_message(message, binary)

    def ping(self, data: str | bytes = b"") -> None:
        """Send a ping (at most 125 bytes of ``data``); the answer comes to :meth:`on_pong`."""
        payload = escape.utf8(data)
        if len(payload) > 125:
            raise ValueError(f"ping data is {len(payload)} bytes: a control frame holds 125")
        protocol = self.protocol
        if protocol is None or protocol.is_closing():
            raise WebSocketClosedError("WebSocket is closed: cannot send a ping")
        protocol.write_ping(payload)

    def close(self, code: int | None = None, reason: str | None = None) -> None:
        """Start the closing handshake (an empty close frame when ``code`` is None; 1000 when
        only a ``reason`` is given). Does nothing once closed."""
        protocol = self.protocol
        if protocol is not None:
            protocol.close(code, reason)
            self.protocol = None

    async def wait_closed(self) -> None:
        """Wait until the connection is closed and its end delivered (not in Tornado)."""
        if self._reader is not None:
            await asyncio.shield(self._reader)

    # -- message delivery --------------------------------------------------------------------

    def _on_message(self, message: str | bytes | None) -> Awaitable[None] | None:
        if self._callback is not None:
            self._callback(message)
            return None
        readers = self._readers
        while readers:
            reader = readers.popleft()
            if not reader.done():
                reader.set_result(message)
                return None
        self._messages.append(message)
        if message is None:
            return None
        space: asyncio.Future[None] = IOLoop.current().asyncio_loop.create_future()
        self._space = space
        return space

    def _finish(self) -> None:
        """The connection is gone: deliver None (once) and wake every read."""
        if self._finished:
            return
        self._finished = True
        if self._callback is not None:
            try:
                self._callback(None)
            except Exception:
                app_log.error("Uncaught exception in on_message_callback", exc_info=True)
            return
        self._on_message(None)
        while self._readers:
            reader = self._readers.popleft()
            if not reader.done():
                reader.set_result(None)

    # -- connecting --------------------------------------------------------------------------

    async def _connect(
        self,
        compression_options: Mapping[str, Any] | None,
        ping_interval: float | None,
        ping_timeout: float | None,
        max_message_size: int | None,
        subprotocols: list[str] | None,
        resolver: Any,
    ) -> WebSocketClientConnection:
        request = self.request
        try:
            uri = parse_uri(request.url)
        except InvalidURI as exc:
            raise ValueError(f"Not a ws:// or wss:// URL: {request.url!r} ({exc})") from None
        extensions = None
        if compression_options is not None:
            extensions = [opening.deflate_offer(compression_options)]
        codec = ClientCodec(
            uri,
            extensions=extensions,
            subprotocols=[Subprotocol(p) for p in subprotocols] if subprotocols else None,
            max_size=max_message_size,
            logger=CODEC_LOG,
        )
        connect_timeout = opening.seconds(request.connect_timeout)
        request_timeout = opening.seconds(request.request_timeout)
        client = TCPClient(resolver=resolver)
        try:
            stream = await client.connect(
                uri.host,
                uri.port,
                ssl_options=opening.ssl_options(request) if uri.secure else None,
                timeout=connect_timeout,
            )
        except TimeoutError:
            raise opening.timeout_error("Timeout while connecting") from None
        finally:
            client.close()
        self.stream = stream
        try:
            response = await asyncio.wait_for(
                opening.handshake(stream, codec, request), timeout=request_timeout
            )
        except BaseException as exc:
            stream.close()
            if isinstance(exc, TimeoutError):
                raise opening.timeout_error("Timeout during request") from None
            raise
        self.headers = opening.http_headers(response)
        session = ClientSession(
            stream,
            codec,
            _ClientDelegate(self),
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
        )
        session.selected_subprotocol = codec.subprotocol
        self._session = self.protocol = session
        self._reader = session.run()
        return self


def websocket_connect(
    url: Any,
    callback: Callable[[asyncio.Future[WebSocketClientConnection]], object] | None = None,
    connect_timeout: float | None = None,
    on_message_callback: MessageCallback | None = None,
    compression_options: Mapping[str, Any] | None = None,
    ping_interval: float | None = None,
    ping_timeout: float | None = None,
    max_message_size: int | None = DEFAULT_MAX_MESSAGE_SIZE,
    subprotocols: list[str] | None = None,
    resolver: Any = None,
) -> asyncio.Future[WebSocketClientConnection]:
    """Connect to ``url`` (a ``ws://``/``wss://`` string or an ``HTTPRequest``); a future.

    The future resolves to a :class:`WebSocketClientConnection`, or raises
    ``HTTPClientError`` if the server answered without upgrading (403, 404, a redirect...),
    ``WebSocketError`` for a 2xx answer or an invalid ``101``, ``OSError`` if the server
    could not be reached, and ``HTTPClientError`` 599 on a timeout (``connect_timeout`` for
    connecting, the request's ``request_timeout`` for the handshake; 20 s each by default).
    ``compression_options`` (a dict, even empty: ``compression_level``, ``mem_level``)
    offers permessage-deflate; ``ping_interval``/``ping_timeout``/``max_message_size`` mean
    what the server settings of the same names mean; ``subprotocols`` are offered in order
    (see ``selected_subprotocol``); ``resolver`` resolves the host (a ``squall.netutil``
    Resolver). ``callback(future)`` is the legacy form. May be called before the event loop
    runs (the connection starts once it does).
    """
    from squall.httpclient import HTTPRequest  # upward, lazily: the request type

    if isinstance(url, str):
        request = HTTPRequest(url, connect_timeout=connect_timeout)
    else:
        request = url
        if connect_timeout is not None:
            request.connect_timeout = connect_timeout
    conn = WebSocketClientConnection(
        request,
        on_message_callback=on_message_callback,
        compression_options=compression_options,
        ping_interval=ping_interval,
        ping_timeout=ping_timeout,
        max_message_size=max_message_size,
        subprotocols=subprotocols,
        resolver=resolver,
    )
    future = conn.connect_future
    if callback is not None:
        future.add_done_callback(callback)
    return future
