"""The client's opening handshake on a connected stream (RFC 6455 §4.1), and the request
options that shape it (TLS, timeouts, compression offer).

:func:`handshake` writes the upgrade request that ``websockets``' sans-IO client codec builds,
with the ``HTTPRequest``'s own headers added (``Host`` may be replaced; the handshake's own
headers may not), reads the response head and checks it: a ``101`` the codec accepts leaves
the codec OPEN; a 2xx raises ``WebSocketError`` (the server did not upgrade); any other status
raises ``HTTPClientError`` with it and the response (redirects are not followed, as in
Tornado). Timeouts raise ``HTTPTimeoutError`` (599) with Tornado's messages.
"""

from __future__ import annotations

import base64
import io
import re
import ssl
from collections.abc import Mapping
from typing import Any

from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory
from websockets.http11 import Response
from websockets.protocol import OPEN

from squall._streams.errors import StreamClosedError
from squall._streams.sockets import IOStream
from squall._ws.codec import ClientCodec
from squall._ws.delegate import WebSocketError
from squall.httputil import HTTPHeaders

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
MAX_ERROR_BODY = 1024 * 1024  # bytes: the longest body of a refused upgrade that is read
MAX_RESPONSE_HEAD = 65536  # bytes: the longest handshake response head accepted
_HEAD_END = re.compile(rb"\r?\n\r?\n")
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
    """Write the upgrade request; read and check the response head. Raises HTTPClientError
    for a non-101 status (WebSocketError for a 2xx), WebSocketError for a bad 101."""
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
    codec.send_request(upgrade)
    await stream.write(b"".join(codec.data_to_send()))
    try:
        head = await stream.read_until_regex(_HEAD_END, max_bytes=MAX_RESPONSE_HEAD)
    except StreamClosedError:
        raise WebSocketError("Connection closed before the WebSocket handshake response") from None
    code, reason = _status(head)
    if code != 101:
        if 200 <= code < 300:
            raise WebSocketError(f"Non-websocket response: HTTP {code} {reason}")
        raise await _refused(stream, request, code, reason, head)
    codec.receive_data(head)
    events = codec.events_received()
    if codec.handshake_exc is not None:
        raise WebSocketError(f"Invalid WebSocket handshake: {codec.handshake_exc}")
    if codec.state is not OPEN or not events or not isinstance(events[0], Response):
        raise WebSocketError("Invalid WebSocket handshake response")
    return events[0]


async def _refused(
    stream: IOStream, request: Any, code: int, reason: str, head: bytes
) -> Exception:
    """The ``HTTPClientError`` for a refused upgrade, with the response (its body read when
    its length is known and at most MAX_ERROR_BODY), as Tornado gives it."""
    from squall.httpclient import HTTPClientError, HTTPResponse  # upward, lazily

    headers = HTTPHeaders.parse(head.split(b"\n", 1)[1].decode("latin-1"))
    body = b""
    length = headers.get("Content-Length", "")
    if length.isdigit() and int(length) <= MAX_ERROR_BODY and request.method != "HEAD":
        try:
            body = await stream.read_bytes(int(length))
        except StreamClosedError:
            pass  # the server sent less than it announced: what matters is the status
    url = request.url
    scheme, sep, rest = url.partition(":")
    effective_url = {"ws": "http", "wss": "https"}.get(scheme.lower(), scheme) + sep + rest
    response = HTTPResponse(
        request,
        code,
        headers=headers,
        buffer=io.BytesIO(body),
        effective_url=effective_url,
        reason=reason or None,
    )
    return HTTPClientError(code, reason or None, response=response)


def _status(head: bytes) -> tuple[int, str]:
    """The status code and reason of a response head (WebSocketError if it has none)."""
    line = head.split(b"\n", 1)[0].decode("latin-1").strip()
    parts = line.split(None, 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        raise WebSocketError(f"Not an HTTP response to the WebSocket handshake: {line!r}")
    return int(parts[1]), parts[2] if len(parts) > 2 else ""


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
