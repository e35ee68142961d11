"""Output transforms: rewrite a response on its way out (gzip compression).

Chunked framing is the protocol layer's job; the only transform here is
:class:`GZipContentEncoding`, enabled by the ``compress_response`` setting.
"""

from __future__ import annotations

import gzip
import io
from typing import TYPE_CHECKING

from squall.httputil import HTTPHeaders

if TYPE_CHECKING:
    from squall.httputil import HTTPServerRequest

__all__ = ["GZipContentEncoding", "OutputTransform"]


class OutputTransform:
    """A transform modifies the status, headers and body of a response as it is sent.

    One instance per request: ``transform_first_chunk`` sees the status, the headers and
    the first body chunk; ``transform_chunk`` sees each later chunk."""

    def __init__(self, request: HTTPServerRequest) -> None:
        self.request = request

    def transform_first_chunk(
        self, status_code: int, headers: HTTPHeaders, chunk: bytes, finishing: bool
    ) -> tuple[int, HTTPHeaders, bytes]:
        """Return the (possibly changed) status, headers and first chunk."""
        return status_code, headers, chunk

    def transform_chunk(self, chunk: bytes, finishing: bool) -> bytes:
        """Return the (possibly changed) later chunk."""
        return chunk


class GZipContentEncoding(OutputTransform):
    """Compress responses with ``Content-Encoding: gzip`` when the client accepts it.

    Only compressible types (``text/*``, JSON, JavaScript, XML, Atom, XHTML, SVG) and bodies of
    at least :attr:`MIN_LENGTH` bytes when the whole body is known; always adds
    ``Vary: Accept-Encoding``. A streamed response loses its Content-Length."""

    CONTENT_TYPES = frozenset(
        {
            "application/javascript",
            "application/x-javascript",
            "application/xml",
            "application/atom+xml",
            "application/json",
            "application/xhtml+xml",
            "image/svg+xml",
        }
    )
    #: Compression level (zlib): 6, a good size/speed balance.
    GZIP_LEVEL = 6
    #: Bodies shorter than this (when sent in one piece) are not worth compressing.
    MIN_LENGTH = 1024

    def __init__(self, request: HTTPServerRequest) -> None:
        super().__init__(request)
        self._gzipping = "gzip" in request.headers.get("Accept-Encoding", "")
        self._buffer: io.BytesIO | None = None
        self._file: gzip.GzipFile | None = None

    def _compressible_type(self, ctype: str) -> bool:
        ctype = ctype.split(";", 1)[0].strip().lower()
        return ctype.startswith("text/") or ctype in self.CONTENT_TYPES

    def transform_first_chunk(
        self, status_code: int, headers: HTTPHeaders, chunk: bytes, finishing: bool
    ) -> tuple[int, HTTPHeaders, bytes]:
        """Decide whether to compress, and compress the first chunk."""
        if "Vary" in headers:
            headers["Vary"] = headers["Vary"] + ", Accept-Encoding"
        else:
            headers["Vary"] = "Accept-Encoding"
        if self._gzipping:
            ctype = headers.get("Content-Type", "")
            self._gzipping = (
                self._compressible_type(ctype)
                and (not finishing or len(chunk) >= self.MIN_LENGTH)
                and "Content-Encoding" not in headers
                and status_code not in (204, 304)
                and not 100 <= status_code < 200
            )
        if not self._gzipping:
            return status_code, headers, chunk
        headers["Content-Encoding"] = "gzip"
        self._buffer = io.BytesIO()
        self._file = gzip.GzipFile(mode="w", fileobj=self._buffer, compresslevel=self.GZIP_LEVEL)
        chunk = self.transform_chunk(chunk, finishing)
        if "Content-Length" in headers:
            if finishing:
                headers["Content-Length"] = str(len(chunk))
            else:
                del headers["Content-Length"]
        return status_code, headers, chunk

    def transform_chunk(self, chunk: bytes, finishing: bool) -> bytes:
        """Compress a chunk (flushing it out so streamed responses keep moving)."""
        if not self._gzipping or self._file is None or self._buffer is None:
            return chunk
        self._file.write(chunk)
        if finishing:
            self._file.close()
        else:
            self._file.flush()
        out = self._buffer.getvalue()
        self._buffer.seek(0)
        self._buffer.truncate()
        return out
