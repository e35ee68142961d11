"""The per-request layer ``squall serve`` puts around an app (``ServingDelegate`` and the two
objects it makes for every request).

- The **concurrency cap** (``--limit-concurrency``): with that many requests in flight in this
  worker, a new request gets ``503 Service Unavailable`` with ``Retry-After: 1`` and
  ``Connection: close``, and the app never sees it.
- A **request id**: ``X-Request-Id`` from the client when it is short and printable (a proxy's
  id), else a new one; the app reads it as ``request.headers["X-Request-Id"]`` and the
  response carries it back.
- ``--root-path``: a path under the prefix is served without it, and the app is told the
  prefix in ``X-Forwarded-Prefix``.
- Counting (in flight, served, durations, status classes) for the heartbeats and metrics, and
  the access line (``logsetup``), which replaces the application's own.

This module is compiled with the request path (``squall/_compiled.py``): it runs on every
request of a served app, so its classes derive from the Direct bases and the protocol and the
web layer call them directly. As a Python wrapper it cost a served app about 60,000 CPU
instructions per request (``bench/instructions.sh serve``), nearly doubling the server CPU per
request of the compiled build (``bench/serve.py``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import Any, Final

from squall._cli.logsetup import DEFAULT_ACCESS_FORMAT
from squall._supervisor.worker import Worker
from squall._types import MaybeAwaitable
from squall.httputil import (
    DirectConnection,
    DirectMessageDelegate,
    DirectServerDelegate,
    HTTPConnection,
    HTTPHeaders,
    HTTPMessageDelegate,
    HTTPServerConnectionDelegate,
    RequestStartLine,
    ResponseStartLine,
    connection_finish,
    connection_peer,
    connection_set_close_callback,
    connection_write_headers,
)
from squall.log import access_log

__all__ = ["RETRY_AFTER", "ServeSettings", "ServingConnection", "ServingDelegate"]

RETRY_AFTER: Final = "1"  # seconds, in the 503 of the concurrency cap
_MAX_ID: Final = 128
_ID_CHARS: Final = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:+/=@"
)
_OVERLOADED: Final = b"503 Service Unavailable: too many requests in flight, retry shortly\n"


class ServeSettings:
    """The per-request options of ``squall serve``, read once, and the request-id counter."""

    def __init__(self, limit: int | None, root_path: str | None, access_format: str | None) -> None:
        self.limit: int = limit or 0
        self.root_path: str = root_path or ""
        self.access_format: str = access_format or DEFAULT_ACCESS_FORMAT
        self.id_prefix: str = os.urandom(4).hex()
        self.id_counter: int = 0

    def new_id(self) -> str:
        """A request id unique to this worker: a random prefix and a counter, 8 hex digits each
        (the counter grows past 8 digits rather than wrap)."""
        self.id_counter += 1
        return self.id_prefix + hex(self.id_counter)[2:].zfill(8)


class ServingDelegate(DirectServerDelegate):
    """The app's server delegate, wrapped with the per-request work of the module docstring."""

    def __init__(
        self, inner: HTTPServerConnectionDelegate, worker: Worker, settings: ServeSettings
    ) -> None:
        self._inner = inner
        self._worker = worker
        self._settings = settings

    def start_request(
        self, server_conn: object, request_conn: HTTPConnection
    ) -> HTTPMessageDelegate:
        """A message delegate that decides (at the head) whether the app gets the request."""
        return _ServingRequest(self._inner, self._worker, self._settings, server_conn, request_conn)

    def on_close(self, server_conn: object) -> None:
        """Pass the close on to the app."""
        self._inner.on_close(server_conn)


def _valid_id(request_id: str) -> bool:
    if len(request_id) > _MAX_ID:
        return False
    for c in request_id:
        if c not in _ID_CHARS:
            return False
    return True


class _ServingRequest(DirectMessageDelegate):
    """The protocol's message delegate for one request; the app's comes behind it."""

    def __init__(
        self,
        inner: HTTPServerConnectionDelegate,
        worker: Worker,
        settings: ServeSettings,
        server_conn: object,
        request_conn: HTTPConnection,
    ) -> None:
        self._inner = inner
        self._worker = worker
        self._settings = settings
        self._server_conn = server_conn
        self._conn = ServingConnection(request_conn, worker, settings)
        self._msg: HTTPMessageDelegate | None = None

    def headers_received(
        self, start_line: RequestStartLine | ResponseStartLine, headers: HTTPHeaders
    ) -> MaybeAwaitable:
        """Note the request; answer 503 over the cap; else hand it to the app."""
        assert isinstance(start_line, RequestStartLine)
        settings = self._settings
        conn = self._conn
        request_id = headers.get("X-Request-Id")
        if request_id is None or not _valid_id(request_id):
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
        worker.request_started(f"{start_line.method} {path}" if worker.names_requests else None)
        conn.counted = True
        msg = self._msg = self._inner.start_request(self._server_conn, conn)
        return msg.headers_received(start_line, headers)

    def data_received(self, chunk: bytes) -> MaybeAwaitable:
        """Pass a body piece on (nothing, for a refused request)."""
        msg = self._msg
        return msg.data_received(chunk) if msg is not None else None

    def finish(self) -> None:
        """The body is complete."""
        msg = self._msg
        if msg is not None:
            msg.finish()

    def on_connection_close(self) -> None:
        """The connection closed before the request was complete."""
        msg = self._msg
        if msg is not None:
            msg.on_connection_close()


class ServingConnection(DirectConnection):
    """The protocol's connection as the app sees it: it counts, tags and logs the response.

    The rest of what Tornado code uses on ``request.connection`` (``context``, ``stream``,
    ``detach()``, the body limits, ``upgrade``) reaches the protocol's connection unchanged.
    (Listed, not forwarded by ``__getattr__``: a compiled class deriving from the Python
    interface cannot define it.)"""

    def __init__(self, inner: HTTPConnection, worker: Worker, settings: ServeSettings) -> None:
        self._inner = inner
        self._worker = worker
        self._settings = settings
        self._started = 0.0
        self._done = False
        self._on_close: Any = None
        self.counted = False
        self.status = 0
        self.bytes = 0
        self.request_id = ""
        self._line: RequestStartLine | None = None
        self._headers: HTTPHeaders | None = None
        # Read on every request (the client's address): an attribute, not a __getattr__ trip.
        self.context: Any = getattr(inner, "context", None)
        connection_set_close_callback(inner, self._closed)

    @property
    def stream(self) -> Any:
        """The protocol connection's ``stream`` (Tornado code checks ``stream.closed()``)."""
        return getattr(self._inner, "stream")  # noqa: B009 (an attribute of some connections)

    def detach(self) -> Any:
        """Take the connection away from HTTP (the protocol connection's ``detach()``); the
        request ends there as far as counting goes."""
        stream = getattr(self._inner, "detach")()  # noqa: B009
        self._end()
        return stream

    def peer(self) -> tuple[str | None, str]:
        """The client's address and scheme, from the protocol's connection."""
        return connection_peer(self._inner)

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
    ) -> asyncio.Future[None] | Any:
        """Note the status, add ``X-Request-Id``, pass on."""
        if isinstance(start_line, ResponseStartLine):
            self.status = start_line.code
        request_id = self.request_id
        if request_id and "X-Request-Id" not in headers:
            # The id holds only _ID_CHARS: adding it keeps the handler's "validated" mark.
            checked = headers._checked
            headers["X-Request-Id"] = request_id
            headers._checked = checked
        if chunk:
            self.bytes += len(chunk)
        if isinstance(start_line, ResponseStartLine):
            return connection_write_headers(self._inner, start_line, headers, chunk or b"")
        return self._inner.write_headers(start_line, headers, chunk)

    def write(self, chunk: bytes) -> Any:
        """Count and pass on."""
        self.bytes += len(chunk)
        return self._inner.write(chunk)

    def finish(self) -> None:
        """Pass on, then count the request as served and write the access line."""
        connection_finish(self._inner)
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
            status = self.status
            level = (
                logging.INFO if status < 400 else logging.WARNING if status < 500 else logging.ERROR
            )
            if access_log.isEnabledFor(level) and not access_log.disabled:
                self._access_line(level, duration)

    def _access_line(self, level: int, duration: float) -> None:
        line = self._line
        headers = self._headers
        assert line is not None and headers is not None
        fields = {
            "remote": getattr(self.context, "remote_ip", None) or "-",
            "method": line.method,
            "path": line.path,
            "status": self.status,
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
