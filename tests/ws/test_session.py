"""The message layer without sockets: a client codec talks to a Session in memory."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from websockets.frames import CLOSE, TEXT, Close, Frame
from websockets.protocol import CLIENT, OPEN, Protocol

from squall._util import DONE
from squall._ws.codec import CODEC_LOG, ServerCodec
from squall._ws.session import FRAMES_PER_TURN, Session
from tests.conftest import Runner


class Recorder:
    """A delegate that records calls and echoes messages (optionally through a coroutine)."""

    def __init__(self) -> None:
        self.session: MemorySession | None = None
        self.calls: list[Any] = []
        self.gate: asyncio.Event | None = None
        self.raise_on: str | None = None

    def opened(self) -> Awaitable[None] | None:
        self.calls.append("open")
        return None

    def message_received(self, message: str | bytes) -> Awaitable[None] | None:
        self.calls.append(message)
        if message == self.raise_on:
            raise ValueError("handler bug")
        if self.gate is not None:
            return self._slow_echo(message)
        assert self.session is not None
        self.session._send(message.encode() if isinstance(message, str) else message, False)
        return None

    async def _slow_echo(self, message: str | bytes) -> None:
        assert self.gate is not None and self.session is not None
        await self.gate.wait()
        self.session._send(message.encode() if isinstance(message, str) else message, False)

    def ping_received(self, data: bytes) -> None:
        self.calls.append(("ping", data))

    def pong_received(self, data: bytes) -> None:
        self.calls.append(("pong", data))

    def closed(self) -> None:
        self.calls.append("closed")

    def log_exception(self, exc: BaseException) -> None:
        self.calls.append(("error", str(exc)))


class MemorySession(Session):
    """A Session whose transport is a list."""

    def __init__(self, delegate: Recorder) -> None:
        codec = ServerCodec(state=OPEN, max_size=2**20, logger=CODEC_LOG)
        super().__init__(codec, delegate)
        delegate.session = self
        self.out: list[bytes] = []
        self.batches = 0
        self.reading = True
        self.later: list[Callable[[], None]] = []  # what _call_soon scheduled
        self.drained: Any = DONE  # what _drained returns

    def _call_soon(self, callback: Callable[[], None]) -> None:
        self.later.append(callback)

    def _drained(self) -> Any:
        return self.drained

    def run_later(self) -> int:
        """Run what was scheduled, one turn at a time; return how many turns it took."""
        turns = 0
        while self.later:
            turns += 1
            batch, self.later = self.later, []
            for callback in batch:
                callback()
        return turns

    def _write_out(self, writes: list[bytes]) -> None:
        self.batches += 1
        self.out.extend(writes)

    def _pause_reading(self) -> None:
        self.reading = False

    def _resume_reading(self) -> None:
        self.reading = True


def client() -> Protocol:
    return Protocol(CLIENT, state=OPEN, max_size=None)


def frames_from(session: MemorySession) -> list[Frame]:
    """Parse what the session wrote, as the client would; an empty write is the end of stream."""
    peer = client()
    data = b"".join(session.out)
    peer.receive_data(data)
    return [e for e in peer.events_received() if isinstance(e, Frame)]


def sent(*frames: tuple[str, Any]) -> bytes:
    peer = client()
    for kind, payload in frames:
        if kind == "text":
            peer.send_text(payload.encode())
        elif kind == "binary":
            peer.send_binary(payload)
        elif kind == "ping":
            peer.send_ping(payload)
        elif kind == "close":
            peer.send_close(*payload)
    return b"".join(peer.data_to_send())


def test_messages_in_one_batch_are_answered_in_one_write() -> None:
    rec = Recorder()
    session = MemorySession(rec)
    session._start()
    session._receive(sent(("text", "a"), ("binary", b"b"), ("ping", b"p")))
    assert rec.calls == ["open", "a", b"b", ("ping", b"p")]
    assert session.batches == 1  # two echoes + pong, coalesced
    kinds = [(f.opcode.name, bytes(f.data)) for f in frames_from(session)]
    assert kinds == [("TEXT", b"a"), ("TEXT", b"b"), ("PONG", b"p")]  # in the order asked


def test_close_after_messages_is_answered_after_their_replies() -> None:
    rec = Recorder()
    session = MemorySession(rec)
    session._receive(sent(("text", "x"), ("close", (1000, "done"))))
    got = frames_from(session)
    assert [f.opcode for f in got] == [TEXT, CLOSE]
    assert Close.parse(got[1].data) == Close(1000, "done")
    assert session.out[-1] == b""  # then the end of the stream
    assert session.close_code == 1000 and session.close_reason == "done"


def test_handler_exception_fails_with_1011_and_stops_delivery() -> None:
    rec = Recorder()
    rec.raise_on = "bad"
    session = MemorySession(rec)
    session._receive(sent(("text", "bad"), ("text", "never seen")))
    assert rec.calls == ["bad", ("error", "handler bug")]
    got = frames_from(session)
    assert [f.opcode for f in got] == [CLOSE]
    assert Close.parse(got[0].data).code == 1011


def test_async_handler_holds_later_messages_and_pauses_reading(run: Runner[Any]) -> None:
    async def body() -> None:
        rec = Recorder()
        rec.gate = asyncio.Event()
        session = MemorySession(rec)
        session._receive(sent(("text", "1"), ("text", "2"), ("close", (1000, ""))))
        assert rec.calls == ["1"]  # "2" and the close wait their turn
        assert not session.reading
        assert session.out == []  # the close reply too: "1" has not been answered yet
        rec.gate.set()
        for _ in range(10):
            await asyncio.sleep(0)
        assert rec.calls == ["1", "2"]
        assert session.reading
        got = frames_from(session)
        assert [(f.opcode, bytes(f.data)) for f in got[:2]] == [(TEXT, b"1"), (TEXT, b"2")]
        assert got[2].opcode is CLOSE

    run(body())


def test_invalid_utf8_after_a_good_message_fails_with_1007_after_its_reply() -> None:
    rec = Recorder()
    session = MemorySession(rec)
    peer = client()
    peer.send_text(b"fine")
    peer.send_text(b"\xff")
    session._receive(b"".join(peer.data_to_send()))
    assert rec.calls == ["fine"]
    got = frames_from(session)
    assert [f.opcode for f in got] == [TEXT, CLOSE]
    assert Close.parse(got[1].data).code == 1007


def test_lost_connection_tells_the_delegate_once() -> None:
    rec = Recorder()
    session = MemorySession(rec)
    session._lost()
    assert rec.calls == ["closed"]
    assert session.is_closing()
    assert session.client_terminated and session.server_terminated
    assert session.close_code is None


def test_binary_frames_stay_bytes() -> None:
    rec = Recorder()
    session = MemorySession(rec)
    session._receive(sent(("binary", b"\x00\x01")))
    assert rec.calls == [b"\x00\x01"]
    assert [f.opcode for f in frames_from(session)] == [TEXT]  # the recorder echoes as text


def test_a_flood_in_one_read_is_handled_a_turn_at_a_time_in_order() -> None:
    rec = Recorder()
    session = MemorySession(rec)
    count = FRAMES_PER_TURN * 3 + 5
    session._receive(sent(*[("binary", str(i).encode()) for i in range(count)]))
    # One turn's worth now, reading paused until the backlog is done.
    assert len(rec.calls) == FRAMES_PER_TURN
    assert not session.reading
    assert session.run_later() == 3
    assert rec.calls == [str(i).encode() for i in range(count)]
    assert session.reading
    assert len(frames_from(session)) == count  # every echo went out


def test_a_close_behind_a_flood_is_answered_after_it() -> None:
    rec = Recorder()
    session = MemorySession(rec)
    flood = [("binary", b"m")] * (FRAMES_PER_TURN + 1)
    session._receive(sent(*flood, ("close", (1000, "bye"))))
    assert session.out == []  # the echoes so far go out with the close reply, after the flood
    session.run_later()
    got = frames_from(session)
    assert [f.opcode for f in got] == [TEXT] * (FRAMES_PER_TURN + 1) + [CLOSE]
    assert session.out[-1] == b""


def test_pings_while_a_pong_waits_are_answered_once_with_the_latest() -> None:
    rec = Recorder()
    session = MemorySession(rec)
    loop = asyncio.new_event_loop()
    try:
        waiting = loop.create_future()
        session.drained = waiting  # the peer is not reading: the first pong waits
        session._receive(sent(("ping", b"1"), ("ping", b"2"), ("ping", b"3")))
        assert rec.calls == [("ping", b"1"), ("ping", b"2"), ("ping", b"3")]
        assert [bytes(f.data) for f in frames_from(session)] == [b"1"]
        session.drained = DONE
        waiting.set_result(None)
        loop.run_until_complete(asyncio.sleep(0))
        assert [bytes(f.data) for f in frames_from(session)] == [b"1", b"3"]
        session._receive(sent(("ping", b"4")))  # nothing waits now: answered at once
        assert [bytes(f.data) for f in frames_from(session)] == [b"1", b"3", b"4"]
    finally:
        loop.close()


def test_handle_message_can_be_wrapped_per_connection() -> None:
    rec = Recorder()
    session = MemorySession(rec)
    seen: list[tuple[int, Any]] = []
    original = session._handle_message

    def watch(opcode: int, data: Any) -> None:
        seen.append((opcode, data))
        if opcode != 0x9:  # pings are dropped: never answered, never delivered
            original(opcode, data)

    session._handle_message = watch  # type: ignore[method-assign]
    session._receive(sent(("text", "t"), ("binary", b"b"), ("ping", b"p")))
    assert seen == [(0x1, "t"), (0x2, b"b"), (0x9, b"p")]
    assert rec.calls == ["t", b"b"]
    assert [f.opcode for f in frames_from(session)] == [TEXT, TEXT]


def test_byte_counters_count_payload_and_wire() -> None:
    rec = Recorder()
    session = MemorySession(rec)
    session._receive(sent(("text", "hello"), ("binary", b"xy")))
    assert session._message_bytes_in == 7
    assert session._wire_bytes_in == (2 + 4 + 5) + (2 + 4 + 2)  # masked client frames
    assert session._message_bytes_out == 7  # the two echoes
    # MemorySession does not count _wire_bytes_out: its transport (a list) is the test's own.


def test_cancelled_error_from_the_handler_fails_with_1011() -> None:
    class Cancelling(Recorder):
        def message_received(self, message: str | bytes) -> Awaitable[None] | None:
            self.calls.append(message)
            raise asyncio.CancelledError()

    rec = Cancelling()
    session = MemorySession(rec)
    session._receive(sent(("text", "x"), ("text", "never seen")))
    assert rec.calls == ["x", ("error", "")]
    got = frames_from(session)
    assert [f.opcode for f in got] == [CLOSE]
    assert Close.parse(got[0].data).code == 1011
