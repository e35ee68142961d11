"""A non-blocking, single-threaded HTTP/1.1 server (Tornado's ``tornado.httpserver``).

    from squall.httpserver import HTTPServer
    from squall.ioloop import IOLoop

    def handle_request(request):
        ...

    server = HTTPServer(app)          # an Application, any HTTPServerConnectionDelegate,
    server.listen(8888)               # or a plain callable taking an HTTPServerRequest
    IOLoop.current().start()

Limits and timeouts have safe defaults (see :class:`HTTPServer`); one deliberate difference
from Tornado: a body over ``max_body_size`` gets ``413 Content Too Large``, not ``400``.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Awaitable, Callable
from typing import Any

from squall import version as _version
from squall._http1 import HTTP1Params
from squall._http1.context import TrustedProxies
from squall._server import Server
from squall._util import DONE
from squall.httputil import (
    FormError,
    HTTPConnection,
    HTTPHeaders,
    HTTPInputError,
    HTTPMessageDelegate,
    HTTPServerConnectionDelegate,
    HTTPServerRequest,
    RequestStartLine,
    ResponseStartLine,
    parse_response_start_line,
)
from squall.log import app_log, gen_log
from squall.netutil import bind_sockets, ssl_options_to_context

__all__ = ["HTTPRequest", "HTTPServer"]

#: Tornado's alias.
HTTPRequest = HTTPServerRequest

_DEFAULT_BACKLOG = 128


class HTTPServer(HTTPServerConnectionDelegate):
    """An HTTP/1.1 server for an ``Application``, a delegate, or a callable.

    ``request_callback`` is an :class:`~squall.httputil.HTTPServerConnectionDelegate` (such as
    ``squall.web.Application``) or a plain callable ``handle_request(request)``; a callable gets
    the request once its whole body has been read, and answers through
    ``request.connection.write_headers/write/finish`` (or the legacy ``request.write``).

    Arguments (Tornado's, same meaning, safer defaults where noted):

    - ``no_keep_alive``: close every connection after one response.
    - ``xheaders``: take the client's address, scheme and host from ``X-Real-Ip``/
      ``X-Forwarded-For``, ``X-Scheme``/``X-Forwarded-Proto``, ``X-Forwarded-Host`` and RFC 7239
      ``Forwarded`` (behind a proxy), **only when the connection comes from a trusted proxy**:
      ``forwarded_allow_ips`` (squall's keyword: addresses, CIDR networks or ``"*"``, a list or a
      comma-separated string; default ``SQUALL_FORWARDED_ALLOW_IPS``, else ``127.0.0.1``) or
      ``trusted_downstream`` (Tornado's: more proxy addresses, also skipped when the chain is
      walked right to left). Unix-socket peers are trusted. See ``squall._http1.context``.
    - ``proxy_protocol`` (squall's keyword): every connection starts with a PROXY protocol v1 or
      v2 header (HAProxy, AWS NLB), which gives the client's address; not with ``ssl_options``.
    - ``ssl_options``: an ``ssl.SSLContext``, or a dict of ``wrap_socket`` arguments
      (``certfile`` required; a missing file fails here, in the constructor).
    - ``protocol``: force ``request.protocol`` (e.g. ``"https"`` behind a TLS proxy).
    - ``decompress_request``: inflate ``Content-Encoding: gzip`` request bodies; the inflated size
      counts against ``max_body_size``.
    - ``chunk_size`` (64 KiB): the largest body piece handed to a delegate.
    - ``max_header_size`` (64 KiB): start line plus headers; beyond it ``431`` (``414`` for a
      request target alone over the limit). ``max_headers`` (100 fields): beyond it ``431``.
    - ``max_body_size`` (100 MiB): beyond it ``413`` (Tornado answers ``400``). Defaults to
      ``max_buffer_size`` when only that is given.
    - ``header_timeout`` (10 s): close a connection that has not sent a complete request head.
    - ``body_timeout`` (None): a total limit for reading a body; by default a minimum-rate rule
      applies instead (20 s to start, plus 1 s per 500 bytes received).
    - ``idle_connection_timeout`` (75 s; Tornado: 3600 s): close idle keep-alive connections.

    ``io_loop=`` is accepted and ignored (Tornado 4 code passes it, even positionally)."""

    def __init__(
        self,
        request_callback: HTTPServerConnectionDelegate | Callable[[HTTPServerRequest], Any],
        no_keep_alive: bool = False,
        xheaders: bool = False,
        ssl_options: ssl.SSLContext | dict[str, Any] | None = None,
        protocol: str | None = None,
        decompress_request: bool = False,
        chunk_size: int | None = None,
        max_header_size: int | None = None,
        idle_connection_timeout: float | None = None,
        body_timeout: float | None = None,
        max_body_size: int | None = None,
        max_buffer_size: int | None = None,
        trusted_downstream: list[str] | None = None,
        *,
        header_timeout: float | None = None,
        max_headers: int | None = None,
        forwarded_allow_ips: str | list[str] | None = None,
        proxy_protocol: bool = False,
        io_loop: Any = None,
        gzip: bool | None = None,
    ) -> None:
        if not isinstance(xheaders, bool) and hasattr(xheaders, "add_timeout"):
            # Tornado 4 order: (callback, no_keep_alive, io_loop, xheaders, ssl_options, ...):
            # everything after the io_loop slot moves one place to the left.
            shifted: tuple[Any, ...] = (
                ssl_options,
                protocol,
                decompress_request,
                chunk_size,
                max_header_size,
                idle_connection_timeout,
                body_timeout,
                max_body_size,
                max_buffer_size,
                trusted_downstream,
            )
            xheaders = bool(shifted[0])
            ssl_options, protocol = shifted[1] or None, shifted[2] or None
            decompress_request, chunk_size = bool(shifted[3]), shifted[4]
            max_header_size, idle_connection_timeout = shifted[5], shifted[6]
            body_timeout, max_body_size, max_buffer_size = shifted[7], shifted[8], shifted[9]
            trusted_downstream = None
        if gzip is not None:
            decompress_request = decompress_request or gzip
        self.request_callback = request_callback
        self._callback: Callable[[HTTPServerRequest], Any] | None = None
        if isinstance(request_callback, HTTPServerConnectionDelegate):
            delegate: HTTPServerConnectionDelegate = request_callback
        elif callable(request_callback):
            delegate = self
            self._callback = request_callback
        else:
            raise TypeError(
                "HTTPServer needs an Application, an HTTPServerConnectionDelegate or a "
                f"callable taking a request; got {request_callback!r}"
            )
        if max_body_size is None:
            max_body_size = max_buffer_size
        allow: TrustedProxies | None = None
        if forwarded_allow_ips is not None:
            if isinstance(forwarded_allow_ips, str):
                allow = TrustedProxies.parse(forwarded_allow_ips)
            else:
                allow = TrustedProxies(tuple(str(ip).strip() for ip in forwarded_allow_ips))
        values: dict[str, Any] = {
            "forwarded_allow_ips": allow,
            "no_keep_alive": no_keep_alive,
            "xheaders": xheaders,
            "trusted_downstream": frozenset(trusted_downstream or ()),
            "protocol": protocol,
            "decompress": decompress_request,
            "chunk_size": chunk_size,
            "max_header_size": max_header_size,
            "max_headers": max_headers,
            "max_body_size": max_body_size,
            "header_timeout": header_timeout,
            "body_timeout": body_timeout,
            "idle_connection_timeout": idle_connection_timeout,
            # A delegate that sets (or deliberately clears) Server itself gets none added.
            "server_header": "" if delegate.sets_server_header else f"squall/{_version}",
        }
        self.params = HTTP1Params(**{k: v for k, v in values.items() if v is not None})
        self.ssl_options = ssl_options
        ssl_context = None if ssl_options is None else ssl_options_to_context(ssl_options)
        if proxy_protocol and ssl_context is not None:
            raise ValueError(
                "proxy_protocol with ssl_options is not supported: terminate TLS at the proxy"
            )
        self._ssl_context = ssl_context
        self.delegate = delegate
        self.proxy_protocol = proxy_protocol
        self._server = Server(delegate, self.params, ssl_context, proxy_protocol=proxy_protocol)
        self._pending_sockets: list[socket.socket] = []
        self._started = False

    # -- the HTTPServerConnectionDelegate used for plain callables ----------------------------

    def start_request(
        self, server_conn: object, request_conn: HTTPConnection
    ) -> HTTPMessageDelegate:
        """Wrap a plain ``request_callback``: read the whole body, then call it."""
        if self._callback is None:
            raise RuntimeError("HTTPServer.start_request() is only used for a plain callable")
        return _CallableAdapter(self._callback, server_conn, request_conn)

    def on_close(self, server_conn: object) -> None:
        """Connections need no bookkeeping here (the protocol's registry has them)."""

    # -- sockets and lifecycle ---------------------------------------------------------------

    def listen(
        self,
        port: int,
        address: str | None = "",
        family: socket.AddressFamily = socket.AF_UNSPEC,
        backlog: int = _DEFAULT_BACKLOG,
        flags: int | None = None,
        reuse_port: bool = False,
    ) -> None:
        """Bind ``port`` on ``address`` and start serving at once (single process).

        ``""`` or None means every interface. Call ``IOLoop.current().start()`` afterwards."""
        sockets = bind_sockets(port, address, family, backlog, flags, reuse_port)
        self.add_sockets(sockets)

    def bind(
        self,
        port: int,
        address: str | None = None,
        family: socket.AddressFamily = socket.AF_UNSPEC,
        backlog: int = _DEFAULT_BACKLOG,
        flags: int | None = None,
        reuse_port: bool = False,
    ) -> None:
        """Bind ``port`` on ``address``; serving starts with :meth:`start`.

        May be called several times before ``start`` (several ports or interfaces). After
        ``start`` the new sockets are served at once. A hostname binds all its addresses."""
        sockets = bind_sockets(port, address, family, backlog, flags, reuse_port)
        if self._started:
            self.add_sockets(sockets)
        else:
            self._pending_sockets.extend(sockets)

    def start(self, num_processes: int | None = 1, max_restarts: int | None = None) -> None:
        """Start serving the sockets given to :meth:`bind`.

        ``num_processes=1`` (the default) serves in this process. Any other value forks
        (``None`` or ``<= 0``: one child per usable CPU) and each child serves the sockets on
        its own, fresh event loop; see :func:`squall.process.fork_processes`."""
        if self._started:
            raise RuntimeError("HTTPServer.start() called twice")
        if num_processes != 1:
            from squall import process  # the process layer only when forking

            process.note_autoreload(self.request_callback)
            process.fork_processes(num_processes, max_restarts)
        self._started = True
        sockets, self._pending_sockets = self._pending_sockets, []
        self.add_sockets(sockets)

    def add_sockets(self, sockets: list[socket.socket]) -> None:
        """Serve already-listening ``sockets`` (from :func:`squall.netutil.bind_sockets`)."""
        from squall._supervisor.worker_guard import register_drain
        from squall.ioloop import IOLoop  # no event loop before a fork

        self._started = True
        loop = IOLoop.current().asyncio_loop
        self._server.add_sockets(list(sockets), loop)
        register_drain(self.drain, loop)  # a forked child drains this server on SIGTERM

    def add_socket(self, socket: socket.socket) -> None:
        """Serve one already-listening socket."""
        self.add_sockets([socket])

    def stop(self) -> None:
        """Stop accepting new connections and close the listening sockets.

        Connections already open carry on; see :meth:`drain` for a graceful shutdown."""
        self._server.stop()
        for sock in self._pending_sockets:
            sock.close()
        self._pending_sockets.clear()

    async def drain(self, timeout: float = 25.0) -> bool:  # noqa: ASYNC109 - public API
        """Graceful shutdown: stop accepting, close idle keep-alive connections at once, let
        requests in flight finish (their responses carry ``Connection: close``), and close what
        is left after ``timeout`` seconds. Returns True if nothing had to be cut off."""
        return await self._server.drain(timeout)

    async def close_all_connections(self) -> None:
        """Close every open connection now, idle or busy (mainly for tests)."""
        await self._server.close_all_connections()

    @property
    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context built from ``ssl_options`` (None without TLS)."""
        return self._ssl_context

    @property
    def started(self) -> bool:
        """True once this server was given sockets (``listen``, ``add_sockets``, ``start``)."""
        return self._started or bool(self._pending_sockets)

    @property
    def sockets(self) -> list[socket.socket]:
        """The listening sockets being served."""
        return self._server.sockets

    @property
    def _sockets(self) -> dict[int, socket.socket]:
        """Tornado's ``TCPServer._sockets``: the listening sockets by file descriptor. Test
        helpers of Tornado-based projects read it to find the port a server listens on."""
        return {sock.fileno(): sock for sock in self._server.sockets}


class _CallableAdapter(HTTPMessageDelegate):
    """Collects a whole request, then hands it to a plain ``request_callback(request)``."""

    def __init__(
        self,
        callback: Callable[[HTTPServerRequest], Any],
        server_conn: object,
        request_conn: HTTPConnection,
    ) -> None:
        self._callback = callback
        self._server_conn = server_conn
        self._conn: HTTPConnection = _LegacyWrites(request_conn)
        self._request: HTTPServerRequest | None = None
        self._chunks: list[bytes] = []
        self._refused: HTTPInputError | None = None  # a request the peer got wrong

    def headers_received(
        self, start_line: RequestStartLine | ResponseStartLine, headers: HTTPHeaders
    ) -> Awaitable[None] | None:
        """Build the request object."""
        assert isinstance(start_line, RequestStartLine)  # server side only
        try:
            self._request = HTTPServerRequest(
                connection=self._conn,
                server_connection=self._server_conn,
                start_line=start_line,
                headers=headers,
            )
        except HTTPInputError as exc:  # e.g. a query with too many fields: 400, as Tornado
            gen_log.info("Malformed HTTP request: %s", exc)
            self._refused = exc
        return None

    def data_received(self, chunk: bytes) -> Awaitable[None] | None:
        """Collect a body piece."""
        self._chunks.append(chunk)
        return None

    def finish(self) -> None:
        """Parse form arguments (a malformed body is logged, not fatal) and call back."""
        if self._refused is not None:
            self._conn.write_headers(
                ResponseStartLine("HTTP/1.1", self._refused.status_code, "Bad Request"),
                HTTPHeaders({"Content-Length": "0"}),
            )
            self._conn.finish()
            return
        request = self._request
        assert request is not None
        request.body = b"".join(self._chunks)
        try:
            request._parse_body()
        except FormError as exc:
            gen_log.warning("Invalid request body from %s: %s", request.remote_ip, exc)
        result = self._callback(request)
        if result is not None and hasattr(result, "__await__"):
            task = asyncio.ensure_future(result)
            task.add_done_callback(_log_callback_failure)


class _LegacyWrites(HTTPConnection):
    """The connection a plain ``request_callback`` gets: the request's own, except that bytes
    written before any ``write_headers`` are a whole raw HTTP response, as Tornado's legacy
    interface allows (``request.connection.write(b"HTTP/1.1 200 OK\\r\\n...")``): once its
    head is complete it is parsed and sent through ``write_headers`` (so the connection
    still frames the body and keeps alive correctly), and the rest goes out as body."""

    def __init__(self, conn: HTTPConnection) -> None:
        self._conn = conn
        self._head_sent = False
        self._raw = b""

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)  # the connection's other attributes (context...)

    def write_headers(
        self,
        start_line: ResponseStartLine | RequestStartLine,
        headers: HTTPHeaders,
        chunk: bytes | None = None,
    ) -> Awaitable[None]:
        """Send the response head (see the connection)."""
        self._head_sent = True
        return self._conn.write_headers(start_line, headers, chunk)

    def write(self, chunk: bytes) -> Awaitable[None]:
        """Body bytes; before any head, bytes of a raw response (see the class)."""
        if self._head_sent:
            return self._conn.write(chunk)
        self._raw += chunk
        head, blank, rest = self._raw.partition(b"\r\n\r\n")
        if not blank:
            return DONE  # the head is not complete yet: nothing to send
        first, _, fields = head.decode("latin-1").partition("\r\n")
        try:
            start_line = parse_response_start_line(first)
            headers = HTTPHeaders.parse(fields)
        except HTTPInputError as exc:
            raise ValueError(f"request.connection.write() got a malformed response: {exc}") from exc
        self._raw = b""
        return self.write_headers(start_line, headers, rest)

    def finish(self) -> None:
        """End the response (a raw head that never completed is an error)."""
        if self._raw:
            raise ValueError(
                "request.connection.finish() with an incomplete raw response head: write "
                "the status line and headers, ending with a blank line, first"
            )
        self._conn.finish()

    def set_close_callback(self, callback: Any) -> None:
        """See the connection."""
        self._conn.set_close_callback(callback)

    def set_body_timeout(self, timeout: float) -> None:
        """See the connection."""
        self._conn.set_body_timeout(timeout)

    def set_max_body_size(self, max_body_size: int) -> None:
        """See the connection."""
        self._conn.set_max_body_size(max_body_size)

    def upgrade(self, protocol: asyncio.BaseProtocol) -> None:
        """See the connection."""
        self._conn.upgrade(protocol)


def _log_callback_failure(task: asyncio.Future[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        app_log.error("Uncaught exception in request callback", exc_info=task.exception())
