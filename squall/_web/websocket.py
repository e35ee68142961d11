"""WebSocketHandler: Tornado's WebSocket API on the upgrade hand-off and squall._ws.

``get`` validates the upgrade, writes the ``101`` through the normal response path (so the
access log shows ``101 GET /ws``), marks the handler finished and hands the transport to a
:class:`~squall._ws.protocol.WebSocketProtocol`; from then on the protocol calls back through
:class:`_HandlerDelegate`. The handler talks to its connection only through
``ws_connection`` and Tornado's protocol methods (``write_message``, ``write_ping``,
``close``, ``is_closing``, ``set_nodelay``), so code and tests that put an object of their own
there (a mock) work as on Tornado. This is the only ``_web`` module that imports ``_ws``.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any
from urllib.parse import urlparse

from squall import escape
from squall._web.handler import RequestHandler
from squall._ws import handshake
from squall._ws.protocol import WebSocketClosedError, WebSocketError, WebSocketProtocol
from squall.log import gen_log

__all__ = ["WebSocketClosedError", "WebSocketError", "WebSocketHandler"]

DEFAULT_MAX_MESSAGE_SIZE = 10 * 1024 * 1024  # bytes: Tornado's websocket_max_message_size
_NOT_SUPPORTED = "Method not supported for Web Sockets"


class WebSocketHandler(RequestHandler):
    """Subclass to serve WebSockets: override :meth:`open`, :meth:`on_message`, :meth:`on_close`.

    ``open`` and ``on_message`` may be coroutines: messages are delivered one at a time, in
    order, each after the previous call (and ``open``) has completed. Send with
    :meth:`write_message`; end with :meth:`close`. Application settings:
    ``websocket_ping_interval`` (seconds between keepalive pings; off by default),
    ``websocket_ping_timeout`` (close a peer that does not answer a ping within this many
    seconds, with 1000 "ping timed out"; default: the interval; 0: never; at most the
    interval), ``websocket_max_message_size`` (default 10 MiB; a larger message closes the
    connection with 1009 "message too big"). A flood of small frames that arrives at once is
    handled 128 frames per turn of the event loop, so other connections keep being served.

    After the upgrade, the HTTP response methods (``write``, ``finish``, ``set_header``, ...)
    raise ``RuntimeError``.

    Origins: a request without ``Origin`` (not a browser) is accepted; so is one whose
    ``Sec-Fetch-Site`` is ``same-origin`` or ``none``, or, without ``Sec-Fetch-Site``, whose
    ``Origin`` names the request's ``Host``. Any other is accepted only if
    :meth:`check_origin` says so (403 otherwise); by default that is the case for the origins
    listed in the ``trusted_origins`` application setting.
    """

    close_code: int | None = None
    close_reason: str | None = None
    open_args: tuple[Any, ...] = ()
    open_kwargs: dict[str, Any] = {}
    #: The connection (a :class:`~squall._ws.protocol.WebSocketProtocol`) once upgraded; None
    #: before, and again once :meth:`close` was called or the connection is gone. Assignable.
    ws_connection: Any = None
    _upgraded = False
    _on_close_called = False
    _nodelay: bool | None = None
    _selected_subprotocol: str | None = None

    # -- the handshake -----------------------------------------------------------------------

    async def get(self, *args: Any, **kwargs: Any) -> None:
        """Validate the upgrade request and switch protocols (400, 403 or 426 if refused)."""
        self.open_args = args
        self.open_kwargs = kwargs
        headers = self.request.headers
        error = handshake.upgrade_error(headers.get("Upgrade", ""), headers.get("Connection", ""))
        if error is not None:
            self._refuse(400, error)
            return
        origin = headers.get("Origin")
        if origin is not None and not self._origin_allowed(origin):
            self._refuse(403, "Cross origin websockets not allowed")
            return
        try:
            accepted = handshake.accept(
                self.request.version,
                headers.get_all(),
                compression=self.get_compression_options(),
                max_message_size=self.max_message_size,
            )
        except handshake.HandshakeError as exc:
            for name, value in exc.headers.items():
                self.set_header(name, value)
            self._refuse(exc.status, exc.message)
            return
        offered = headers.get("Sec-WebSocket-Protocol")
        subprotocols = [s.strip() for s in offered.split(",")] if offered else []
        selected = self.select_subprotocol(subprotocols)
        if selected:
            if selected not in subprotocols:
                raise ValueError(
                    f"select_subprotocol() returned {selected!r}, which the client did not "
                    f"offer ({subprotocols!r}): return one of them or None"
                )
            self._selected_subprotocol = selected
            self.set_header("Sec-WebSocket-Protocol", selected)
        self._switch(accepted)

    def _origin_allowed(self, origin: str) -> bool:
        """Same-origin requests pass; the others are for :meth:`check_origin` to decide."""
        headers = self.request.headers
        fetch_site = headers.get("Sec-Fetch-Site")
        if fetch_site is not None:
            # Set by the browser, which a page cannot forge: the most reliable signal.
            if fetch_site in ("same-origin", "none"):
                return True
        elif _same_host(origin, headers.get("Host")):
            return True
        return bool(self.check_origin(origin))

    def _refuse(self, status: int, message: str) -> None:
        gen_log.debug(message)
        self.set_status(status)
        self.finish(message)

    def _switch(self, accepted: handshake.Handshake) -> None:
        self.set_status(101)
        for name, value in accepted.headers:
            self.set_header(name, value)
        for name in ("Content-Type", "Content-Length", "Etag"):
            self.clear_header(name)
        RequestHandler.flush(self)
        self._upgraded = True
        delegate = _HandlerDelegate(self)
        protocol = WebSocketProtocol(
            accepted.codec,
            delegate,
            ping_interval=self.ping_interval,
            ping_timeout=self.ping_timeout,
            nodelay=self._nodelay,
        )
        protocol.selected_subprotocol = self._selected_subprotocol
        delegate.protocol = protocol
        # The 101 is the whole HTTP response: log it and run on_finish now, as Tornado does.
        self._finished = True
        self.application.log_request(self)
        self.on_finish()
        self.ws_connection = protocol
        connection = self.request.connection
        if connection is None:
            raise RuntimeError("A WebSocket upgrade needs a request with a connection")
        try:
            connection.upgrade(protocol)
        except RuntimeError:
            gen_log.debug("Client went away before the WebSocket upgrade of %s", self.request.uri)
            self.ws_connection = None
            self._notify_close()

    # -- override points ---------------------------------------------------------------------

    def open(self, *args: Any, **kwargs: Any) -> Awaitable[None] | None:
        """Called when the connection is open, with the URL's path arguments; may be async."""
        return None

    def on_message(self, message: str | bytes) -> Awaitable[None] | None:
        """Handle a message (str for text, bytes for binary); may be async. Must be overridden."""
        raise NotImplementedError()

    def on_close(self) -> None:
        """Called once when the connection closes (``close_code``/``close_reason`` are set)."""

    def on_ping(self, data: bytes) -> None:
        """Called when a ping arrives (it has already been answered)."""

    def on_pong(self, data: bytes) -> None:
        """Called when a pong arrives."""

    def select_subprotocol(self, subprotocols: list[str]) -> str | None:
        """Pick one of the client's ``Sec-WebSocket-Protocol`` values, or None (the default)."""
        return None

    def get_compression_options(self) -> dict[str, Any] | None:
        """Return a dict (possibly empty) to allow permessage-deflate; None (default) disables it.

        Keys: ``compression_level`` (zlib level, default 6) and ``mem_level`` (default 8)."""
        return None

    def check_origin(self, origin: str) -> bool:
        """Whether to accept a cross-origin request with this ``Origin`` (False answers 403).

        Called after ``prepare`` (so it may use what ``prepare`` set up), and only for
        requests that are not known to be same-origin (see the class docstring). The default
        calls ``check_trusted_origin(origin)`` where the handler has one, else accepts the
        origins listed in the ``trusted_origins`` setting (exact strings, such as
        ``"https://app.example.com"``). Override to allow more (mind cross-site WebSocket
        hijacking when authentication uses cookies)."""
        checker = getattr(self, "check_trusted_origin", None)
        if checker is not None:
            return bool(checker(origin))
        return origin in self.settings.get("trusted_origins", ())

    # -- properties and settings -------------------------------------------------------------

    @property
    def selected_subprotocol(self) -> str | None:
        """The subprotocol chosen by :meth:`select_subprotocol`, or None."""
        return self._selected_subprotocol

    @property
    def ping_interval(self) -> float | None:
        """The ``websocket_ping_interval`` setting (None: no keepalive pings)."""
        value: float | None = self.settings.get("websocket_ping_interval")
        return value

    @property
    def ping_timeout(self) -> float | None:
        """The ``websocket_ping_timeout`` setting (None: the ping interval; 0: no timeout)."""
        value: float | None = self.settings.get("websocket_ping_timeout")
        return value

    @property
    def max_message_size(self) -> int:
        """The ``websocket_max_message_size`` setting (bytes; default 10 MiB)."""
        value: int = self.settings.get("websocket_max_message_size", DEFAULT_MAX_MESSAGE_SIZE)
        return value

    # -- sending and closing -----------------------------------------------------------------

    def write_message(
        self, message: str | bytes | dict[str, Any], binary: bool = False
    ) -> Awaitable[None]:
        """Send a message: str or bytes, or a dict as JSON; ``binary`` sends a binary frame.

        Returns an awaitable that resolves once the transport can take more (await it to
        respect back-pressure). Raises :class:`WebSocketClosedError` if the connection is
        closed or closing; the awaitable raises it if the connection is lost meanwhile."""
        ws = self.ws_connection
        if ws is None or ws.is_closing():
            raise WebSocketClosedError("WebSocket is closed: cannot write a message")
        if isinstance(message, dict):
            message = escape.json_encode(message)
        result: Awaitable[None] = ws.write_message(message, binary=binary)
        return result

    def ping(self, data: str | bytes = b"") -> None:
        """Send a ping (``data`` at most 125 bytes); the answer comes to :meth:`on_pong`."""
        payload = escape.utf8(data)
        if len(payload) > 125:
            raise ValueError(f"ping data is {len(payload)} bytes: a control frame holds 125")
        ws = self.ws_connection
        if ws is None or ws.is_closing():
            raise WebSocketClosedError("WebSocket is closed: cannot send a ping")
        ws.write_ping(payload)

    def close(self, code: int | None = None, reason: str | None = None) -> None:
        """Start the closing handshake (``code`` 1000 if only a reason is given).

        Does nothing before the upgrade or once closing; the connection is dropped if the
        peer has not completed the handshake within a few seconds. ``ws_connection`` is None
        from here on (writing raises :class:`WebSocketClosedError`); ``on_close`` runs once
        the connection is gone."""
        if code is None and reason is not None:
            code = 1000
        ws = self.ws_connection
        if ws is not None:
            ws.close(code, reason)
            self.ws_connection = None

    def set_nodelay(self, value: bool) -> None:
        """Set TCP_NODELAY (send small messages at once); may be called before or in open."""
        self._nodelay = value
        if self.ws_connection is not None:
            self.ws_connection.set_nodelay(value)

    def on_connection_close(self) -> None:
        """The connection closed before the upgrade completed: ``on_close`` still runs once."""
        super().on_connection_close()
        self._notify_close()

    def _notify_close(self) -> None:
        if not self._on_close_called:
            self._on_close_called = True
            self.on_close()

    def send_error(self, status_code: int = 500, **kwargs: Any) -> None:
        """Before the upgrade, an error page as usual; after it, nothing (the log has it)."""
        if not self._upgraded:
            super().send_error(status_code, **kwargs)

    # -- HTTP output is over once the connection is a WebSocket -------------------------------

    def write(self, chunk: str | bytes | dict[str, Any]) -> None:
        """Raise RuntimeError after the upgrade; else as in ``RequestHandler``."""
        if self._upgraded:
            raise RuntimeError(_NOT_SUPPORTED)
        super().write(chunk)

    def finish(self, chunk: str | bytes | dict[str, Any] | None = None) -> Awaitable[None]:
        """Raise RuntimeError after the upgrade; else as in ``RequestHandler``."""
        if self._upgraded:
            raise RuntimeError(_NOT_SUPPORTED)
        return super().finish(chunk)

    def flush(self, include_footers: bool = False, callback: Any = None) -> Awaitable[None]:
        """Raise RuntimeError after the upgrade; else as in ``RequestHandler``."""
        if self._upgraded:
            raise RuntimeError(_NOT_SUPPORTED)
        return super().flush(include_footers, callback)

    def set_status(self, status_code: int, reason: str | None = None) -> None:
        """Raise RuntimeError after the upgrade; else as in ``RequestHandler``."""
        if self._upgraded:
            raise RuntimeError(_NOT_SUPPORTED)
        super().set_status(status_code, reason)

    def set_header(self, name: str, value: Any) -> None:
        """Raise RuntimeError after the upgrade; else as in ``RequestHandler``."""
        if self._upgraded:
            raise RuntimeError(_NOT_SUPPORTED)
        super().set_header(name, value)

    def set_cookie(self, name: str, value: str | bytes, *args: Any, **kwargs: Any) -> None:
        """Raise RuntimeError after the upgrade; else as in ``RequestHandler``."""
        if self._upgraded:
            raise RuntimeError(_NOT_SUPPORTED)
        super().set_cookie(name, value, *args, **kwargs)

    def redirect(self, url: str, permanent: bool = False, status: int | None = None) -> None:
        """Raise RuntimeError after the upgrade; else as in ``RequestHandler``."""
        if self._upgraded:
            raise RuntimeError(_NOT_SUPPORTED)
        super().redirect(url, permanent, status)


def _same_host(origin: str, host: str | None) -> bool:
    """Whether ``origin`` (a URL) names ``host`` (a Host header: host[:port]), any case."""
    return host is not None and urlparse(origin.lower()).netloc == host.lower()


class _HandlerDelegate:
    """The :class:`~squall._ws.protocol.WebSocketDelegate` of one handler."""

    __slots__ = ("_handler", "protocol")

    def __init__(self, handler: WebSocketHandler) -> None:
        self._handler = handler
        self.protocol: WebSocketProtocol | None = None

    def opened(self) -> Awaitable[None] | None:
        """Run ``open`` with the path arguments."""
        handler = self._handler
        return handler.open(*handler.open_args, **handler.open_kwargs)

    def message_received(self, message: str | bytes) -> Awaitable[None] | None:
        """Run ``on_message``."""
        return self._handler.on_message(message)

    def ping_received(self, data: bytes) -> None:
        """Run ``on_ping``."""
        self._handler.on_ping(data)

    def pong_received(self, data: bytes) -> None:
        """Run ``on_pong``."""
        self._handler.on_pong(data)

    def closed(self) -> None:
        """Record the peer's close code and reason, forget the connection, run ``on_close``."""
        handler = self._handler
        protocol = self.protocol
        if protocol is not None:
            handler.close_code = protocol.close_code
            handler.close_reason = protocol.close_reason
        handler.ws_connection = None
        handler._notify_close()

    def log_exception(self, exc: BaseException) -> None:
        """Log through the handler, as an uncaught exception in a request would be."""
        self._handler.log_exception(type(exc), exc, exc.__traceback__)
