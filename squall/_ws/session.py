"""Session: the message layer of one WebSocket connection, without a transport (sans-IO).

How this works
--------------
A :class:`Session` feeds bytes to the sans-IO codec of the ``websockets`` package (framing,
unmasking in C, the close handshake, size limits, permessage-deflate), assembles fragmented
messages, checks their UTF-8 as it goes, answers pings, and calls a
:class:`~squall._ws.delegate.WebSocketDelegate` through its :class:`~squall._ws.inbox.Inbox`.
Each whole message and each control frame passes through :meth:`Session._handle_message`
(Tornado's name for that step). What the codec produces goes to :meth:`Session._write_out`,
which the transport side implements (:class:`~squall._ws.protocol.WebSocketProtocol` on an
asyncio transport, :class:`~squall._ws.client.ClientSession` on an ``IOStream``).

Rules:

1. Nothing here imports the framework or the HTTP layer, and nothing here touches a socket.
2. The delegate sees messages, pings and pongs one at a time, in order (the inbox).
3. A close frame or a protocol error from the peer ends the connection *after* the messages
   that came before it: the codec's reply (close frame, end of stream) waits in the inbox as
   the "ending", and the delegate may still write while handling those messages.
4. What the codec produces while one batch of input is processed is written out once.
5. After :meth:`Session.fail` (our own error), the delegate hears nothing more.
6. One turn of the event loop handles at most :data:`FRAMES_PER_TURN` frames: a flood that
   arrived in one read waits in the backlog (reading paused) and the loop runs in between.
7. While a pong is still waiting to be written (the peer does not read), further pings are
   answered only once, with the most recent one's data, when that pong has gone out.
8. The conversation is over once the codec ends the stream (the close handshake is done, or
   the connection failed): the transport side then calls :meth:`Session._end`, and the
   delegate hears ``closed`` at once, while what was queued for the peer may still be going
   out (the transport bounds that in time). Writing raises from then on.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from websockets.exceptions import ProtocolError
from websockets.frames import BINARY, CLOSE, CONT, PING, PONG, TEXT, CloseCode, Frame, Opcode
from websockets.protocol import CLOSING, OPEN
from websockets.protocol import Protocol as Codec

from squall import escape
from squall._ws.assemble import MessageAssembler
from squall._ws.delegate import WebSocketClosedError, WebSocketDelegate
from squall._ws.inbox import Inbox
from squall._ws.keepalive import ping_sleep_time

__all__ = ["FRAMES_PER_TURN", "Session"]

#: Frames handled in one turn of the event loop before the rest wait for the next (rule 6).
FRAMES_PER_TURN = 128

_OPEN, _MESSAGE, _PING, _PONG, _ENDING = 0, 1, 2, 3, 4
_HOLD_INBOX, _HOLD_BACKLOG = 1, 2  # why reading is paused (a bit each)
_OP_TEXT, _OP_BINARY, _OP_PING, _OP_PONG = 0x1, 0x2, 0x9, 0xA


class Session:
    """The codec, the message assembler and the inbox of one connection (see the module doc).

    Tornado's protocol interface is here for both ends: :meth:`write_message`,
    :meth:`write_ping`, :meth:`close`, :meth:`is_closing`, ``close_code``/``close_reason``
    (what the peer sent), ``client_terminated``/``server_terminated``,
    ``selected_subprotocol``, and the byte counters ``_message_bytes_in``/``_out`` (payload
    bytes, uncompressed) and ``_wire_bytes_in``/``_out`` (bytes on the wire after the
    handshake)."""

    __slots__ = (
        "_assembler",
        "_backlog",
        "_backlog_scheduled",
        "_closed",
        "_closing_by_us",
        "_codec",
        "_delegate",
        "_ending_queued",
        "_failed",
        "_holds",
        "_inbox",
        "_message_bytes_in",
        "_message_bytes_out",
        "_next_pong",
        "_pong_waiting",
        "_processing",
        "_wire_bytes_in",
        "_wire_bytes_out",
        "selected_subprotocol",
    )

    def __init__(self, codec: Codec, delegate: WebSocketDelegate) -> None:
        self._codec = codec
        self._delegate = delegate
        self._assembler = MessageAssembler()
        self._inbox = Inbox(
            self._consume,
            self._consume_failed,
            self._hold_for_inbox,
            self._release_for_inbox,
            self._flush,
        )
        self._processing = False  # while True, writes wait for one _flush at the end
        self._ending_queued = False
        self._closing_by_us = False
        self._failed = False
        self._closed = False
        self._holds = 0
        self._backlog: deque[Frame | list[bytes]] = deque()  # a list is an ending (rule 6)
        self._backlog_scheduled = False
        self._pong_waiting = False
        self._next_pong: bytes | None = None
        self._message_bytes_in = 0
        self._message_bytes_out = 0
        self._wire_bytes_in = 0
        self._wire_bytes_out = 0
        #: The subprotocol both ends agreed on during the handshake, or None.
        self.selected_subprotocol: str | None = None

    # -- what the transport side implements --------------------------------------------------

    def _write_out(self, writes: list[bytes]) -> None:
        """Send ``writes`` (an empty item means: end the stream); count ``_wire_bytes_out``."""
        raise NotImplementedError()

    def _pause_reading(self) -> None:
        """Stop reading from the peer."""
        raise NotImplementedError()

    def _resume_reading(self) -> None:
        """Read from the peer again."""
        raise NotImplementedError()

    def _call_soon(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` in a later turn of the event loop."""
        raise NotImplementedError()

    def _drained(self) -> Awaitable[None]:
        """An awaitable that resolves once what has been written has gone out (or may)."""
        raise NotImplementedError()

    def _closing_started(self) -> None:
        """We sent a close frame: the closing handshake is under way."""

    def _pong_received(self) -> None:
        """A pong arrived (the keepalive hears about it here)."""

    # -- input -------------------------------------------------------------------------------

    def _start(self) -> None:
        """The connection is open: run the delegate's ``opened`` (writes wait for a flush)."""
        self._processing = True
        try:
            self._inbox.put(_OPEN, None)
        finally:
            self._processing = False

    def _receive(self, data: bytes) -> None:
        """Feed the codec; deliver what it parsed; write what was produced, once."""
        self._wire_bytes_in += len(data)
        codec = self._codec
        was_open = codec.state is OPEN
        codec.receive_data(data)
        events: list[Any] = codec.events_received()  # frames only, once OPEN
        ending = None
        if was_open and codec.state is not OPEN:
            # A close frame or a protocol error: the reply goes after the earlier messages.
            ending = codec.data_to_send()
            self._ending_queued = True
        if self._backlog or len(events) > FRAMES_PER_TURN:
            self._backlog.extend(events)
            if ending is not None:
                self._backlog.append(ending)
            if not self._backlog_scheduled:
                self._hold_reading(_HOLD_BACKLOG)
                self._run_backlog()
            return
        self._processing = True
        try:
            for frame in events:
                if not self._on_frame(frame):
                    break
            if ending is not None:
                self._queue_ending(ending)
        finally:
            self._processing = False
        self._flush()

    def _run_backlog(self) -> None:
        """Handle up to FRAMES_PER_TURN frames of the backlog; the rest in a later turn."""
        self._backlog_scheduled = False
        backlog = self._backlog
        self._processing = True
        try:
            for _ in range(FRAMES_PER_TURN):
                if not backlog:
                    break
                item = backlog.popleft()
                if isinstance(item, list):
                    self._queue_ending(item)
                elif not self._on_frame(item):
                    # The connection failed: later frames are dropped, endings kept.
                    endings = [i for i in backlog if isinstance(i, list)]
                    backlog.clear()
                    for ending in endings:
                        self._queue_ending(ending)
        finally:
            self._processing = False
        if backlog and not self._closed:
            self._backlog_scheduled = True
            self._call_soon(self._run_backlog)
        else:
            self._release_reading(_HOLD_BACKLOG)
        self._flush()

    def _on_frame(self, frame: Frame) -> bool:
        """Route one parsed frame; False stops processing (the connection failed)."""
        opcode = frame.opcode
        if opcode is TEXT or opcode is BINARY or opcode is CONT:
            self._message_bytes_in += len(frame.data)
            try:
                message = self._assembler.feed(frame)
            except UnicodeDecodeError as exc:
                self._assembler.reset()
                self._flush()  # what earlier messages produced goes first
                self._codec.fail(CloseCode.INVALID_DATA, f"{exc.reason} at position {exc.start}")
                self._queue_ending(self._codec.data_to_send())
                return False
            if message is not None:
                self._handle_message(_OP_TEXT if type(message) is str else _OP_BINARY, message)
        elif opcode is PING:
            self._handle_message(_OP_PING, bytes(frame.data))
        elif opcode is CLOSE:
            self._assembler.reset()  # a message cut short by the close is dropped
        elif opcode is PONG:
            self._handle_message(_OP_PONG, bytes(frame.data))
        return True

    def _handle_message(self, opcode: int, data: Any) -> None:
        """Act on one whole message or control frame: ``opcode`` 0x1 (``data`` is the decoded
        str), 0x2 (bytes), 0x9 ping (answered here) or 0xA pong.

        Tornado's name for this step: code that wraps it per connection (to watch or drop
        frames) keeps working."""
        if opcode == _OP_PING:
            self._send_pong(data)
            kind = _PING
        elif opcode == _OP_PONG:
            self._pong_received()
            kind = _PONG
        else:
            kind = _MESSAGE
        if not self._failed:
            self._inbox.put(kind, data)

    def _queue_ending(self, writes: list[bytes]) -> None:
        if self._failed:
            self._write_out(writes)
            return
        self._ending_queued = True
        self._inbox.put(_ENDING, writes)

    def _consume(self, kind: int, payload: Any) -> Awaitable[Any] | None:
        if kind == _ENDING:
            self._ending_queued = False
            self._write_out(self._codec.data_to_send() + payload)
            return None
        if self._failed or self._closed:
            return None
        delegate = self._delegate
        try:
            if kind == _MESSAGE:
                return delegate.message_received(payload)
            if kind == _OPEN:
                return delegate.opened()
            if kind == _PING:
                delegate.ping_received(payload)
            else:
                delegate.pong_received(payload)
        except (Exception, asyncio.CancelledError) as e:
            # A CancelledError raised by the application's code is its bug like any other.
            self._consume_failed(e)
        return None

    def _consume_failed(self, exc: BaseException) -> None:
        if not self._closed:
            self._delegate.log_exception(exc)
            self.fail(CloseCode.INTERNAL_ERROR)

    # -- reading pauses ----------------------------------------------------------------------

    def _hold_reading(self, reason: int) -> None:
        if not self._holds:
            self._pause_reading()
        self._holds |= reason

    def _release_reading(self, reason: int) -> None:
        if self._holds & reason:
            self._holds &= ~reason
            if not self._holds:
                self._resume_reading()

    def _hold_for_inbox(self) -> None:
        self._hold_reading(_HOLD_INBOX)

    def _release_for_inbox(self) -> None:
        self._release_reading(_HOLD_INBOX)

    # -- pongs (rule 7) ----------------------------------------------------------------------

    def _send_pong(self, data: bytes) -> None:
        if self._pong_waiting:
            self._next_pong = data  # only the most recent ping is answered
            return
        if self._closed or (self._codec.state is not OPEN and self._codec.state is not CLOSING):
            return
        written = self._write_frame(True, _OP_PONG, data)
        if not written.done():
            self._pong_waiting = True
            written.add_done_callback(self._pong_written)

    def _pong_written(self, written: Any) -> None:
        if not written.cancelled():
            written.exception()  # retrieved: a lost connection is reported elsewhere
        self._pong_waiting = False
        data, self._next_pong = self._next_pong, None
        if data is not None:
            self._send_pong(data)

    def _write_frame(self, fin: bool, opcode: int, data: bytes, flags: int = 0) -> Any:
        """Write one frame (control frames: pongs and pings); returns a Future-like object
        that is done once the frame has gone out. ``flags`` holds the RSV bits (0x40 RSV1)."""
        frame = Frame(Opcode(opcode), data, fin, bool(flags & 0x40), bool(flags & 0x20))
        self._codec.send_frame(frame)
        if not self._processing:
            self._flush()
        return self._drained()

    # -- Tornado's protocol interface --------------------------------------------------------

    @staticmethod
    def ping_sleep_time(*, last_ping_time: float, interval: float, now: float) -> float:
        """Seconds until the next keepalive ping is due (0 if it is late)."""
        return ping_sleep_time(last_ping_time=last_ping_time, interval=interval, now=now)

    @property
    def close_code(self) -> int | None:
        """The close code the peer sent (None if none, or an empty close frame)."""
        close = self._codec.close_rcvd
        if close is None or close.code == CloseCode.NO_STATUS_RCVD:
            return None
        return int(close.code)

    @property
    def close_reason(self) -> str | None:
        """The close reason the peer sent (None if none)."""
        close = self._codec.close_rcvd
        return close.reason if close is not None and close.reason else None

    @property
    def client_terminated(self) -> bool:
        """True once the peer has ended: its close frame arrived, or the connection is gone."""
        return self._closed or self._codec.close_rcvd is not None

    @property
    def server_terminated(self) -> bool:
        """True once this end has sent its close frame (or the connection is gone)."""
        return self._closed or self._codec.close_sent is not None

    def is_closing(self) -> bool:
        """True once no more messages can be sent (either end started closing, or the
        connection is gone)."""
        return self._closed or (self._codec.state is not OPEN and not self._writable_late())

    def write_message(
        self, message: str | bytes | dict[str, Any], binary: bool = False
    ) -> Awaitable[None]:
        """Send one message: str (UTF-8), bytes, or a dict as JSON; ``binary`` sends a binary
        frame. Returns an awaitable that resolves once the data has gone out (or the
        transport can take more). Raises :class:`WebSocketClosedError` once closing."""
        if type(message) is str:
            data = message.encode("utf-8")
        elif isinstance(message, bytes):
            data = message
        elif isinstance(message, dict):
            data = escape.json_encode(message).encode("utf-8")
        elif isinstance(message, bytearray | memoryview):
            data = bytes(message)
        elif isinstance(message, str):
            data = message.encode("utf-8")
        else:
            raise TypeError(f"write_message() takes str, bytes or dict, not {type(message)}")
        self._send(data, binary)
        return self._drained()

    def _send(self, data: bytes, binary: bool) -> None:
        codec = self._codec
        if codec.state is OPEN:
            if binary:
                codec.send_binary(data)
            else:
                codec.send_text(data)
        elif self._writable_late():
            codec.send_frame(Frame(BINARY if binary else TEXT, data))
        else:
            raise WebSocketClosedError("WebSocket is closed: cannot write a message")
        self._message_bytes_out += len(data)
        if not self._processing:
            self._flush()

    def write_ping(self, data: bytes) -> None:
        """Send a ping with ``data`` (at most 125 bytes); raises WebSocketClosedError once
        closing."""
        if len(data) > 125:
            raise ValueError(f"ping data is {len(data)} bytes: a control frame holds 125")
        if self._closed or self._codec.state is not OPEN:
            raise WebSocketClosedError("WebSocket is closed: cannot send a ping")
        self._write_frame(True, _OP_PING, data)

    def close(self, code: int | None = None, reason: str | None = None) -> None:
        """Start the closing handshake (no-op if it has started); bounded by close_timeout.

        ``code`` None sends an empty close frame, unless a ``reason`` is given (then 1000)."""
        codec = self._codec
        if self._closed or codec.state is not OPEN:
            return
        if code is None and reason is not None:
            code = CloseCode.NORMAL_CLOSURE
        try:
            codec.send_close(code, reason or "")
        except ProtocolError as exc:
            raise ValueError(f"Cannot close with code {code!r}: {exc}") from None
        self._closing_by_us = True
        self._closing_started()
        if not self._processing:
            self._flush()

    def fail(self, code: int, reason: str = "") -> None:
        """Fail the connection: a close frame with ``code`` if none was sent, then end it."""
        if self._closed or self._failed:
            return
        self._closing_by_us = self._failed = True
        self._codec.fail(code, reason)
        # Nothing more reaches the delegate; a queued reply to the peer's close still goes out.
        endings = self._inbox.take(_ENDING)
        endings += [item for item in self._backlog if isinstance(item, list)]
        self._backlog.clear()
        self._ending_queued = False
        self._write_out(self._codec.data_to_send() + [w for ending in endings for w in ending])

    def _writable_late(self) -> bool:
        # Rule 3: the peer's close waits in the inbox, so its earlier messages may be answered.
        return self._ending_queued and not self._closing_by_us and not self._closed

    def _flush(self) -> None:
        if self._codec.writes and not self._ending_queued:
            self._write_out(self._codec.data_to_send())

    def _lost(self) -> None:
        """The connection is gone: settle the codec, then :meth:`_end` (if it has not run)."""
        self._codec.receive_eof()
        self._codec.data_to_send()
        self._end()

    def _end(self) -> None:
        """The conversation is over (rule 8): drop the inbox, tell the delegate, once."""
        if self._closed:
            return
        self._closed = True
        self._inbox.take(_ENDING)
        self._backlog.clear()
        try:
            self._delegate.closed()
        except Exception as e:
            self._delegate.log_exception(e)
