"""Messages both ways: echo of text, binary and dict, fragments, UTF-8, size limit, ordering."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosedError

from squall.web import Application
from squall.websocket import WebSocketClosedError, WebSocketHandler
from tests.conftest import Runner
from tests.ws.wsutil import RawClient, close_frame, frame, poll, read_frame, serve, wait_for


class Echo(WebSocketHandler):
    def on_message(self, message: str | bytes) -> None:
        self.write_message(message, binary=isinstance(message, bytes))


class JSONEcho(WebSocketHandler):
    def on_message(self, message: str | bytes) -> None:
        self.write_message({"got": message, "type": type(message).__name__})


def test_text_binary_and_dict_messages_echo_with_their_types(run: Runner[Any]) -> None:
    async def body() -> None:
        app = Application([("/ws", Echo), ("/json", JSONEcho)])
        async with serve(app) as served:
            async with connect(served.url(), proxy=None) as ws:
                await ws.send("héllo ✓")
                assert await ws.recv() == "héllo ✓"
                await ws.send(b"\x00\xff\x10")
                assert await ws.recv() == b"\x00\xff\x10"
                await ws.send("")
                assert await ws.recv() == ""
            async with connect(served.url("/json"), proxy=None) as ws:
                await ws.send("a")
                reply = await ws.recv()
                assert isinstance(reply, str)
                assert json.loads(reply) == {"got": "a", "type": "str"}

    run(body())


def test_fragmented_messages_are_delivered_whole(run: Runner[Any]) -> None:
    received: list[str | bytes] = []

    class Recorder(Echo):
        def on_message(self, message: str | bytes) -> None:
            received.append(message)
            super().on_message(message)

    async def body() -> None:
        async with serve(Application([("/ws", Recorder)])) as served:
            async with connect(served.url(), proxy=None) as ws:
                # "€" is three bytes: split it across fragments to test incremental decoding.
                euro = "€".encode()
                await ws.send([b"ab" + euro[:1], euro[1:2], euro[2:] + b"cd"], text=True)
                assert await ws.recv() == "ab€cd"
                await ws.send([b"\x01", b"\x02", b"\x03"])
                assert await ws.recv() == b"\x01\x02\x03"

    run(body())
    assert received == ["ab€cd", b"\x01\x02\x03"]


def test_control_frames_between_fragments_are_answered(run: Runner[Any]) -> None:
    async def body() -> None:
        async with serve(Application([("/ws", Echo)])) as served:
            raw = await (await RawClient.connect(served.port)).upgrade()
            raw.send(frame(0x1, b"fir", fin=False) + frame(0x9, b"p1") + frame(0x0, b"st"))
            assert await wait_for(read_frame(raw.reader)) == (0xA, True, b"p1")
            assert await wait_for(read_frame(raw.reader)) == (0x1, True, b"first")
            await raw.close()

    run(body())


def test_invalid_utf8_in_text_closes_with_1007(run: Runner[Any]) -> None:
    async def body() -> None:
        async with serve(Application([("/ws", Echo)])) as served:
            async with connect(served.url(), proxy=None) as ws:
                await ws.send(b"ok \xff\xfe", text=True)
                with pytest.raises(ConnectionClosedError):
                    await ws.recv()
                assert ws.close_code == 1007

    run(body())


def test_invalid_utf8_fails_before_the_fragmented_message_ends(run: Runner[Any]) -> None:
    async def body() -> None:
        async with serve(Application([("/ws", Echo)])) as served:
            raw = await (await RawClient.connect(served.port)).upgrade()
            raw.send(frame(0x1, b"bad \xc0\xaf", fin=False))  # the message never finishes
            opcode, _, payload = await wait_for(read_frame(raw.reader))
            assert opcode == 0x8
            assert int.from_bytes(payload[:2], "big") == 1007
            await raw.close()

    run(body())


def test_message_over_the_size_limit_closes_with_1009(run: Runner[Any]) -> None:
    received: list[int] = []

    class Small(Echo):
        def on_message(self, message: str | bytes) -> None:
            received.append(len(message))

    async def body() -> None:
        app = Application([("/ws", Small)], websocket_max_message_size=1000)
        async with serve(app) as served:
            async with connect(served.url(), proxy=None) as ws:
                await ws.send(b"x" * 1000)  # at the limit: fine
                await ws.send(b"y" * 1001)
                with pytest.raises(ConnectionClosedError):
                    await ws.recv()
                assert ws.close_code == 1009
            async with connect(served.url(), proxy=None) as ws:
                await ws.send([b"z" * 600, b"z" * 600])  # too big only once reassembled
                with pytest.raises(ConnectionClosedError):
                    await ws.recv()
                assert ws.close_code == 1009

    run(body())
    assert received == [1000]


def test_default_size_limit_is_10_mib() -> None:
    handler = Echo.__new__(Echo)
    handler.application = Application()
    assert handler.max_message_size == 10 * 1024 * 1024


def test_async_open_holds_messages_until_it_completes(run: Runner[Any]) -> None:
    events: list[str] = []

    class SlowOpen(WebSocketHandler):
        async def open(self) -> None:
            events.append("open start")
            await asyncio.sleep(0.05)
            events.append("open end")

        def on_message(self, message: str | bytes) -> None:
            events.append(f"message {message!s}")
            self.write_message(message)

    async def body() -> None:
        async with serve(Application([("/ws", SlowOpen)])) as served:
            async with connect(served.url(), proxy=None) as ws:
                await ws.send("1")
                await ws.send("2")
                assert [await ws.recv(), await ws.recv()] == ["1", "2"]

    run(body())
    assert events == ["open start", "open end", "message 1", "message 2"]


def test_async_on_message_runs_one_message_at_a_time_in_order(run: Runner[Any]) -> None:
    active: list[int] = []
    overlap: list[bool] = []
    done: list[str] = []

    class Slow(WebSocketHandler):
        async def on_message(self, message: str | bytes) -> None:
            active.append(1)
            overlap.append(len(active) > 1)
            # Early messages take longest: out-of-order completion would show.
            await asyncio.sleep(0.02 * (5 - int(message)))
            done.append(str(message))
            await self.write_message(message)
            active.pop()

    async def body() -> None:
        async with serve(Application([("/ws", Slow)])) as served:
            async with connect(served.url(), proxy=None) as ws:
                for i in range(5):
                    await ws.send(str(i))
                assert [await ws.recv() for _ in range(5)] == ["0", "1", "2", "3", "4"]

    run(body())
    assert done == ["0", "1", "2", "3", "4"]
    assert not any(overlap)


def test_message_before_close_in_one_packet_is_answered_before_the_close(
    run: Runner[Any],
) -> None:
    async def body() -> None:
        async with serve(Application([("/ws", Echo)])) as served:
            raw = await (await RawClient.connect(served.port)).upgrade()
            raw.send(frame(0x1, b"last words") + close_frame(1000, "bye"))
            assert await wait_for(read_frame(raw.reader)) == (0x1, True, b"last words")
            opcode, _, payload = await wait_for(read_frame(raw.reader))
            assert (opcode, payload) == (0x8, close_frame_payload(1000, "bye"))
            assert await wait_for(raw.reader.read()) == b""  # then the server ends the stream
            await raw.close()

    run(body())


def close_frame_payload(code: int, reason: str) -> bytes:
    return code.to_bytes(2, "big") + reason.encode()


def test_writes_from_a_task_reach_the_client(run: Runner[Any]) -> None:
    class Pusher(WebSocketHandler):
        def open(self) -> None:
            self._task = asyncio.ensure_future(self.push())

        async def push(self) -> None:
            for i in range(3):
                await self.write_message(f"tick {i}")
                await asyncio.sleep(0)

        def on_message(self, message: str | bytes) -> None:
            pass

    async def body() -> None:
        async with serve(Application([("/ws", Pusher)])) as served:
            async with connect(served.url(), proxy=None) as ws:
                assert [await ws.recv() for _ in range(3)] == ["tick 0", "tick 1", "tick 2"]

    run(body())


def test_exception_in_on_message_is_logged_and_closes_with_1011(
    run: Runner[Any], caplog: pytest.LogCaptureFixture
) -> None:
    closed: list[bool] = []

    class Broken(WebSocketHandler):
        def on_message(self, message: str | bytes) -> None:
            raise ValueError("boom")

        def on_close(self) -> None:
            closed.append(True)

    async def body() -> None:
        async with serve(Application([("/ws", Broken)])) as served:
            async with connect(served.url(), proxy=None) as ws:
                await ws.send("x")
                with pytest.raises(ConnectionClosedError):
                    await ws.recv()
                assert ws.close_code == 1011
            await poll(lambda: bool(closed))

    with caplog.at_level(logging.ERROR, logger="squall.application"):
        run(body())
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert errors and errors[0].getMessage().startswith("Uncaught exception GET /ws")
    assert errors[0].exc_info is not None and str(errors[0].exc_info[1]) == "boom"


def test_exception_in_async_on_message_closes_with_1011(
    run: Runner[Any], caplog: pytest.LogCaptureFixture
) -> None:
    class Broken(WebSocketHandler):
        async def on_message(self, message: str | bytes) -> None:
            await asyncio.sleep(0)
            raise ValueError("async boom")

    async def body() -> None:
        async with serve(Application([("/ws", Broken)])) as served:
            async with connect(served.url(), proxy=None) as ws:
                await ws.send("x")
                with pytest.raises(ConnectionClosedError):
                    await ws.recv()
                assert ws.close_code == 1011

    with caplog.at_level(logging.ERROR, logger="squall.application"):
        run(body())
    assert any(r.exc_info and str(r.exc_info[1]) == "async boom" for r in caplog.records)


def test_write_after_close_raises_websocket_closed_error(run: Runner[Any]) -> None:
    outcomes: list[str] = []

    class Closer(WebSocketHandler):
        def on_message(self, message: str | bytes) -> None:
            self.close(4000, "enough")
            try:
                self.write_message("too late")
            except WebSocketClosedError:
                outcomes.append("raised in on_message")

        def on_close(self) -> None:
            try:
                self.write_message("later still")
            except WebSocketClosedError:
                outcomes.append("raised in on_close")

    async def body() -> None:
        async with serve(Application([("/ws", Closer)])) as served:
            async with connect(served.url(), proxy=None) as ws:
                await ws.send("x")
                with pytest.raises(Exception):  # noqa: B017 - ConnectionClosedOK or Error
                    await ws.recv()
                assert (ws.close_code, ws.close_reason) == (4000, "enough")
            await poll(lambda: len(outcomes) == 2)

    run(body())
    assert outcomes == ["raised in on_message", "raised in on_close"]


def test_write_before_the_upgrade_raises_websocket_closed_error(run: Runner[Any]) -> None:
    outcomes: list[str] = []

    class Early(WebSocketHandler):
        def prepare(self) -> None:
            try:
                self.write_message("too early")
            except WebSocketClosedError:
                outcomes.append("raised")

        def on_message(self, message: str | bytes) -> None:
            pass

    async def body() -> None:
        async with serve(Application([("/ws", Early)])) as served:
            async with connect(served.url(), proxy=None):
                pass

    run(body())
    assert outcomes == ["raised"]


def test_close_code_and_reason_come_from_the_peer(run: Runner[Any]) -> None:
    seen: list[tuple[int | None, str | None]] = []

    class Recorder(Echo):
        def on_close(self) -> None:
            seen.append((self.close_code, self.close_reason))

    async def body() -> None:
        async with serve(Application([("/ws", Recorder)])) as served:
            async with connect(served.url(), proxy=None) as ws:
                await ws.close(4001, "client done")
            await poll(lambda: len(seen) == 1)
            raw = await (await RawClient.connect(served.port)).upgrade()
            raw.send(frame(0x8, b""))  # an empty close frame: no code
            await wait_for(raw.reader.read())
            await raw.close()
            await poll(lambda: len(seen) == 2)
            raw = await (await RawClient.connect(served.port)).upgrade()
            await raw.close()  # no close frame at all
            await poll(lambda: len(seen) == 3)

    run(body())
    assert seen == [(4001, "client done"), (None, None), (None, None)]


def test_close_with_a_reason_only_sends_1000(run: Runner[Any]) -> None:
    class Closer(WebSocketHandler):
        def open(self) -> None:
            self.close(reason="finished")

    async def body() -> None:
        async with serve(Application([("/ws", Closer)])) as served:
            async with connect(served.url(), proxy=None) as ws:
                with pytest.raises(Exception):  # noqa: B017 - the connection closes
                    await ws.recv()
                assert (ws.close_code, ws.close_reason) == (1000, "finished")

    run(body())


def test_write_message_returns_an_awaitable_that_completes(run: Runner[Any]) -> None:
    results: list[Any] = []

    class Awaiting(WebSocketHandler):
        async def on_message(self, message: str | bytes) -> None:
            waiter: Awaitable[Any] = self.write_message(message)
            results.append(await waiter)

    async def body() -> None:
        async with serve(Application([("/ws", Awaiting)])) as served:
            async with connect(served.url(), proxy=None) as ws:
                await ws.send("x")
                assert await ws.recv() == "x"

    run(body())
    assert results == [None]


@pytest.mark.parametrize("style", ["sync", "async"])
def test_cancelled_error_in_on_message_is_logged_and_closes_with_1011(
    run: Runner[Any], caplog: pytest.LogCaptureFixture, style: str
) -> None:
    closed: list[bool] = []

    class Cancelling(WebSocketHandler):
        def on_message(self, message: str | bytes) -> Awaitable[None] | None:
            if style == "sync":
                raise asyncio.CancelledError()
            return self.cancelled()

        async def cancelled(self) -> None:
            never: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            never.cancel()
            await never

        def on_close(self) -> None:
            closed.append(True)

    async def body() -> None:
        async with serve(Application([("/ws", Cancelling)])) as served:
            async with connect(served.url(), proxy=None) as ws:
                await ws.send("x")
                with pytest.raises(ConnectionClosedError):
                    await ws.recv()
                assert ws.close_code == 1011
            await poll(lambda: bool(closed))

    with caplog.at_level(logging.ERROR, logger="squall.application"):
        run(body())
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert errors and errors[0].getMessage().startswith("Uncaught exception GET /ws")


def test_a_flood_in_one_packet_lets_the_event_loop_run(run: Runner[Any]) -> None:
    count = 5000
    received: list[int] = []

    class Counter(WebSocketHandler):
        def on_message(self, message: str | bytes) -> None:
            received.append(1)

    async def body() -> None:
        async with serve(Application([("/ws", Counter)])) as served:
            raw = await RawClient.connect(served.port)
            try:
                raw.send(b"".join(frame(0x2, b"x") for _ in range(count)))
                ticks = 0
                while len(received) < count:
                    ticks += 1
                    await asyncio.sleep(0)
                    assert ticks < 100_000, "the flood was never handled"
                # Handled a turn at a time: the loop (this coroutine) ran in between.
                assert ticks > count // 1000
            finally:
                await raw.close()

    run(body())
    assert len(received) == count
