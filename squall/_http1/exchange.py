"""HTTP1Exchange: one request/response exchange, the ``HTTPConnection`` a handler writes to.

The parser fills in the request side (``record.py``); the response side frames what the
application writes (``wire.response_head``) and hands the bytes to the connection, which it
knows only as an ``owner.ExchangeOwner`` (the public section of ``HTTP1Protocol``). Everything
per-request lives here, so a connection object holds no request state; the protocol changes an
exchange only through its public members (the request record, the phases of ``phases.py``,
``abandon()``, ``release()``, ``connection_lost()``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Final

from squall._http1 import wire
from squall._http1.context import ConnectionContext
from squall._http1.errors import StreamClosedError
from squall._http1.flow import CLOSED, DONE
from squall._http1.owner import ExchangeOwner
from squall._http1.params import body_too_large
from squall._http1.phases import (
    DELIVER_DONE,
    DELIVER_NONE,
    READ_DONE,
    READ_HEAD,
    RESPONSE_ABANDONED,
    RESPONSE_DETACHED,
    RESPONSE_DONE,
    RESPONSE_NONE,
    RESPONSE_STARTED,
)
from squall._http1.state import DEADLINE_BODY
from squall._http1.wire import FRAMING_CHUNKED, FRAMING_CLOSE, FRAMING_LENGTH, FRAMING_NONE
from squall.httputil import (
    DirectConnection,
    HTTPHeaders,
    HTTPMessageDelegate,
    HTTPOutputError,
    RequestStartLine,
    ResponseStartLine,
)
from squall.log import app_log

__all__ = ["HTTP1Exchange"]

_DONE: Final = DONE  # read from a C static in the compiled build
_COPY_LIMIT: Final = 64 * 1024  # bytes: a bigger first chunk is written separately from the head
_DETACHED: Final = "The connection was detached: write to the stream detach() returned"


class HTTP1Exchange(DirectConnection):
    """One request/response exchange on an HTTP/1.1 connection.

    The parser fills in the request side; the application writes the response through the
    :class:`~squall.httputil.HTTPConnection` methods."""

    __slots__ = (
        "_close_callback",
        "_conn",
        "_framing",
        "_remaining",
        "body_pending",
        "body_promised",
        "body_rest",
        "body_received",
        "body_started_at",
        "body_timeout",
        "connection_tokens",
        "content_encoding",
        "content_length",
        "context",
        "delivery",
        "expect_continue",
        "has_body",
        "head_size",
        "headers",
        "host_count",
        "host_value",
        "is_upgrade",
        "keep_alive",
        "line_chunk",
        "max_body_size",
        "method",
        "msg",
        "raw_headers",
        "reading",
        "response",
        "response_keep_alive",
        "trailer_count",
        "trailer_size",
        "transfer_encoding",
        "url",
        "version",
        "waiting",
    )

    def __init__(self, conn: ExchangeOwner) -> None:
        self._conn = conn
        #: The connection's :class:`ConnectionContext` (``remote_ip``, ``protocol``).
        self.context: ConnectionContext = conn.context
        # The phases (phases.py): what the parser read, the delegate got, the application wrote.
        self.reading = READ_HEAD
        self.delivery = DELIVER_NONE
        self.response = RESPONSE_NONE
        self.waiting = False  # an awaitable the delegate returned is pending
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
        self.is_upgrade = False
        self.method = "GET"
        self.version = "HTTP/1.1"
        self.keep_alive = True
        self.has_body = False
        self.headers: HTTPHeaders | None = None
        self.body_pending: list[bytes] = []
        self.body_rest = b""  # bytes left over when the delegate asked to wait
        self.body_received = 0
        self.body_promised = 0  # body bytes the chunk sizes read so far promise (framing.py)
        self.body_started_at = 0.0
        params = conn.params
        self.body_timeout: float | None = params.body_timeout
        self.max_body_size = params.max_body_size
        self.trailer_size = 0  # bytes and fields of a chunked body's trailer section
        self.trailer_count = 0
        self.msg: HTTPMessageDelegate | None = None
        #: Whether the connection may serve another request after this response (set when
        #: the response head is written).
        self.response_keep_alive = True
        self._framing = FRAMING_CLOSE  # how the response body is framed (wire.FRAMING_*)
        self._remaining = -1  # bytes a Content-Length still owes
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
        if self.response != RESPONSE_NONE:
            if self.response == RESPONSE_ABANDONED:
                return CLOSED  # the protocol ended this exchange: the write goes nowhere
            if self.response == RESPONSE_DETACHED:
                raise RuntimeError(_DETACHED)
            raise RuntimeError("write_headers() called twice for one response")
        if not isinstance(start_line, ResponseStartLine):
            raise TypeError("a server writes a ResponseStartLine")
        conn = self._conn
        self.response = RESPONSE_STARTED
        code = start_line.code
        status = wire.status_text(code, start_line.reason)
        try:
            data, framing, length, keep_alive = wire.response_head(
                status,
                code,
                headers,
                self.method == "HEAD",
                self.version,
                self.keep_alive and not conn.draining,
                conn.state.date_line(),
                conn.server_text,
            )
        except (ValueError, HTTPOutputError):
            conn.abort_response()  # a response that would break the framing: close after it
            raise
        self._framing = framing
        self._remaining = length
        self.response_keep_alive = keep_alive
        if chunk and framing != FRAMING_NONE:
            framed = self._frame(chunk)
            if len(framed) <= _COPY_LIMIT:
                data = data + framed  # one buffer for small responses (one send)
            else:
                conn.send(data)  # a large body is not copied just to sit after its head
                data = framed
        conn.send(data)
        flow = conn.flow
        if not flow.write_paused and not flow.closed:
            return _DONE
        return flow.drain()

    def _frame(self, chunk: bytes) -> bytes:
        framing = self._framing
        if framing == FRAMING_LENGTH:
            self._remaining -= len(chunk)
            if self._remaining < 0:
                self._conn.abort_response()
                raise HTTPOutputError("Tried to write more data than Content-Length")
            return chunk
        if framing == FRAMING_CHUNKED:
            return wire.chunk(chunk)
        return chunk

    def write(self, chunk: bytes) -> Awaitable[None]:
        """Write a body chunk; returns an awaitable that waits while the transport is full."""
        response = self.response
        if response != RESPONSE_STARTED:
            if response == RESPONSE_ABANDONED:
                return CLOSED
            if response == RESPONSE_DONE:
                raise RuntimeError("Cannot write() after finish()")
            if response == RESPONSE_DETACHED:
                raise RuntimeError(_DETACHED)
            raise RuntimeError("write() called before write_headers()")
        conn = self._conn
        flow = conn.flow
        if flow.closed:
            return flow.drain()
        if chunk and self._framing != FRAMING_NONE:
            conn.send(self._frame(chunk))
        return flow.drain()

    def write_raw(self, data: bytes) -> None:
        """Legacy raw-callable servers: write bytes that already contain the whole response.

        The connection cannot know where such a response ends, so it closes afterwards."""
        if self.response >= RESPONSE_DONE:
            if self.response == RESPONSE_ABANDONED:
                return
            if self.response == RESPONSE_DETACHED:
                raise RuntimeError(_DETACHED)
            raise RuntimeError("Cannot write() after finish()")
        if isinstance(data, str):
            data = data.encode("utf-8")
        self.response = RESPONSE_STARTED
        self.response_keep_alive = False
        if data:
            self._conn.send(bytes(data))

    def finish(self) -> None:
        """Mark the response complete (writes the last chunk of a chunked body).

        After the protocol ended the exchange itself (a bad body, a framing error, a closed
        connection) this does nothing."""
        response = self.response
        if response != RESPONSE_STARTED:
            if response == RESPONSE_ABANDONED:
                return
            if response == RESPONSE_DONE:
                raise RuntimeError("finish() called twice")
            if response == RESPONSE_DETACHED:
                raise RuntimeError(_DETACHED)
            raise RuntimeError("finish() called before write_headers()")
        conn = self._conn
        if self._remaining > 0 and not conn.flow.closed:  # a Content-Length not reached
            missing = self._remaining
            conn.abort_response()
            raise HTTPOutputError(f"Tried to write {missing} bytes less than Content-Length")
        if self._framing == FRAMING_CHUNKED:
            conn.send(wire.LAST_CHUNK)
        self.response = RESPONSE_DONE
        conn.exchange_finished(self)

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
        if self.has_body and self.reading != READ_DONE:
            self._conn.set_deadline(DEADLINE_BODY, self.body_started_at + timeout)

    def set_max_body_size(self, max_body_size: int) -> None:
        """Change this request's body size limit (in ``prepare`` of a streaming handler)."""
        self.max_body_size = max_body_size
        if max(self.content_length, self.body_received, self.body_promised) > max_body_size:
            self._conn.fail_request(413, body_too_large(bool(self.transfer_encoding)))

    def upgrade(self, protocol: asyncio.BaseProtocol) -> None:
        """Hand the transport to ``protocol`` (after a ``101`` response); see the base class."""
        if not self.is_upgrade:
            raise RuntimeError("upgrade() is only possible for a request that asked to upgrade")
        if self.response < RESPONSE_DONE:
            self.response = RESPONSE_DONE
        self._conn.hand_over(protocol)

    def get_ssl_certificate(self, binary_form: bool = False) -> Any:
        """The peer's TLS certificate, or None."""
        ssl_object = self._conn.transport_info("ssl_object")
        if ssl_object is None:
            return None
        try:
            return ssl_object.getpeercert(binary_form=binary_form)
        except ValueError:
            return None

    @property
    def stream(self) -> Any:
        """The connection as Tornado code sees its IOStream: ``closed()``,
        ``set_close_callback()``, ``socket``, ``write()``, ``close()`` (``stream.py``); the same
        object for every request of the connection; None once it was detached or upgraded."""
        return self._conn.connection_stream()

    def detach(self) -> Any:
        """Take the connection over (Tornado's ``HTTP1Connection.detach()``): all HTTP
        processing stops, and the returned :class:`squall.iostream.IOStream` owns the socket.

        Bytes the server read and did not deliver (the rest of a Content-Length body, what
        followed an upgrade or CONNECT request) are readable from it first; a response begun
        here goes out before anything written to it. The delegate hears nothing more, and
        writing through this connection afterwards raises RuntimeError. Raises RuntimeError
        when the connection cannot be handed over whole (``takeover.py``: a pipelined request
        already read, a chunked body not delivered, inside ``data_received``, after
        ``finish()``; a TLS connection comes relayed, see ``takeover.py``) and
        StreamClosedError once it is closed."""
        response = self.response
        if response >= RESPONSE_DONE:
            if response == RESPONSE_ABANDONED:
                raise StreamClosedError()
            raise RuntimeError(
                "detach() called twice"
                if response == RESPONSE_DETACHED
                else "Cannot detach() after finish()"
            )
        stream = self._conn.detach_stream(self)
        self.response = RESPONSE_DETACHED
        self.msg = None
        self._close_callback = None
        return stream

    @property
    def response_started(self) -> bool:
        """True once the status line has been written."""
        return self.response != RESPONSE_NONE

    @property
    def finished(self) -> bool:
        """True once the response has been finished."""
        return self.response >= RESPONSE_DONE

    # -- what the protocol may do to an exchange ---------------------------------------------

    def release(self) -> None:
        """The response is complete: let go of the delegate and the close callback.

        They and the exchange refer to each other; breaking the cycle now lets reference
        counting free each request at once rather than the cycle collector later. A delegate
        still owed ``finish()`` (the body was not all read) is kept."""
        self._close_callback = None
        if self.delivery == DELIVER_DONE:
            self.msg = None

    def abandon(self) -> None:
        """The protocol ends this exchange before the application did (the connection closes).

        The delegate gets no more body and no ``finish()``; like on a lost connection it hears
        ``on_connection_close()`` (unless ``finish()`` was delivered) and the close callback
        runs, on the next loop turn (never inside the application's own call). Later writes
        are dropped and ``finish()`` does nothing."""
        self.response = RESPONSE_ABANDONED
        msg = None if self.delivery == DELIVER_DONE else self.msg
        callback = self._close_callback
        self.msg = None
        self._close_callback = None
        if msg is not None or callback is not None:
            self._conn.state.loop.call_soon(_notify_closed, msg, callback)

    def connection_lost(self) -> None:
        """The connection closed before the response was finished: tell the delegate
        (``on_connection_close()``) and run the close callback, now; nothing more is
        delivered."""
        msg = self.msg
        callback = self._close_callback
        self.msg = None
        self._close_callback = None
        _notify_closed(msg, callback)


def _notify_closed(msg: HTTPMessageDelegate | None, callback: Callable[[], None] | None) -> None:
    """Tell a delegate, then the close callback, that the connection closed under it."""
    try:
        if msg is not None:
            msg.on_connection_close()
        if callback is not None:
            callback()
    except Exception:
        app_log.error("Exception in connection close callback", exc_info=True)
