"""HTTP/1.1 over an ``IOStream``, with Tornado's ``tornado.http1connection`` names.

For code that speaks HTTP/1.1 on a stream it owns, client side or server side:

    stream = await TCPClient().connect("example.com", 80)
    connection = HTTP1Connection(stream, is_client=True)
    connection.write_headers(RequestStartLine("GET", "/", "HTTP/1.1"),
                             HTTPHeaders({"Host": "example.com"}))
    connection.finish()
    await connection.read_response(my_message_delegate)

``HTTP1ServerConnection(stream).start_serving(delegate)`` serves requests arriving on a stream
to any ``HTTPServerConnectionDelegate`` (an ``Application`` included);
``HTTP1ConnectionParameters`` holds the limits and timeouts of both. squall's ``HTTPServer``
does not run on this module: it has its own protocol layer over asyncio transports
(``squall/_http1``). The implementation is in ``squall/_h1stream``; docs/tornado-differences.md
lists where it differs from Tornado's.
"""

from __future__ import annotations

from squall._h1stream.connection import (
    _MAX_1XX_RESPONSES,
    HTTP1Connection,
    HTTP1ConnectionParameters,
)
from squall._h1stream.gzip import _GzipMessageDelegate
from squall._h1stream.server import HTTP1ServerConnection

__all__ = [
    "_MAX_1XX_RESPONSES",
    "HTTP1Connection",
    "HTTP1ConnectionParameters",
    "HTTP1ServerConnection",
    "_GzipMessageDelegate",
]
