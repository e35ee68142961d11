"""Session: the message layer of one WebSocket connection, without a transport (sans-IO).

How this works
--------------
A :class:`Session` feeds bytes to the sans-IO codec of the ``websockets`` package (framing,
unmasking in C, control frames, the close handshake, size limits, permessage-deflate),
assembles fragmented messages, checks their UTF-8 as it goes, and calls a
:class:`~squall._ws.delegate.WebSocketDelegate` through its :class:`~squall._ws.inbox.Inbox`.
What it produces goes to :meth:`Session._write_out`, which the transport side implements
(:class:`~squall._ws.protocol.WebSocketProtocol`).

Rules:

1. Nothing here imports the framework or the HTTP layer, and nothing here touches a socket.
2. The delegate sees messages, pings and pongs one at a time, in order (the inbox).
3. A close frame or a protocol error from the peer ends the connection *after* the messages
   that came before it: the codec's reply (close frame, end of stream) waits in the inbox as
   the "ending", and the delegate may still write while handling those messages.
4. What the codec produces while one batch of input is processed is written out once.
5. After :meth:`Session.fail` (our own error), the delegate hears nothing more.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

from websockets.exceptions import ProtocolError
from websockets.frames import BINARY, CLOSE, CONT, PING, PONG, TEXT, CloseCode, Frame
from websockets.protocol import OPEN
from websockets.protocol import Protocol as Codec

from squall._ws.assemble import MessageAssembler
from squall._ws.delegate import WebSocketClosedError, WebSocketDelegate
from squall._ws.inbox import Inbox

__all__ = ["Session"]

_OPEN, _MESSAGE, _PING, _PONG, _ENDING = 0, 1, 2, 3, 4


class Session:
    """The codec, the message assembler and the inbox of one connection (see the module doc)."""

    __slots__ = (
        "_assembler",
        "_closed",
        "_closing_by_us",
        "_codec",
        "_delegate",
        "_ending_queued",
        "_failed",
        "_inbox",
        "_processing",
    )

    def __init__(self, codec: Codec, delegate: WebSocketDelegate) -> None:
        self._codec = codec
        self._delegate = delegate
        self._assembler = MessageAssembler()
        self._inbox = Inbox(
            self._consume,
            self._consume_failed,
            self._pause_reading,
            self._resume_reading,
            self._flush,
        )
        self._processing = False  # while True, writes wait for one _flush at the end
        self._ending_queued = False
        self._closing_by_us = False
        self._failed = False
        self._closed = False

    # -- what the transport side implements --------------------------------------------------

    def _write_out(self, writes: list[bytes]) -> None:
        """Send ``writes`` (an empty item means: end the stream)."""
        raise NotImplementedError()

    def _pause_reading(self) -> None:
        """Stop reading from the peer."""
        raise NotImplementedError()

    def _resume_reading(self) -> None:
        """Read from the peer again."""
        raise NotImplementedError()

    def _closing_started(self) -> None:
        """We sent a close frame: the closing handshake is under way."""

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
        codec = self._codec
        was_open = codec.state is OPEN
        codec.receive_data(data)
        events = codec.events_received()
        ending = None
        if was_open and codec.state is not OPEN:
            # A close frame or a protocol error: the reply goes after the earlier messages.
            ending = codec.data_to_send()
            self._ending_queued = True
        self._processing = True
        try:
            for frame in events:
                if not self._on_frame(frame):  # type: ignore[arg-type]  # frames, once OPEN
                    break
            if ending is not None:
                self._queue_ending(ending)
        finally:
            self._processing = False
        self._flush()

    def _on_frame(self, frame: Frame) -> bool:
        """Route one parsed frame; False stops processing (the connection failed)."""
        opcode = frame.opcode
        if opcode is TEXT or opcode is BINARY or opcode is CONT:
            try:
                message = self._assembler.feed(frame)
            except UnicodeDecodeError as exc:
                self._assembler.reset()
                self._flush()  # what earlier messages produced goes first
                self._codec.fail(CloseCode.INVALID_DATA, f"{exc.reason} at position {exc.start}")
                self._queue_ending(self._codec.data_to_send())
                return False
            if message is not None and not self._failed:
                self._inbox.put(_MESSAGE, message)
        elif opcode is PING:
            if not self._failed:
                self._inbox.put(_PING, bytes(frame.data))
        elif opcode is CLOSE:
            self._assembler.reset()  # a message cut short by the close is dropped
        elif opcode is PONG:
            self._pong_received()
            if not self._failed:
                self._inbox.put(_PONG, bytes(frame.data))
        return True

    def _pong_received(self) -> None:
        """A pong arrived (the keepalive hears about it here)."""

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
        except Exception as e:
            self._consume_failed(e)
        return None

    def _consume_failed(self, exc: BaseException) -> None:
        if not self._closed:
            self._delegate.log_exception(exc)
            self.fail(CloseCode.INTERNAL_ERROR)

    # -- output ------------------------------------------------------------------------------

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
    def is_closing(self) -> bool:
        """True once no more messages can be sent."""
        return self._closed or (self._codec.state is not OPEN and not self._writable_late())

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
        if not self._processing:
            self._flush()

    def ping(self, data: bytes) -> None:
        """Send a ping with ``data`` (at most 125 bytes)."""
        if self._closed or self._codec.state is not OPEN:
            raise WebSocketClosedError("WebSocket is closed: cannot send a ping")
        self._codec.send_ping(data)
        if not self._processing:
            self._flush()

    def close(self, code: int | None = None, reason: str | None = None) -> None:
        """Start the closing handshake (no-op if it has started); bounded by close_timeout."""
        codec = self._codec
        if self._closed or codec.state is not OPEN:
            return
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
        self._ending_queued = False
        self._write_out(self._codec.data_to_send() + [w for ending in endings for w in ending])

    def _writable_late(self) -> bool:
        # Rule 3: the peer's close waits in the inbox, so its earlier messages may be answered.
        return self._ending_queued and not self._closing_by_us and not self._closed

    def _flush(self) -> None:
        if self._codec.writes and not self._ending_queued:
            self._write_out(self._codec.data_to_send())

    def _lost(self) -> None:
        """The connection is gone: settle the codec, drop the inbox, tell the delegate once."""
        self._closed = True
        self._codec.receive_eof()
        self._codec.data_to_send()
        self._inbox.take(_ENDING)
        try:
            self._delegate.closed()
        except Exception as e:
            self._delegate.log_exception(e)
