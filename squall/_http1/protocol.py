"""HTTP/1.1 server protocol: httptools callbacks in, ``httputil`` delegate calls out.

How this works
--------------
One :class:`HTTP1Protocol` per TCP connection; one :class:`HTTP1Exchange` per request. The
exchange is both the parser's record of a request and the :class:`~squall.httputil.HTTPConnection`
the application writes its response through. The two meet at a named interface: the exchange
uses only the protocol's public section, declared by :class:`ExchangeOwner` (``owner.py``);
the protocol changes an exchange only through its public members (the request record, the
phases of ``phases.py``, ``abandon``/``release``/``connection_lost``). ``tests/test_layers.py``
checks both directions.

Rules:

1. Nothing here imports the framework, the server or any facade: bytes, ``HTTP1Params``,
   ``ServerState`` and ``httputil`` delegates only.
2. Parser callbacks only *record* (start line, raw headers, body pieces, the reading phase) or
   raise :class:`RequestRejected` for a request our checks refuse; they live in their own
   object, which cannot reach a delegate (``record.py``). No delegate or user code runs inside
   ``feed_data``; :meth:`HTTP1Protocol._process` replays what was recorded afterwards, in
   order.
3. Requests are served one at a time, in arrival order (pipelining); a queued request is
   dispatched only when the previous response has finished. Responses are therefore written in
   order, and everything produced while processing one ``data_received`` leaves in a single
   ``transport.write``.
4. A request that cannot be parsed gets one error response (after the responses to the
   requests before it) and the connection is closed: a body is never parsed as a request
   (``refusals.py``).
5. Timeouts are deadlines on the connection (``deadline``), enforced by the server's sweeper
   (:mod:`squall._http1.state`): head, body (total, or a minimum rate) and idle keep-alive.
6. ``HttpParserCallbackError`` is caught before ``HttpParserError``: an exception from our own
   callback is a bug (logged with its traceback), unless it is a deliberate
   :class:`RequestRejected`.
7. No verdict depends on where a read ends: every counter charges a message only for its own
   bytes, so the same byte stream split at any points is served the same way. Which bytes each
   counter counts is listed in ``accounting.py``, which also keeps the counters that need byte
   positions.

The rest of the layer, one concept a module: ``phases.py`` (the phases of an exchange, as
data), ``record.py`` (the parser callbacks), ``head.py`` (request-head rules),
``accounting.py`` (what each counter counts), ``framing.py`` (where messages lie inside a
read), ``body.py`` (the request body path), ``inflate.py`` (gzip request bodies, a delegate
wrapped around the application's), ``refusals.py`` (the error answers), ``upgrade.py`` (the
hand-off of the transport), ``exchange.py`` and ``wire.py`` (the response side).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable
from typing import Any, Final

import httptools

from squall._http1 import wire
from squall._http1.body import deliver_body, over_limit, wants_continue
from squall._http1.context import ConnectionContext
from squall._http1.errors import StreamClosedError
from squall._http1.exchange import HTTP1Exchange
from squall._http1.fields import headers_from_raw
from squall._http1.flow import settled
from squall._http1.head import STAND_IN, method_end
from squall._http1.inflate import GzipBody
from squall._http1.owner import ExchangeOwner
from squall._http1.params import HTTP1Params, RequestRejected, body_too_large
from squall._http1.phases import (
    DELIVER_BODY,
    DELIVER_DONE,
    DELIVER_HEAD,
    READ_DONE,
    READ_HEAD,
    RESPONSE_DONE,
    RESPONSE_NONE,
)
from squall._http1.record import Recorder, method_wait
from squall._http1.refusals import (
    Rejection,
    callback_failure,
    drop_from,
    error_answer,
    parser_failure,
)
from squall._http1.state import (
    DEADLINE_BODY,
    DEADLINE_HEAD,
    DEADLINE_IDLE,
    DEADLINE_NONE,
    ServerState,
)
from squall._http1.stream import ConnectionStream
from squall._http1.takeover import refusal, take_socket, unread_bytes
from squall._http1.upgrade import switch_protocol
from squall.httputil import (
    DirectServerDelegate,
    HTTPConnection,
    HTTPServerConnectionDelegate,
    RequestStartLine,
    message_finish,
    message_headers_received,
)
from squall.log import app_log, gen_log

__all__ = ["HTTP1Protocol"]

_new_start_line: Final = tuple.__new__
_RequestStartLine: Final = RequestStartLine
_COALESCE_LIMIT: Final = 256 * 1024  # bytes: output joined into one write below this size

_HttpParserCallbackError: Final = httptools.HttpParserCallbackError
_HttpParserError: Final = httptools.HttpParserError
_HttpParserInvalidMethod: Final = httptools.HttpParserInvalidMethodError
_HttpParserUpgrade: Final = httptools.HttpParserUpgrade


class HTTP1Protocol(ExchangeOwner):
    """An HTTP/1.1 server connection (see the module docstring for how it works)."""

    __slots__ = (
        "_active",
        "_close_when_idle",
        "_delegate",
        "_direct_delegate",
        "_eof",
        "_held",
        "_loop",
        "_processing",
        "_queue",
        "_refeed",
        "_read_ahead",
        "_reading_paused",
        "_rec",
        "_server_line",
        "_stream",
        "_suspended",
        "_tls",
        "_upgrade_tail",
        "_upgraded",
    )

    def __init__(
        self,
        delegate: HTTPServerConnectionDelegate,
        params: HTTP1Params,
        state: ServerState,
        *,
        tls: bool = False,
    ) -> None:
        super().__init__(params, state)
        self._delegate = delegate
        # squall's Application: its methods are called directly (see httputil's Direct bases).
        self._direct_delegate = delegate if isinstance(delegate, DirectServerDelegate) else None
        self._loop = state.loop
        self._tls = tls
        self._server_line = self.server_text.encode("latin-1")
        self._read_ahead = 4 * params.chunk_size
        # The requests in arrival order: the one being parsed is last (``_rec.cur``); the one
        # being served (``_active``) has left the queue; a refused one is a Rejection.
        self._queue: deque[HTTP1Exchange | Rejection] = deque()
        self._active: HTTP1Exchange | None = None
        # The parser and its callbacks, which record requests into the queue (record.py).
        self._rec = Recorder(self, self._queue)
        self._processing = False
        self._reading_paused = False
        self._close_when_idle = False
        self._eof = False
        self._suspended = False  # parsing stopped: an upgrade request, or a refused one
        self._upgraded = False
        self._upgrade_tail = b""  # the bytes after an upgrade request (upgrade.py)
        self._held: list[bytes] = []  # reads that arrived while suspended
        self._stream: ConnectionStream | None = None  # request.connection.stream (stream.py)
        self._refeed: bytes | None = None  # see _extension_method

    # -- asyncio.Protocol --------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Start a connection: parser, context, head deadline."""
        self._transport = transport
        self._rec.new_parser()
        params = self.params
        proto = params.protocol or ("https" if self._tls else "http")
        self.context = ConnectionContext(transport.get_extra_info("peername"), proto)
        high = params.write_buffer_high
        if isinstance(transport, asyncio.WriteTransport):
            transport.set_write_buffer_limits(high=high, low=high // 4)
        # Before its first byte a connection is idle: closed at the idle timeout when that is
        # the shorter (as Tornado), else held to the head's (the first byte starts the head's
        # own clock only when the idle one ran: on_message_begin).
        now = self._loop.time()
        if params.idle_connection_timeout < params.header_timeout:
            self.set_deadline(DEADLINE_IDLE, now + params.idle_connection_timeout)
        else:
            self.set_deadline(DEADLINE_HEAD, now + params.header_timeout)
        self.state.add(self)
        if self.state.draining:
            self.shutdown()

    def data_received(self, data: bytes) -> None:
        """Feed the parser, then serve what it recorded."""
        if self._suspended:
            self._held.append(data)
            self._pause_reading()
            return
        rec = self._rec
        before = rec.cur
        # A request that begins at the first byte of this read can have its version read from
        # its request line (on_headers_complete), cheaper than asking the parser.
        rec.chunk = data if before is None else None
        queued = len(self._queue)
        # The body bytes ``before`` had, or -1 while its head was open (it may end in this read).
        received = -1 if before is None or before.reading == READ_HEAD else before.body_received
        account = rec.account
        # An unknown method is handled after the try statement, not inside its except block:
        # httptools chains a callback's exception only through __context__, which a parse
        # started inside an except block would set to the exception being handled.
        invalid: Exception | None = None
        try:
            rec.parser.feed_data(data)
        except _HttpParserUpgrade as exc:
            offset = exc.args[0]
            if account.walker is not None or account.walker_due:
                # Chunked bodies before the upgrade request are measured like any others.
                ip = self.context.remote_ip
                _, refusal = account.walk(
                    data[:offset], before, received, self._queue, queued, ip, upgrade=True
                )
                if refusal is not None:
                    self._refuse(refusal.ex, refusal.status, refusal.message)
            if not self._suspended:  # else one of them was refused: its answer is queued
                tail = data[offset:]
                queue = self._queue
                ex = queue[-1] if queue else None
                if isinstance(ex, HTTP1Exchange) and ex.has_body and ex.method != "CONNECT":
                    self._read_upgrade_body(ex, tail)
                    return
                self._upgrade_tail = tail
                self._suspended = True
        except _HttpParserCallbackError as exc:
            status, message = callback_failure(exc.__context__)
            self._refuse(rec.cur, status, message)
        except _HttpParserInvalidMethod as exc:
            invalid = exc
        except _HttpParserError as exc:
            status, message = parser_failure(exc, data)
            self._refuse(rec.cur, status, message)
        else:
            # A read that left a message open, or holds chunked framing (never a read holding
            # whole body-less requests only: the hot path).
            cur = rec.cur
            if cur is not None or account.walker is not None or account.walker_due:
                ip = self.context.remote_ip
                refusal = account.after_read(data, before, received, self._queue, queued, cur, ip)
                if refusal is not None:
                    self._refuse(refusal.ex, refusal.status, refusal.message)
        finally:
            rec.chunk = None  # never kept beyond this read
        if invalid is not None:
            try:
                self._extension_method(invalid, data, before, received, queued)
            finally:
                invalid = None  # the exception's traceback holds this frame
            return
        self._process()

    def _extension_method(
        self,
        exc: Exception,
        data: bytes,
        before: HTTP1Exchange | None,
        received: int,
        queued: int,
    ) -> None:
        """llhttp refused the method of the request being parsed (``rec.cur``): it knows a
        fixed list of methods, and any token is one (RFC 9110 §9.1; Tornado serves them, the
        handler answers 405 unless it supports the method).

        The request is parsed again from its first byte with ``STAND_IN`` in place of its
        method, and the real name kept for it (``Recorder.extension``). Its first byte is the
        read's first (the usual case), or in an earlier read (a method cut by the end of a
        read: ``ReadAccount.method_part``), or after other messages of this read (found by
        the framing walker). A method cut before its end waits for the next read
        (``record.method_wait``). Not a token: 400. Only this error path pays for any of it."""
        rec = self._rec
        cur = rec.cur
        account = rec.account
        start = -1
        earlier = b""
        if cur is not None and not cur.url:
            if cur is before:
                start = 0
                earlier = account.method_part
            elif cur.line_chunk is data:
                start = 0
            else:
                ip = self.context.remote_ip
                queue = self._queue
                start, refusal = account.locate(data, before, received, queue, queued, cur, ip)
                if refusal is not None:
                    self._refuse(refusal.ex, refusal.status, refusal.message)
                    self._process()
                    return
        if start < 0:
            status, message = parser_failure(exc, data)
            self._refuse(cur, status, message)
            self._process()
            return
        line = (earlier + data[start:]).lstrip(b"\r\n")
        try:
            end = method_end(line, self.params.max_header_size)
        except RequestRejected as refused:
            self._refuse(cur, refused.status_code, str(refused))
            self._process()
            return
        if end < 0:  # the method goes on in the next read
            account.method_part = line
            rec.parser = method_wait()
            self._process()
            return
        assert cur is not None
        account.method_part = b""
        drop_from(self._queue, cur)  # parsed again, from its first byte
        rec.cur = None
        rec.new_parser()
        rec.extension = line[:end].decode("ascii")
        rest = STAND_IN + line[end:]
        if self._refeed is not None:
            self._refeed = rest  # an outer call feeds it: no recursion per request of a read
            return
        try:
            while rest:
                self._refeed = b""
                self.data_received(rest)
                rest = self._refeed
        finally:
            self._refeed = None

    def eof_received(self) -> bool | None:
        """The peer finished sending: serve the complete requests received, then close.

        A request cut short can never complete: an unfinished head is dropped, and an
        unfinished body of the request being served closes the connection now (the delegate
        hears of it through ``on_connection_close``)."""
        if self._active is not None:
            # The client went away while its response was being produced (a half-close is
            # how most clients close): close, so the delegate hears on_connection_close.
            return None
        cur = self._rec.cur
        if cur is not None:
            self._rec.cur = None
            drop_from(self._queue, cur)
        if not self._queue:
            return None
        self._eof = True
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        """Tell the delegate about an interrupted request; release everything."""
        self._transport = None  # late callbacks (a delegate's future, a tail) must not touch it
        self.flow.connection_lost()
        self.state.discard(self)
        self.deadline = 0.0
        active = self._active
        self._active = None
        self._queue.clear()
        self._rec.close()  # the parser and the Recorder refer back to us: let go of both
        if self._stream is not None:
            self._stream.connection_lost(exc)
        if active is not None and active.response < RESPONSE_DONE:
            active.connection_lost()
        try:
            self._delegate.on_close(self)
        except Exception:
            app_log.error("Exception in HTTPServerConnectionDelegate.on_close", exc_info=True)

    def pause_writing(self) -> None:
        """The transport is above its high-water mark."""
        self.flow.pause_writing()

    def resume_writing(self) -> None:
        """The transport drained."""
        self.flow.resume_writing()

    # -- serving: the phases of phases.py, in order ------------------------------------------

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
                    if head.reading == READ_HEAD:
                        break
                    queue.popleft()
                    self._active = ex = head
                    if not self._dispatch(ex):
                        break
                if ex.waiting:
                    break
                if ex.delivery == DELIVER_HEAD:
                    # The delegate has had its say about the head: now the body's turn.
                    ex.delivery = DELIVER_BODY
                    if ex.has_body:
                        if over_limit(ex):
                            self.fail_request(413, body_too_large(bool(ex.transfer_encoding)))
                            break
                        if wants_continue(ex):
                            self.send(wire.CONTINUE)
                if (ex.body_pending or ex.body_rest) and not self._deliver_body(ex):
                    break
                if ex.reading == READ_DONE and ex.delivery != DELIVER_DONE:
                    if not self._deliver_finish(ex):
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
        params = self.params
        if params.xheaders:
            self.context.apply_xheaders(headers, params)  # trust rules: context.py
        # tuple.__new__ skips the NamedTuple's Python-level __new__ (this runs per request).
        start_line = _new_start_line(
            _RequestStartLine, (ex.method, ex.url.decode("latin-1"), ex.version)
        )
        ex.delivery = DELIVER_HEAD
        try:
            direct = self._direct_delegate
            if direct is not None:
                msg = direct.start_request(self, ex)
            else:
                msg = self._delegate.start_request(self, ex)
            if ex.content_encoding and params.decompress and ex.content_encoding == b"gzip":
                msg = GzipBody(msg, ex, params.chunk_size)  # the only place gzip is seen
            ex.msg = msg
            result = message_headers_received(msg, start_line, headers)
        except Exception:
            self._delegate_failed(ex, "headers_received")
            return False
        if result is not None:
            return self._wait_for(ex, result)
        return self._active is ex  # else the delegate ended it (detach(), a failure)

    def _deliver_body(self, ex: HTTP1Exchange) -> bool:
        """Hand the body read so far to the delegate (``body.py``); False if it asked us to
        wait, or failed."""
        try:
            result = deliver_body(ex, self.params.chunk_size)
        except RequestRejected as exc:  # a gzip body our checks refuse (inflate.py)
            self.fail_request(exc.status_code, str(exc))
            return False
        except Exception:
            self._delegate_failed(ex, "data_received")
            return False
        return result is None or self._wait_for(ex, result)

    def _deliver_finish(self, ex: HTTP1Exchange) -> bool:
        """Tell the delegate the body is complete; False if it failed."""
        ex.delivery = DELIVER_DONE  # before the call: the response may complete inside it
        msg = ex.msg
        if msg is not None:
            try:
                message_finish(msg)
            except RequestRejected as exc:  # a gzip body cut short (inflate.py)
                ex.delivery = DELIVER_BODY  # refused, not delivered (phases.py)
                self.fail_request(exc.status_code, str(exc))
                return False
            except Exception:
                self._delegate_failed(ex, "finish")
                return False
        return True

    def _wait_for(self, ex: HTTP1Exchange, result: Awaitable[Any]) -> bool:
        """The delegate returned an awaitable: stop reading until it resolves."""
        if settled(result):
            return True
        fut = asyncio.ensure_future(result)
        ex.waiting = True
        self._pause_reading()

        def resume(f: asyncio.Future[Any]) -> None:
            ex.waiting = False
            exc = None if f.cancelled() else f.exception()
            if isinstance(exc, RequestRejected):  # a gzip body refused after a wait
                self.fail_request(exc.status_code, str(exc))
            elif exc is not None:
                app_log.error("Uncaught exception in %s", self._summary(ex), exc_info=exc)
                self.fail_request(500, "Internal Server Error")
            self._process()

        fut.add_done_callback(resume)
        return False

    def _delegate_failed(self, ex: HTTP1Exchange, where: str) -> None:
        app_log.error("Uncaught exception in %s (%s)", self._summary(ex), where, exc_info=True)
        self.fail_request(500, "Internal Server Error")

    @staticmethod
    def _summary(ex: HTTP1Exchange) -> str:
        return f"{ex.method} {ex.url.decode('latin-1')}"

    # -- the exchange's interface: ExchangeOwner (owner.py), all an exchange may use ---------

    def exchange_finished(self, ex: HTTPConnection) -> None:
        """The response to ``ex`` is complete: move on to the next request, or close."""
        active = self._active
        if active is None or active is not ex:
            return
        self._active = None
        active.release()
        if self.params.xheaders:
            self.context.unapply_xheaders()
        if not active.response_keep_alive or active.reading != READ_DONE:
            # A body the application did not wait for cannot be skipped safely: close.
            self._close_when_idle = True
        elif active.is_upgrade and self._suspended and not self._upgraded:
            self._resume_after_upgrade()
        elif not self._queue and self._rec.cur is None:
            self.deadline_kind = DEADLINE_IDLE
            self.deadline = self._loop.time() + self.params.idle_connection_timeout
        if not self._processing:
            self._process()

    def abort_response(self) -> None:
        """The application broke HTTP framing: the connection cannot be reused."""
        ex = self._active
        if ex is not None:
            ex.abandon()
        self._active = None
        self._queue.clear()
        self._close_when_idle = True
        if not self._processing:
            self._process()

    def fail_request(self, status: int, message: str) -> None:
        """The active request cannot go on: answer ``status`` if nothing was sent, and close."""
        ex = self._active
        if ex is not None and ex.response == RESPONSE_NONE:
            head = ex.method == "HEAD"
            ip = self.context.remote_ip
            self.send(error_answer(status, message, self._server_line, head, ip, log=status < 500))
        self._queue.clear()
        self._close_when_idle = True
        if ex is not None:
            ex.abandon()
            self._active = None
        if not self._processing:
            self._process()

    def hand_over(self, protocol: asyncio.BaseProtocol) -> None:
        """Give the transport, and what was read after the upgrade request, to ``protocol``."""
        transport = self._transport
        if transport is None or self.flow.closed:
            raise RuntimeError("Cannot upgrade: the connection is closed")
        if self._out:
            transport.write(b"".join(self._out))
            self._out.clear()
        self._upgraded = True
        self._active = None
        self._queue.clear()
        self._rec.close()  # no more HTTP on this connection (and no cycle left behind)
        if self._stream is not None:
            self._stream.handed_over()
        self.state.discard(self)
        self.deadline = 0.0
        tail = self._upgrade_tail + b"".join(self._held)
        self._upgrade_tail = b""
        self._held.clear()
        self._transport = None
        paused = self._reading_paused and not self._eof
        self._reading_paused = False
        switch_protocol(transport, protocol, self.state, tail, eof=self._eof, paused=paused)

    def connection_stream(self) -> ConnectionStream | None:
        """``request.connection.stream`` (``stream.py``): made on first use; None once the
        connection was handed over."""
        if self._upgraded:
            return None
        view = self._stream
        if view is None:
            view = self._stream = ConnectionStream(self if self._transport is not None else None)
        return view

    def detach_stream(self, ex: HTTPConnection) -> Any:
        """Tornado's ``detach()`` (``takeover.py``): the socket goes to an IOStream, with the
        bytes read and not delivered first; HTTP stops here, and the delegate hears
        ``on_close``."""
        transport = self._transport
        if transport is None or self.flow.closed or transport.is_closing():
            raise StreamClosedError()
        if ex is not self._active or not isinstance(ex, HTTP1Exchange):
            raise RuntimeError("detach() is only possible for the request being served")
        cur = self._rec.cur
        read_ahead = bool(self._queue) or (cur is not None and cur is not ex)
        reason = refusal(ex, read_ahead, self._processing)
        if reason is not None:
            raise RuntimeError(reason)
        out = self._out
        if out:
            transport.write(b"".join(out))  # the response so far leaves before the stream's
            out.clear()
        stream = take_socket(transport, unread_bytes(ex, self._upgrade_tail + b"".join(self._held)))
        ex.body_rest = b""
        ex.body_pending.clear()
        self._upgrade_tail = b""
        self._held.clear()
        self._upgraded = True
        self._active = None
        self._rec.close()
        self.state.discard(self)
        self.deadline = 0.0
        self._transport = None
        self.flow.connection_lost()  # a writer still waiting on this connection hears it
        if self._stream is not None:
            self._stream.handed_over()
        try:
            self._delegate.on_close(self)
        except Exception:
            app_log.error("Exception in HTTPServerConnectionDelegate.on_close", exc_info=True)
        return stream

    # -- refusals (refusals.py) --------------------------------------------------------------

    def _refuse(self, ex: HTTP1Exchange | None, status: int, message: str) -> None:
        """``ex`` (the request being parsed, or one the framing walker refused; None when no
        request began) cannot be served: it and every request after it go, and the error
        answer takes their place, after the responses to the requests before it."""
        self._rec.cur = None
        self._suspended = True  # stop parsing: nothing after this point can be trusted
        if ex is not None and ex is self._active:
            self.fail_request(status, message)
            return
        head = self._rec.is_head(ex)
        if ex is not None:
            drop_from(self._queue, ex)
        self._queue.append(Rejection(status, message, head))

    def _send_rejection(self, rejection: Rejection) -> None:
        ip = self.context.remote_ip
        status, message, head = rejection.status, rejection.message, rejection.head
        self.send(error_answer(status, message, self._server_line, head, ip))
        self._close_when_idle = True

    # -- upgrade requests (upgrade.py) -------------------------------------------------------

    def _read_upgrade_body(self, ex: HTTP1Exchange, tail: bytes) -> None:
        """Serve an upgrade request that has a body as a normal request (RFC 9110 §7.8): a
        fresh parser reads its body, then the requests after it (``upgrade.body_parser``)."""
        ex.is_upgrade = False
        self._rec.read_body_of(ex)
        timeout = ex.body_timeout
        if timeout is None:
            timeout = self.params.body_start_timeout
        self.set_deadline(DEADLINE_BODY, ex.body_started_at + timeout)
        self.data_received(tail)

    def _resume_after_upgrade(self) -> None:
        """An upgrade request was answered normally: parse what followed it as HTTP again."""
        tail = self._upgrade_tail + b"".join(self._held)
        self._upgrade_tail = b""
        self._held.clear()
        self._suspended = False
        self._rec.new_parser()
        if tail:
            self._loop.call_soon(self._feed_tail, tail)
        else:
            self.set_deadline(
                DEADLINE_IDLE, self._loop.time() + self.params.idle_connection_timeout
            )

    def _feed_tail(self, tail: bytes) -> None:
        if self._transport is not None:
            self.data_received(tail)

    # -- reading, deadlines, shutdown --------------------------------------------------------

    def _pause_reading(self) -> None:
        if not self._reading_paused and self._transport is not None:
            self._reading_paused = True
            self._transport.pause_reading()

    def _update_reading(self) -> None:
        if self._eof:
            return  # nothing more to read (resuming would report the EOF again)
        ex = self._active
        cur = self._rec.cur
        want_pause = (
            self._suspended
            or len(self._queue) > self.params.max_pipelined
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

    def on_deadline(self, now: float) -> None:
        """Called by the sweeper once ``deadline`` has passed."""
        kind = self.deadline_kind
        self.deadline = 0.0
        self.deadline_kind = DEADLINE_NONE
        params = self.params
        if kind == DEADLINE_HEAD:
            if self._active is not None:
                # A pipelined head arrives slowly while a response is being produced.
                self.set_deadline(DEADLINE_HEAD, now + params.header_timeout)
                return
            cur = self._rec.cur
            if cur is not None:
                gen_log.info("Timeout reading request head from %s", self.context.remote_ip)
                self._queue.clear()
                head = self._rec.is_head(cur)
                self.send(wire.error_response(408, "Request Timeout", self._server_line, head=head))
            self._close()
        elif kind == DEADLINE_BODY:
            cur = self._rec.cur
            if self._reading_paused and cur is not None and cur.body_timeout is None:
                # We stopped reading (a slow consumer): the client is not sending slowly.
                # Restart the minimum-rate clock from now.
                cur.body_started_at = now - cur.body_received / params.body_min_rate
                self.set_deadline(DEADLINE_BODY, now + params.body_start_timeout)
                return
            gen_log.info("Timeout reading body from %s", self.context.remote_ip)
            ex = self._active
            if ex is not None and ex.response == RESPONSE_NONE:
                head = ex.method == "HEAD"
                self.send(wire.error_response(408, "Request Timeout", self._server_line, head=head))
            self._close()
        elif kind == DEADLINE_IDLE:
            self._close()

    def shutdown(self) -> None:
        """Graceful close: finish the response in flight with ``Connection: close``.

        An idle connection closes now."""
        self.draining = True
        if self._active is None and not self._queue_has_complete():
            self._close()
        else:
            self._close_when_idle = True

    def _queue_has_complete(self) -> bool:
        return any(isinstance(e, HTTP1Exchange) and e.reading != READ_HEAD for e in self._queue)

    def _close(self) -> None:
        transport = self._transport
        if transport is not None and not transport.is_closing():
            transport.close()

    @property
    def is_idle(self) -> bool:
        """True when no request is being served or waiting to be served."""
        return self._active is None and not self._queue
