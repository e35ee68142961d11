"""Gzip request bodies (``decompress=True``): a message delegate that inflates for another.

When a request says ``Content-Encoding: gzip`` and the server decompresses, the protocol puts
a :class:`GzipBody` between itself and the application's delegate, as Tornado does with its
gzip message delegate; the body path never sees gzip otherwise. The application gets the
inflated body in pieces of at most ``chunk_size`` bytes, and its headers say
``X-Consumed-Content-Encoding: gzip`` in place of ``Content-Encoding``.

Limits (the counters of ``accounting.py``): at most the request's ``max_body_size`` bytes come
out of the decoder (413), read again at every piece since a streaming handler may change it in
``prepare``. A body may hold several gzip members one after the other (RFC 1952 §2.2); anything
after the end of a member must be another member, so trailing garbage is a 400, and so is a
body that ends inside a member. These refusals are :class:`RequestRejected`, which the
protocol answers with their status.
"""

from __future__ import annotations

import zlib
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

from squall._http1.flow import settled
from squall._http1.params import RequestRejected
from squall._http1.phases import RESPONSE_DONE
from squall._types import MaybeAwaitable
from squall.httputil import (
    DirectMessageDelegate,
    HTTPHeaders,
    HTTPMessageDelegate,
    RequestStartLine,
    ResponseStartLine,
    message_data_received,
    message_finish,
    message_headers_received,
)

if TYPE_CHECKING:
    from squall._http1.exchange import HTTP1Exchange

__all__ = ["GzipBody"]


def _decoder() -> Any:
    return zlib.decompressobj(16 + zlib.MAX_WBITS)  # gzip framing, not zlib's


class GzipBody(DirectMessageDelegate):
    """Inflates the gzip body of ``ex`` for ``inner``, the application's message delegate."""

    __slots__ = ("_chunk_size", "_decoder", "_ex", "_inflated", "_input", "_started", "inner")

    def __init__(self, inner: HTTPMessageDelegate, ex: HTTP1Exchange, chunk_size: int) -> None:
        self.inner = inner
        self._ex = ex
        self._chunk_size = chunk_size
        self._decoder: Any = _decoder()
        self._input = b""  # compressed bytes not inflated yet
        self._inflated = 0  # bytes out of the decoder so far
        self._started = False  # a compressed byte arrived

    def headers_received(
        self, start_line: RequestStartLine | ResponseStartLine, headers: HTTPHeaders
    ) -> MaybeAwaitable:
        """Rename ``Content-Encoding`` (the body will not be gzip) and pass the head on."""
        headers["X-Consumed-Content-Encoding"] = headers.pop("Content-Encoding")
        return message_headers_received(self.inner, start_line, headers)

    def data_received(self, chunk: bytes) -> MaybeAwaitable:
        """Inflate ``chunk`` and hand it on; an awaitable while the delegate asks to wait."""
        if chunk:
            self._started = True
        self._input = chunk
        pending = self._deliver()
        return None if pending is None else self._deliver_later(pending)

    def finish(self) -> None:
        """The body is complete: it must not end inside a gzip member."""
        if self._started and not self._decoder.eof:
            raise RequestRejected(
                "Bad Request: invalid gzip data (the body ends inside a member)", 400
            )
        message_finish(self.inner)

    def on_connection_close(self) -> None:
        """Pass the news on."""
        self.inner.on_connection_close()

    def _deliver(self) -> Awaitable[Any] | None:
        """Hand on the rest of the input; the delegate's awaitable if it asks to wait."""
        while True:
            piece = self._inflate()
            if not piece:
                return None
            result = message_data_received(self.inner, piece)
            if result is not None and not settled(result):
                return result

    async def _deliver_later(self, pending: Awaitable[Any]) -> None:
        """Wait for the delegate, then go on (unless the protocol ended the request)."""
        ex = self._ex
        waiting: Awaitable[Any] | None = pending
        while waiting is not None:
            await waiting
            if ex.msg is not self or ex.response >= RESPONSE_DONE:
                return
            waiting = self._deliver()

    def _inflate(self) -> bytes:
        """The next piece of the inflated body (at most ``chunk_size`` bytes); ``b""`` once the
        input is used up."""
        data = self._input
        while data:
            decoder = self._decoder
            if decoder.eof:
                decoder = self._decoder = _decoder()  # the next member
            limit = self._ex.max_body_size
            try:
                room = max(1, limit - self._inflated + 1)  # one byte over the limit tells
                piece: bytes = decoder.decompress(data, min(self._chunk_size, room))
            except zlib.error as exc:
                raise RequestRejected(f"Bad Request: invalid gzip data ({exc})", 400) from None
            self._inflated += len(piece)
            if self._inflated > limit:
                raise RequestRejected("Content Too Large: decompressed body too large", 413)
            data = decoder.unused_data if decoder.eof else decoder.unconsumed_tail
            self._input = data
            if piece:
                return piece
        return b""
