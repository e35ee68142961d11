"""The delegate interfaces between the protocol layer and applications (``squall.httputil``).

The HTTP/1.1 protocol calls an :class:`HTTPServerConnectionDelegate` for each request and
feeds the :class:`HTTPMessageDelegate` it returns; the response goes out through the
:class:`HTTPConnection` the protocol offers. Applications and servers subclass these freely,
so they stay plain Python classes even in the compiled build (``squall._compiled``); the
compiled classes that derive from them (``Application``) get a ``__dict__`` from them. The
contract's two exceptions live here too, for the same reason (and so that ``_forms``, below
``httputil``, can raise :class:`HTTPInputError`).
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, ClassVar

from squall._types import MaybeAwaitable

if TYPE_CHECKING:
    import asyncio

    from squall.httputil import HTTPHeaders, RequestStartLine, ResponseStartLine

__all__ = [
    "HTTPConnection",
    "HTTPInputError",
    "HTTPMessageDelegate",
    "HTTPOutputError",
    "HTTPServerConnectionDelegate",
]


class HTTPInputError(Exception):
    """The peer sent a malformed HTTP message (a bad start line, header or body framing).

    ``status_code`` is the status a server should answer with (400 unless more specific)."""

    def __init__(self, message: str, status_code: int = 400) -> None:
        super().__init__(message)
        self.status_code = status_code


class HTTPOutputError(Exception):
    """The application produced an invalid HTTP message, e.g. more bytes than its Content-Length."""


class HTTPMessageDelegate:
    """Receives one HTTP message (a request, on the server side).

    Any method may return an awaitable: the connection then stops reading (and delivering)
    until it resolves, which is how a slow consumer applies back-pressure to an upload."""

    def headers_received(
        self, start_line: RequestStartLine | ResponseStartLine, headers: HTTPHeaders
    ) -> MaybeAwaitable:
        """Called once the start line and headers have been read."""
        return None

    def data_received(self, chunk: bytes) -> MaybeAwaitable:
        """Called with each piece of the body, in order (already de-chunked and inflated)."""
        return None

    def finish(self) -> None:
        """Called after the last body byte has been received."""

    def on_connection_close(self) -> None:
        """Called if the connection closes before :meth:`finish` was called."""


class HTTPServerConnectionDelegate:
    """Creates a message delegate for each request on a server connection.

    ``sets_server_header``: False (the default) lets the server add ``Server: squall/<version>``
    to responses that lack one; a delegate that manages the header itself (``Application``,
    whose handlers may clear it) sets it True."""

    sets_server_header: ClassVar[bool] = False

    def start_request(
        self, server_conn: object, request_conn: HTTPConnection
    ) -> HTTPMessageDelegate:
        """Return the :class:`HTTPMessageDelegate` for a new request on ``request_conn``.

        ``server_conn`` identifies the underlying connection (one per TCP connection)."""
        raise NotImplementedError()

    def on_close(self, server_conn: object) -> None:
        """Called when the connection ``server_conn`` is closed."""


class HTTPConnection:
    """The write side of one request/response exchange, offered by the protocol layer."""

    def write_headers(
        self,
        start_line: ResponseStartLine | RequestStartLine,
        headers: HTTPHeaders,
        chunk: bytes | None = None,
    ) -> Awaitable[None]:
        """Write the start line, the headers and optionally the first body chunk.

        Returns an awaitable that resolves when the transport can take more data."""
        raise NotImplementedError()

    def write(self, chunk: bytes) -> Awaitable[None]:
        """Write a body chunk; the awaitable resolves when the transport can take more data."""
        raise NotImplementedError()

    def finish(self) -> None:
        """Mark the response complete."""
        raise NotImplementedError()

    def set_close_callback(self, callback: Any) -> None:
        """Call ``callback()`` (no arguments) if the connection closes before the response ends."""
        raise NotImplementedError()

    def set_body_timeout(self, timeout: float) -> None:
        """Override the body timeout of the current request (seconds, a total)."""
        raise NotImplementedError()

    def set_max_body_size(self, max_body_size: int) -> None:
        """Override the body size limit of the current request (bytes)."""
        raise NotImplementedError()

    def upgrade(self, protocol: asyncio.BaseProtocol) -> None:
        """Hand the transport to ``protocol`` after a ``101`` response (WebSocket hand-off).

        Bytes the peer already sent after the request are delivered to
        ``protocol.data_received``. Only valid for a request that asked to upgrade."""
        raise NotImplementedError()
