"""Pings and pongs, keepalive timeouts, back-pressure, bounded closing, graceful drain."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosedOK

from squall.log import gen_log
from squall.testing import ExpectLog
from squall.web import Application
from squall.websocket import WebSocketHandler
from tests.conftest import Runner
from tests.ws.wsutil import RawClient, poll, read_frame, serve, wait_for


class Echo(WebSocketHandler):
    def on_message(self, message: str | bytes) -> None:
        self.write_message(message, binary=isinstance(message, bytes))


def test_client_ping_is_answered_and_reaches_on_ping(run: Runner[Any]) -> None:
    pings: list[bytes] = []

    class Pinged(Echo):
        def on_ping(self, data: bytes) -> None:
            pings.append(data)

    async def body() -> None:
        async with serve(Application([("/ws", Pinged)])) as served:
            async with connect(served.url(), proxy=None) as ws:
                pong = await ws.ping(b"are you there")
                await wait_for(pong)

    run(body())
    assert pings == [b"are you there"]


def test_handler_ping_gets_a_pong_at_on_pong(run: Runner[Any]) -> None:
    pongs: list[bytes] = []

    class Pinger(Echo):
        def open(self) -> None:
            self.ping(b"hello")

        def on_pong(self, data: bytes) -> None:
            pongs.append(data)

    async def body() -> None:
        async with serve(Application([("/ws", Pinger)])) as served:
            async with connect(served.url(), proxy=None):
                await poll(lambda: bool(pongs))

    run(body())
    assert pongs == [b"hello"]


def test_ping_data_over_125_bytes_is_refused() -> None:
    handler = Echo.__new__(Echo)
    with pytest.raises(ValueError, match="125"):
        handler.ping(b"x" * 126)


def test_keepalive_pings_keep_a_live_peer_connected(run: Runner[Any]) -> None:
    pongs: list[bytes] = []

    class Kept(Echo):
        def on_pong(self, data: bytes) -> None:
            pongs.append(data)

    async def body() -> None:
        app = Application([("/ws", Kept)], websocket_ping_interval=0.02)
        async with serve(app) as served:
            async with connect(served.url(), proxy=None) as ws:
                await poll(lambda: len(pongs) >= 3)
                await ws.send("still here")
                assert await ws.recv() == "still here"

    run(body())


def test_silent_peer_gets_ping_timed_out_then_is_dropped(run: Runner[Any]) -> None:
    closed: list[tuple[float, int | None]] = []

    class Watched(Echo):
        def open(self) -> None:
            assert self.ws_connection is not None
            self.ws_connection.close_timeout = 0.2

        def on_close(self) -> None:
            closed.append((asyncio.get_running_loop().time(), self.close_code))

    async def body() -> None:
        app = Application(
            [("/ws", Watched)], websocket_ping_interval=0.1, websocket_ping_timeout=0.05
        )
        async with serve(app) as served:
            raw = await (await RawClient.connect(served.port)).upgrade()
            start = asyncio.get_running_loop().time()
            try:
                # The raw client never answers: a ping, then Tornado's close frame.
                assert await wait_for(read_frame(raw.reader)) == (0x9, True, b"")
                opcode, _, payload = await wait_for(read_frame(raw.reader))
                assert (opcode, payload) == (0x8, b"\x03\xe8ping timed out")
                # It does not answer the close either: dropped after the close timeout.
                await poll(lambda: bool(closed), timeout=3.0)
                assert 0.15 < closed[0][0] - start < 2.0
                assert closed[0][1] is None  # the peer sent no close frame
                assert await wait_for(raw.reader.read()) == b""
            finally:
                await raw.close()

    run(body())


def test_ping_timeout_longer_than_the_interval_is_cut_with_a_warning(run: Runner[Any]) -> None:
    seen: list[tuple[float, float]] = []

    class Watched(Echo):
        def open(self) -> None:
            assert self.ws_connection is not None
            seen.append((self.ws_connection.ping_interval, self.ws_connection.ping_timeout))

    async def body() -> None:
        app = Application([("/ws", Watched)], websocket_ping_interval=5, websocket_ping_timeout=9)
        async with serve(app) as served:
            async with connect(served.url(), proxy=None) as ws:
                await poll(lambda: bool(seen))
                await ws.close()

    with ExpectLog(gen_log, r"The WebSocket ping timeout \(9 s\) cannot be longer"):
        run(body())
    assert seen == [(5, 5)]


def test_ping_timeout_zero_disables_the_deadline(run: Runner[Any]) -> None:
    seen: list[tuple[float, float]] = []

    class Watched(Echo):
        def open(self) -> None:
            assert self.ws_connection is not None
            seen.append((self.ws_connection.ping_interval, self.ws_connection.ping_timeout))

    async def body() -> None:
        app = Application(
            [("/ws", Watched)], websocket_ping_interval=0.02, websocket_ping_timeout=0
        )
        async with serve(app) as served:
            raw = await (await RawClient.connect(served.port)).upgrade()
            try:
                # Pings keep coming to a peer that never answers, and no close frame comes.
                for _ in range(5):
                    assert await wait_for(read_frame(raw.reader)) == (0x9, True, b"")
            finally:
                await raw.close()

    run(body())
    assert seen == [(0.02, 0)]


def test_write_message_waits_for_a_slow_reader(run: Runner[Any]) -> None:
    chunk = b"x" * 65536
    count = 800  # 50 MiB: far more than the socket buffers hold
    state: dict[str, Any] = {"sent": 0, "blocked_at": None, "done": False}

    class Flood(WebSocketHandler):
        def open(self) -> None:
            self._task = asyncio.ensure_future(self.flood())

        async def flood(self) -> None:
            for i in range(count):
                waiter = self.write_message(chunk, binary=True)
                if state["blocked_at"] is None and asyncio.isfuture(waiter):
                    state["blocked_at"] = i + 1
                await waiter
                state["sent"] = i + 1
            state["done"] = True

        def on_message(self, message: str | bytes) -> None:
            pass

    async def body() -> None:
        async with serve(Application([("/ws", Flood)])) as served:
            raw = await (await RawClient.connect(served.port)).upgrade()
            await poll(lambda: state["blocked_at"] is not None)
            blocked_at = state["blocked_at"]
            # While nothing is read, the writer stays blocked: memory does not grow.
            for _ in range(20):
                await asyncio.sleep(0.005)
                assert state["sent"] < blocked_at
            assert blocked_at * len(chunk) < 32 * 1024 * 1024
            for _ in range(count):
                opcode, fin, payload = await wait_for(read_frame(raw.reader))
                assert (opcode, fin, len(payload)) == (0x2, True, len(chunk))
            await poll(lambda: state["done"])
            await raw.close()

    run(body())


def test_unanswered_close_is_dropped_after_the_close_timeout(run: Runner[Any]) -> None:
    closed: list[bool] = []

    class Impatient(Echo):
        def open(self) -> None:
            assert self.ws_connection is not None
            self.ws_connection.close_timeout = 0.05
            self.close(1000)

        def on_close(self) -> None:
            closed.append(True)

    async def body() -> None:
        async with serve(Application([("/ws", Impatient)])) as served:
            raw = await (await RawClient.connect(served.port)).upgrade()
            opcode, _, _ = await wait_for(read_frame(raw.reader))
            assert opcode == 0x8
            # The client never answers the close frame: the server gives up on its own.
            await poll(lambda: bool(closed), timeout=2.0)
            await raw.close()

    run(body())


def test_drain_closes_websockets_with_1001(run: Runner[Any]) -> None:
    closes: list[int | None] = []

    class Watched(Echo):
        def on_close(self) -> None:
            closes.append(self.close_code)

    async def body() -> None:
        async with serve(Application([("/ws", Watched)])) as served:
            async with connect(served.url(), proxy=None) as ws:
                await ws.send("x")
                assert await ws.recv() == "x"
                drain = asyncio.ensure_future(served.server.drain(5.0))
                with pytest.raises(ConnectionClosedOK):
                    await ws.recv()
                assert (ws.close_code, ws.close_reason) == (1001, "Going away")
            assert await wait_for(drain) is True

    run(body())
    assert closes == [1001]


def test_drain_is_bounded_when_a_websocket_peer_never_answers(run: Runner[Any]) -> None:
    async def body() -> None:
        async with serve(Application([("/ws", Echo)])) as served:
            raw = await (await RawClient.connect(served.port)).upgrade()
            loop = asyncio.get_running_loop()
            start = loop.time()
            assert await wait_for(served.server.drain(0.2)) is False
            assert loop.time() - start < 1.0
            opcode, _, payload = await wait_for(read_frame(raw.reader))
            assert (opcode, payload[:2]) == (0x8, (1001).to_bytes(2, "big"))
            await raw.close()

    run(body())


def test_set_nodelay_reaches_the_socket(run: Runner[Any]) -> None:
    seen: list[int] = []

    class Tuned(Echo):
        def open(self) -> None:
            self.set_nodelay(False)
            ws = self.ws_connection
            assert ws is not None and ws._transport is not None
            sock = ws._transport.get_extra_info("socket")
            seen.append(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            self.set_nodelay(True)
            seen.append(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))

    async def body() -> None:
        async with serve(Application([("/ws", Tuned)])) as served:
            async with connect(served.url(), proxy=None) as ws:
                await ws.send("x")
                await ws.recv()

    run(body())
    assert seen[0] == 0 and seen[1] != 0
