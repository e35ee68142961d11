"""An HTTP client with Tornado's ``tornado.httpclient`` interface, over httpx.

    from squall.httpclient import AsyncHTTPClient

    async def main():
        response = await AsyncHTTPClient().fetch("http://example.com/")
        print(response.code, response.body)

``AsyncHTTPClient.fetch`` returns a Future already scheduled on the client's loop, so legacy
``fetch(url, callback=cb)`` code that never awaits it still runs. Non-2xx responses raise
:class:`HTTPClientError` (``raise_error=False`` returns them with ``.error`` set); network
failures and timeouts are code 599. Proxies, ``body_producer``, ``prepare_curl_callback`` and
``expect_100_continue`` are not supported: setting them raises NotImplementedError.
"""

from __future__ import annotations

import asyncio
import contextvars
import datetime
import http.cookiejar
import io
import logging
import ssl
import time
import weakref
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

import httpx

from squall import _loop
from squall import version as _version
from squall.httputil import HTTPHeaders, format_timestamp, responses
from squall.ioloop import IOLoop
from squall.log import gen_log
from squall.netutil import ssl_options_to_context

__all__ = [
    "AsyncHTTPClient",
    "HTTPClient",
    "HTTPClientError",
    "HTTPError",
    "HTTPRequest",
    "HTTPResponse",
]

_DEFAULTS: dict[str, Any] = {
    "connect_timeout": 20.0,
    "request_timeout": 20.0,
    "follow_redirects": True,
    "max_redirects": 5,
    "decompress_response": True,
    "allow_nonstandard_methods": False,
    "validate_cert": True,
}
_UNSUPPORTED = (
    "prepare_curl_callback", "proxy_host", "proxy_port", "proxy_username", "proxy_password",
    "proxy_auth_mode", "body_producer",
)  # fmt: skip
_METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS")


# Tornado's client logs nothing per request; httpx logs each one at INFO on the "httpx" logger.
# Inside our own fetches (each runs in its own task) that record is dropped; httpx used
# directly elsewhere in the process keeps its logging.
_OWN_FETCH: contextvars.ContextVar[bool] = contextvars.ContextVar("squall_fetch", default=False)


class _DropOwnRequestLogs(logging.Filter):
    """Drops httpx's per-request INFO records while a squall fetch is running."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Keep the record unless it comes from inside a squall fetch."""
        return not _OWN_FETCH.get()


logging.getLogger("httpx").addFilter(_DropOwnRequestLogs())


class _NoCookieJar(http.cookiejar.CookieJar):
    """Tornado's client never stores cookies from responses: each request sends only its own."""

    def set_cookie(self, cookie: http.cookiejar.Cookie) -> None:
        """Drop it."""

    def extract_cookies(self, response: Any, request: Any) -> None:
        """Keep nothing."""


class HTTPRequest:
    """One HTTP request: the URL, method, headers and body, plus per-request options.

    Options left as None take the client's ``defaults`` and then Tornado's (connect and request
    timeouts 20 s, follow_redirects True, max_redirects 5, decompress_response True,
    validate_cert True). ``request_timeout`` bounds the whole exchange, redirects included.
    ``streaming_callback(chunk)`` receives the body instead of ``response.body``;
    ``header_callback(line)`` each response header line (start line and final CRLF included).
    ``use_gzip`` is the old name of ``decompress_response``; ``auth_mode`` is "basic" or
    "digest"; ``network_interface`` is a local address to connect from.
    """

    def __init__(
        self,
        url: str,
        method: str = "GET",
        headers: HTTPHeaders | dict[str, str] | None = None,
        body: bytes | str | None = None,
        auth_username: str | None = None,
        auth_password: str | None = None,
        auth_mode: str | None = None,
        connect_timeout: float | None = None,
        request_timeout: float | None = None,
        if_modified_since: datetime.datetime | float | None = None,
        follow_redirects: bool | None = None,
        max_redirects: int | None = None,
        user_agent: str | None = None,
        use_gzip: bool | None = None,
        network_interface: str | None = None,
        streaming_callback: Callable[[bytes], object] | None = None,
        header_callback: Callable[[str], object] | None = None,
        prepare_curl_callback: Callable[[Any], object] | None = None,
        proxy_host: str | None = None,
        proxy_port: int | None = None,
        proxy_username: str | None = None,
        proxy_password: str | None = None,
        proxy_auth_mode: str | None = None,
        allow_nonstandard_methods: bool | None = None,
        validate_cert: bool | None = None,
        ca_certs: str | None = None,
        allow_ipv6: bool | None = None,
        client_key: str | None = None,
        client_cert: str | None = None,
        body_producer: Callable[..., object] | None = None,
        expect_100_continue: bool = False,
        decompress_response: bool | None = None,
        ssl_options: dict[str, Any] | ssl.SSLContext | None = None,
    ) -> None:
        self.url, self.method = url, method
        self.headers = HTTPHeaders(headers) if headers is not None else HTTPHeaders()
        if if_modified_since is not None:
            self.headers["If-Modified-Since"] = format_timestamp(if_modified_since)
        self.body = body.encode("utf-8") if isinstance(body, str) else body
        self.auth_username, self.auth_password, self.auth_mode = (
            auth_username, auth_password, auth_mode,
        )  # fmt: skip
        self.connect_timeout, self.request_timeout = connect_timeout, request_timeout
        self.follow_redirects, self.max_redirects = follow_redirects, max_redirects
        self.user_agent, self.network_interface = user_agent, network_interface
        self.streaming_callback, self.header_callback = streaming_callback, header_callback
        self.prepare_curl_callback, self.body_producer = prepare_curl_callback, body_producer
        self.proxy_host, self.proxy_port, self.proxy_auth_mode = (
            proxy_host, proxy_port, proxy_auth_mode,
        )  # fmt: skip
        self.proxy_username, self.proxy_password = proxy_username, proxy_password
        self.allow_nonstandard_methods, self.allow_ipv6 = allow_nonstandard_methods, allow_ipv6
        self.validate_cert, self.ca_certs = validate_cert, ca_certs
        self.client_key, self.client_cert, self.ssl_options = client_key, client_cert, ssl_options
        self.expect_100_continue = expect_100_continue
        self.decompress_response = decompress_response if decompress_response is not None else (
            use_gzip
        )  # fmt: skip
        self.start_time = time.time()

    def __repr__(self) -> str:
        return f"HTTPRequest({self.method} {self.url})"


class HTTPClientError(Exception):
    """An HTTP error: a non-2xx ``code``, or 599 for a network failure or timeout.

    ``response`` is the :class:`HTTPResponse` when there is one. ``message`` defaults to the
    standard reason phrase. ``str()`` gives ``HTTP <code>: <message>``.
    """

    def __init__(
        self, code: int, message: str | None = None, response: HTTPResponse | None = None
    ) -> None:
        self.code = code
        self.message = message or responses.get(code, "Unknown")
        self.response = response
        super().__init__(code, self.message, response)

    def __str__(self) -> str:
        return f"HTTP {self.code}: {self.message}"

    __repr__ = __str__


#: Tornado's older name (not ``squall.web.HTTPError``).
HTTPError = HTTPClientError


class HTTPResponse:
    """The response to one :class:`HTTPRequest`.

    ``body`` is the whole body as bytes (b"" with a ``streaming_callback``), ``buffer`` a BytesIO
    over it. A non-2xx code with no ``error`` given gets ``error = HTTPClientError(code)``.
    ``effective_url`` is the URL after redirects; ``request_time`` the seconds it took.
    """

    def __init__(
        self,
        request: HTTPRequest,
        code: int,
        headers: HTTPHeaders | None = None,
        buffer: io.BytesIO | None = None,
        effective_url: str | None = None,
        error: BaseException | None = None,
        request_time: float | None = None,
        time_info: dict[str, float] | None = None,
        reason: str | None = None,
        start_time: float | None = None,
    ) -> None:
        self.request, self.code = request, code
        self.reason = reason or responses.get(code, "Unknown")
        self.headers = headers if headers is not None else HTTPHeaders()
        self.buffer = buffer
        self.effective_url = effective_url or request.url
        self.request_time, self.start_time = request_time, start_time
        self.time_info = time_info or {}
        self._error_is_code = error is None and not 200 <= code < 300
        if self._error_is_code:
            error = HTTPClientError(code, self.reason, response=self)
        self.error = error

    @property
    def body(self) -> bytes:
        """The response body (b"" when there is no buffer)."""
        return b"" if self.buffer is None else self.buffer.getvalue()

    def rethrow(self) -> None:
        """Raise ``self.error`` if the request failed; do nothing otherwise."""
        if self.error is not None:
            raise self.error

    def __repr__(self) -> str:
        return f"HTTPResponse(code={self.code}, reason={self.reason!r}, url={self.effective_url!r})"


def _network_error(exc: BaseException) -> HTTPClientError:
    if isinstance(exc, httpx.ConnectTimeout):
        message = "Timeout while connecting"
    elif isinstance(exc, TimeoutError | httpx.TimeoutException):
        message = "Timeout during request"
    else:
        message = f"{type(exc).__name__}: {exc}"
    error = HTTPClientError(599, message)
    error.__cause__ = exc
    return error


class AsyncHTTPClient:
    """A non-blocking HTTP client; ``AsyncHTTPClient()`` is one shared instance per event loop.

    ``force_instance=True`` makes a private instance (close it yourself); an IOLoop there (Tornado
    4's ``AsyncHTTPClient(io_loop)``) is ignored, as are ``max_clients`` and other Tornado
    implementation options. ``defaults`` gives default :class:`HTTPRequest` options. One
    httpx.AsyncClient is kept per distinct TLS setting (validate_cert, ca_certs, client cert,
    ssl_options) and ``network_interface``.
    """

    _caches: ClassVar[dict[type, weakref.WeakKeyDictionary[Any, AsyncHTTPClient]]] = {}
    _configured: ClassVar[dict[str, Any]] = {}
    _loop: asyncio.AbstractEventLoop
    _closed: bool
    _shared: bool
    _clients: dict[tuple[Any, ...], tuple[object, httpx.AsyncClient]]
    defaults: dict[str, Any]

    def __new__(
        cls,
        force_instance: bool | IOLoop = False,
        defaults: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> AsyncHTTPClient:
        """Return this loop's shared client, or a new one when forced or none exists yet."""
        if isinstance(force_instance, IOLoop):  # Tornado 4: AsyncHTTPClient(io_loop)
            force_instance = False
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = IOLoop.current().asyncio_loop
        cache = cls._caches.setdefault(cls, weakref.WeakKeyDictionary())
        for stale in [other for other in cache if other.is_closed()]:
            del cache[stale]
        if not force_instance and (shared := cache.get(loop)) is not None:
            return shared
        self = super().__new__(cls)
        self._loop, self._closed, self._shared = loop, False, not force_instance
        self._clients = {}
        self.defaults = {**_DEFAULTS, **cls._configured, **(defaults or {})}
        if kwargs:
            gen_log.debug("AsyncHTTPClient ignores the options %s", sorted(kwargs))
        if self._shared:
            cache[loop] = self
        return self

    def __init__(self, force_instance: bool | IOLoop = False, **kwargs: Any) -> None:
        """Set up in ``__new__`` (a shared instance must not be reset by a later call)."""

    @classmethod
    def configure(cls, impl: object = None, **kwargs: Any) -> None:
        """Tornado's implementation switch: ``defaults=`` is kept for new clients, the rest
        (``impl``, ``max_clients``, ...) is ignored with a debug log."""
        cls._configured = dict(kwargs.pop("defaults", None) or {})
        gen_log.debug("AsyncHTTPClient.configure(%r, %s): only defaults= is used", impl, kwargs)

    def fetch(
        self,
        request: HTTPRequest | str,
        raise_error: bool = True,
        callback: Callable[[HTTPResponse], object] | None = None,
        **kwargs: Any,
    ) -> asyncio.Future[HTTPResponse]:
        """Start fetching ``request`` (a URL, with ``kwargs`` as HTTPRequest options) and return
        a Future of its :class:`HTTPResponse`.

        Non-2xx and network errors (599) raise :class:`HTTPClientError`; with
        ``raise_error=False`` the response comes back with ``.error`` set instead. Misuse (a body
        on GET, none on POST, an unsupported option) always raises. Legacy ``callback=`` is
        called with the response on the loop, errors given as ``response.error`` (Tornado 5).
        """
        if self._closed:
            raise RuntimeError("fetch() called on a closed AsyncHTTPClient; create a new one")
        if isinstance(request, str):
            request = HTTPRequest(request, **kwargs)
        elif kwargs:
            raise ValueError("fetch() takes HTTPRequest options only with a URL, not a request")
        return self._loop.create_task(self._fetch(request, raise_error, callback))

    async def _fetch(
        self,
        request: HTTPRequest,
        raise_error: bool,
        callback: Callable[[HTTPResponse], object] | None,
    ) -> HTTPResponse:
        _OWN_FETCH.set(True)  # this task's context only: see _DropOwnRequestLogs
        start, started = time.time(), time.monotonic()
        try:
            response = await self._send(request, start, started)
        except (httpx.RequestError, OSError, TimeoutError) as exc:
            error: BaseException = _network_error(exc)
            response = HTTPResponse(request, 599, error=error, start_time=start)
            response.request_time = time.monotonic() - started
        except Exception as exc:
            if callback is None:
                raise
            response = HTTPResponse(request, 599, error=exc, start_time=start)
        if callback is not None:
            IOLoop.current().add_callback(callback, response)
            return response
        if raise_error and response.error is not None:
            raise response.error
        return response

    def _option(self, request: HTTPRequest, name: str) -> Any:
        value = getattr(request, name)
        return self.defaults.get(name) if value is None else value

    def _check(self, request: HTTPRequest) -> None:
        for name in _UNSUPPORTED:
            if self._option(request, name) is not None:
                raise NotImplementedError(f"HTTPRequest option {name} is not supported by squall")
        if request.expect_100_continue:
            raise NotImplementedError("HTTPRequest expect_100_continue is not supported by squall")
        if not self._option(request, "allow_nonstandard_methods"):
            if request.method not in _METHODS:
                raise KeyError(f"unknown method {request.method}")
            expected = request.method in ("POST", "PATCH", "PUT")
            if expected != (request.body is not None):
                raise ValueError(
                    f"Body must {'not ' if expected else ''}be None for method {request.method} "
                    "(unless allow_nonstandard_methods is true)"
                )

    def _client(self, request: HTTPRequest) -> httpx.AsyncClient:
        options = self._option(request, "ssl_options")
        validate = bool(self._option(request, "validate_cert"))
        names = ("ca_certs", "client_cert", "client_key", "network_interface")
        ca_certs, cert, key, interface = (self._option(request, name) for name in names)
        tls_key = id(options) if options is not None else (validate, ca_certs, cert, key)
        if (entry := self._clients.get(cache_key := (tls_key, interface))) is not None:
            return entry[1]
        if options is not None:
            context = ssl_options_to_context(options, server_side=False)
        elif not validate:
            context = ssl.create_default_context()
            context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        elif ca_certs is not None:
            context = ssl.create_default_context(cafile=ca_certs)
        else:
            context = httpx.create_ssl_context()
        if cert is not None:
            context.load_cert_chain(cert, key)
        transport = httpx.AsyncHTTPTransport(verify=context, local_address=interface)
        client = httpx.AsyncClient(
            transport=transport, trust_env=False, timeout=None, cookies=_NoCookieJar()
        )
        self._clients[cache_key] = (options, client)
        return client

    async def _send(self, request: HTTPRequest, start: float, started: float) -> HTTPResponse:
        self._check(request)
        client, option = self._client(request), self._option
        headers = HTTPHeaders(request.headers)
        if request.method == "POST" and "Content-Type" not in headers:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        headers.setdefault("User-Agent", option(request, "user_agent") or f"squall/{_version}")
        decompress = bool(option(request, "decompress_response"))
        auth: httpx.Auth | None = None
        if (username := option(request, "auth_username")) is not None:
            password, mode = option(request, "auth_password") or "", option(request, "auth_mode")
            if mode not in (None, "basic", "digest"):
                raise ValueError(f"unsupported auth_mode {mode!r}; use 'basic' or 'digest'")
            auth_class = httpx.DigestAuth if mode == "digest" else httpx.BasicAuth
            auth = auth_class(username, password)
        timeout = httpx.Timeout(None, connect=option(request, "connect_timeout") or None)
        outgoing = client.build_request(
            request.method, request.url, headers=list(headers.get_all()), content=request.body,
            timeout=timeout,
        )  # fmt: skip
        if not decompress and "Accept-Encoding" not in headers:
            outgoing.headers.pop("Accept-Encoding", None)
        redirects = option(request, "max_redirects") if option(request, "follow_redirects") else 0
        async with asyncio.timeout(option(request, "request_timeout") or None):
            reply = await client.send(outgoing, auth=auth, stream=True, follow_redirects=False)
            while reply.next_request is not None and redirects > 0:
                try:
                    await reply.aread()  # read to the end, so the connection can be reused
                finally:
                    await reply.aclose()
                redirects -= 1
                reply = await client.send(reply.next_request, stream=True, follow_redirects=False)
            try:
                body = await self._read(request, reply, decompress)
            finally:
                await reply.aclose()
        response_headers = HTTPHeaders()
        for name, value in reply.headers.multi_items():
            response_headers.add(name, value)
        return HTTPResponse(
            request, reply.status_code, response_headers, io.BytesIO(body), str(reply.url),
            request_time=time.monotonic() - started, reason=reply.reason_phrase, start_time=start,
        )  # fmt: skip

    @staticmethod
    async def _read(request: HTTPRequest, reply: httpx.Response, decompress: bool) -> bytes:
        if (on_header := request.header_callback) is not None:
            await _maybe_await(on_header(f"HTTP/1.1 {reply.status_code} {reply.reason_phrase}\r\n"))
            for name, value in reply.headers.multi_items():
                await _maybe_await(on_header(f"{name}: {value}\r\n"))
            await _maybe_await(on_header("\r\n"))
        chunks = reply.aiter_bytes() if decompress else reply.aiter_raw()
        if (on_chunk := request.streaming_callback) is None:
            return b"".join([chunk async for chunk in chunks])
        async for chunk in chunks:
            await _maybe_await(on_chunk(chunk))
        return b""

    async def _aclose(self) -> None:
        self._closed = True
        clients, self._clients = self._clients, {}
        for _, client in clients.values():
            await client.aclose()

    def close(self) -> None:
        """Close the connections and forget this client; a shared one is replaced next time.

        With the loop idle this runs the loop briefly to close them; with the loop running it
        schedules that. Calling it again does nothing."""
        if self._closed:
            return
        cache = type(self)._caches.get(type(self))
        if self._shared and cache is not None and cache.get(self._loop) is self:
            del cache[self._loop]
        if self._loop.is_closed():
            self._closed = True
        elif self._loop.is_running():
            task = self._loop.create_task(self._aclose())
            _closing.add(task)  # a strong reference until it is done
            task.add_done_callback(_closing.discard)
        else:
            self._loop.run_until_complete(self._aclose())

    @classmethod
    def _close_shared(cls, loop: asyncio.AbstractEventLoop) -> None:
        """Close the shared clients of ``loop`` (for test teardown, before it closes)."""
        for cache in list(cls._caches.values()):
            if (shared := cache.get(loop)) is not None:
                shared.close()


_closing: set[asyncio.Task[None]] = set()


async def _maybe_await(result: object) -> None:
    if isinstance(result, Awaitable):
        await result


class HTTPClient:
    """A blocking HTTP client, running an :class:`AsyncHTTPClient` on a private event loop.

    For scripts and tests; it cannot be used while an event loop runs in the same thread.
    ``kwargs`` go to ``AsyncHTTPClient`` (``defaults=``). Call :meth:`close` when done.
    """

    def __init__(
        self, async_client_class: type[AsyncHTTPClient] | None = None, **kwargs: Any
    ) -> None:
        self._loop = _loop.new_event_loop()
        client_class = async_client_class or AsyncHTTPClient

        async def make() -> AsyncHTTPClient:
            return client_class(force_instance=True, **kwargs)

        self._async_client = self._loop.run_until_complete(make())
        self._closed = False

    def fetch(self, request: HTTPRequest | str, **kwargs: Any) -> HTTPResponse:
        """Fetch ``request`` and return the response; raises HTTPClientError as the async
        ``fetch`` does (pass ``raise_error=False`` to get error responses back)."""
        if self._closed:
            raise RuntimeError("fetch() called on a closed HTTPClient; create a new one")
        return self._loop.run_until_complete(self._async_client.fetch(request, **kwargs))

    def close(self) -> None:
        """Close the connections and the private loop; calling it again does nothing."""
        if not self._closed:
            self._closed = True
            self._async_client.close()
            self._loop.run_until_complete(self._loop.shutdown_asyncgens())
            self._loop.close()
