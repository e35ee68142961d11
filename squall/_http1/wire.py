"""Sans-IO serialisation of HTTP/1.1 responses: status lines, header blocks, chunk framing.

Pure functions over bytes and strings; the exchange and the protocol decide *what* to send,
this module decides how it looks on the wire and how a body is framed (RFC 9112 §6). Everything
that can be computed once is computed at import.
"""

from __future__ import annotations

from http.client import responses
from typing import Final

from squall._util import date_header_value
from squall.httputil import HTTPHeaders, HTTPOutputError

__all__ = [
    "CONTINUE",
    "FRAMING_CHUNKED",
    "FRAMING_CLOSE",
    "FRAMING_LENGTH",
    "FRAMING_NONE",
    "LAST_CHUNK",
    "chunk",
    "error_response",
    "has_line_break",
    "response_head",
    "status_line",
    "status_text",
]

#: The interim response to ``Expect: 100-continue`` (RFC 9110 §10.1.1).
CONTINUE: Final = b"HTTP/1.1 100 Continue\r\n\r\n"
#: The last chunk of a chunked body, with no trailer fields.
LAST_CHUNK: Final = b"0\r\n\r\n"

# How a response body is framed (the second value of ``response_head``).
FRAMING_NONE: Final = 0  # HEAD, 1xx, 204, 304: no body, whatever the headers say
FRAMING_LENGTH: Final = 1  # the application's Content-Length
FRAMING_CHUNKED: Final = 2  # HTTP/1.1 without a length: chunked, framed here
FRAMING_CLOSE: Final = 3  # no length: the body ends when the connection closes

_STATUS_LINES: Final[dict[int, bytes]] = {
    code: f"HTTP/1.1 {code} {reason}\r\n".encode("latin-1") for code, reason in responses.items()
}
# code -> (standard reason, status line): one dict lookup for the common responses.
_STATUS_TEXT: Final = {
    code: (reason, f"HTTP/1.1 {code} {reason}\r\n") for code, reason in responses.items()
}
_NO_BODY_CODES: Final = frozenset({204, 304})


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


def status_text(code: int, reason: str | None) -> str:
    """:func:`status_line` as a ``str``, the standard ones from a table."""
    known = _STATUS_TEXT.get(code)
    if known is not None and known[0] == reason:
        return known[1]
    return status_line(code, reason).decode("latin-1")


def response_head(
    status: str,
    code: int,
    headers: HTTPHeaders,
    head_request: bool,
    version: str,
    keep_alive: bool,
    date_line: str,
    server_text: str,
) -> tuple[bytes, int, int, bool]:
    """A response head: its bytes, how its body is framed (``FRAMING_*``), its Content-Length
    (-1 without one), and whether the connection stays open after it.

    ``status`` is the status line (:func:`status_text`), ``head_request`` and ``version``
    describe the request, ``keep_alive`` whether the request lets the connection stay open.
    Adds what the application did not set: the Date line (``date_line``), the Server line
    (``server_text``, may be empty), ``Connection`` and ``Transfer-Encoding: chunked``.
    Raises ``ValueError`` for a CR or LF in a field (it would split the response: headers a
    ``RequestHandler`` validated on the way in are not scanned) and ``HTTPOutputError`` for a
    Content-Length that is not a number."""
    d = headers._dict
    if not headers._checked and has_line_break(headers):
        raise ValueError("Newline in response header: refusing to split the response")
    conn_value = d.get("Connection")
    if conn_value is not None and "close" in conn_value.lower():
        keep_alive = False
    # The head is built as a list of pieces and joined once (no string per header).
    parts = [status]
    if headers._multi is None:
        for name, value in d.items():
            parts.append(name)
            parts.append(": ")
            parts.append(value)
            parts.append("\r\n")
    else:
        for name, value in headers.get_all():
            parts.append(name)
            parts.append(": ")
            parts.append(value)
            parts.append("\r\n")
    length = -1
    if code < 200 or code in _NO_BODY_CODES or head_request:
        # RFC 9112 §6.3: no body for HEAD, 1xx, 204 and 304, whatever the headers say.
        framing = FRAMING_NONE
        if code == 101:
            keep_alive = True
    elif "Content-Length" in d:
        framing = FRAMING_LENGTH
        try:
            if not (d["Content-Length"].isascii() and d["Content-Length"].isdigit()):
                raise ValueError  # int() also takes "+10", "1_0", " 10": digits only
            length = int(d["Content-Length"])
        except ValueError:
            raise HTTPOutputError(f"Invalid Content-Length: {d['Content-Length']!r}") from None
    elif version == "HTTP/1.1" and "Transfer-Encoding" not in d:
        framing = FRAMING_CHUNKED
        parts.append("Transfer-Encoding: chunked\r\n")
    else:
        framing = FRAMING_CLOSE
        keep_alive = False  # close-delimited body (HTTP/1.0 without a length)
    if "Date" not in d:
        parts.append(date_line)
    if "Server" not in d:
        parts.append(server_text)
    if code >= 200:
        # HTTP/1.1 persists unless told "close"; HTTP/1.0 closes unless the response says
        # "Keep-Alive" (RFC 9112 §9.3, Appendix C.2.2), spelled as Tornado (and HTTP/1.0
        # clients of old) write it. A 1.0 response that closes needs no Connection field.
        if not keep_alive:
            if conn_value is None and version == "HTTP/1.1":
                parts.append("Connection: close\r\n")
        elif version == "HTTP/1.0" and conn_value is None:
            parts.append("Connection: Keep-Alive\r\n")
    parts.append("\r\n")
    return "".join(parts).encode("latin-1"), framing, length, keep_alive


def has_line_break(headers: HTTPHeaders) -> bool:
    """Whether a field name or value holds a CR or LF."""
    for name, value in headers.get_all():
        if "\n" in name or "\r" in name or "\n" in value or "\r" in value:
            return True
    return False


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
