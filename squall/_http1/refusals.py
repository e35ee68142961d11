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

from collections import deque
from typing import TYPE_CHECKING

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


def parser_failure(exc: Exception) -> tuple[int, str]:
    """The answer to a request httptools could not parse (its ``HttpParserError``).

    A well-formed but unsupported version (HTTP/1.2, HTTP/3.0) is 505; a malformed request
    line that merely mentions the version ("Expected CRLF after version") is 400."""
    message = str(exc) or exc.__class__.__name__
    if message.startswith("Invalid HTTP version"):
        return 505, f"HTTP Version Not Supported: {message}"
    return 400, f"Bad Request: {message}"


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

    With ``log`` the refusal is logged at INFO as "Malformed HTTP message from <ip>: ..."."""
    if log:
        gen_log.info("Malformed HTTP message from %s: %s", remote_ip, message)
    return wire.error_response(status, message, server_line, head=head)


def drop_from(queue: deque[HTTP1Exchange | Rejection], ex: HTTP1Exchange) -> None:
    """Remove ``ex`` and every request queued after it (they arrived after a refused one)."""
    if ex in queue:
        while queue.pop() is not ex:
            pass
