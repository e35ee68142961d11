"""Sans-IO HTTP/1.1 for the stream-based connection: heads in and out, and body framing.

Pure functions over bytes and strings (RFC 9112). Incoming messages: :func:`parse_head` splits
a head into its start line and fields, :func:`body_framing` says how the body is delimited,
:func:`parse_chunk_size` reads a chunk-size line. Outgoing ones: :func:`format_head` and
:func:`chunk_prefix`. Every malformed input raises ``HTTPInputError`` with a message saying
what was wrong; every unsafe output (a CR or LF in a field) raises ``ValueError``.
"""

from __future__ import annotations

import re
from typing import Final

from squall.httputil import HTTPHeaders, HTTPInputError

__all__ = [
    "CHUNKED",
    "HEAD_END",
    "LAST_CHUNK",
    "LENGTH",
    "NO_BODY",
    "UNTIL_CLOSE",
    "body_framing",
    "chunk_prefix",
    "connection_tokens",
    "format_head",
    "parse_chunk_size",
    "parse_head",
]

#: The end of a message head: an empty line, CRLF or a bare LF (RFC 9112 §2.2 allows a
#: recipient to accept a bare LF as a line terminator).
HEAD_END: Final = re.compile(rb"\r?\n\r?\n")
#: The last chunk of a chunked body, with no trailer fields.
LAST_CHUNK: Final = b"0\r\n\r\n"

# How a body is delimited (RFC 9112 §6.3).
NO_BODY: Final = 0
LENGTH: Final = 1
CHUNKED: Final = 2
UNTIL_CLOSE: Final = 3

_TOKEN: Final = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
# A field line: a token, a colon, optional whitespace, the value, optional whitespace.
_FIELD: Final = re.compile(rf"({_TOKEN}):[ \t]*(.*?)[ \t]*")
# A field value may hold no control character but HTAB, and no DEL (RFC 9110 §5.5).
_BAD_VALUE: Final = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
# What must never reach the wire inside a field: it would end the line or the head early.
_UNSAFE: Final = re.compile(r"[\r\n\x00]")
_CHUNK_SIZE: Final = re.compile(rb"[0-9A-Fa-f]{1,16}")


def parse_head(data: bytes) -> tuple[str, HTTPHeaders]:
    """Split a message head (up to and including its empty line) into start line and fields.

    Empty lines before the start line are skipped (RFC 9112 §2.2). Raises ``HTTPInputError``
    for a head with no start line, a field line that is not ``token: value``, a value with a
    control character (a bare CR included), and obsolete line folding (a line starting with
    whitespace), which RFC 9112 §5.2 lets a recipient reject.
    """
    lines = data.decode("latin-1").split("\n")
    index, count = 0, len(lines)
    while index < count and lines[index] in ("", "\r"):
        index += 1
    if index == count:
        raise HTTPInputError("Malformed HTTP message: no start line")
    start = lines[index]
    if start.endswith("\r"):
        start = start[:-1]
    if "\r" in start:
        raise HTTPInputError(f"Malformed start line (bare CR): {start!r}")
    headers = HTTPHeaders()
    for line in lines[index + 1 :]:
        if line.endswith("\r"):
            line = line[:-1]
        if not line:
            continue  # the empty line(s) that end the head
        if line[0] in " \t":
            raise HTTPInputError(
                f"Malformed header: obsolete line folding is not supported: {line!r}"
            )
        match = _FIELD.fullmatch(line)
        if match is None:
            raise HTTPInputError(f"Malformed header line: {line!r}")
        name, value = match.groups()
        if _BAD_VALUE.search(value) is not None:
            raise HTTPInputError(f"Malformed header value (control character): {line!r}")
        headers.add(name, value)
    return start, headers


def body_framing(
    headers: HTTPHeaders, *, is_response: bool, code: int, max_body_size: int
) -> tuple[int, int]:
    """How the body after ``headers`` is delimited: ``(kind, length)`` (RFC 9112 §6.3).

    ``kind`` is :data:`NO_BODY`, :data:`LENGTH` (``length`` bytes), :data:`CHUNKED` or
    :data:`UNTIL_CLOSE` (a response with no framing: the body ends when the connection does).
    ``code`` is the response's status (0 for a request). Several equal Content-Length values
    (``2, 2``) are accepted and ``headers`` is left with one. Raises ``HTTPInputError`` for
    both Transfer-Encoding and Content-Length, unequal or non-integer Content-Lengths, a
    length over ``max_body_size``, a transfer coding other than ``chunked``, and a 204
    response that announces a body.
    """
    encoding = headers.get("Transfer-Encoding")
    declared = headers.get("Content-Length")
    if encoding is not None and declared is not None:
        raise HTTPInputError("Message with both Transfer-Encoding and Content-Length")
    length: int | None = None
    if declared is not None:
        if "," in declared:
            values = {piece.strip(" \t") for piece in declared.split(",")}
            if len(values) != 1:
                raise HTTPInputError(f"Multiple unequal Content-Lengths: {declared!r}")
            declared = values.pop()
            headers["Content-Length"] = declared
        if not (declared.isascii() and declared.isdigit()):
            raise HTTPInputError(f"Only integer Content-Length is allowed: {declared!r}")
        length = int(declared)
        if length > max_body_size:
            raise HTTPInputError("Content-Length too long")
    if code == 204:
        if encoding is not None or length:
            raise HTTPInputError(f"Response with code {code} should not have body")
        return NO_BODY, 0
    if encoding is not None:
        if [part.strip(" \t").lower() for part in encoding.split(",")] != ["chunked"]:
            raise HTTPInputError(
                f"Unsupported Transfer-Encoding {encoding!r}: only 'chunked' is understood"
            )
        return CHUNKED, 0
    if length is not None:
        return (LENGTH, length) if length else (NO_BODY, 0)
    return (UNTIL_CLOSE, 0) if is_response else (NO_BODY, 0)


def connection_tokens(headers: HTTPHeaders) -> set[str]:
    """The lower-cased options of the ``Connection`` field (``close``, ``keep-alive``, ...)."""
    value = headers.get("Connection")
    if not value:
        return set()
    return {token.strip(" \t").lower() for token in value.split(",")}


def parse_chunk_size(line: bytes) -> int:
    """The size in a chunk-size line (``1a;ext=v\\r\\n``); extensions are ignored.

    Raises ``HTTPInputError`` unless the size is 1 to 16 hex digits."""
    size = line.rstrip(b"\r\n").split(b";", 1)[0].strip(b" \t")
    if _CHUNK_SIZE.fullmatch(size) is None:
        raise HTTPInputError(f"Malformed chunk size line: {line[:64]!r}")
    return int(size, 16)


def format_head(first_line: str, headers: HTTPHeaders) -> bytes:
    """The head of an outgoing message: ``first_line``, the fields, the empty line, in latin-1.

    Raises ``ValueError`` when the start line, a name or a value contains CR, LF or NUL (it
    would let the text inject fields or a second message), or when a field is not latin-1.
    """
    lines = [first_line]
    for name, value in headers.get_all():
        lines.append(f"{name}: {value}")
    lines.append("\r\n")
    text = "\r\n".join(lines)
    if text.count("\n") != len(lines) or text.count("\r") != len(lines) or "\x00" in text:
        for line in lines[:-1]:
            if _UNSAFE.search(line) is not None:
                raise ValueError(f"Newline or NUL in header or start line: {line!r}")
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError as exc:
        bad = text[exc.start : exc.end]
        raise ValueError(
            f"Header text {bad!r} is not latin-1: encode the value (RFC 8187, or percent-"
            "encoding) before sending it"
        ) from None


def chunk_prefix(size: int) -> bytes:
    """The size line that starts a chunk of ``size`` bytes (never 0: that is the last chunk)."""
    return b"%x\r\n" % size
