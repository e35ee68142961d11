"""HTTP1Exchange: one request/response exchange, the ``HTTPConnection`` a handler writes to.

The parser fills in the request side (see ``protocol.py``); the response side frames what the
application writes (status line, headers, Content-Length or chunked body) and hands the bytes to
the connection. Everything per-request lives here, so a connection object holds no request state.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from http.client import responses
from typing import TYPE_CHECKING, Any, Final

from squall._http1 import wire
from squall._http1.context import ConnectionContext
from squall._http1.flow import CLOSED, DONE
from squall._http1.state import DEADLINE_BODY
from squall.httputil import (
    DirectConnection,
    HTTPHeaders,
    HTTPMessageDelegate,
    HTTPOutputError,
    RequestStartLine,
    ResponseStartLine,
)

if TYPE_CHECKING:
    from squall._http1.protocol import HTTP1Protocol

__all__ = ["HTTP1Exchange", "Rejection"]

_DONE: Final = DONE  # read from a C static in the compiled build
_NO_BODY_CODES: Final = frozenset({204, 304})
_COPY_LIMIT: Final = 64 * 1024  # bytes: a bigger first chunk is written separately from the head
# code -> (standard reason, status line): one dict lookup for the common responses.
_STATUS_LINES: Final = {
    code: (reason, wire.status_line(code, reason).decode("latin-1"))
    for code, reason in responses.items()
}


class Rejection:
    """A queued error response: sent in turn, after the responses to earlier requests.

    ``head``: the refused request was HEAD (its response gets no body)."""

    __slots__ = ("head", "message", "status")

    def __init__(self, status: int, message: str, head: bool = False) -> None:
        self.status = status
        self.message = message
        self.head = head


class HTTP1Exchange(DirectConnection):
    """One request/response exchange on an HTTP/1.1 connection.

    The parser fills in the request side; the application writes the response through the
    :class:`~squall.httputil.HTTPConnection` methods."""

    __slots__ = (
        "_chunked_out",
        "_close_callback",
        "_detached",
        "_finished",
        "_headers_written",
        "_no_body",
        "_proto",
        "_remaining",
        "_response_keep_alive",
        "body_pending",
        "body_promised",
        "body_rest",
        "body_received",
        "body_started_at",
        "body_timeout",
        "content_encoding",
        "context",
        "content_length",
        "expect_continue",
        "finish_delivered",
        "has_body",
        "head_complete",
        "head_size",
        "headers",
        "host_count",
        "host_value",
        "inflater",
        "inflated",
        "is_upgrade",
        "keep_alive",
        "line_chunk",
        "max_body_size",
        "size_checked",
        "message_complete",
        "method",
        "msg",
        "raw_headers",
        "trailer_count",
        "trailer_size",
        "transfer_encoding",
        "url",
        "version",
        "waiting",
        "connection_tokens",
    )

    def __init__(self, proto: HTTP1Protocol) -> None:
        self._proto = proto
        #: The connection's :class:`ConnectionContext` (``remote_ip``, ``protocol``).
        self.context: ConnectionContext = proto.context
        self.url = b""
        self.line_chunk: bytes | None = None  # the read this request began at the start of
        self.raw_headers: list[tuple[bytes, bytes]] = []
        self.head_size = 0
        self.host_count = 0
        self.host_value = b""
        self.connection_tokens = b""
        self.content_length = -1
        self.transfer_encoding = b""
        self.content_encoding = b""
        self.expect_continue = False
        self.head_complete = False
        self.message_complete = False
        self.is_upgrade = False
        self.method = "GET"
        self.version = "HTTP/1.1"
        self.keep_alive = True
        self.has_body = False
        self.headers: HTTPHeaders | None = None
        self.body_pending: list[bytes] = []
        self.body_rest = b""  # decoded bytes left over when the delegate asked to wait
        self.body_received = 0
        self.body_promised = 0  # body bytes the chunk sizes read so far promise (framing.py)
        self.body_started_at = 0.0
        self.body_timeout: float | None = proto._params.body_timeout
        self.max_body_size = proto._params.max_body_size
        self.size_checked = False  # the body limit is checked once the delegate had its say
        self.inflater: Any = None
        self.inflated = 0
        self.trailer_size = 0  # bytes and fields of a chunked body's trailer section
        self.trailer_count = 0
        self.msg: HTTPMessageDelegate | None = None
        self.waiting = False
        self.finish_delivered = False
        self._headers_written = False
        self._finished = False
        self._detached = False
        self._no_body = False
        self._chunked_out = False
        self._remaining = -1
        self._response_keep_alive = True
        self._close_callback: Callable[[], None] | None = None

    # -- HTTPConnection ----------------------------------------------------------------------

    def write_headers(
        self,
        start_line: ResponseStartLine | RequestStartLine,
        headers: HTTPHeaders,
        chunk: bytes | None = None,
    ) -> Awaitable[None]:
        """Write the status line, headers and optionally a first body chunk.

        Adds ``Date``, ``Server``, ``Connection`` and the body framing (Content-Length as
        given by the application, else chunked for HTTP/1.1, else close-delimited)."""
        if self._headers_written:
            if self._detached:
                return CLOSED  # the protocol ended this exchange: the write goes nowhere
            raise RuntimeError("write_headers() called twice for one response")
        if not isinstance(start_line, ResponseStartLine):
            raise TypeError("a server writes a ResponseStartLine")
        proto = self._proto
        self._headers_written = True
        code = start_line.code
        d = headers._dict
        keep_alive = self.keep_alive and not proto._draining
        conn_value = d.get("Connection")
        if conn_value is not None and "close" in conn_value.lower():
            keep_alive = False
        reason = start_line.reason
        known = _STATUS_LINES.get(code)
        if known is not None and known[0] == reason:
            status_line = known[1]
        else:
            status_line = wire.status_line(code, reason).decode("latin-1")
        if not headers._checked and _has_line_break(headers):
            # A CR or LF in a name or a value would split the response (header injection).
            # Headers a RequestHandler validated on the way in skip this scan.
            proto._abort_response()
            raise ValueError("Newline in response header: refusing to split the response")
        # The head is built as a list of pieces and joined once (no string per header).
        parts = [status_line]
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
        if code < 200 or code in _NO_BODY_CODES or self.method == "HEAD":
            # RFC 9112 §6.3: no body for HEAD, 1xx, 204 and 304, whatever the headers say.
            self._no_body = True
            if code == 101:
                keep_alive = True
        elif "Content-Length" in d:
            try:
                if not (d["Content-Length"].isascii() and d["Content-Length"].isdigit()):
                    raise ValueError  # int() also takes "+10", "1_0", " 10": digits only
                self._remaining = int(d["Content-Length"])
            except ValueError:
                proto._abort_response()
                raise HTTPOutputError(f"Invalid Content-Length: {d['Content-Length']!r}") from None
        elif self.version == "HTTP/1.1" and "Transfer-Encoding" not in d:
            self._chunked_out = True
            parts.append("Transfer-Encoding: chunked\r\n")
        else:
            keep_alive = False  # close-delimited body (HTTP/1.0 without a length)
        self._response_keep_alive = keep_alive
        if "Date" not in d:
            parts.append(proto._state.date_line())
        if "Server" not in d:
            parts.append(proto._server_text)
        if code >= 200:
            if not keep_alive:
                if conn_value is None:
                    parts.append("Connection: close\r\n")
            elif self.version == "HTTP/1.0" and conn_value is None:
                parts.append("Connection: keep-alive\r\n")
        parts.append("\r\n")
        head = "".join(parts)
        data = head.encode("latin-1")
        if chunk and not self._no_body:
            framed = self._frame(chunk)
            if len(framed) <= _COPY_LIMIT:
                data = data + framed  # one buffer for small responses (one send)
            else:
                proto._write(data)  # a large body is not copied just to sit after its head
                data = framed
        proto._write(data)
        flow = proto._flow
        if not flow.write_paused and not flow.closed:
            return _DONE
        return flow.drain()

    def _frame(self, chunk: bytes) -> bytes:
        if self._remaining >= 0:
            self._remaining -= len(chunk)
            if self._remaining < 0:
                self._proto._abort_response()
                raise HTTPOutputError("Tried to write more data than Content-Length")
            return chunk
        if self._chunked_out:
            return wire.chunk(chunk)
        return chunk

    def write(self, chunk: bytes) -> Awaitable[None]:
        """Write a body chunk; returns an awaitable that waits while the transport is full."""
        if self._finished:
            if self._detached:
                return CLOSED
            raise RuntimeError("Cannot write() after finish()")
        if not self._headers_written:
            raise RuntimeError("write() called before write_headers()")
        proto = self._proto
        if proto._flow.closed:
            return proto._flow.drain()
        if chunk and not self._no_body:
            proto._write(self._frame(chunk))
        return proto._flow.drain()

    def write_raw(self, data: bytes) -> None:
        """Legacy raw-callable servers: write bytes that already contain the whole response.

        The connection cannot know where such a response ends, so it closes afterwards."""
        if self._finished:
            if self._detached:
                return
            raise RuntimeError("Cannot write() after finish()")
        if isinstance(data, str):
            data = data.encode("utf-8")
        self._headers_written = True
        self._response_keep_alive = False
        if data:
            self._proto._write(bytes(data))

    def finish(self) -> None:
        """Mark the response complete (writes the last chunk of a chunked body).

        After the protocol ended the exchange itself (a bad body, a framing error, a closed
        connection) this does nothing."""
        if self._finished:
            if self._detached:
                return
            raise RuntimeError("finish() called twice")
        if not self._headers_written:
            raise RuntimeError("finish() called before write_headers()")
        proto = self._proto
        if self._remaining > 0 and not self._no_body and not proto._flow.closed:
            missing = self._remaining
            proto._abort_response()
            raise HTTPOutputError(f"Tried to write {missing} bytes less than Content-Length")
        if self._chunked_out:
            proto._write(wire.LAST_CHUNK)
        self._finished = True
        proto._exchange_finished(self)

    def set_close_callback(self, callback: Callable[[], None] | None) -> None:
        """Call ``callback()`` if the connection closes before this response has finished."""
        self._close_callback = callback

    def peer(self) -> tuple[str | None, str]:
        """The client's address and scheme, from the connection's :class:`ConnectionContext`."""
        context = self.context
        return context.remote_ip, context.protocol

    def set_body_timeout(self, timeout: float) -> None:
        """Limit the time for reading this request's body to ``timeout`` seconds in total."""
        self.body_timeout = timeout
        if self.has_body and not self.message_complete:
            self._proto._set_deadline(DEADLINE_BODY, self.body_started_at + timeout)

    def set_max_body_size(self, max_body_size: int) -> None:
        """Change this request's body size limit (in ``prepare`` of a streaming handler)."""
        self.max_body_size = max_body_size
        if max(self.content_length, self.body_received, self.body_promised) > max_body_size:
            self._proto._fail_active(413, "Request body too large")

    def upgrade(self, protocol: asyncio.BaseProtocol) -> None:
        """Hand the transport to ``protocol`` (after a ``101`` response); see the base class."""
        if not self.is_upgrade:
            raise RuntimeError("upgrade() is only possible for a request that asked to upgrade")
        self._finished = True
        self._proto._hand_over(self, protocol)

    def get_ssl_certificate(self, binary_form: bool = False) -> Any:
        """The peer's TLS certificate, or None."""
        transport = self._proto._transport
        ssl_object = None if transport is None else transport.get_extra_info("ssl_object")
        if ssl_object is None:
            return None
        try:
            return ssl_object.getpeercert(binary_form=binary_form)
        except ValueError:
            return None

    @property
    def response_started(self) -> bool:
        """True once the status line has been written."""
        return self._headers_written

    @property
    def finished(self) -> bool:
        """True once the response has been finished."""
        return self._finished


def _has_line_break(headers: HTTPHeaders) -> bool:
    """Whether a field name or value holds a CR or LF."""
    for name, value in headers.get_all():
        if "\n" in name or "\r" in name or "\n" in value or "\r" in value:
            return True
    return False
