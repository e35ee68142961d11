"""The error answers: what a request that cannot be served gets, and when.

A request is refused while it is being parsed (the parser's verdict, or one of our limits:
:class:`~squall._http1.params.RequestRejected`), by the framing walker (``framing.py``), or
once it is being served (a bad body, a timeout). Either way the client gets one ``text/plain``
error response and the connection closes after it; nothing after a refused request is parsed
(it might be body bytes posing as a request).

A request refused while others are queued before it waits its turn: it is replaced in the
queue by a :class:`Rejection`, so the responses to the requests before it still go out first,
in order. A request already being served is answered at once, if its response has not begun.
"""

from __future__ import annotations

import re
from collections import deque
from typing import TYPE_CHECKING, Final

import httptools

from squall._http1 import wire
from squall._http1.params import RequestRejected
from squall.log import app_log, gen_log

if TYPE_CHECKING:
    from squall._http1.exchange import HTTP1Exchange

__all__ = ["Rejection", "callback_failure", "drop_from", "error_answer", "parser_failure"]


class Rejection:
    """A queued error response: sent in turn, after the responses to earlier requests.

    ``head``: the refused request was HEAD (its response gets no body)."""

    __slots__ = ("head", "message", "status")

    def __init__(self, status: int, message: str, head: bool = False) -> None:
        self.status = status
        self.message = message
        self.head = head


def parser_failure(exc: Exception, data: bytes = b"") -> tuple[int, str]:
    """The answer to a request httptools could not parse (its ``HttpParserError``); ``data``
    is the read it was parsing, looked at only to say what was wrong.

    A well-formed but unsupported version (HTTP/1.2, HTTP/3.0) is 505; a malformed request
    line that merely mentions the version ("Expected CRLF after version") is 400. The message
    says which part was malformed, in the words operators (and Tornado's tests) look for:
    "Malformed HTTP request line", "Malformed HTTP headers" ("no colon in header line"),
    "invalid chunk size", the Content-Length and Transfer-Encoding faults; llhttp's own reason
    follows in parentheses."""
    reason = str(exc) or exc.__class__.__name__
    if reason.startswith("Invalid HTTP version"):
        return 505, f"HTTP Version Not Supported: {reason}"
    if isinstance(exc, _LINE_ERRORS) or any(word in reason for word in _LINE_WORDS):
        return 400, f"Bad Request: Malformed HTTP request line ({reason})"
    if "can't be present with" in reason:
        return (
            400,
            f"Bad Request: Message with both Transfer-Encoding and Content-Length ({reason})",
        )
    if "Content-Length" in reason:
        return 400, f"Bad Request: {_content_length_fault(reason, data)} ({reason})"
    if "Transfer-Encoding" in reason:
        values = _field_values(data, b"transfer-encoding")
        return 400, f"Bad Request: Unsupported Transfer-Encoding {values} ({reason})"
    if "chunk size" in reason.lower():
        return 400, f"Bad Request: invalid chunk size ({reason})"
    if reason == "Invalid header token":
        what = "no colon in header line" if _line_without_colon(data) else "invalid field name"
        return 400, f"Bad Request: Malformed HTTP headers: {what} ({reason})"
    if "header" in reason:
        return 400, f"Bad Request: Malformed HTTP headers ({reason})"
    return 400, f"Bad Request: {reason}"


# llhttp's reasons for a fault in the request line (its errors for the method and the target
# have classes of their own).
_LINE_ERRORS: Final = (httptools.HttpParserInvalidMethodError, httptools.HttpParserInvalidURLError)
_LINE_WORDS: Final = ("method", " url", "version", "HTTP/", "Expected dot", "start line")
_FIELD_LINE: Final = re.compile(rb"(?im)^([!#$%&'*+\-.^_`|~0-9a-z]+)[ \t]*:[ \t]*([^\r\n]*)")


def _field_values(data: bytes, name: bytes) -> str:
    """The values of the ``name`` fields (lower-case) found in ``data``, joined with ","."""
    values = [m[2].rstrip(b" \t") for m in _FIELD_LINE.finditer(data) if m[1].lower() == name]
    return b",".join(values).decode("latin-1")


def _content_length_fault(reason: str, data: bytes) -> str:
    """What is wrong with the Content-Length llhttp refused, as far as ``data`` shows it."""
    values = _field_values(data, b"content-length")
    parts = {p.strip(" \t") for p in values.split(",")} if values else set()
    if "Duplicate" in reason or "," in values:
        if len(parts) > 1:
            return f"Multiple unequal Content-Lengths: {values!r}"
        return f"Content-Length given more than once: {values!r}"
    if "overflow" in reason:
        return "Content-Length too large to be a length"
    shown = f": {values!r}" if values else ""
    return f"Only integer Content-Length is allowed{shown}"


def _line_without_colon(data: bytes) -> bool:
    """Whether a header line in ``data`` (after a request line, before an empty line) has no
    colon: llhttp calls that an invalid header token."""
    for block in data.split(b"\r\n\r\n"):
        for line in block.split(b"\r\n")[1:]:
            if line and b":" not in line:
                return True
    return False


def callback_failure(cause: BaseException | None) -> tuple[int, str]:
    """The answer when one of our parser callbacks raised (httptools'
    ``HttpParserCallbackError``, whose ``__context__`` is ``cause``).

    A deliberate :class:`RequestRejected` carries its status; anything else is our bug, logged
    with its traceback and answered 500."""
    if isinstance(cause, RequestRejected):
        return cause.status_code, str(cause)
    app_log.error("Uncaught exception in HTTP/1.1 parser callback", exc_info=cause)
    return 500, "Internal Server Error"


def error_answer(
    status: int, message: str, server_line: bytes, head: bool, remote_ip: str, *, log: bool = True
) -> bytes:
    """The bytes of an error response (``head``: to a HEAD request, so without a body).

    With ``log`` the refusal is logged at INFO as "Malformed HTTP message from <ip>: ...",
    except a head over its size limits (431, 414), logged as "Unsatisfiable read from <ip>:
    ...": the head could not be read within ``max_header_size`` (Tornado's words for it)."""
    if log:
        if status in (431, 414):
            gen_log.info("Unsatisfiable read from %s: %s", remote_ip, message)
        else:
            gen_log.info("Malformed HTTP message from %s: %s", remote_ip, message)
    return wire.error_response(status, message, server_line, head=head)


def drop_from(queue: deque[HTTP1Exchange | Rejection], ex: HTTP1Exchange) -> None:
    """Remove ``ex`` and every request queued after it (they arrived after a refused one)."""
    if ex in queue:
        while queue.pop() is not ex:
            pass
