"""What an HTTP client's caller handles: the request, the response and the errors.

``HTTPRequest`` carries a URL, method, headers, body and the per-request options;
``_RequestProxy`` reads an option from the request, else from the client's defaults.
``HTTPResponse`` is the answer; ``HTTPClientError`` (alias ``HTTPError``) a non-2xx status,
or code 599 for a request that got no answer: ``HTTPTimeoutError`` (a timeout),
``HTTPStreamClosedError`` (the connection closed, or the answer was malformed). A network
error is raised as the ``OSError`` itself, as Tornado's client does (``ConnectionRefusedError``,
``socket.gaierror``, ``ssl.SSLError``...), never as an ``HTTPClientError``: code that handles
``HTTPClientError`` and ``OSError`` in separate ``except`` clauses tells them apart.
"""

from __future__ import annotations

import datetime
import io
import time
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

from squall.httputil import HTTPHeaders, format_timestamp, responses

__all__ = [
    "HTTPClientError",
    "HTTPError",
    "HTTPRequest",
    "HTTPResponse",
    "HTTPStreamClosedError",
    "HTTPTimeoutError",
    "_RequestProxy",
]


class HTTPRequest:
    """One HTTP request: the URL, method, headers and body, plus per-request options.

    Options left as None take the client's ``defaults``, then :attr:`_DEFAULTS` (connect and
    request timeouts 20 s, redirects followed up to 5, gzip decoded, certificates checked).
    A timeout of 0 means none. The options:

    - ``headers``: a dict or ``HTTPHeaders`` (None: empty). ``body``: bytes, or str (sent as
      UTF-8). ``body_producer(write)``: instead of ``body``, a function (or coroutine
      function) that calls ``write(chunk)`` and may await its result; without a
      Content-Length header the body is sent chunked.
    - ``auth_username``/``auth_password``/``auth_mode`` (``"basic"``, the default, or
      ``"digest"``); credentials in the URL (``http://user:pass@host/``) also work.
    - ``connect_timeout`` (connecting, TLS included, and the wait in the client's queue) and
      ``request_timeout`` (the whole request), seconds.
    - ``if_modified_since`` (a datetime or timestamp) sets If-Modified-Since.
    - ``follow_redirects``, ``max_redirects``; ``user_agent``; ``decompress_response``
      (``use_gzip`` is its old name): ask for gzip and decode it.
    - ``network_interface``: the local IP address to connect from.
    - ``streaming_callback(chunk)``: receives the body instead of ``response.body`` (may return
      an awaitable, which is awaited); ``header_callback(line)``: each header line of the
      final response, its start line and final CRLF included.
    - ``allow_nonstandard_methods``: any method, with or without a body.
    - ``validate_cert``, ``ca_certs``, ``client_cert``/``client_key``, ``ssl_options`` (an
      ``ssl.SSLContext`` or ``ssl.wrap_socket`` arguments); ``allow_ipv6``.
    - ``expect_100_continue``: send the head with ``Expect: 100-continue`` and the body only
      once the server says 100 Continue.
    - ``proxy_*`` and ``prepare_curl_callback`` belong to Tornado's curl client: a proxy
      setting makes squall's client fail the request with NotImplementedError (it connects
      directly, never through a proxy); ``prepare_curl_callback`` is ignored.
    """

    _headers: HTTPHeaders
    _body: bytes | None

    #: The defaults of the options a request leaves as None (a client's ``defaults`` come
    #: first).
    _DEFAULTS: ClassVar[dict[str, Any]] = {
        "connect_timeout": 20.0,
        "request_timeout": 20.0,
        "follow_redirects": True,
        "max_redirects": 5,
        "decompress_response": True,
        "proxy_password": "",
        "allow_nonstandard_methods": False,
        "validate_cert": True,
    }

    def __init__(
        self,
        url: str,
        method: str = "GET",
        headers: HTTPHeaders | dict[str, Any] | None = None,
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
        streaming_callback: Callable[[bytes], Any] | None = None,
        header_callback: Callable[[str], Any] | None = None,
        prepare_curl_callback: Callable[[Any], Any] | None = None,
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
        body_producer: Callable[[Callable[[bytes], Awaitable[None]]], Any] | None = None,
        expect_100_continue: bool = False,
        decompress_response: bool | None = None,
        ssl_options: Any = None,
    ) -> None:
        self.headers = headers
        if if_modified_since is not None:
            self.headers["If-Modified-Since"] = format_timestamp(if_modified_since)
        self.url = url
        self.method = method
        self.body = body
        self.body_producer = body_producer
        self.auth_username = auth_username
        self.auth_password = auth_password
        self.auth_mode = auth_mode
        self.connect_timeout = connect_timeout
        self.request_timeout = request_timeout
        self.follow_redirects = follow_redirects
        self.max_redirects = max_redirects
        self.user_agent = user_agent
        self.decompress_response = (
            decompress_response if decompress_response is not None else use_gzip
        )
        self.network_interface = network_interface
        self.streaming_callback = streaming_callback
        self.header_callback = header_callback
        self.prepare_curl_callback = prepare_curl_callback
        self.proxy_host = proxy_host
        self.proxy_port = proxy_port
        self.proxy_username = proxy_username
        self.proxy_password = proxy_password
        self.proxy_auth_mode = proxy_auth_mode
        self.allow_nonstandard_methods = allow_nonstandard_methods
        self.validate_cert = validate_cert
        self.ca_certs = ca_certs
        self.allow_ipv6 = allow_ipv6
        self.client_key = client_key
        self.client_cert = client_cert
        self.ssl_options = ssl_options
        self.expect_100_continue = expect_100_continue
        self.start_time = time.time()

    @property
    def headers(self) -> HTTPHeaders:
        """The request's header fields, an ``HTTPHeaders``: one given is kept (the client
        never changes it: it sends a copy); a dict is copied into one, a bytes value taken
        as its latin-1 text (the same bytes on the wire); None gives an empty one."""
        return self._headers

    @headers.setter
    def headers(self, value: HTTPHeaders | dict[str, Any] | None) -> None:
        if isinstance(value, HTTPHeaders):
            self._headers = value
            return
        headers = HTTPHeaders()
        for name, field in (value or {}).items():
            headers[name] = field.decode("latin-1") if isinstance(field, bytes) else str(field)
        self._headers = headers

    @property
    def body(self) -> bytes:
        """The body as bytes (a str is stored UTF-8 encoded), or None."""
        return self._body  # type: ignore[return-value]  # None for a request without one

    @body.setter
    def body(self, value: bytes | str | None) -> None:
        self._body = value.encode("utf-8") if isinstance(value, str) else value

    def __repr__(self) -> str:
        return f"HTTPRequest({self.method} {self.url})"


class _RequestProxy:
    """An :class:`HTTPRequest` seen through a client's defaults: an option the request
    leaves as None reads from ``defaults`` (a dict, or None for no defaults)."""

    def __init__(self, request: HTTPRequest, defaults: dict[str, Any] | None) -> None:
        self.request = request
        self.defaults = defaults

    def __getattr__(self, name: str) -> Any:
        value = getattr(self.request, name)
        if value is not None:
            return value
        if self.defaults is not None:
            return self.defaults.get(name)
        return None


class HTTPClientError(Exception):
    """An HTTP error: a non-2xx ``code``, or 599 for a request that got no answer.

    ``response`` is the :class:`HTTPResponse` when there is one; ``message`` defaults to the
    status's reason phrase. ``str()`` gives ``HTTP <code>: <message>``.
    """

    def __init__(
        self, code: int, message: str | None = None, response: HTTPResponse | None = None
    ) -> None:
        self.code = code
        self.message = message or responses.get(code, "Unknown")
        self.response = response
        super().__init__(code, message, response)

    def __str__(self) -> str:
        return f"HTTP {self.code}: {self.message}"

    # Kept as in Tornado: the repr shows the same text (``HTTP 404: Not Found``).
    __repr__ = __str__


#: Tornado's older name (not ``squall.web.HTTPError``).
HTTPError = HTTPClientError


class HTTPTimeoutError(HTTPClientError):
    """Code 599: a timeout (in the client's queue, while connecting, or during the request).

    ``str()`` is the message alone: "Timeout during request", "Timeout in request queue",
    "Timeout while resolving <host>", "Timeout during TLS handshake with <host:port>", ...
    """

    def __init__(self, message: str) -> None:
        super().__init__(599, message=message)

    def __str__(self) -> str:
        return self.message or "Timeout"

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (self.message,)


class HTTPStreamClosedError(HTTPClientError):
    """Code 599: the connection closed before the response was complete, or the response was
    malformed (the message says which; the details are logged at INFO on
    ``squall.general``). ``str()`` is the message alone."""

    def __init__(self, message: str) -> None:
        super().__init__(599, message=message)

    def __str__(self) -> str:
        return self.message or "Stream closed"

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (self.message,)


class HTTPResponse:
    """The response to one :class:`HTTPRequest`.

    ``code``, ``reason``, ``headers`` (``HTTPHeaders``), ``body`` (bytes; b"" with a
    ``streaming_callback``) and ``buffer`` (a BytesIO over it); ``request`` (the original
    request, also after redirects) and ``effective_url`` (the URL after redirects);
    ``error``: None for a 2xx, else an :class:`HTTPClientError` (``rethrow()`` raises it);
    ``request_time`` (seconds from start to end), ``start_time`` (a ``time.time()``) and
    ``time_info`` (an empty dict: squall's client measures no phases).
    """

    def __init__(
        self,
        request: HTTPRequest | _RequestProxy,
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
        self.request: HTTPRequest = (
            request.request if isinstance(request, _RequestProxy) else request
        )
        self.code = code
        self.reason = reason or responses.get(code, "Unknown")
        self.headers = headers if headers is not None else HTTPHeaders()
        self.buffer = buffer
        self._body: bytes | None = None
        self.effective_url = effective_url if effective_url is not None else self.request.url
        self._error_is_response_code = False
        if error is None:
            if not 200 <= code < 300:
                self._error_is_response_code = True
                error = HTTPClientError(code, message=self.reason, response=self)
        self.error = error
        self.start_time = start_time
        self.request_time = request_time
        self.time_info = time_info if time_info is not None else {}

    @property
    def body(self) -> bytes:
        """The response body (b"" when there is no buffer)."""
        if self.buffer is None:
            return b""
        if self._body is None:
            self._body = self.buffer.getvalue()
        return self._body

    def rethrow(self) -> None:
        """Raise ``self.error`` if the request failed; do nothing otherwise."""
        if self.error is not None:
            raise self.error

    def __repr__(self) -> str:
        return (
            f"HTTPResponse(code={self.code!r}, reason={self.reason!r}, "
            f"effective_url={self.effective_url!r}, request_time={self.request_time!r})"
        )
