"""HTTP/1.1 server protocol: httptools callbacks in, ``httputil`` delegate calls out.

How this works
--------------
One :class:`HTTP1Protocol` per TCP connection; one :class:`HTTP1Exchange` per request. The
exchange is both the parser's record of a request and the :class:`~squall.httputil.HTTPConnection`
the application writes its response through.

Rules:

1. Nothing here imports the framework, the server or any facade: bytes, ``HTTP1Params``,
   ``ServerState`` and ``httputil`` delegates only.
2. Parser callbacks only *record* (start line, raw headers, body pieces, a "complete" flag) or
   raise :class:`RequestRejected` for a request our checks refuse. No delegate or user code
   runs inside ``feed_data``; :meth:`HTTP1Protocol._process` replays what was recorded
   afterwards, in order.
3. Requests are served one at a time, in arrival order (pipelining); a queued request is
   dispatched only when the previous response has finished. Responses are therefore written in
   order, and everything produced while processing one ``data_received`` leaves in a single
   ``transport.write``.
4. A request that cannot be parsed gets one error response (after the responses to the
   requests before it) and the connection is closed: a body is never parsed as a request.
5. Timeouts are deadlines on the connection (``deadline``), enforced by the server's sweeper
   (:mod:`squall._http1.state`): head, body (total, or a minimum rate) and idle keep-alive.
6. ``HttpParserCallbackError`` is caught before ``HttpParserError``: an exception from our own
   callback is a bug (logged with its traceback), unless it is a deliberate
   :class:`RequestRejected`.
7. No verdict depends on where a read ends: every counter below charges a message only for its
   own bytes, so the same byte stream split at any points is served the same way.

Counters and deadlines (which bytes each one counts)
----------------------------------------------------
- ``ex.head_size``: the request target (every ``on_url`` piece), plus name + value (trailing
  whitespace removed) + 4 for each header field. Content, so the same for any split. Over
  ``max_header_size``: 414 while still in the target, else 431. The field count
  (``len(ex.raw_headers)``) over ``max_headers``: 431.
- ``_raw_head_bytes``: the bytes of a head still open at the end of a read (httptools buffers
  an unfinished field where we cannot see it, so this bounds its memory). Charged only with
  the head's own bytes: the whole read when the read lies inside the head or began with it;
  from the head's first byte when the head began after another message in the same read
  (found by the framing walker, ``framing.py``). Over ``2 * max_header_size + 64 KiB``: 431.
  A complete head is judged by ``head_size`` alone.
- ``ex.trailer_size`` / ``ex.trailer_count``: a chunked body's trailer fields, measured like
  the head and bounded by the same limits (431); the fields are then dropped.
- ``ex.body_received``: body bytes after chunked decoding (``on_body``), against
  ``max_body_size`` once the delegate has had its say (``size_checked``): 413. A declared
  Content-Length is checked before any body byte; so is ``ex.body_promised``, the sum of the
  chunk sizes read so far (framing walker), the moment a chunk-size line promises too much.
- chunk-size line: its bytes (size digits and extensions, framing walker), at most
  ``framing.MAX_CHUNK_LINE`` (4 KiB) per chunk: 400.
- ``ex.inflated``: bytes out of the gzip decoder (``decompress=True``), at most
  ``max_body_size``: 413; the wire bytes are bounded by ``body_received`` as well. A body that
  is not gzip, has bytes after a gzip member that are not another member, or ends inside a
  member: 400.
- read-ahead: ``body_received`` of a request queued behind the one being served; past
  ``4 * chunk_size`` reading pauses until it is dispatched.
- ``ex.line_chunk`` (the version fast path) counts nothing: it is the read a request began at
  the first byte of, used only when the head also ends in that read, and then the request line
  it compares is the parser's own; otherwise the parser is asked.
- the upgrade tail: the bytes after an upgrade request (and reads held while suspended);
  reading pauses at once, so at most one read is held.
- deadlines: the head's runs from its first byte (or from the connection for the first
  request), the body's from the end of the head, extended by ``body_received /
  body_min_rate``, the idle one from the end of the last response: time and body bytes, never
  reads.
"""

from __future__ import annotations

import asyncio
import re
import zlib
from collections import deque
from collections.abc import Awaitable, Callable
from itertools import islice
from typing import Any, Final

import httptools

from squall._http1 import wire
from squall._http1.context import ConnectionContext
from squall._http1.exchange import HTTP1Exchange, Rejection
from squall._http1.fields import headers_from_raw
from squall._http1.flow import CLOSED, DONE, FlowControl
from squall._http1.framing import FramingMismatch, FramingWalker
from squall._http1.head import VERSIONS, classify_header, note_header, validate_head
from squall._http1.params import HTTP1Params, RequestRejected
from squall._http1.state import (
    DEADLINE_BODY,
    DEADLINE_HEAD,
    DEADLINE_IDLE,
    DEADLINE_NONE,
    ServerState,
)
from squall.httputil import (
    DirectMessageDelegate,
    DirectServerDelegate,
    HTTPInputError,
    HTTPMessageDelegate,
    HTTPServerConnectionDelegate,
    RequestStartLine,
)
from squall.log import app_log, gen_log

__all__ = ["ConnectionContext", "HTTP1Exchange", "HTTP1Protocol"]

_new_start_line: Final = tuple.__new__
_RequestStartLine: Final = RequestStartLine
_COALESCE_LIMIT: Final = 256 * 1024  # bytes: output joined into one write below this size
_METHOD_NAMES: Final = {
    m.encode(): m for m in ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS")
}
# Raw header name -> its lower-cased form if the protocol tracks it, else None (see head.py).
_CLASSIFIED: Final[dict[bytes, bytes | None]] = {}
_UNSEEN: Final = b"\x00"

_HttpParserCallbackError: Final = httptools.HttpParserCallbackError
_HttpParserError: Final = httptools.HttpParserError
_HttpParserInvalidMethod: Final = httptools.HttpParserInvalidMethodError
# RFC 9110 §9.1: a method is a token; llhttp knows a fixed list, squall serves any token.
_METHOD_TOKEN: Final = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,64}")
_HttpParserUpgrade: Final = httptools.HttpParserUpgrade


class HTTP1Protocol(asyncio.Protocol):
    """An HTTP/1.1 server connection (see the module docstring for how it works)."""

    __slots__ = (
        "_active",
        "_chunk",
        "_close_when_idle",
        "_cur",
        "_deadline_kind",
        "_delegate",
        "_direct_delegate",
        "_draining",
        "_eof",
        "_extension_method",
        "_flow",
        "_framing",
        "_framing_due",
        "_head_tail",
        "_held",
        "_loop",
        "_max_header_size",
        "_max_headers",
        "_read_ahead",
        "_out",
        "_params",
        "_parser",
        "_processing",
        "_queue",
        "_raw_head_bytes",
        "_reading_paused",
        "_server_line",
        "_server_text",
        "_state",
        "_suspended",
        "_tls",
        "_transport",
        "_upgrade_tail",
        "_upgraded",
        "context",
        "deadline",
    )

    def __init__(
        self,
        delegate: HTTPServerConnectionDelegate,
        params: HTTP1Params,
        state: ServerState,
        *,
        tls: bool = False,
    ) -> None:
        self._delegate = delegate
        # squall's Application: its methods are called directly (see httputil's Direct bases).
        self._direct_delegate = delegate if isinstance(delegate, DirectServerDelegate) else None
        self._params = params
        self._state = state
        self._loop = state.loop
        self._tls = tls
        self._flow = FlowControl(self._loop)
        server = params.server_header
        self._max_header_size = params.max_header_size
        self._read_ahead = 4 * params.chunk_size
        self._max_headers = params.max_headers
        self._server_text = f"Server: {server}\r\n" if server else ""
        self._server_line = self._server_text.encode("latin-1")
        self._queue: deque[HTTP1Exchange | Rejection] = deque()
        self._active: HTTP1Exchange | None = None
        self._cur: HTTP1Exchange | None = None
        # The read being parsed, while a request may still begin at its first byte.
        self._chunk: bytes | None = None
        self._out: list[bytes] | None = None
        self._processing = False
        self._reading_paused = False
        self._close_when_idle = False
        self._draining = False
        self._eof = False
        self._extension_method: str | None = None  # see _with_known_method
        self._suspended = False
        self._upgraded = False
        self._upgrade_tail = b""
        self._held: list[bytes] = []
        self._raw_head_bytes = 0  # bytes of the open head (see "Counters" above)
        self._head_tail = b""  # the last bytes of a read that left a head open
        self._framing: FramingWalker | None = None  # kept while inside a chunked body
        self._framing_due = False  # a chunked head was parsed in this read
        self.deadline = 0.0
        self._deadline_kind = DEADLINE_NONE
        self._transport: Any = None
        self._parser: Any = None
        self.context = ConnectionContext(None, "http")

    # -- asyncio.Protocol --------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Start a connection: parser, context, head deadline."""
        self._transport = transport
        self._parser = httptools.HttpRequestParser(self)
        proto = self._params.protocol or ("https" if self._tls else "http")
        self.context = ConnectionContext(transport.get_extra_info("peername"), proto)
        high = self._params.write_buffer_high
        if isinstance(transport, asyncio.WriteTransport):
            transport.set_write_buffer_limits(high=high, low=high // 4)
        self._set_deadline(DEADLINE_HEAD, self._loop.time() + self._params.header_timeout)
        self._state.add(self)
        if self._state.draining:
            self.shutdown()

    def data_received(self, data: bytes) -> None:
        """Feed the parser, then serve what it recorded."""
        if self._suspended:
            self._held.append(data)
            self._pause_reading()
            return
        before = self._cur
        retry: bytes | None = None
        # A request that begins at the first byte of this read can have its version read from
        # its request line (on_headers_complete), cheaper than asking the parser.
        self._chunk = data if before is None else None
        queued = len(self._queue)
        # The body bytes ``before`` had, or -1 while its head was open (it may end in this read).
        received = -1 if before is None or not before.head_complete else before.body_received
        try:
            self._parser.feed_data(data)
        except _HttpParserUpgrade as exc:
            offset = exc.args[0]
            if self._framing is not None or self._framing_due:
                # Chunked bodies before the upgrade request are measured like any others.
                self._walk(data[:offset], before, received, queued, upgrade=True)
            if not self._suspended:  # else one of them was refused: its response is queued
                tail = data[offset:]
                queue = self._queue
                ex = queue[-1] if queue else None
                if isinstance(ex, HTTP1Exchange) and ex.has_body and ex.method != "CONNECT":
                    self._read_upgrade_body(ex, tail)
                    return
                self._upgrade_tail = tail
                self._suspended = True
        except _HttpParserCallbackError as exc:
            cause = exc.__context__
            if isinstance(cause, RequestRejected):
                self._reject(cause.status_code, str(cause))
            else:
                app_log.error("Uncaught exception in HTTP/1.1 parser callback", exc_info=cause)
                self._reject(500, "Internal Server Error")
        except _HttpParserInvalidMethod:
            retry = self._with_known_method(data)
            if retry is None:
                self._reject(400, "Bad Request: Malformed HTTP request line (invalid method)")
        except _HttpParserError as exc:
            message = str(exc) or exc.__class__.__name__
            # A well-formed but unsupported version (HTTP/1.2, HTTP/3.0) is 505; a malformed
            # request line that merely mentions the version ("Expected CRLF after version") is 400.
            if message.startswith("Invalid HTTP version"):
                self._reject(505, f"HTTP Version Not Supported: {message}")
            else:
                self._reject(400, f"Bad Request: {message}")
        else:
            # A read that left a message open, or holds chunked framing (never a read holding
            # whole body-less requests only: the hot path).
            if self._cur is not None or self._framing is not None or self._framing_due:
                self._after_read(data, before, received, queued)
        finally:
            self._chunk = None  # never kept beyond this read
        if retry is not None:
            self.data_received(retry)
            return
        self._process()

    def _with_known_method(self, data: bytes) -> bytes | None:
        """The read again, its first request's method (a token llhttp does not know, such as
        ``OTHER``) replaced by one it does; the real method is kept for that exchange (the
        handler answers it, 405 if it does not support it). None, for a 400, when the method is
        not a token or the request is not the first of the read (a pipelined one)."""
        cur = self._cur
        if cur is None or cur.line_chunk is not data or cur.url:
            return None
        start = len(data) - len(data.lstrip(b"\r\n"))
        end = data.find(b" ", start)
        if end < 0 or not _METHOD_TOKEN.fullmatch(data, start, end):
            return None
        self._queue.pop()  # cur: the head it began is parsed again
        self._cur = None
        self._parser = httptools.HttpRequestParser(self)
        self._extension_method = data[start:end].decode("ascii")
        return b"PUT" + data[end:]  # llhttp frames any request's body by its headers alike

    def _after_read(
        self, data: bytes, before: HTTP1Exchange | None, received: int, queued: int
    ) -> None:
        """Check the limits that need byte positions; charge an open head for its bytes.

        ``before`` is the message the read began in (None: it began between messages),
        ``received`` its body bytes then (-1: it was in its head), ``queued`` the queue's
        length then."""
        cur = self._cur
        open_head = cur if cur is not None and not cur.head_complete else None
        # Where an open head began is known without the walker when the read lies wholly
        # inside it, or began with it (``line_chunk``: the first request of a read that began
        # between messages).
        began_inside = (
            open_head is not None and open_head is not before and open_head.line_chunk is None
        )
        walker = None
        if self._framing is not None or self._framing_due or began_inside:
            walker = self._walk(data, before, received, queued)
            if self._suspended:
                return  # refused
        if open_head is None:
            return
        cur = open_head
        cur.line_chunk = None  # a head split over reads: the parser gives the version
        # The last bytes of the head so far, where the framing walker may find the start of
        # its end mark (bytes of an earlier message before it can never complete one).
        tail = data[-3:]
        if cur is before:
            tail = (self._head_tail + tail)[-3:]
        self._head_tail = tail
        if not began_inside:
            charge = len(data)
        elif walker is not None and walker.head_start >= 0:
            charge = len(data) - walker.head_start
        else:
            charge = 0  # never reached unless the walker lost track: undercount, never over
        # httptools buffers an unfinished field itself: bound what one head may cost us.
        self._raw_head_bytes += charge
        if self._raw_head_bytes > 2 * self._params.max_header_size + 65536:
            self._reject(431, "Request header fields too large")

    def _walk(
        self,
        data: bytes,
        before: HTTP1Exchange | None,
        received: int,
        queued: int,
        *,
        upgrade: bool = False,
    ) -> FramingWalker | None:
        """Follow the framing of ``data`` (see framing.py); refuse what its limits refuse.

        Returns the walker, or None when it could not follow (it logs why)."""
        self._framing_due = False
        walker = self._framing
        if walker is None:
            if before is None:
                walker = FramingWalker.at_boundary()
            elif received < 0:
                walker = FramingWalker.in_head(before, self._head_tail)
            elif before.transfer_encoding:
                return None  # a chunked body the walker lost track of earlier
            else:
                walker = FramingWalker.in_length(before, before.content_length - received)
        try:
            new = [e for e in islice(self._queue, queued, None) if isinstance(e, HTTP1Exchange)]
            later = iter(new)
            refusal = walker.walk(data, later, check=not upgrade)
        except FramingMismatch as exc:
            self._framing = None
            app_log.error(
                "HTTP/1.1 framing walker lost track on a connection from %s (%s): chunk limits "
                "are not checked for the request",
                self.context.remote_ip,
                exc,
            )
            return None
        self._framing = walker if walker.in_chunked_body else None
        if refusal is not None:
            self._framing = None
            self._refuse(refusal.ex, refusal.status, refusal.message)
        return walker

    def eof_received(self) -> bool | None:
        """The peer finished sending: serve the complete requests received, then close.

        A request cut short can never complete: an unfinished head is dropped, and an
        unfinished body of the request being served closes the connection now (the delegate
        hears of it through ``on_connection_close``)."""
        if self._active is not None:
            # The client went away while its response was being produced (a half-close is
            # how most clients close): close, so the delegate hears on_connection_close.
            return None
        cur = self._cur
        if cur is not None:
            self._cur = None
            try:
                self._queue.remove(cur)
            except ValueError:
                pass
        if self._active is None and not self._queue:
            return None
        self._eof = True
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        """Tell the delegate about an interrupted request; release everything."""
        self._transport = None  # late callbacks (a delegate's future, a tail) must not touch it
        self._flow.connection_lost()
        self._state.discard(self)
        self.deadline = 0.0
        active = self._active
        self._active = None
        self._queue.clear()
        if active is not None and not active._finished:
            callback = active._close_callback
            active._close_callback = None
            try:
                if active.msg is not None:
                    active.msg.on_connection_close()
                if callback is not None:
                    callback()
            except Exception:
                app_log.error("Exception in connection close callback", exc_info=True)
        try:
            self._delegate.on_close(self)
        except Exception:
            app_log.error("Exception in HTTPServerConnectionDelegate.on_close", exc_info=True)

    def pause_writing(self) -> None:
        """The transport is above its high-water mark."""
        self._flow.pause_writing()

    def resume_writing(self) -> None:
        """The transport drained."""
        self._flow.resume_writing()

    # -- httptools callbacks (record only; see rule 2) ---------------------------------------

    def on_message_begin(self) -> None:
        ex = HTTP1Exchange(self)
        ex.line_chunk = self._chunk  # only the first request of a read starts at its first byte
        self._chunk = None
        self._cur = ex
        self._queue.append(ex)
        self._raw_head_bytes = 0
        if self._deadline_kind != DEADLINE_HEAD:
            self._set_deadline(DEADLINE_HEAD, self._loop.time() + self._params.header_timeout)

    def on_url(self, url: bytes) -> None:
        ex = self._cur
        assert ex is not None  # httptools always calls on_message_begin first
        ex.url += url
        ex.head_size += len(url)
        if ex.head_size > self._max_header_size:
            raise RequestRejected("Request-URI Too Long", 414)

    def on_header(self, name: bytes, value: bytes) -> None:
        ex = self._cur
        assert ex is not None
        if ex.head_complete:
            self._on_trailer(ex, name, value)
            return
        # llhttp drops leading whitespace only; a field value excludes trailing OWS too
        # (RFC 9112 §5.1). rstrip returns the same object when there is nothing to strip.
        if value and value[-1] in (32, 9):  # most values end in neither: no method call
            value = value.rstrip(b" \t")
        raw = ex.raw_headers
        raw.append((name, value))
        ex.head_size += len(name) + len(value) + 4
        if ex.head_size > self._max_header_size or len(raw) > self._max_headers:
            if len(raw) > self._max_headers:
                raise RequestRejected("Request Header Fields Too Large: too many fields", 431)
            raise RequestRejected("Request Header Fields Too Large", 431)
        tracked = _CLASSIFIED.get(name, _UNSEEN)
        if tracked is _UNSEEN:
            tracked = classify_header(name)
            if len(_CLASSIFIED) < 4096:  # a peer inventing names cannot grow it without bound
                _CLASSIFIED[name] = tracked
        if tracked is not None:
            note_header(ex, tracked, value)

    def _on_trailer(self, ex: HTTP1Exchange, name: bytes, value: bytes) -> None:
        """A field of a chunked body's trailer section: bounded like the head, then dropped.

        RFC 9110 §6.5.1: trailer fields are not merged into the header section (the delegate
        has seen the headers already, or will, depending on where a read ended); none of them
        changes how the request is framed or served."""
        ex.trailer_size += len(name) + len(value) + 4
        ex.trailer_count += 1
        if ex.trailer_size > self._max_header_size or ex.trailer_count > self._max_headers:
            raise RequestRejected("Request Header Fields Too Large: trailer section", 431)

    def on_headers_complete(self) -> None:
        ex = self._cur
        assert ex is not None
        parser = self._parser
        method = parser.get_method()
        version: str | None = None
        chunk = ex.line_chunk
        if chunk is not None:
            # The request began at the first byte of ``chunk``: if that is the whole request
            # line with HTTP/1.1, the parser read the same. (get_http_version formats a string.)
            ex.line_chunk = None
            if chunk.startswith(b"".join([method, b" ", ex.url, b" HTTP/1.1\r\n"])):
                version = "HTTP/1.1"
        if version is None:
            version = VERSIONS.get(parser.get_http_version())
            if version is None:
                raise RequestRejected("HTTP Version Not Supported", 505)
        ex.version = version
        ex.method = _METHOD_NAMES.get(method) or method.decode("ascii")
        if self._extension_method is not None:  # the method llhttp did not know
            ex.method, self._extension_method = self._extension_method, None
        # llhttp reports an upgrade only for CONNECT or with "Connection: upgrade": skip the
        # call (one per request) when neither is there.
        tokens = ex.connection_tokens  # usually empty: skip the method call then
        ex.is_upgrade = (
            (bool(tokens) and tokens.find(b"upgrade") >= 0) or ex.method == "CONNECT"
        ) and parser.should_upgrade()
        validate_head(ex, version, self._params.no_keep_alive)
        ex.head_complete = True
        self._raw_head_bytes = 0
        if ex.has_body:
            if ex.transfer_encoding:
                self._framing_due = True  # chunk-size lines are measured after this read
            now = self._loop.time()
            ex.body_started_at = now
            timeout = ex.body_timeout
            if timeout is None:
                timeout = self._params.body_start_timeout
            self._deadline_kind = DEADLINE_BODY
            self.deadline = now + timeout
        else:
            self._deadline_kind = DEADLINE_NONE
            self.deadline = 0.0

    def on_body(self, body: bytes) -> None:
        ex = self._cur
        assert ex is not None
        ex.body_pending.append(body)
        ex.body_received += len(body)
        if ex.body_received > ex.max_body_size and ex.size_checked:
            raise RequestRejected("Request body too large", 413)
        if ex.body_timeout is None:
            params = self._params
            self.deadline = (
                ex.body_started_at
                + params.body_start_timeout
                + ex.body_received / params.body_min_rate
            )

    def on_message_complete(self) -> None:
        ex = self._cur
        assert ex is not None
        ex.message_complete = True
        self._cur = None
        self._deadline_kind = DEADLINE_NONE
        self.deadline = 0.0

    # -- serving -----------------------------------------------------------------------------

    def _process(self) -> None:
        """Dispatch queued requests and deliver bodies, in order; then flush once."""
        if self._processing:
            return
        self._processing = True
        out: list[bytes] = []
        self._out = out
        try:
            while True:
                ex = self._active
                if ex is None:
                    queue = self._queue
                    if not queue or self._close_when_idle or self._transport is None:
                        break
                    head = queue[0]
                    if isinstance(head, Rejection):
                        queue.clear()
                        self._send_rejection(head)
                        break
                    if not head.head_complete:
                        break
                    queue.popleft()
                    self._active = ex = head
                    if not self._dispatch(ex):
                        break
                if ex.waiting:
                    break
                if not ex.size_checked and ex.has_body and not self._check_body_size(ex):
                    break
                if (ex.body_pending or ex.body_rest) and not self._deliver_body(ex):
                    break
                if ex.message_complete and not ex.finish_delivered:
                    if ex.inflater is not None and ex.body_received and not ex.inflater.eof:
                        self._fail_active(400, "Bad Request: gzip body ends early")
                        break
                    ex.finish_delivered = True
                    msg = ex.msg
                    if msg is not None:
                        try:
                            if isinstance(msg, DirectMessageDelegate):
                                msg.finish()  # a direct call in the compiled build
                            else:
                                msg.finish()
                        except Exception:
                            self._delegate_failed(ex, "finish")
                            break
                if self._active is ex:
                    break  # the response is still being produced (asynchronously)
        finally:
            self._out = None
            self._processing = False
        transport = self._transport
        if out and transport is not None:
            if len(out) == 1:
                transport.write(out[0])
            elif sum(map(len, out)) <= _COALESCE_LIMIT:
                transport.write(b"".join(out))  # pipelined responses leave in one write
            else:
                transport.writelines(out)  # large bodies: no copy into one buffer
        if self._active is None and (self._close_when_idle or (self._eof and not self._queue)):
            self._close()
            return
        if self._reading_paused or self._queue or self._suspended or self._active is not None:
            self._update_reading()  # otherwise reading is on and should stay on

    def _dispatch(self, ex: HTTP1Exchange) -> bool:
        """Start a request: build its start line and headers and call the delegate."""
        headers = ex.headers = headers_from_raw(ex.raw_headers)
        params = self._params
        if params.xheaders:
            self.context.apply_xheaders(headers, params)  # trust rules: context.py
        if ex.content_encoding and params.decompress and ex.content_encoding == b"gzip":
            ex.inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
            headers["X-Consumed-Content-Encoding"] = headers.pop("Content-Encoding")
        # tuple.__new__ skips the NamedTuple's Python-level __new__ (this runs per request).
        start_line = _new_start_line(
            _RequestStartLine, (ex.method, ex.url.decode("latin-1"), ex.version)
        )
        try:
            direct = self._direct_delegate
            if direct is not None:
                msg = ex.msg = direct.start_request(self, ex)
            else:
                msg = ex.msg = self._delegate.start_request(self, ex)
            # The same call twice: the narrowed one is a direct call in the compiled build.
            if isinstance(msg, DirectMessageDelegate):
                result = msg.headers_received(start_line, headers)
            else:
                result = msg.headers_received(start_line, headers)
        except Exception:
            self._delegate_failed(ex, "headers_received")
            return False
        if result is not None:
            return self._wait_for(ex, result)
        return True

    def _check_body_size(self, ex: HTTP1Exchange) -> bool:
        """Once the delegate has seen the headers (a streaming handler may change its limit in
        ``prepare``), refuse a body over the limit, else invite it with ``100 Continue``."""
        ex.size_checked = True
        limit = ex.max_body_size
        too_big = ex.content_length > limit or ex.body_received > limit or ex.body_promised > limit
        if too_big:
            self._fail_active(413, "Request body too large")
            return False
        if (
            ex.expect_continue
            and not ex.body_pending
            and not ex.message_complete
            and ex.version == "HTTP/1.1"
        ):
            self._write(wire.CONTINUE)
        return True

    def _deliver_body(self, ex: HTTP1Exchange) -> bool:
        """Hand pending body pieces to the delegate; False if it asked us to wait (or failed).

        Pieces are decoded (inflated) once; what is left of a piece when the delegate asks to
        wait is kept decoded in ``body_rest``. A request that failed (``msg`` is None) gets
        nothing more."""
        chunk_size = self._params.chunk_size
        pending = ex.body_pending
        while True:
            piece = ex.body_rest
            if piece:
                ex.body_rest = b""
            elif pending:
                piece = pending.pop(0)
                if ex.inflater is not None:
                    try:
                        piece = self._inflate(ex, piece)
                    except HTTPInputError as exc:
                        pending.clear()
                        self._fail_active(exc.status_code, str(exc))
                        return False
            else:
                return True
            size = len(piece)
            start = 0
            while start < size:
                part = piece if size <= chunk_size else piece[start : start + chunk_size]
                start += chunk_size
                msg = ex.msg
                if msg is None:
                    pending.clear()
                    return True
                try:
                    if isinstance(msg, DirectMessageDelegate):
                        result = msg.data_received(part)  # a direct call when compiled
                    else:
                        result = msg.data_received(part)
                except Exception:
                    self._delegate_failed(ex, "data_received")
                    return False
                if result is not None and not self._wait_for(ex, result):
                    if start < size:
                        ex.body_rest = piece[start:]
                    return False

    def _inflate(self, ex: HTTP1Exchange, data: bytes) -> bytes:
        """Decompress a piece of a gzip body, bounded by ``max_body_size``.

        A body may hold several gzip members one after the other (RFC 1952 §2.2); anything
        after the end of a member must be another member (so trailing garbage is a 400)."""
        out: list[bytes] = []
        while data:
            inflater = ex.inflater
            if inflater.eof:
                inflater = ex.inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
            try:
                piece: bytes = inflater.decompress(data, ex.max_body_size - ex.inflated + 1)
            except zlib.error as exc:
                raise HTTPInputError(f"Bad Request: invalid gzip body ({exc})", 400) from None
            ex.inflated += len(piece)
            if ex.inflated > ex.max_body_size or inflater.unconsumed_tail:
                raise HTTPInputError("Request body too large (after decompression)", 413)
            out.append(piece)
            data = inflater.unused_data if inflater.eof else b""
        return out[0] if len(out) == 1 else b"".join(out)

    def _wait_for(self, ex: HTTP1Exchange, result: Awaitable[Any]) -> bool:
        """The delegate returned an awaitable: stop reading until it resolves."""
        if result is DONE or result is CLOSED:
            # A write that did not have to wait (the common streaming case), or one on a
            # connection that is gone: nothing to wait for, no Task, no pause.
            return True
        if isinstance(result, asyncio.Future) and result.done():
            if result.cancelled() or result.exception() is None:
                return True
        fut = asyncio.ensure_future(result)
        ex.waiting = True
        self._pause_reading()

        def resume(f: asyncio.Future[Any]) -> None:
            ex.waiting = False
            if not f.cancelled() and f.exception() is not None:
                exc = f.exception()
                app_log.error("Uncaught exception in %s", self._summary(ex), exc_info=exc)
                self._fail_active(500, "Internal Server Error")
            self._process()

        fut.add_done_callback(resume)
        return False

    # -- completion and errors ---------------------------------------------------------------

    def _exchange_finished(self, ex: HTTP1Exchange) -> None:
        """The response to ``ex`` is complete: move on to the next request, or close."""
        if self._active is not ex:
            return
        self._active = None
        # The exchange and its delegate (and the handler's close callback) refer to each other:
        # let go of them now, so that reference counting frees each request at once rather
        # than the cycle collector later. A delegate still owed finish() keeps it.
        ex._close_callback = None
        if ex.finish_delivered:
            ex.msg = None
        if self._params.xheaders:
            self.context.unapply_xheaders()
        if not ex._response_keep_alive or not ex.message_complete:
            # A body the application did not wait for cannot be skipped safely: close.
            self._close_when_idle = True
        elif ex.is_upgrade and self._suspended and not self._upgraded:
            self._resume_after_upgrade()
        elif not self._queue and self._cur is None:
            self._deadline_kind = DEADLINE_IDLE
            self.deadline = self._loop.time() + self._params.idle_connection_timeout
        if not self._processing:
            self._process()

    def _delegate_failed(self, ex: HTTP1Exchange, where: str) -> None:
        app_log.error("Uncaught exception in %s (%s)", self._summary(ex), where, exc_info=True)
        self._fail_active(500, "Internal Server Error")

    def _fail_active(self, status: int, message: str) -> None:
        """The active request cannot go on: answer ``status`` if nothing was sent, and close."""
        ex = self._active
        if ex is not None and not ex._headers_written:
            if status < 500:
                gen_log.info("Malformed HTTP message from %s: %s", self.context.remote_ip, message)
            head = ex.method == "HEAD"
            self._write(wire.error_response(status, message, self._server_line, head=head))
        self._queue.clear()
        self._close_when_idle = True
        if ex is not None:
            self._detach(ex)
            self._active = None
        if not self._processing:
            self._process()

    def _abort_response(self) -> None:
        """The application broke HTTP framing: the connection cannot be reused."""
        ex = self._active
        if ex is not None:
            self._detach(ex)
        self._active = None
        self._queue.clear()
        self._close_when_idle = True
        if not self._processing:
            self._process()

    def _detach(self, ex: HTTP1Exchange) -> None:
        """The protocol ends ``ex`` before the application did (the connection will close).

        The delegate gets no more body and no ``finish()``; like on a lost connection it hears
        ``on_connection_close()`` (unless ``finish()`` was delivered) and the close callback
        runs, on the next loop turn (never inside the application's own call). Later writes
        are dropped and ``finish()`` does nothing."""
        ex._finished = ex._headers_written = ex._detached = True
        msg = None if ex.finish_delivered else ex.msg
        callback = ex._close_callback
        ex.msg = None
        ex._close_callback = None
        if msg is not None or callback is not None:
            self._loop.call_soon(_notify_closed, msg, callback)

    def _reject(self, status: int, message: str) -> None:
        """A request could not be parsed or was refused: queue the error response."""
        cur = self._cur
        self._cur = None
        self._suspended = True  # stop parsing: nothing after this point can be trusted
        if cur is not None and cur is self._active:
            self._fail_active(status, message)
            return
        if cur is not None:
            try:
                self._queue.remove(cur)
            except ValueError:
                pass
        self._queue.append(Rejection(status, message, self._is_head(cur)))

    def _is_head(self, ex: HTTP1Exchange | None) -> bool:
        """Whether ``ex``, perhaps still in its head, is a HEAD request (as far as known)."""
        if ex is None or not ex.url:
            return False  # the method was not read (or not read whole)
        if ex.head_complete:
            return ex.method == "HEAD"
        return bool(self._parser.get_method() == b"HEAD")

    def _refuse(self, ex: HTTP1Exchange, status: int, message: str) -> None:
        """The framing walker refused ``ex``, which the parser may have read past: ``ex`` and
        every request after it go, the error response takes their place."""
        self._cur = None
        self._suspended = True  # stop parsing: nothing after this point can be trusted
        if ex is self._active:
            self._fail_active(status, message)
            return
        queue = self._queue
        while queue and queue.pop() is not ex:
            pass
        queue.append(Rejection(status, message, ex.method == "HEAD"))

    def _send_rejection(self, rejection: Rejection) -> None:
        gen_log.info(
            "Malformed HTTP message from %s: %s", self.context.remote_ip, rejection.message
        )
        response = wire.error_response(
            rejection.status, rejection.message, self._server_line, head=rejection.head
        )
        self._write(response)
        self._close_when_idle = True

    @staticmethod
    def _summary(ex: HTTP1Exchange) -> str:
        return f"{ex.method} {ex.url.decode('latin-1')}"

    # -- upgrade hand-off --------------------------------------------------------------------

    def _hand_over(self, ex: HTTP1Exchange, protocol: asyncio.BaseProtocol) -> None:
        transport = self._transport
        if transport is None or self._flow.closed:
            raise RuntimeError("Cannot upgrade: the connection is closed")
        if self._out:
            transport.write(b"".join(self._out))
            self._out.clear()
        self._upgraded = True
        self._active = None
        self._queue.clear()
        self._state.discard(self)
        self.deadline = 0.0
        tail = self._upgrade_tail + b"".join(self._held)
        self._upgrade_tail = b""
        self._held.clear()
        transport.set_protocol(protocol)
        self._transport = None
        register = getattr(protocol, "register_with", None)
        if register is not None:
            # A protocol that can be drained (the WebSocket one) takes this connection's place
            # in the registry, so that drain() reaches it; it discards itself when it closes.
            register(self._state)
        protocol.connection_made(transport)
        if tail and isinstance(protocol, asyncio.Protocol):
            protocol.data_received(tail)
        if self._eof:
            # The peer half-closed before the hand-off: tell the new protocol too.
            if not (isinstance(protocol, asyncio.Protocol) and protocol.eof_received()):
                transport.close()
        elif self._reading_paused:
            self._reading_paused = False
            transport.resume_reading()

    def _read_upgrade_body(self, ex: HTTP1Exchange, tail: bytes) -> None:
        """Serve an upgrade request that has a body as a normal request (RFC 9110 §7.8).

        httptools skips the body of any request asking to upgrade, but a connection cannot
        switch protocols before the body is read (and only body-less requests are upgraded
        here). So the body is parsed by a fresh parser, primed with a head of the same framing
        that :class:`_SkipOneHead` hides; later requests go through it as usual."""
        ex.is_upgrade = False
        ex.message_complete = False
        self._cur = ex
        if ex.transfer_encoding:
            framing = b"Transfer-Encoding: chunked"
        else:
            framing = b"Content-Length: %d" % ex.content_length
        self._parser = httptools.HttpRequestParser(_SkipOneHead(self))
        self._parser.feed_data(b"PUT / HTTP/1.1\r\n" + framing + b"\r\n\r\n")
        timeout = ex.body_timeout
        if timeout is None:
            timeout = self._params.body_start_timeout
        self._set_deadline(DEADLINE_BODY, ex.body_started_at + timeout)
        self.data_received(tail)

    def _resume_after_upgrade(self) -> None:
        """An upgrade request was answered normally: parse what followed it as HTTP again."""
        tail = self._upgrade_tail + b"".join(self._held)
        self._upgrade_tail = b""
        self._held.clear()
        self._suspended = False
        self._framing = None
        self._parser = httptools.HttpRequestParser(self)
        if tail:
            self._loop.call_soon(self._feed_tail, tail)
        else:
            self._set_deadline(
                DEADLINE_IDLE, self._loop.time() + self._params.idle_connection_timeout
            )

    def _feed_tail(self, tail: bytes) -> None:
        if self._transport is not None:
            self.data_received(tail)

    # -- output, reading, deadlines, shutdown ------------------------------------------------

    def _write(self, data: bytes) -> None:
        out = self._out
        if out is not None:
            out.append(data)
        elif self._transport is not None and not self._flow.closed:
            self._transport.write(data)

    def _pause_reading(self) -> None:
        if not self._reading_paused and self._transport is not None:
            self._reading_paused = True
            self._transport.pause_reading()

    def _update_reading(self) -> None:
        if self._eof:
            return  # nothing more to read (resuming would report the EOF again)
        ex = self._active
        cur = self._cur
        want_pause = (
            self._suspended
            or len(self._queue) > self._params.max_pipelined
            or (ex is not None and ex.waiting)
            # The body of a request queued behind the one being served is buffered, so only
            # a little of it is read ahead.
            or (cur is not None and cur is not ex and cur.body_received > self._read_ahead)
        )
        if want_pause != self._reading_paused and self._transport is not None:
            self._reading_paused = want_pause
            if want_pause:
                self._transport.pause_reading()
            else:
                self._transport.resume_reading()

    def _set_deadline(self, kind: int, when: float) -> None:
        self._deadline_kind = kind
        self.deadline = when

    def on_deadline(self, now: float) -> None:
        """Called by the sweeper once ``deadline`` has passed."""
        kind = self._deadline_kind
        self.deadline = 0.0
        self._deadline_kind = DEADLINE_NONE
        if kind == DEADLINE_HEAD:
            if self._active is not None:
                # A pipelined head arrives slowly while a response is being produced.
                self._set_deadline(DEADLINE_HEAD, now + self._params.header_timeout)
                return
            if self._cur is not None:
                gen_log.info("Timeout reading request head from %s", self.context.remote_ip)
                self._queue.clear()
                head = self._is_head(self._cur)
                self._write(
                    wire.error_response(408, "Request Timeout", self._server_line, head=head)
                )
            self._close()
        elif kind == DEADLINE_BODY:
            cur = self._cur
            if self._reading_paused and cur is not None and cur.body_timeout is None:
                # We stopped reading (a slow consumer): the client is not sending slowly.
                # Restart the minimum-rate clock from now.
                cur.body_started_at = now - cur.body_received / self._params.body_min_rate
                self._set_deadline(DEADLINE_BODY, now + self._params.body_start_timeout)
                return
            gen_log.info("Timeout reading body from %s", self.context.remote_ip)
            ex = self._active
            if ex is not None and not ex._headers_written:
                head = ex.method == "HEAD"
                self._write(
                    wire.error_response(408, "Request Timeout", self._server_line, head=head)
                )
            self._close()
        elif kind == DEADLINE_IDLE:
            self._close()

    def shutdown(self) -> None:
        """Graceful close: finish the response in flight with ``Connection: close``.

        An idle connection closes now."""
        self._draining = True
        if self._active is None and not self._queue_has_complete():
            self._close()
        else:
            self._close_when_idle = True

    def _queue_has_complete(self) -> bool:
        return any(isinstance(e, HTTP1Exchange) and e.head_complete for e in self._queue)

    @property
    def _draining_flag(self) -> bool:
        return self._draining

    def _close(self) -> None:
        transport = self._transport
        if transport is not None and not transport.is_closing():
            transport.close()

    @property
    def is_idle(self) -> bool:
        """True when no request is being served or waiting to be served."""
        return self._active is None and not self._queue


class _SkipOneHead:
    """Parser callbacks that ignore the head of the first message, then forward everything."""

    __slots__ = ("_proto", "_skip")

    def __init__(self, proto: HTTP1Protocol) -> None:
        self._proto = proto
        self._skip = True

    def on_message_begin(self) -> None:
        if not self._skip:
            self._proto.on_message_begin()

    def on_url(self, url: bytes) -> None:
        if not self._skip:
            self._proto.on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        if not self._skip:
            self._proto.on_header(name, value)

    def on_headers_complete(self) -> None:
        if not self._skip:
            self._proto.on_headers_complete()

    def on_body(self, body: bytes) -> None:
        self._proto.on_body(body)

    def on_message_complete(self) -> None:
        self._skip = False
        self._proto.on_message_complete()


def _notify_closed(msg: HTTPMessageDelegate | None, callback: Callable[[], None] | None) -> None:
    """Tell a delegate whose exchange was ended by the protocol that the connection closed."""
    try:
        if msg is not None:
            msg.on_connection_close()
        if callback is not None:
            callback()
    except Exception:
        app_log.error("Exception in connection close callback", exc_info=True)
