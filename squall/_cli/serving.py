"""Each worker's ``serve()``: load APP, serve it with the options' limits, count, log, drain.

Around every request of the app, ``squall serve`` adds (``_Request`` and ``_Connection``):

- the **concurrency cap** (``--limit-concurrency``): with that many requests in flight in this
  worker, a new request gets ``503 Service Unavailable`` with ``Retry-After: 1`` and
  ``Connection: close``, and the app never sees it;
- a **request id**: ``X-Request-Id`` from the client when it is short and printable (a proxy's
  id), else a new one; the app reads it as ``request.headers["X-Request-Id"]`` and the
  response carries it back;
- ``--root-path``: a path under the prefix is served without it, and the app is told the
  prefix in ``X-Forwarded-Prefix``;
- counting (in flight, served, durations, status classes) for the heartbeats and metrics, and
  the access line (``logsetup``), which replaces the application's own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import select
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any

from squall._cli.appload import load_app, plan_server
from squall._cli.listeners import describe
from squall._cli.logsetup import DEFAULT_ACCESS_FORMAT
from squall._cli.options import ServeOptions
from squall._cli.tls import TLSError
from squall._server import Server
from squall._supervisor.worker import BootError, Serve, Worker
from squall.httputil import (
    HTTPConnection,
    HTTPHeaders,
    HTTPMessageDelegate,
    HTTPServerConnectionDelegate,
    RequestStartLine,
    ResponseStartLine,
)
from squall.log import access_log, gen_log
from squall.netutil import bind_sockets

__all__ = ["make_serve"]

SETTLE_TIME = 1.0  # seconds at most spent accepting queued connections before closing
RETRY_AFTER = "1"  # seconds, in the 503 of the concurrency cap
_MAX_ID = 128
_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:+/=@")
_OVERLOADED = b"503 Service Unavailable: too many requests in flight, retry shortly\n"


def make_serve(options: ServeOptions, own_listener: tuple[str, int] | None) -> Serve:
    """The coroutine function each worker runs (``own_listener``: reuse-port host and port)."""
    settings = _Settings(options)

    async def serve(worker: Worker) -> None:
        target = await load_app(options.app)
        try:
            plan = plan_server(target, options)
        except TLSError as exc:
            raise BootError(str(exc)) from None
        _replace_access_line(plan.app)
        delegate = _ServingDelegate(plan.delegate, worker, settings)
        server = Server(delegate, plan.params, plan.ssl_context, proxy_protocol=plan.proxy_protocol)
        if own_listener is not None:
            host, port = own_listener
            sockets = bind_sockets(port, host, backlog=options.backlog, reuse_port=True)
        else:
            sockets = worker.sockets
            worker.on_recycle(server.stop)  # the replacement takes over the shared queue
        server.add_sockets(sockets, asyncio.get_running_loop())
        context = plan.ssl_context
        if context is not None and options.ssl_certfile:
            from squall._cli.appload import tls_config

            tls = tls_config(options)
            assert tls is not None
            worker.on_hup(lambda: _reload_certificates(tls, context))
        worker.ready()
        if not worker.supervised:
            for sock in sockets:
                gen_log.info("Listening on %s", describe(sock))
        try:
            await worker.wait_drain()
            await _settle_backlog(sockets)
            await server.drain(worker.time_left())
        except asyncio.CancelledError:  # a quick exit: cut every connection now
            server.stop()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(server.close_all_connections(), 0.5)
            raise

    return serve


def _reload_certificates(tls: Any, context: Any) -> None:
    try:
        tls.load_into(context)
    except TLSError as exc:
        gen_log.error("HUP: the TLS certificate was not reloaded: %s", exc)
    else:
        gen_log.info("HUP: reloaded the TLS certificate from %s", tls.certfile)


def _no_access_line(handler: object) -> None:
    """The application's access line, off: ``squall serve`` writes its own."""


def _replace_access_line(app: Any) -> None:
    # An Application without a log_function setting would log a second, shorter line.
    if getattr(app, "_log_function", False) is None:
        with contextlib.suppress(AttributeError, TypeError):
            app._log_function = _no_access_line


async def _settle_backlog(sockets: list[socket.socket]) -> None:
    """Before our listener closes, accept what the kernel already queued and read its request.

    Closing the last descriptor of a listening socket resets the connections in its queue;
    this way each of them gets served once (with ``Connection: close``)."""
    listening = [sock for sock in sockets if sock.fileno() != -1]
    if not listening:
        return
    loop = asyncio.get_running_loop()
    deadline = loop.time() + SETTLE_TIME
    while loop.time() < deadline:
        readable, _, _ = select.select(listening, [], [], 0)
        if not readable:
            break
        await asyncio.sleep(0.005)  # the server's accept handler runs meanwhile
    await asyncio.sleep(0.02)  # freshly accepted connections read their first request


class _Settings:
    """The per-request options, read once."""

    def __init__(self, options: ServeOptions) -> None:
        self.limit: int = options.limit_concurrency or 0
        self.root_path: str = options.root_path or ""
        self.access_format: str = options.access_log_format or DEFAULT_ACCESS_FORMAT
        self.id_prefix = os.urandom(4).hex()
        self.id_counter = 0

    def new_id(self) -> str:
        self.id_counter += 1
        return f"{self.id_prefix}{self.id_counter:08x}"


class _ServingDelegate(HTTPServerConnectionDelegate):
    """Wraps the app's delegate with the per-request work of the module docstring."""

    def __init__(
        self, inner: HTTPServerConnectionDelegate, worker: Worker, settings: _Settings
    ) -> None:
        self._inner = inner
        self._worker = worker
        self._settings = settings

    def start_request(
        self, server_conn: object, request_conn: HTTPConnection
    ) -> HTTPMessageDelegate:
        """A message delegate that decides (at the head) whether the app gets the request."""
        return _Request(self._inner, self._worker, self._settings, server_conn, request_conn)

    def on_close(self, server_conn: object) -> None:
        """Pass the close on to the app."""
        self._inner.on_close(server_conn)


class _Request(HTTPMessageDelegate):
    """The protocol's message delegate for one request; the app's comes behind it."""

    __slots__ = ("_conn", "_inner", "_msg", "_server_conn", "_settings", "_worker")

    def __init__(
        self,
        inner: HTTPServerConnectionDelegate,
        worker: Worker,
        settings: _Settings,
        server_conn: object,
        request_conn: HTTPConnection,
    ) -> None:
        self._inner = inner
        self._worker = worker
        self._settings = settings
        self._server_conn = server_conn
        self._conn = _Connection(request_conn, worker, settings)
        self._msg: HTTPMessageDelegate | None = None

    def headers_received(
        self, start_line: RequestStartLine | ResponseStartLine, headers: HTTPHeaders
    ) -> Awaitable[None] | None:
        """Note the request; answer 503 over the cap; else hand it to the app."""
        assert isinstance(start_line, RequestStartLine)
        settings = self._settings
        conn = self._conn
        request_id = headers.get("X-Request-Id")
        if (
            request_id is None
            or len(request_id) > _MAX_ID
            or not all(c in _ID_CHARS for c in request_id)
        ):
            request_id = settings.new_id()
            headers["X-Request-Id"] = request_id
        root = settings.root_path
        path = start_line.path
        if root and path.startswith(root) and path[len(root) : len(root) + 1] in ("", "/", "?"):
            rest = path[len(root) :]
            if not rest.startswith("/"):
                rest = "/" + rest
            start_line = RequestStartLine(start_line.method, rest, start_line.version)
            headers["X-Forwarded-Prefix"] = root
        conn.begin(start_line, headers, request_id)
        worker = self._worker
        if settings.limit and worker.inflight >= settings.limit:
            conn.overloaded()
            return None
        worker.request_started(f"{start_line.method} {path}")
        conn.counted = True
        msg = self._msg = self._inner.start_request(self._server_conn, conn)
        return msg.headers_received(start_line, headers)

    def data_received(self, chunk: bytes) -> Awaitable[None] | None:
        """Pass a body piece on (nothing, for a refused request)."""
        msg = self._msg
        return msg.data_received(chunk) if msg is not None else None

    def finish(self) -> None:
        """The body is complete."""
        if self._msg is not None:
            self._msg.finish()

    def on_connection_close(self) -> None:
        """The connection closed before the request was complete."""
        if self._msg is not None:
            self._msg.on_connection_close()


class _Connection(HTTPConnection):
    """The protocol's connection as the app sees it: it counts, tags and logs the response."""

    def __init__(self, inner: HTTPConnection, worker: Worker, settings: _Settings) -> None:
        self._inner = inner
        self._worker = worker
        self._settings = settings
        self._started = time.monotonic()
        self._done = False
        self._on_close: Callable[[], object] | None = None
        self.counted = False
        self.status = 0
        self.bytes = 0
        self.request_id = ""
        self._line: RequestStartLine | None = None
        self._headers: HTTPHeaders | None = None
        inner.set_close_callback(self._closed)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)  # context and whatever else the protocol offers

    def begin(self, start_line: RequestStartLine, headers: HTTPHeaders, request_id: str) -> None:
        """The request's head (for the access line)."""
        self._started = time.monotonic()
        self._line = start_line
        self._headers = headers
        self.request_id = request_id

    def overloaded(self) -> None:
        """Answer 503 (the concurrency cap) and close."""
        headers = HTTPHeaders(
            {
                "Content-Type": "text/plain; charset=utf-8",
                "Content-Length": str(len(_OVERLOADED)),
                "Retry-After": RETRY_AFTER,
                "Connection": "close",
            }
        )
        self.write_headers(
            ResponseStartLine("HTTP/1.1", 503, "Service Unavailable"), headers, _OVERLOADED
        )
        self.finish()

    def write_headers(
        self,
        start_line: ResponseStartLine | RequestStartLine,
        headers: HTTPHeaders,
        chunk: bytes | None = None,
    ) -> Awaitable[None]:
        """Note the status, add ``X-Request-Id``, pass on."""
        if isinstance(start_line, ResponseStartLine):
            self.status = start_line.code
        if "X-Request-Id" not in headers and self.request_id:
            checked = getattr(headers, "_checked", False)
            headers["X-Request-Id"] = self.request_id
            if checked:  # our value is safe: keep the handler's "already validated" mark
                with contextlib.suppress(AttributeError):
                    headers._checked = True
        if chunk:
            self.bytes += len(chunk)
        return self._inner.write_headers(start_line, headers, chunk)

    def write(self, chunk: bytes) -> Awaitable[None]:
        """Count and pass on."""
        self.bytes += len(chunk)
        return self._inner.write(chunk)

    def finish(self) -> None:
        """Pass on, then count the request as served and write the access line."""
        self._inner.finish()
        self._end()

    def set_close_callback(self, callback: Any) -> None:
        """Keep the app's callback; ours calls it."""
        self._on_close = callback

    def set_body_timeout(self, timeout: float) -> None:
        """Delegate."""
        self._inner.set_body_timeout(timeout)

    def set_max_body_size(self, max_body_size: int) -> None:
        """Delegate."""
        self._inner.set_max_body_size(max_body_size)

    def upgrade(self, protocol: asyncio.BaseProtocol) -> None:
        """Delegate; the request ends here as far as counting goes."""
        self._inner.upgrade(protocol)
        self._end()

    def detach(self) -> Any:
        """Delegate; the request ends here as far as counting goes."""
        stream = self._inner.detach()  # type: ignore[attr-defined]  # HTTP1Exchange's
        self._end()
        return stream

    def _closed(self) -> None:
        self._end()
        callback, self._on_close = self._on_close, None
        if callback is not None:
            callback()

    def _end(self) -> None:
        if self._done:
            return
        self._done = True
        duration = time.monotonic() - self._started
        if self.counted:
            self._worker.request_finished(duration, self.status)
        elif self.status:
            self._worker.count_status(self.status)
        if self._line is not None:
            self._access_line(duration)

    def _access_line(self, duration: float) -> None:
        status = self.status
        level = logging.INFO if status < 400 else logging.WARNING if status < 500 else logging.ERROR
        if not access_log.isEnabledFor(level) or access_log.disabled:
            return
        line = self._line
        headers = self._headers
        assert line is not None and headers is not None
        context = getattr(self._inner, "context", None)
        fields = {
            "remote": getattr(context, "remote_ip", None) or "-",
            "method": line.method,
            "path": line.path,
            "status": status,
            "bytes": self.bytes,
            "duration_ms": round(duration * 1000.0, 3),
            "user_agent": headers.get("User-Agent", "-"),
            "request_id": self.request_id,
            "referer": headers.get("Referer", "-"),
            "protocol": line.version,
        }
        try:
            text = self._settings.access_format.format(**fields)
        except (KeyError, ValueError, IndexError):
            text = DEFAULT_ACCESS_FORMAT.format(**fields)
        access_log.log(level, "%s", text, extra=fields)
