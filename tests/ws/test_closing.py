"""The closing handshake ends the connection at once: ``on_close`` does not wait for the peer.

Once the peer's close frame (or its answer to ours) has arrived, the handler hears ``on_close``
at once, as on Tornado, even while data queued for the peer is still going out or the peer has
stopped reading; the close timeout only bounds how long the socket may stay open afterwards.
Each handler sets a close timeout far longer than the polls' deadline, so a test that passes
did not wait for it.
"""

from __future__ import annotations

import asyncio
import struct
from typing import Any

from squall.web import Application
from squall.websocket import WebSocketClosedError, WebSocketHandler
from tests.conftest import Runner
from tests.ws.wsutil import RawClient, close_frame, frame, poll, read_frame, serve, wait_for

CHUNK = b"x" * 65536
LONG = 60.0  # a close timeout no test waits for


class Flooder(WebSocketHandler):
    """Writes until the transport pushes back, then records what closing does to it."""

    events: list[Any]
    close_timeout = LONG

    def open(self) -> None:
        assert self.ws_connection is not None
        self.ws_connection.close_timeout = self.close_timeout
        self.events.append("open")
        self.sent = 0
        self.flood = asyncio.ensure_future(self.fill())

    async def fill(self) -> None:
        # Outside open (whose writes wait for one flush), so that the transport pushes back.
        for _ in range(1000):  # 64 MiB at most: far more than the socket buffers hold
            waiter = self.write_message(CHUNK, binary=True)
            self.sent += 1
            if asyncio.isfuture(waiter):
                self.events.append("blocked")
                await self.wait(waiter)
                return
        raise AssertionError("the transport never pushed back")

    async def wait(self, waiter: Any) -> None:
        try:
            await waiter
        except WebSocketClosedError:
            self.events.append("blocked write failed")

    def on_message(self, message: str | bytes) -> None:
        self.events.append(("message", message))

    def on_close(self) -> None:
        self.events.append(("on_close", self.close_code, self.close_reason))
        try:
            self.write_message("too late")
        except WebSocketClosedError:
            self.events.append("write raised")


async def read_to_end(raw: RawClient) -> list[tuple[int, bytes]]:
    """Every frame the server sent, up to its end of stream: (opcode, payload) each."""
    frames: list[tuple[int, bytes]] = []
    while True:
        try:
            opcode, _, payload = await wait_for(read_frame(raw.reader))
        except asyncio.IncompleteReadError as exc:
            assert exc.partial == b""
            return frames
        frames.append((opcode, payload))


def test_peer_close_runs_on_close_at_once_while_data_waits_for_the_peer(
    run: Runner[Any],
) -> None:
    events: list[Any] = []
    sent: list[int] = []

    class Handler(Flooder):
        def on_close(self) -> None:
            sent.append(self.sent)
            super().on_close()

    Handler.events = events

    async def body() -> None:
        async with serve(Application([("/ws", Handler)])) as served:
            raw = await (await RawClient.connect(served.port, limit=2**20)).upgrade()
            await poll(lambda: "blocked" in events)
            raw.send(frame(0x1, b"last words") + close_frame(4001, "bye"))
            # Nothing is read meanwhile: the queued data and the close reply wait in buffers.
            await poll(lambda: any(isinstance(e, tuple) and e[0] == "on_close" for e in events))
            await poll(lambda: "blocked write failed" in events)
            frames = await read_to_end(raw)
            # Everything queued before the close still arrives, then the close reply, then
            # the server's end of stream (it did not wait for ours).
            assert frames[:-1] == [(0x2, CHUNK)] * sent[0]
            assert frames[-1] == (0x8, struct.pack("!H", 4001) + b"bye")
            await raw.close()

    run(body())
    assert events == [
        "open",
        "blocked",
        ("message", "last words"),
        ("on_close", 4001, "bye"),
        "write raised",
        "blocked write failed",
    ]


def test_peer_that_stops_reading_after_its_close_is_dropped_after_the_close_timeout(
    run: Runner[Any],
) -> None:
    events: list[Any] = []

    class Handler(Flooder):
        close_timeout = 0.05

    Handler.events = events

    async def body() -> None:
        async with serve(Application([("/ws", Handler)])) as served:
            raw = await (await RawClient.connect(served.port)).upgrade()
            await poll(lambda: "blocked" in events)
            raw.send(close_frame(1000))
            await poll(lambda: ("on_close", 1000, None) in events)
            # The client never reads again: the server's socket is gone all the same.
            assert await wait_for(served.server.drain(5.0)) is True
            raw.writer.transport.abort()

    run(body())


def test_answer_to_our_close_runs_on_close_before_the_peer_closes_its_socket(
    run: Runner[Any],
) -> None:
    events: list[Any] = []

    class Closer(WebSocketHandler):
        def open(self) -> None:
            assert self.ws_connection is not None
            self.ws_connection.close_timeout = LONG

        def on_message(self, message: str | bytes) -> None:
            self.write_message("goodbye")
            self.close(4002, "done")

        def on_close(self) -> None:
            events.append(("on_close", self.close_code, self.close_reason))

    async def body() -> None:
        async with serve(Application([("/ws", Closer)])) as served:
            raw = await (await RawClient.connect(served.port)).upgrade()
            raw.send(frame(0x1, b"hi"))
            assert await wait_for(read_frame(raw.reader)) == (0x1, True, b"goodbye")
            opcode, _, payload = await wait_for(read_frame(raw.reader))
            assert (opcode, payload) == (0x8, struct.pack("!H", 4002) + b"done")
            assert events == []
            # The answer goes out and the client keeps its socket open: the server is done.
            raw.send(close_frame(4002, "ok"))
            await poll(lambda: bool(events))
            assert await read_to_end(raw) == []
            await raw.close()

    run(body())
    assert events == [("on_close", 4002, "ok")]
