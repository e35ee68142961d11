"""Sans-IO serialisation of HTTP/1.1 responses: status lines, header blocks, chunk framing.

Pure functions over bytes and strings; the protocol decides *what* to send, this module
decides how it looks on the wire. Everything that can be computed once is computed at import.
"""

from __future__ import annotations

from http.client import responses
from typing import Final

from squall._util import date_header_value

__all__ = [
    "CONTINUE",
    "LAST_CHUNK",
    "chunk",
    "error_response",
    "status_line",
]

#: The interim response to ``Expect: 100-continue`` (RFC 9110 §10.1.1).
CONTINUE: Final = b"HTTP/1.1 100 Continue\r\n\r\n"
#: The last chunk of a chunked body, with no trailer fields.
LAST_CHUNK: Final = b"0\r\n\r\n"

_STATUS_LINES: Final[dict[int, bytes]] = {
    code: f"HTTP/1.1 {code} {reason}\r\n".encode("latin-1") for code, reason in responses.items()
}


def status_line(code: int, reason: str | None) -> bytes:
    """Return ``HTTP/1.1 <code> <reason>\\r\\n``; the common lines come from a table.

    A reason containing CR or LF raises ``ValueError`` (it would split the response)."""
    if not reason or responses.get(code) == reason:
        line = _STATUS_LINES.get(code)
        if line is not None:
            return line
        reason = reason or "Unknown"
    if "\r" in reason or "\n" in reason:
        raise ValueError(f"Invalid reason phrase (contains a line break): {reason!r}")
    if not 100 <= code <= 999:
        raise ValueError(f"Invalid HTTP status code: {code!r}")
    return f"HTTP/1.1 {code} {reason}\r\n".encode("latin-1")


def chunk(data: bytes) -> bytes:
    """Frame ``data`` as one chunk of a chunked body (never call it with empty data)."""
    return b"%x\r\n%b\r\n" % (len(data), data)


def error_response(code: int, message: str, server: bytes, *, head: bool = False) -> bytes:
    """A complete ``text/plain`` response that closes the connection (for rejected requests).

    ``head``: the request was HEAD, so the response has no body (RFC 9110 §9.3.2), though its
    Content-Length still says how long the message would be."""
    body = (message + "\n").encode("utf-8", "replace")
    return b"".join(
        (
            status_line(code, None),
            b"Content-Type: text/plain; charset=utf-8\r\nContent-Length: %d\r\n" % len(body),
            b"Connection: close\r\nDate: ",
            date_header_value(),
            b"\r\n",
            server,
            b"\r\n",
            b"" if head else body,
        )
    )
