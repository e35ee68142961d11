"""Decoding ``Content-Encoding: gzip`` between the connection and a message delegate.

``_GzipMessageDelegate`` wraps a delegate: a gzip body reaches it decoded, in pieces of at most
``chunk_size`` bytes, so a small body that inflates to gigabytes (a decompression bomb) never
sits in memory at once, and decoding stops with ``HTTPInputError("decompressed body too
large")`` once the decoded size passes ``max_body_size``. Several gzip members in a row decode
as one body (RFC 9110 §8.4.1.3); bytes after the last member, a truncated member, or data that
is not gzip raise ``HTTPInputError("invalid gzip data: ...")``. The original coding is kept in
``X-Consumed-Content-Encoding`` and ``Content-Encoding`` is removed, so the delegate sees the
headers of the body it receives.
"""

from __future__ import annotations

import zlib
from typing import Any

from squall.httputil import (
    HTTPHeaders,
    HTTPInputError,
    HTTPMessageDelegate,
    RequestStartLine,
    ResponseStartLine,
)
from squall.util import GzipDecompressor

__all__ = ["_GzipMessageDelegate"]


class _GzipMessageDelegate(HTTPMessageDelegate):
    """Decodes a gzip-encoded body for ``delegate`` (see the module docstring)."""

    def __init__(
        self, delegate: HTTPMessageDelegate, chunk_size: int, max_body_size: int | None = None
    ) -> None:
        self._delegate = delegate
        self._chunk_size = chunk_size
        self._max_body_size = max_body_size
        self._decompressor: GzipDecompressor | None = None
        self._decoded = 0

    def headers_received(
        self, start_line: RequestStartLine | ResponseStartLine, headers: HTTPHeaders
    ) -> Any:
        """Start decoding if the body is gzip; pass the (adjusted) headers on."""
        coding = headers.get("Content-Encoding")
        if coding is not None and coding.strip().lower() in ("gzip", "x-gzip"):
            self._decompressor = GzipDecompressor()
            self._decoded = 0
            headers.add("X-Consumed-Content-Encoding", coding)
            del headers["Content-Encoding"]
        return self._delegate.headers_received(start_line, headers)

    def data_received(self, chunk: bytes) -> Any:
        """Pass ``chunk`` on, decoded if the body is gzip (an awaitable then)."""
        if self._decompressor is None:
            return self._delegate.data_received(chunk)
        return self._decode(chunk)

    async def _decode(self, chunk: bytes) -> None:
        decompressor = self._decompressor
        assert decompressor is not None  # data_received checked
        data = chunk
        while data:
            try:
                decoded = decompressor.decompress(data, self._chunk_size)
            except zlib.error as exc:
                raise HTTPInputError(f"invalid gzip data: {exc}") from None
            data = decompressor.unconsumed_tail
            if decoded:
                self._deliver_check(len(decoded))
                result = self._delegate.data_received(decoded)
                if result is not None:
                    await result
            elif data:  # input left but nothing came out: the decoder cannot progress
                raise HTTPInputError("invalid gzip data: the decoder stopped making progress")

    def _deliver_check(self, size: int) -> None:
        self._decoded += size
        if self._max_body_size is not None and self._decoded > self._max_body_size:
            raise HTTPInputError("decompressed body too large")

    def finish(self) -> None:
        """End the gzip stream (an error if it is cut short), then finish the delegate."""
        if self._decompressor is not None:
            try:
                tail = self._decompressor.flush()
            except (zlib.error, ValueError) as exc:
                raise HTTPInputError(f"invalid gzip data: {exc or 'truncated stream'}") from None
            self._decompressor = None
            if tail:
                self._deliver_check(len(tail))
                self._delegate.data_received(tail)
        self._delegate.finish()

    def on_connection_close(self) -> None:
        """Tell the delegate."""
        self._delegate.on_connection_close()
