"""Serve a WSGI application (Flask, Django, ...) from squall: ``WSGIContainer``.

    container = WSGIContainer(flask_app, executor=ThreadPoolExecutor(16))
    HTTPServer(container).listen(8888)                 # the whole server
    Application([(r"/legacy/.*", FallbackHandler, {"fallback": container}),
                 (r"/", MainHandler)])                   # or behind some routes

The container turns each ``HTTPServerRequest`` into a PEP 3333 environ, calls the application
in ``executor`` (by default inline on the loop thread, which blocks it: pass a thread pool for
real applications), and writes its response back through the request's connection: the
status and headers at the first non-empty body chunk (or at the end), each chunk as the
application produces it, with the connection's flow control. A list or tuple body without a
Content-Length gets one; an iterator body is streamed (chunked on HTTP/1.1). The body
iterator's ``close()`` is always called. An exception before any output gives a 500; after,
the connection is closed (the response cannot be repaired). Each request is logged on
``squall.access`` as ``RequestHandler`` requests are.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import io
import sys
from collections.abc import Callable, Iterable, Iterator
from http.client import responses
from types import TracebackType
from typing import Any

from squall import escape
from squall.concurrent import dummy_executor
from squall.httputil import HTTPHeaders, HTTPServerRequest, ResponseStartLine, split_host_and_port
from squall.ioloop import IOLoop
from squall.log import access_log, app_log

__all__ = ["WSGIContainer"]

_ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]
_WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
_ERROR_PAGE = (
    b"<html><title>500: Internal Server Error</title><body>500: Internal Server Error</body></html>"
)
_END = object()  # what _next_chunk returns once the body iterator is exhausted


def _next_chunk(body: Iterator[bytes]) -> Any:
    return next(body, _END)


class _Response:
    """The state ``start_response`` fills in, shared between the app's thread and the loop."""

    def __init__(self) -> None:
        self.status: str | None = None
        self.headers: list[tuple[str, str]] = []
        self.headers_sent = False
        self.written: list[bytes] = []  # from the legacy write() callable
        self.disconnected = False  # the client went away before the response ended

    def code(self) -> int:
        """The status code given to ``start_response``, or 0 before it was called."""
        return 0 if self.status is None else int(self.status.partition(" ")[0])

    def start_response(
        self, status: str, headers: list[tuple[str, str]], exc_info: _ExcInfo | None = None
    ) -> Callable[[bytes], None]:
        """PEP 3333's ``start_response``: remember the status and headers; return ``write``."""
        if exc_info is not None:
            if self.headers_sent:
                raise exc_info[1].with_traceback(exc_info[2])
        elif self.status is not None:
            raise RuntimeError("start_response() called twice without exc_info")
        code = status.partition(" ")[0]
        if not (len(code) == 3 and code.isdigit()):
            raise ValueError(f"WSGI status must start with a 3-digit code, got {status!r}")
        self.status, self.headers = status, list(headers)
        return self.written.append


class WSGIContainer:
    """Run a WSGI application (``wsgi_application(environ, start_response)``) under squall.

    Call it with an ``HTTPServerRequest``: it starts the response on the current IOLoop and
    returns at once. So it is a plain request callback for ``HTTPServer(container)``, a
    ``fallback`` for ``FallbackHandler``, and a router target. ``executor`` runs the
    application and the iteration of its body; None runs them inline on the event loop (as
    Tornado does), which stalls every other connection while the application works: give
    blocking applications a ``concurrent.futures.ThreadPoolExecutor``.
    """

    def __init__(
        self, wsgi_application: _WSGIApp, executor: concurrent.futures.Executor | None = None
    ) -> None:
        self.wsgi_application = wsgi_application
        self.executor: concurrent.futures.Executor = (
            dummy_executor if executor is None else executor
        )

    def __call__(self, request: HTTPServerRequest) -> None:
        """Start answering ``request`` on the current IOLoop; returns at once."""
        IOLoop.current().spawn_callback(self.handle_request, request)

    async def handle_request(self, request: HTTPServerRequest) -> None:
        """Call the application for ``request`` and write its response.

        An exception from the application is logged on ``squall.application`` and answered
        with a 500 when nothing was sent yet (otherwise the response ends where it stopped).
        A client that disconnects stops the iteration of the body; that is not an error.
        """
        response = _Response()
        loop = asyncio.get_running_loop()
        status = 500
        try:
            body = await loop.run_in_executor(
                self.executor, self.wsgi_application, self.environ(request), response.start_response
            )
            try:
                complete = await self._send(request, response, body, loop)
            finally:
                # PEP 3333: always, and before the response is complete, so that the next
                # request on the connection finds the application's resources released.
                if callable(close := getattr(body, "close", None)):
                    await loop.run_in_executor(self.executor, close)
            if complete:
                assert request.connection is not None  # checked by _send
                request.connection.finish()
            status = response.code()
        except Exception:
            if response.disconnected:
                status = response.code()
            else:
                app_log.error("Uncaught exception in WSGI application %r", request, exc_info=True)
                self._fail(request, response)
        self._log(status, request)

    async def _send(
        self,
        request: HTTPServerRequest,
        response: _Response,
        body: Iterable[bytes],
        loop: asyncio.AbstractEventLoop,
    ) -> bool:
        """Write the response but for its end; False if the client went away first."""
        connection = request.connection
        assert connection is not None  # a request from a server always has one

        def on_close() -> None:
            response.disconnected = True

        connection.set_close_callback(on_close)
        if isinstance(body, list | tuple):  # the whole body is here: give it a length
            chunks = [*response.written, *body]
            response.written.clear()
            head = self._headers(request, response, sum(map(len, chunks)))
            response.headers_sent = True
            await connection.write_headers(*head, b"".join(chunks))
            return True
        iterator = iter(body)
        start_line: ResponseStartLine | None = None
        while not response.disconnected:
            chunk = await loop.run_in_executor(self.executor, _next_chunk, iterator)
            pending = b"".join(response.written) + (b"" if chunk is _END else chunk)
            response.written.clear()
            if start_line is None and (pending or chunk is _END):
                start_line, headers = self._headers(request, response, None)
                response.headers_sent = True
                await connection.write_headers(start_line, headers, pending)
            elif pending:
                await connection.write(pending)
            if chunk is _END:
                return True
        return False

    def _headers(
        self, request: HTTPServerRequest, response: _Response, length: int | None
    ) -> tuple[ResponseStartLine, HTTPHeaders]:
        if response.status is None:
            raise RuntimeError("WSGI application returned a body without calling start_response")
        code, reason = response.code(), response.status.partition(" ")[2]
        headers = HTTPHeaders()
        for name, value in response.headers:
            headers.add(name, value)
        if length is not None and "Content-Length" not in headers:
            headers["Content-Length"] = str(length)
        if "Content-Type" not in headers:
            headers["Content-Type"] = "text/html; charset=UTF-8"
        return ResponseStartLine(request.version, code, reason or responses.get(code, "")), headers

    def _fail(self, request: HTTPServerRequest, response: _Response) -> None:
        connection = request.connection
        assert connection is not None  # a request from a server always has one
        try:
            if response.headers_sent:
                # Part of the body is out: end the response where it stopped, as
                # RequestHandler does after a flush (a declared Content-Length not reached
                # makes the connection close instead).
                connection.finish()
                return
            headers = HTTPHeaders({"Content-Type": "text/html; charset=UTF-8"})
            headers["Content-Length"] = str(len(_ERROR_PAGE))
            start_line = ResponseStartLine(request.version, 500, "Internal Server Error")
            connection.write_headers(start_line, headers, _ERROR_PAGE)
            connection.finish()
        except Exception:  # the connection is gone or already finished: nothing to repair
            pass

    def environ(self, request: HTTPServerRequest) -> dict[str, Any]:
        """Return the PEP 3333 environ for ``request``.

        ``PATH_INFO`` is the percent-decoded path as latin-1 text (PEP 3333's bytes-as-str),
        ``SERVER_NAME``/``SERVER_PORT`` come from the Host (port 443 or 80 when it has none),
        and each request header becomes ``HTTP_*`` (repeated ones joined with commas).
        """
        host, port = split_host_and_port(request.host.lower())
        if port is None:
            port = 443 if request.protocol == "https" else 80
        environ: dict[str, Any] = {
            "REQUEST_METHOD": request.method,
            "SCRIPT_NAME": "",
            "PATH_INFO": escape.url_unescape(request.path, encoding=None, plus=False).decode(
                "latin-1"
            ),
            "QUERY_STRING": request.query,
            "REMOTE_ADDR": request.remote_ip or "",
            "SERVER_NAME": host,
            "SERVER_PORT": str(port),
            "SERVER_PROTOCOL": request.version,
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": request.protocol,
            "wsgi.input": io.BytesIO(escape.utf8(request.body)),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": self.executor is not dummy_executor,
            "wsgi.multiprocess": True,
            "wsgi.run_once": False,
        }
        if "Content-Type" in request.headers:
            environ["CONTENT_TYPE"] = request.headers["Content-Type"]
        if "Content-Length" in request.headers:
            environ["CONTENT_LENGTH"] = request.headers["Content-Length"]
        for name in request.headers:
            if name in ("Content-Type", "Content-Length"):
                continue
            key = "HTTP_" + name.replace("-", "_").upper()
            environ[key] = ",".join(request.headers.get_list(name))
        return environ

    def _log(self, status: int, request: HTTPServerRequest) -> None:
        if status < 400:
            log = access_log.info
        elif status < 500:
            log = access_log.warning
        else:
            log = access_log.error
        summary = f"{request.method} {request.uri} ({request.remote_ip})"
        log("%d %s %.2fms", status, summary, 1000.0 * request.request_time())
