"""The client's opening handshake on a connected stream (RFC 6455 §4.1), and the request
options that shape it (TLS, timeouts, compression offer).

:func:`handshake` writes the upgrade request that ``websockets``' sans-IO client codec builds,
with the ``HTTPRequest``'s own headers added (``Host`` may be replaced; the handshake's own
headers may not), and reads the response through an ``HTTP1Connection`` (squall's HTTP/1.1
client side, the one ``simple_httpclient`` uses): the same head parsing, size limits and body
framing as any other response. A ``101`` is handed to the codec, which checks it (accept key,
extensions, subprotocol) and leaves itself OPEN; the stream is then detached from the
HTTP/1.1 layer, with whatever frames followed the head still in its buffer. A 2xx raises
``WebSocketError`` (the server did not upgrade); any other status raises ``HTTPClientError``
with the response, its body read whatever its framing (redirects are not followed, as in
Tornado). Timeouts raise ``HTTPTimeoutError`` (599) with Tornado's messages.
"""

from __future__ import annotations

import base64
import io
import ssl
from collections.abc import Mapping
from typing import Any

from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory
from websockets.http11 import Response
from websockets.protocol import OPEN

from squall._h1stream.connection import HTTP1Connection, HTTP1ConnectionParameters
from squall._streams.errors import StreamClosedError
from squall._streams.sockets import IOStream
from squall._ws.codec import ClientCodec
from squall._ws.delegate import WebSocketError
from squall.httputil import (
    HTTPHeaders,
    HTTPMessageDelegate,
    RequestStartLine,
    ResponseStartLine,
)

__all__ = [
    "DEFAULT_TIMEOUT",
    "deflate_offer",
    "handshake",
    "http_headers",
    "seconds",
    "ssl_options",
    "timeout_error",
]

DEFAULT_TIMEOUT = 20.0  # seconds: Tornado's connect_timeout and request_timeout defaults
MAX_RESPONSE_HEAD = 65536  # bytes: the longest handshake response head accepted
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


def seconds(value: Any) -> float:
    """A request timeout in seconds (Tornado's default of 20 s when None)."""
    if value is None:
        return DEFAULT_TIMEOUT
    if hasattr(value, "total_seconds"):
        return float(value.total_seconds())
    return float(value)


def deflate_offer(options: Mapping[str, Any]) -> ClientPerMessageDeflateFactory:
    """A permessage-deflate offer from Tornado-style ``compression_options``."""
    return ClientPerMessageDeflateFactory(
        client_max_window_bits=True,
        compress_settings={
            "level": options.get("compression_level", 6),
            "memLevel": options.get("mem_level", 8),
        },
    )


def ssl_options(request: Any) -> ssl.SSLContext | Mapping[str, Any]:
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


async def handshake(stream: IOStream, codec: ClientCodec, request: Any) -> Response:
    """Write the upgrade request; read and check the response. Raises HTTPClientError for a
    non-101 status (WebSocketError for a 2xx), WebSocketError for a bad or missing 101."""
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
    # The codec writes the request itself (it keeps the key it will check the answer by).
    codec.send_request(upgrade)
    await stream.write(b"".join(codec.data_to_send()))
    connection = HTTP1Connection(
        stream, True, HTTP1ConnectionParameters(max_header_size=MAX_RESPONSE_HEAD)
    )
    answer = _Answer(connection)
    closed: StreamClosedError | None = None
    try:
        await connection.read_response(answer)
    except StreamClosedError as exc:
        closed = exc  # before the head: no answer; within a refused upgrade's body: what came
    start_line, response_headers = answer.start_line, answer.headers
    if start_line is None or response_headers is None:
        error = connection.input_error or (closed.real_error if closed is not None else None)
        if error is not None:
            raise WebSocketError(f"Invalid WebSocket handshake response: {error}")
        raise WebSocketError("Connection closed before the WebSocket handshake response")
    code, reason = start_line.code, start_line.reason
    if code != 101:
        if 200 <= code < 300:
            raise WebSocketError(f"Non-websocket response: HTTP {code} {reason}")
        raise _refused(request, start_line, response_headers, answer.body())
    codec.receive_data(_head_bytes(start_line, response_headers))
    events = codec.events_received()
    if codec.handshake_exc is not None:
        raise WebSocketError(f"Invalid WebSocket handshake: {codec.handshake_exc}")
    if codec.state is not OPEN or not events or not isinstance(events[0], Response):
        raise WebSocketError("Invalid WebSocket handshake response")
    return events[0]


class _Answer(HTTPMessageDelegate):
    """Collects the handshake's response from the ``HTTP1Connection``: the stream is taken
    back at a ``101`` or a 2xx (nothing after their head is read); any other final answer is
    read whole (or as far as the server sent it)."""

    def __init__(self, connection: HTTP1Connection) -> None:
        self._connection = connection
        self.start_line: ResponseStartLine | None = None
        self.headers: HTTPHeaders | None = None
        self._chunks: list[bytes] = []

    def headers_received(
        self, start_line: RequestStartLine | ResponseStartLine, headers: HTTPHeaders
    ) -> None:
        """Keep the final answer's head; take the stream back at a 101 or a 2xx."""
        if not isinstance(start_line, ResponseStartLine):
            return  # a client connection reads only responses
        if 100 <= start_line.code < 200 and start_line.code != 101:
            return  # 100 Continue and the like: the real answer follows
        self.start_line, self.headers = start_line, headers
        if start_line.code == 101 or 200 <= start_line.code < 300:
            self._connection.detach()

    def data_received(self, chunk: bytes) -> None:
        """Keep a piece of a refused upgrade's body."""
        self._chunks.append(chunk)

    def body(self) -> bytes:
        """The body read so far."""
        return b"".join(self._chunks)


def _head_bytes(start_line: ResponseStartLine, headers: HTTPHeaders) -> bytes:
    """A response head written back out, for the codec to parse and check."""
    lines = [f"{start_line.version} {start_line.code} {start_line.reason}"]
    lines.extend(f"{name}: {value}" for name, value in headers.get_all())
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _refused(
    request: Any, start_line: ResponseStartLine, headers: HTTPHeaders, body: bytes
) -> Exception:
    """The ``HTTPClientError`` for a refused upgrade, with the response, as Tornado gives it."""
    from squall.httpclient import HTTPClientError, HTTPResponse  # upward, lazily

    code, reason = start_line.code, start_line.reason or None
    url = request.url
    scheme, sep, rest = url.partition(":")
    effective_url = {"ws": "http", "wss": "https"}.get(scheme.lower(), scheme) + sep + rest
    response = HTTPResponse(
        request,
        code,
        headers=headers,
        buffer=io.BytesIO(body),
        effective_url=effective_url,
        reason=reason,
    )
    return HTTPClientError(code, reason, response=response)


def http_headers(response: Response) -> HTTPHeaders:
    """The response's headers as ``HTTPHeaders``."""
    headers = HTTPHeaders()
    for name, value in response.headers.raw_items():
        headers.add(name, value)
    return headers


def timeout_error(message: str) -> Exception:
    """Tornado's error for a timed-out connect or handshake: ``HTTPTimeoutError`` (599)."""
    from squall.simple_httpclient import HTTPTimeoutError  # upward, lazily: the client's error

    return HTTPTimeoutError(message)
