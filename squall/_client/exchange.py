"""One request on one connection: ``_HTTPConnection``, the message delegate of a fetch.

It parses the URL, takes an idle connection from the client's pool or opens one (resolving,
connecting and the TLS handshake bounded by ``connect_timeout``), writes the request head
and body, reads the response through an ``HTTP1Connection``, and calls ``final_callback``
exactly once with the ``HTTPResponse`` (a failure as a 599 response carrying the error).
``request_timeout`` bounds the whole exchange. A redirect, or a Digest challenge, ends this
exchange and starts the next one through ``client.fetch`` (so it queues like any request);
the final response still names the original request.

A connection taken from the pool may have been closed by the server a moment before it was
reused (its idle timeout fired as the request went out); if it fails before any byte of the
answer arrived, an idempotent request with a replayable body is sent again once on a new
connection. Only when the connection had been idle for :data:`REPLAY_AFTER_IDLE` seconds or
more, though: a server's idle timeout is longer than that, so a connection that fails sooner
most likely failed on *this* request (the server crashed or exited handling it), and sending
it again would run it twice. Tornado's client never sends a request twice.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import io
import socket
import time
import unicodedata
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Final, Protocol
from urllib.parse import unquote, urljoin, urlsplit

from squall._client import digest, tls
from squall._client.messages import (
    HTTPClientError,
    HTTPRequest,
    HTTPResponse,
    HTTPStreamClosedError,
    HTTPTimeoutError,
    _RequestProxy,
)
from squall._h1stream.connection import (
    HTTP1Connection,
    HTTP1ConnectionParameters,
    _DelegateFailed,
)
from squall._net import is_valid_ip
from squall._streams.base import BaseIOStream
from squall._streams.errors import StreamClosedError
from squall.httputil import (
    HTTPHeaders,
    HTTPMessageDelegate,
    RequestStartLine,
    ResponseStartLine,
    split_host_and_port,
)
from squall.log import app_log

if TYPE_CHECKING:
    from squall._client.pool import ConnectionPool
    from squall.ioloop import IOLoop
    from squall.tcpclient import TCPClient

__all__ = ["_HTTPConnection"]

_SUPPORTED_METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"})
_BODY_EXPECTED: Final = frozenset({"POST", "PATCH", "PUT"})
# Methods a client may send again after a failure (RFC 9110 §9.2.2).
_IDEMPOTENT: Final = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"})
#: Seconds a pooled connection must have been idle for a failed request on it to be sent
#: again (see the module docstring): below any server's idle timeout in practice (gunicorn's
#: is 2 s, most others 5 s or more).
REPLAY_AFTER_IDLE: Final = 1.0
_REDIRECTS: Final = frozenset({301, 302, 303, 307, 308})
_PROXY_OPTIONS: Final = (
    "proxy_host", "proxy_port", "proxy_username", "proxy_password", "proxy_auth_mode",
)  # fmt: skip
_ENTITY_FIELDS: Final = ("Content-Length", "Content-Type", "Content-Encoding", "Transfer-Encoding")
_CREDENTIAL_FIELDS: Final = ("Authorization", "Cookie")


def _positive(*values: float | None) -> float | None:
    """The smallest of the positive values (a timeout of 0 or None means none)."""
    chosen = [value for value in values if value]
    return min(chosen) if chosen else None


def _basic_credentials(username: str, password: str) -> str:
    """``Basic <base64(user:pass)>``: NFC-normalised, UTF-8 (RFC 7617 §2.1)."""
    pair = unicodedata.normalize("NFC", f"{username}:{password}").encode("utf-8")
    return "Basic " + base64.b64encode(pair).decode("ascii")


def _option_reader(request: _RequestProxy) -> Callable[[str], Any]:
    """``request``'s options read as ``_RequestProxy`` reads them (the request's value, else the
    client's default), without the proxy's failed-lookup-then-``__getattr__`` per read."""
    raw = request.request
    defaults = request.defaults or {}

    def option(name: str) -> Any:
        value = getattr(raw, name)
        return defaults.get(name) if value is None else value

    return option


def _origin(scheme: str, netloc: str) -> tuple[str, str, int | None]:
    host, port = split_host_and_port(netloc.rpartition("@")[2].lower())
    if port is None:
        port = 443 if scheme == "https" else 80
    return scheme, host, port


class ExchangeClient(Protocol):
    """What an exchange uses of the client that runs it (``SimpleAsyncHTTPClient``), named by
    its members: that class imports this module, so naming it here would close an import
    circle."""

    io_loop: IOLoop
    _pool: ConnectionPool
    default_user_agent: str

    def fetch(
        self,
        request: HTTPRequest | str,
        raise_error: bool = True,
        callback: Callable[[HTTPResponse], object] | None = None,
        **kwargs: Any,
    ) -> asyncio.Future[HTTPResponse]:
        """Fetch another request through the client (a redirect's next hop)."""
        ...


class _HTTPConnection(HTTPMessageDelegate):
    """One fetch on one connection (see the module docstring); starts at construction."""

    _SUPPORTED_METHODS = _SUPPORTED_METHODS

    def __init__(
        self,
        client: ExchangeClient,
        request: _RequestProxy,
        release_callback: Callable[[], None],
        final_callback: Callable[[HTTPResponse], None],
        max_buffer_size: int,
        tcp_client: TCPClient,
        max_header_size: int | None,
        max_body_size: int | None,
    ) -> None:
        self.io_loop = client.io_loop
        self._loop = self.io_loop.asyncio_loop
        self.start_time = self._loop.time()
        self.start_wall_time = time.time()
        self.client = client
        self.request = request
        self.release_callback: Callable[[], None] | None = release_callback
        self.final_callback: Callable[[HTTPResponse], None] | None = final_callback
        self.max_buffer_size = max_buffer_size
        self.tcp_client = tcp_client
        self.max_header_size = max_header_size
        self.max_body_size = max_body_size
        self.code: int | None = None
        self.reason: str | None = None
        self.headers: HTTPHeaders | None = None
        self.chunks: list[bytes] = []
        self.stream: BaseIOStream | None = None
        self.connection: HTTP1Connection | None = None
        self._timeout: asyncio.TimerHandle | None = None
        self._option = opt = _option_reader(request)
        self._streaming_callback = opt("streaming_callback")
        self._header_callback = opt("header_callback")
        self._expect_continue = bool(opt("expect_100_continue"))
        self._body_sent = False
        self._head_received = False
        self._follow: str | None = None  # "redirect" or "digest": this answer is not the last
        self._callback_error: BaseException | None = None
        self._where = ""
        self._task = self._loop.create_task(self.run())

    # ---- running the request -------------------------------------------------------------

    async def run(self) -> None:
        """Send the request and read the answer; every failure ends as a 599 response."""
        try:
            await self._run()
        except asyncio.CancelledError:
            if self.final_callback is not None:
                self._handle_exception(
                    HTTPStreamClosedError("The request was cancelled (its event loop stopped?)")
                )
            raise
        except Exception as exc:
            if not self._handle_exception(exc):
                app_log.error("Exception in HTTP client after the response", exc_info=exc)

    async def _run(self) -> None:
        opt = self._option
        url = opt("url")
        parsed = urlsplit(url)
        scheme = parsed.scheme
        if scheme not in ("http", "https"):
            raise ValueError(f"Unsupported url scheme: {url}")
        netloc = parsed.netloc.rpartition("@")[2]
        host, port = split_host_and_port(netloc)
        if port is None:
            port = 443 if scheme == "https" else 80
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
        if not host:
            raise ValueError(f"No host in URL {url!r}")
        self._where = f"{host}:{port}"
        method, headers, body, start_line = self._prepare(parsed, netloc)
        source_ip = opt("network_interface")
        if source_ip is not None and not is_valid_ip(source_ip):
            raise ValueError(
                f"network_interface {source_ip!r} is not an IP address: give the local address "
                "to connect from (binding to an interface by name is not supported)"
            )
        family = socket.AF_INET if opt("allow_ipv6") is False else socket.AF_UNSPEC
        ssl_options = None
        if scheme == "https":
            ssl_options = tls.client_ssl_options(
                opt("ssl_options"),
                opt("validate_cert"),
                opt("ca_certs"),
                opt("client_cert"),
                opt("client_key"),
            )
        key = (scheme, host, port, family, source_ip, id(ssl_options))
        connect_timeout = _positive(opt("connect_timeout"), opt("request_timeout"))
        replayable = method in _IDEMPOTENT and opt("body_producer") is None
        pool = self.client._pool
        taken = pool.take(key, self._loop.time())
        stream, idle = taken if taken is not None else (None, 0.0)
        while True:
            reused = stream is not None
            if stream is None:
                stream = await self._connect(
                    host, port, family, ssl_options, source_ip, connect_timeout
                )
            if self.final_callback is None:  # ended meanwhile (the client gave up on it)
                stream.close()
                return
            self.stream = stream
            if self._timeout is None and opt("request_timeout"):
                deadline = self.start_time + opt("request_timeout")
                self._timeout = self._loop.call_at(deadline, self._on_timeout, "during request")
            try:
                await self._exchange(stream, method, headers, body, start_line, key, ssl_options)
                return
            except (StreamClosedError, ConnectionError) as exc:
                if not (reused and replayable and not self._head_received):
                    raise
                if idle < REPLAY_AFTER_IDLE:
                    raise  # not the idle-timeout race: the server saw this request
                if self.final_callback is None:
                    return
                stream.close()
                stream = None  # the server closed the idle connection first: once more
                del exc

    async def _connect(
        self,
        host: str,
        port: int,
        family: int,
        ssl_options: Any,
        source_ip: str | None,
        limit: float | None,
    ) -> BaseIOStream:
        """Open a connection (resolve, connect, TLS) within ``limit`` seconds of the start."""
        remaining = None
        if limit is not None:
            remaining = max(self.start_time + limit - self._loop.time(), 0.0)
        try:
            stream = await self.tcp_client.connect(
                host,
                port,
                af=family,
                ssl_options=ssl_options,
                max_buffer_size=self.max_buffer_size,
                source_ip=source_ip,
                timeout=remaining,
            )
        except TimeoutError as exc:
            raise HTTPTimeoutError(str(exc) or "Timeout while connecting") from None
        stream.set_nodelay(True)  # one request, one write: Nagle's algorithm would only delay it
        return stream

    def _prepare(
        self, parsed: Any, netloc: str
    ) -> tuple[str, HTTPHeaders, bytes | None, RequestStartLine]:
        """Check the method and body, and complete the header fields."""
        opt = self._option
        method = opt("method")
        body = opt("body")
        if not opt("allow_nonstandard_methods"):
            if method not in self._SUPPORTED_METHODS:
                raise KeyError(f"unknown method {method}")
            expected = method in _BODY_EXPECTED
            present = body is not None or opt("body_producer") is not None
            if expected != present:
                raise ValueError(
                    f"Body must {'not ' if expected else ''}be None for method {method} "
                    "(unless allow_nonstandard_methods is true)"
                )
        for name in _PROXY_OPTIONS:
            if opt(name):  # the request's own, or the client's defaults
                raise NotImplementedError(
                    f"{name} is not supported: squall's HTTP client connects directly, never "
                    "through a proxy"
                )
        headers: HTTPHeaders = opt("headers")
        if "Host" not in headers:
            headers["Host"] = netloc
        username = password = None
        if parsed.username is not None:
            username, password = unquote(parsed.username), unquote(parsed.password or "")
        elif opt("auth_username") is not None:
            username, password = opt("auth_username"), opt("auth_password") or ""
        if username is not None:
            mode = opt("auth_mode")
            if mode not in (None, "basic", "digest"):
                raise ValueError(f"unsupported auth_mode {mode!r}: use 'basic' or 'digest'")
            if mode == "digest":
                self._digest_credentials = (username, password or "")
            else:
                headers["Authorization"] = _basic_credentials(username, password or "")
        user_agent = opt("user_agent")
        if user_agent:
            headers["User-Agent"] = user_agent
        elif "User-Agent" not in headers:
            headers["User-Agent"] = self.client.default_user_agent
        if opt("decompress_response") and "Accept-Encoding" not in headers:
            headers["Accept-Encoding"] = "gzip"
        if body is not None:
            headers["Content-Length"] = str(len(body))
        if method == "POST" and "Content-Type" not in headers:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        if self._expect_continue:
            headers["Expect"] = "100-continue"
        path = parsed.path or "/"
        if parsed.query:
            path += "?" + parsed.query
        return method, headers, body, RequestStartLine(method, path, "HTTP/1.1")

    _digest_credentials: tuple[str, str] | None = None

    async def _exchange(
        self,
        stream: BaseIOStream,
        method: str,
        headers: HTTPHeaders,
        body: bytes | None,
        start_line: RequestStartLine,
        key: tuple[Any, ...],
        ssl_options: Any,
    ) -> None:
        opt = self._option
        self._pool_key, self._ssl_options = key, ssl_options
        connection = self.connection = HTTP1Connection(
            stream,
            True,
            HTTP1ConnectionParameters(
                max_header_size=self.max_header_size,
                max_body_size=self.max_body_size,
                decompress=bool(opt("decompress_response")),
            ),
        )
        if body is not None and not self._expect_continue:
            connection.write_headers(start_line, headers, body)
            connection.finish()
            self._body_sent = True
        else:
            connection.write_headers(start_line, headers)
            if not self._expect_continue:
                await self._write_body()
        complete = await connection.read_response(self)
        if not complete and self.final_callback is not None:
            self._handle_exception(self._closed_error())

    async def _write_body(self) -> None:
        """Write the body (or run the body producer) and end the request."""
        opt = self._option
        self._body_sent = True
        connection = self.connection
        assert connection is not None
        if opt("body") is not None:
            connection.write(opt("body"))
        elif opt("body_producer") is not None:
            result = opt("body_producer")(connection.write)
            if result is not None:
                await result
        connection.finish()

    # ---- the response, as the HTTP1Connection delivers it -----------------------------------

    def headers_received(
        self, start_line: RequestStartLine | ResponseStartLine, headers: HTTPHeaders
    ) -> Awaitable[None] | None:
        """The status line and fields: keep them, or start the body after 100 Continue."""
        assert isinstance(start_line, ResponseStartLine)
        self._head_received = True
        code = start_line.code
        if code == 100 and self._expect_continue and not self._body_sent:
            return self._write_body()
        if (
            100 <= code < 200
        ):  # an informational answer (103 Early Hints, ...): the real one follows
            self._report_head(start_line, headers)
            return None
        self.code, self.reason, self.headers = code, start_line.reason, headers
        self._follow = self._next_hop()
        if self._follow is None:
            self._report_head(start_line, headers)
        return None

    def _report_head(self, start_line: ResponseStartLine, headers: HTTPHeaders) -> None:
        """Give the head to ``header_callback`` line by line, start line and final CRLF
        included."""
        callback = self._header_callback
        if callback is not None:
            self._user_call(
                callback, f"{start_line.version} {start_line.code} {start_line.reason}\r\n"
            )
            for name, value in headers.get_all():
                self._user_call(callback, f"{name}: {value}\r\n")
            self._user_call(callback, "\r\n")

    def data_received(self, chunk: bytes) -> Awaitable[None] | None:
        """A piece of the body: to the streaming callback, or kept for ``response.body``."""
        if self._follow is not None:
            return None  # the body of a redirect or a challenge: read and dropped
        if self._streaming_callback is not None:
            result = self._user_call(self._streaming_callback, chunk)
            if isinstance(result, Awaitable):
                return self._user_await(result)
            return None
        self.chunks.append(chunk)
        return None

    def _user_call(self, callback: Callable[[Any], Any], argument: Any) -> Any:
        """Call the caller's callback; its error (even an HTTPInputError) is the callback's,
        never a malformed response: logged as an uncaught exception, the fetch fails."""
        try:
            return callback(argument)
        except Exception as exc:
            self._callback_error = exc
            raise _DelegateFailed(exc) from exc

    async def _user_await(self, result: Awaitable[Any]) -> None:
        try:
            await result
        except (Exception, asyncio.CancelledError) as exc:
            task = asyncio.current_task()
            if isinstance(exc, asyncio.CancelledError) and task is not None and task.cancelling():
                raise  # the fetch itself is being cancelled
            self._callback_error = exc
            raise _DelegateFailed(exc) from exc

    def _next_hop(self) -> str | None:
        """Whether this answer leads to another request: "redirect", "digest" or None."""
        opt = self._option
        request, headers = self.request, self.headers
        assert headers is not None
        if (
            opt("follow_redirects")
            and opt("max_redirects") > 0
            and self.code in _REDIRECTS
            and headers.get("Location") is not None
        ):
            return "redirect"
        if (
            self.code == 401
            and self._digest_credentials is not None
            and not getattr(request.request, "_digest_answered", False)
            and digest.parse_challenge(",".join(headers.get_list("WWW-Authenticate")))
        ):
            return "digest"
        return None

    def finish(self) -> None:
        """The answer is complete: reuse the connection, then deliver or follow it."""
        self._remove_timeout()
        self._release_stream()
        request = self.request.request
        original_request: HTTPRequest = getattr(request, "original_request", request)
        if self._follow is not None:
            next_request = self._next_request(original_request)
            if next_request is not None:
                self._chain(next_request, original_request)
                return
        assert self.code is not None
        data = self.chunks[0] if len(self.chunks) == 1 else b"".join(self.chunks)
        self.chunks = []
        buffer = io.BytesIO() if self._streaming_callback is not None else io.BytesIO(data)
        response = HTTPResponse(
            original_request,
            self.code,
            reason=self.reason,
            headers=self.headers,
            request_time=self._loop.time() - self.start_time,
            start_time=self.start_wall_time,
            buffer=buffer,
            effective_url=self.request.url,
        )
        self._run_callback(response)

    def _release_stream(self) -> None:
        """Give the connection to the pool if it can carry another request, else close it."""
        connection, stream = self.connection, self.stream
        if connection is None or stream is None:
            return
        self.stream = None
        if connection.keep_alive():
            connection.detach()
            self.client._pool.give(self._pool_key, stream, self._ssl_options, self._loop.time())
        else:
            stream.close()

    def _next_request(self, original_request: HTTPRequest) -> HTTPRequest | None:
        """The request that follows this answer (a redirect, or the Digest retry)."""
        opt = self._option
        request = self.request
        assert self.headers is not None and self.code is not None
        new_request = copy.copy(request.request)
        new_request.headers = request.headers.copy()
        new_request.original_request = original_request  # type: ignore[attr-defined]
        if self._follow == "digest":
            username, password = self._digest_credentials or ("", "")
            challenge = digest.parse_challenge(",".join(self.headers.get_list("WWW-Authenticate")))
            parsed = urlsplit(opt("url"))
            uri = (parsed.path or "/") + ("?" + parsed.query if parsed.query else "")
            answer = challenge and digest.authorization(
                challenge, opt("method"), uri, username, password
            )
            if not answer:
                return None
            new_request.headers["Authorization"] = answer
            new_request.auth_username = None  # the header carries the credentials now
            new_request._digest_answered = True  # type: ignore[attr-defined]
            return new_request
        location = self.headers["Location"]
        new_request.url = urljoin(request.url, location)
        new_request.max_redirects = request.max_redirects - 1
        new_request.headers.pop("Host", None)
        method = opt("method")
        if (self.code in (301, 302) and method == "POST") or (
            self.code == 303 and method != "HEAD"
        ):
            new_request.method = "GET"
            new_request.body = None
            new_request.body_producer = None
            for name in _ENTITY_FIELDS:
                new_request.headers.pop(name, None)
        old, new = urlsplit(request.url), urlsplit(new_request.url)
        if _origin(old.scheme, old.netloc) != _origin(new.scheme, new.netloc):
            # Credentials are for the origin that asked for them (RFC 9110 §15.4).
            for name in _CREDENTIAL_FIELDS:
                new_request.headers.pop(name, None)
            new_request.auth_username = new_request.auth_password = None
        return new_request

    def _chain(self, next_request: HTTPRequest, original_request: HTTPRequest) -> None:
        """End this exchange and let the next request (queued as usual) give the answer."""
        final_callback, self.final_callback = self.final_callback, None
        self._release()
        assert final_callback is not None

        def deliver(future: asyncio.Future[HTTPResponse]) -> None:
            if future.cancelled():
                error: BaseException = HTTPStreamClosedError("The redirected request was cancelled")
            else:
                error_or_none = future.exception()
                if error_or_none is None:
                    final_callback(future.result())
                    return
                error = error_or_none
            final_callback(
                HTTPResponse(original_request, 599, error=error, start_time=self.start_wall_time)
            )

        try:
            future = self.client.fetch(next_request, raise_error=False)
        except Exception as exc:
            final_callback(
                HTTPResponse(original_request, 599, error=exc, start_time=self.start_wall_time)
            )
            return
        future.add_done_callback(deliver)

    def on_connection_close(self) -> None:
        """The connection closed (or a callback failed, or the answer turned out malformed)
        before the answer was complete."""
        if self.final_callback is not None:
            self._handle_exception(self._closed_error())

    # ---- endings -------------------------------------------------------------------------

    def _closed_error(self) -> BaseException:
        """Why the connection ended early, as the caller should see it."""
        if self._callback_error is not None:
            error = self._callback_error
            closed = HTTPStreamClosedError(f"Stream closed: a callback raised {error!r}")
            closed.__cause__ = error
            return closed
        connection = self.connection
        if connection is not None and connection.input_error is not None:
            return HTTPStreamClosedError(
                f"Malformed HTTP response from {self._where}: {connection.input_error}"
            )
        stream = self.stream
        return StreamClosedError(real_error=stream.error if stream is not None else None)

    def _closed_message(self) -> str:
        where = self._where or "the server"
        if self.code is None:
            return f"Connection to {where} closed before a response arrived"
        return f"Connection to {where} closed before the response was complete"

    def _error(self, exc: BaseException) -> BaseException:
        """What the caller gets for ``exc`` (see AsyncHTTPClient.fetch)."""
        if isinstance(exc, StreamClosedError):
            real = exc.real_error
            if real is None or isinstance(real, StreamClosedError):
                return HTTPStreamClosedError(self._closed_message())
            exc = real
        if isinstance(exc, HTTPClientError):
            return exc
        if isinstance(exc, TimeoutError):
            return HTTPTimeoutError(str(exc) or "Timeout")
        return exc  # a network failure is its OSError, as in Tornado

    def _handle_exception(self, exc: BaseException) -> bool:
        """End the fetch with ``exc``; False if it had ended already (then ``exc`` is news
        only if it is not the stream closing)."""
        if self.final_callback is None:
            return isinstance(exc, StreamClosedError)
        self._remove_timeout()
        response = HTTPResponse(
            self.request,
            599,
            error=self._error(exc),
            request_time=self._loop.time() - self.start_time,
            start_time=self.start_wall_time,
        )
        self._run_callback(response)
        if self.stream is not None:
            self.stream.close()
            self.stream = None
        return True

    def _on_timeout(self, info: str) -> None:
        self._timeout = None
        if self.final_callback is not None:
            self._handle_exception(HTTPTimeoutError(f"Timeout {info}"))

    def _remove_timeout(self) -> None:
        if self._timeout is not None:
            self._timeout.cancel()
            self._timeout = None

    def _release(self) -> None:
        release, self.release_callback = self.release_callback, None
        if release is not None:
            release()

    def _run_callback(self, response: HTTPResponse) -> None:
        self._release()
        final_callback, self.final_callback = self.final_callback, None
        if final_callback is not None:
            final_callback(response)
