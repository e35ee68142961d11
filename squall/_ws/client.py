"""Tornado's WebSocket client (``websocket_connect``, ``WebSocketClientConnection``) on
squall's own stack: a ``TCPClient`` connection (an ``IOStream``), the handshake and framing
of ``websockets``' sans-IO client codec, and the same :class:`~squall._ws.session.Session`
as the server end.

How this works
--------------
:class:`WebSocketClientConnection` starts :func:`_open` at construction (its
``connect_future``): connect (``resolver``, TLS options and ``connect_timeout`` from the
request), write the upgrade request the codec builds (with the request's own headers), read
the response head. A ``101`` the codec accepts becomes a :class:`ClientSession` on the
stream; any other status raises ``HTTPClientError`` (a 2xx: ``WebSocketError``, the server
did not upgrade). From then on a read loop feeds the session, the session calls the
connection through :class:`_ClientDelegate`, and messages go to ``on_message`` (an
``on_message_callback`` or the queue :meth:`WebSocketClientConnection.read_message` takes
from; ``None`` marks the end).

Rules:

1. Reading waits while a message is waiting for ``read_message`` (one is buffered): a client
   that does not read holds back its server through TCP, as in Tornado.
2. Closing is bounded: once a close frame was sent or received, the stream is closed if the
   server has not closed the connection ``close_timeout`` seconds later.
3. A keepalive pong that does not come within ``ping_timeout`` closes with 1000
   "ping timed out", as the server end does.
"""

from __future__ import annotations

import asyncio
import base64
import re
import ssl
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from websockets.exceptions import InvalidURI
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory
from websockets.frames import CloseCode
from websockets.http11 import Response
from websockets.protocol import OPEN
from websockets.typing import Subprotocol
from websockets.uri import parse_uri

from squall import escape
from squall._streams.errors import StreamClosedError
from squall._streams.sockets import IOStream
from squall._util import wake_waiters
from squall._ws.codec import CODEC_LOG, ClientCodec
from squall._ws.delegate import WebSocketClosedError, WebSocketError
from squall._ws.keepalive import Timers
from squall._ws.protocol import PING_TIMED_OUT
from squall._ws.session import Session
from squall.httputil import HTTPHeaders
from squall.ioloop import IOLoop
from squall.log import app_log
from squall.tcpclient import TCPClient

__all__ = [
    "DEFAULT_MAX_MESSAGE_SIZE",
    "ClientSession",
    "WebSocketClientConnection",
    "websocket_connect",
]

DEFAULT_MAX_MESSAGE_SIZE = 10 * 1024 * 1024  # bytes, as for the server end
DEFAULT_TIMEOUT = 20.0  # seconds: Tornado's connect_timeout and request_timeout defaults
MAX_RESPONSE_HEAD = 65536  # bytes: the longest handshake response head accepted
READ_SIZE = 65536  # bytes asked of the stream per read
_HEAD_END = re.compile(rb"\r?\n\r?\n")
# Headers the handshake sets itself: the request's own values for these are not sent.
_HANDSHAKE_HEADERS = frozenset(
    {
        "upgrade",
        "connection",
        "sec-websocket-key",
        "sec-websocket-version",
        "sec-websocket-extensions",
        "sec-websocket-protocol",
    }
)

MessageCallback = Callable[[str | bytes | None], object]


class ClientSession(Session):
    """The client end of one connection, on an ``IOStream`` (Tornado's client ``protocol``).

    ``stream`` is the stream; the rest of the interface is :class:`Session`'s. Instances take
    attributes of their own, so a method can be wrapped per connection."""

    __slots__ = (
        "__dict__",
        "_last_write",
        "_loop",
        "_read_paused",
        "_resume",
        "_timers",
        "_waiters",
        "stream",
    )

    def __init__(
        self,
        stream: IOStream,
        codec: ClientCodec,
        delegate: _ClientDelegate,
        *,
        ping_interval: float | None = None,
        ping_timeout: float | None = None,
        close_timeout: float = 5.0,
    ) -> None:
        super().__init__(codec, delegate)
        self.stream = stream
        self._loop = asyncio.get_running_loop()
        self._timers = Timers(self._loop, ping_interval, ping_timeout, close_timeout)
        self._timers.on(self._keepalive, self._timed_out, self._abort)
        self._read_paused = False
        self._resume: asyncio.Future[None] | None = None
        self._last_write: asyncio.Future[None] | None = None
        self._waiters: list[asyncio.Future[None]] = []  # writes not yet handed to the stream

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
        """Seconds the server has to close the connection once closing started (default 5)."""
        return self._timers.close_timeout

    @close_timeout.setter
    def close_timeout(self, value: float) -> None:
        self._timers.close_timeout = value

    def set_nodelay(self, value: bool) -> None:
        """Set TCP_NODELAY on the socket (True sends small messages without delay)."""
        if not self.stream.closed():
            self.stream.set_nodelay(value)

    # -- running -----------------------------------------------------------------------------

    def run(self) -> asyncio.Task[None]:
        """Start: keepalive timer, the (no-op) opening, then the read loop (a task)."""
        self._timers.start()
        self._start()
        self._flush()
        return self._loop.create_task(self._read_loop())

    async def _read_loop(self) -> None:
        stream = self.stream
        try:
            while not self._closed:
                if self._read_paused:
                    self._resume = self._loop.create_future()
                    await self._resume
                    continue
                self._receive(await stream.read_bytes(READ_SIZE, partial=True))
        except StreamClosedError:
            pass
        if not self._closed:
            # The server closed the connection: let the codec conclude, then end.
            self._codec.receive_eof()
            self._flush()
            self._connection_lost()

    def _connection_lost(self) -> None:
        if self._closed:
            return
        self._timers.cancel()
        if not self.stream.closed():
            self.stream.close()
        waiters, self._waiters = self._waiters, []
        wake_waiters(waiters, WebSocketClosedError("WebSocket connection closed"))
        if self._resume is not None and not self._resume.done():
            self._resume.set_result(None)
        self._lost()

    # -- the transport side of Session -------------------------------------------------------

    def _write_out(self, writes: list[bytes]) -> None:
        if not writes:
            return
        stream = self.stream
        eof = not writes[-1]
        data = b"".join(writes)
        waiters, self._waiters = self._waiters, []
        if data and not stream.closed():
            self._wire_bytes_out += len(data)
            written = stream.write(data)
            self._last_write = written
            for waiter in waiters:
                _chain(written, waiter)
        else:
            wake_waiters(waiters, None if not data else WebSocketClosedError("closed"))
        if self._codec.state is not OPEN:
            self._timers.closing()
        if eof:
            # The codec ends the stream only once the server has closed it: close our end.
            self._loop.call_soon(self._connection_lost)

    def _drained(self) -> Awaitable[None]:
        waiter: asyncio.Future[None] = self._loop.create_future()
        if self._codec.writes:
            self._waiters.append(waiter)  # resolved by the next _write_out
        else:
            _chain(self._last_write, waiter)
        return waiter

    def _pause_reading(self) -> None:
        self._read_paused = True

    def _resume_reading(self) -> None:
        self._read_paused = False
        if self._resume is not None and not self._resume.done():
            self._resume.set_result(None)

    def _call_soon(self, callback: Callable[[], None]) -> None:
        self._loop.call_soon(callback)

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
        self._connection_lost()


def _chain(source: asyncio.Future[None] | None, target: asyncio.Future[None]) -> None:
    """Resolve ``target`` when ``source`` does (failing as WebSocketClosedError)."""

    def settle(done: asyncio.Future[None]) -> None:
        if target.done():
            return
        if done.cancelled() or done.exception() is not None:
            wake_waiters([target], WebSocketClosedError("WebSocket closed while writing"))
        else:
            target.set_result(None)

    if source is None:
        target.set_result(None)
    elif source.done():
        settle(source)
    else:
        source.add_done_callback(settle)


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
            extensions = [_deflate_offer(compression_options)]
        codec = ClientCodec(
            uri,
            extensions=extensions,
            subprotocols=[Subprotocol(p) for p in subprotocols] if subprotocols else None,
            max_size=max_message_size,
            logger=CODEC_LOG,
        )
        connect_timeout = _seconds(request.connect_timeout)
        request_timeout = _seconds(request.request_timeout)
        client = TCPClient(resolver=resolver)
        try:
            stream = await client.connect(
                uri.host,
                uri.port,
                ssl_options=_ssl_options(request) if uri.secure else None,
                timeout=connect_timeout,
            )
        except TimeoutError:
            raise _timeout_error("Timeout while connecting") from None
        finally:
            client.close()
        self.stream = stream
        try:
            response = await asyncio.wait_for(
                _handshake(stream, codec, request), timeout=request_timeout
            )
        except BaseException as exc:
            stream.close()
            if isinstance(exc, TimeoutError):
                raise _timeout_error("Timeout during the WebSocket handshake") from None
            raise
        self.headers = _http_headers(response)
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


def _seconds(value: Any) -> float:
    """A request timeout in seconds (Tornado's default of 20 s when None)."""
    if value is None:
        return DEFAULT_TIMEOUT
    if hasattr(value, "total_seconds"):
        return float(value.total_seconds())
    return float(value)


def _deflate_offer(options: Mapping[str, Any]) -> ClientPerMessageDeflateFactory:
    """A permessage-deflate offer from Tornado-style ``compression_options``."""
    return ClientPerMessageDeflateFactory(
        client_max_window_bits=True,
        compress_settings={
            "level": options.get("compression_level", 6),
            "memLevel": options.get("mem_level", 8),
        },
    )


def _ssl_options(request: Any) -> ssl.SSLContext | Mapping[str, Any]:
    """TLS settings for a ``wss://`` request: its ``ssl_options``, or a context built from
    ``validate_cert``, ``ca_certs``, ``client_cert`` and ``client_key``."""
    options = getattr(request, "ssl_options", None)
    if options is not None:
        return options  # type: ignore[no-any-return]  # an SSLContext or a dict: given as is
    context = ssl.create_default_context(cafile=getattr(request, "ca_certs", None))
    if getattr(request, "validate_cert", None) is False:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    client_cert = getattr(request, "client_cert", None)
    if client_cert is not None:
        context.load_cert_chain(client_cert, getattr(request, "client_key", None))
    return context


async def _handshake(stream: IOStream, codec: ClientCodec, request: Any) -> Response:
    """Write the upgrade request; read and check the response head. Raises HTTPClientError
    for a non-101 status (WebSocketError for a 2xx), WebSocketError for a bad 101."""
    upgrade = codec.connect()
    headers = upgrade.headers
    for name, value in request.headers.get_all():
        if name.lower() in _HANDSHAKE_HEADERS:
            continue
        if name.lower() == "host":
            del headers["Host"]
        headers[name] = value
    if request.user_agent and "User-Agent" not in headers:
        headers["User-Agent"] = request.user_agent
    username = getattr(request, "auth_username", None)
    if username is not None and "Authorization" not in headers:
        mode = getattr(request, "auth_mode", None) or "basic"
        if mode != "basic":
            raise ValueError(f"WebSocket requests support auth_mode 'basic', not {mode!r}")
        token = f"{username}:{request.auth_password or ''}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(token).decode("ascii")
    codec.send_request(upgrade)
    await stream.write(b"".join(codec.data_to_send()))
    try:
        head = await stream.read_until_regex(_HEAD_END, max_bytes=MAX_RESPONSE_HEAD)
    except StreamClosedError:
        raise WebSocketError("Connection closed before the WebSocket handshake response") from None
    code, reason = _status(head)
    if code != 101:
        if 200 <= code < 300:
            raise WebSocketError(f"Non-websocket response: HTTP {code} {reason}")
        from squall.httpclient import HTTPClientError  # upward, lazily: the client's error type

        raise HTTPClientError(code, reason or None)
    codec.receive_data(head)
    events = codec.events_received()
    if codec.handshake_exc is not None:
        raise WebSocketError(f"Invalid WebSocket handshake: {codec.handshake_exc}")
    if codec.state is not OPEN or not events or not isinstance(events[0], Response):
        raise WebSocketError("Invalid WebSocket handshake response")
    return events[0]


def _status(head: bytes) -> tuple[int, str]:
    """The status code and reason of a response head (WebSocketError if it has none)."""
    line = head.split(b"\n", 1)[0].decode("latin-1").strip()
    parts = line.split(None, 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        raise WebSocketError(f"Not an HTTP response to the WebSocket handshake: {line!r}")
    return int(parts[1]), parts[2] if len(parts) > 2 else ""


def _http_headers(response: Response) -> HTTPHeaders:
    """The response's headers as ``HTTPHeaders``."""
    headers = HTTPHeaders()
    for name, value in response.headers.raw_items():
        headers.add(name, value)
    return headers


def _timeout_error(message: str) -> Exception:
    """Tornado's error for a timed-out connect or handshake: HTTP 599 with ``message``."""
    from squall.httpclient import HTTPClientError  # upward, lazily: the client's error type

    return HTTPClientError(599, message)


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
