"""IOStream over real loopback TCP sockets, on asyncio's loop and on uvloop."""

from __future__ import annotations

import asyncio
import errno
import gc
import logging
import os
import re
import socket
import struct
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from squall._streams import pollguard
from squall.iostream import (
    BaseIOStream,
    IOStream,
    StreamBufferFullError,
    StreamClosedError,
    UnsatisfiableReadError,
)
from squall.log import gen_log
from squall.testing import ExpectLog, bind_unused_port
from tests.conftest import Runner
from tests.streams.pairs import tcp_pair


def reset(stream: IOStream) -> None:
    """Close ``stream``'s socket with a TCP reset (SO_LINGER 0), as a crashed peer would."""
    stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    stream.close()


async def wait_until(condition: object, timeout: float = 5.0) -> None:
    """Poll ``condition()`` until it is true (no fixed sleeps)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():  # type: ignore[operator]
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.005)


# ---------------------------------------------------------------- reads


def test_read_bytes_waits_for_all_bytes_and_partial_returns_what_is_there(run: Runner) -> None:
    async def body() -> None:
        async with tcp_pair() as (rs, ws):
            future = rs.read_bytes(10)
            await ws.write(b"hello")
            await asyncio.sleep(0.01)
            assert not future.done() and rs.reading()
            await ws.write(b"world!")
            assert await future == b"helloworld"
            assert not rs.reading()
            assert await rs.read_bytes(50, partial=True) == b"!"
            assert await rs.read_bytes(0) == b""
            ws.write(b"abcdef")
            assert await rs.read_bytes(3, partial=True) == b"abc"

    run(body())


def test_read_until_finds_a_delimiter_split_across_reads(run: Runner) -> None:
    async def body() -> None:
        async with tcp_pair(read_chunk_size=2) as (rs, ws):
            future = rs.read_until(b"\r\n\r\n")
            for piece in (b"GET / HTTP/1.1\r", b"\n", b"Host: x\r\n\r", b"\nbody"):
                await ws.write(piece)
                await asyncio.sleep(0.005)
            assert await future == b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
            assert await rs.read_bytes(4) == b"body"

    run(body())


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    lines=st.lists(st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"")), max_size=12),
    cuts=st.lists(st.integers(min_value=1, max_value=17), min_size=1, max_size=8),
    chunk=st.integers(min_value=1, max_value=64),
)
def test_read_until_returns_every_line_however_the_bytes_are_cut(
    run_asyncio: Runner, lines: list[bytes], cuts: list[int], chunk: int
) -> None:
    payload = b"".join(line + b"\n" for line in lines)

    async def body() -> None:
        async with tcp_pair(read_chunk_size=chunk) as (rs, ws):
            pos, i = 0, 0
            while pos < len(payload):
                size = cuts[i % len(cuts)]
                ws.write(payload[pos : pos + size])
                pos, i = pos + size, i + 1
            got = [await rs.read_until(b"\n") for _ in lines]
            assert got == [line + b"\n" for line in lines]

    run_asyncio(body())


def test_read_until_regex_returns_through_the_end_of_the_match(run: Runner) -> None:
    async def body() -> None:
        async with tcp_pair() as (rs, ws):
            ws.write(b"key: 12 rest")
            assert await rs.read_until_regex(rb"\d+") == b"key: 12"
            assert await rs.read_until_regex(re.compile(rb"s.")) == b" rest"

    run(body())


def test_read_until_over_max_bytes_logs_closes_and_fails_the_read(run: Runner) -> None:
    async def body() -> None:
        async with tcp_pair() as (rs, ws):
            closed = asyncio.Event()
            rs.set_close_callback(closed.set)
            future = rs.read_until(b"\n", max_bytes=8)
            with ExpectLog(gen_log, "Unsatisfiable read", level=logging.INFO):
                await ws.write(b"0123456789\n")
                with pytest.raises(StreamClosedError) as info:
                    await future
                await closed.wait()
            assert isinstance(info.value.real_error, UnsatisfiableReadError)
            assert rs.closed() and isinstance(rs.error, UnsatisfiableReadError)

    run(body())


def test_read_until_max_bytes_counts_the_delimiter(run: Runner) -> None:
    async def body() -> None:
        async with tcp_pair() as (rs, ws):
            ws.write(b"abc\nabcd\n")
            assert await rs.read_until(b"\n", max_bytes=4) == b"abc\n"
            with ExpectLog(gen_log, "Unsatisfiable read", level=logging.INFO):
                with pytest.raises(StreamClosedError):
                    await rs.read_until(b"\n", max_bytes=4)

    run(body())


def test_read_into_fills_the_buffer_and_leaves_it_resizable(run: Runner) -> None:
    async def body() -> None:
        async with tcp_pair() as (rs, ws):
            ws.write(b"ab")
            assert await rs.read_bytes(1) == b"a"
            buf = bytearray(6)
            future = rs.read_into(buf)
            assert bytes(buf[:1]) == b"b"  # buffered bytes are copied in at once
            await ws.write(b"cdefgh")
            assert await future == 6
            assert bytes(buf) == b"bcdefg"
            del buf[:]  # no view of it is left alive
            assert await rs.read_into(bytearray(10), partial=True) == 1
            assert await rs.read_into(bytearray(0)) == 0

    run(body())


def test_read_until_close_returns_everything_up_to_the_close(run: Runner) -> None:
    async def body() -> None:
        async with tcp_pair() as (rs, ws):
            future = rs.read_until_close()
            ws.write(b"x" * 100_000)
            ws.write(b"end")
            ws.close()
            data = await future
            assert data == b"x" * 100_000 + b"end"
            assert rs.closed() and rs.error is None
            assert await rs.read_until_close() == b""  # closed: at once, what is left
            with pytest.raises(StreamClosedError):
                rs.read_bytes(1)  # nothing left: raised at once

    run(body())


def test_buffered_data_stays_readable_after_the_peer_closed(run: Runner) -> None:
    async def body() -> None:
        async with tcp_pair() as (rs, ws):
            await ws.write(b"line one\nline two\n")
            ws.close()
            assert await rs.read_until(b"\n") == b"line one\n"
            await asyncio.sleep(0.01)  # the close arrives meanwhile; the data is kept
            assert await rs.read_until(b"\n") == b"line two\n"
            with pytest.raises(StreamClosedError):
                await rs.read_until(b"\n")
            assert rs.closed()
            with pytest.raises(StreamClosedError):
                rs.read_until(b"\n")  # now known to be closed: raised at once

    run(body())


def test_a_second_read_while_one_is_pending_is_an_error(run: Runner) -> None:
    async def body() -> None:
        async with tcp_pair() as (rs, _):
            rs.read_bytes(1)
            with pytest.raises(RuntimeError, match="Already reading"):
                rs.read_until(b"\n")

    run(body())


def test_a_cancelled_read_frees_the_stream_and_loses_no_data(run: Runner) -> None:
    async def body() -> None:
        async with tcp_pair() as (rs, ws):
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(rs.read_until(b"\n"), 0.01)
            await ws.write(b"late line\n")
            assert await rs.read_until(b"\n") == b"late line\n"

    run(body())


def test_reading_argument_errors_are_clear(run: Runner) -> None:
    async def body() -> None:
        async with tcp_pair() as (rs, ws):
            with pytest.raises(ValueError, match="0 or more"):
                rs.read_bytes(-1)
            with pytest.raises(TypeError, match="int"):
                rs.read_bytes(1.5)  # type: ignore[arg-type]
            with pytest.raises(TypeError, match="encode"):
                ws.write("text")  # type: ignore[arg-type]
            assert not rs.reading()

    run(body())


# ---------------------------------------------------------------- limits and back-pressure


def test_a_read_past_max_buffer_size_fails_with_stream_buffer_full(run: Runner) -> None:
    async def body() -> None:
        async with tcp_pair(max_buffer_size=1024) as (rs, ws):
            future = rs.read_until(b"\n")
            with ExpectLog(gen_log, "Reached maximum read buffer size"):
                with ExpectLog(gen_log, "error on read"):
                    ws.write(b"x" * 4096)
                    with pytest.raises(StreamClosedError) as info:
                        await future
            assert isinstance(info.value.real_error, StreamBufferFullError)
            assert len(rs._read_buffer) <= 1024

    run(body())


def test_an_idle_stream_reads_ahead_only_one_chunk(run: Runner) -> None:
    async def body() -> None:
        async with tcp_pair(max_buffer_size=64 * 1024) as (rs, ws):
            ws.write(b"y" * 32_000_000)  # far more than the kernel buffers hold
            await asyncio.sleep(0.05)
            assert len(rs._read_buffer) <= rs.read_chunk_size  # the rest waits in the kernel
            assert ws.writing()  # ... and in the writer: back-pressure
            total = 0
            while total < 32_000_000:
                total += len(await rs.read_bytes(100_000, partial=True))
                assert len(rs._read_buffer) <= 64 * 1024
            await wait_until(lambda: not ws.writing())

    run(body())


def test_a_slow_reader_never_grows_the_write_buffer_past_its_limit(run: Runner) -> None:
    limit = 256 * 1024

    async def body() -> None:
        async with tcp_pair(max_write_buffer_size=limit) as (rs, ws):
            peak = 0

            async def produce() -> None:
                nonlocal peak
                for _ in range(64):
                    await ws.write(b"z" * 65536)
                    peak = max(peak, len(ws._write_buffer))

            producer = asyncio.ensure_future(produce())
            received = 0
            while received < 64 * 65536:
                received += len(await rs.read_bytes(4096, partial=True))
                await asyncio.sleep(0)  # a slow reader
            await producer
            assert peak <= limit

    run(body())


def test_a_write_that_would_exceed_max_write_buffer_size_raises_and_keeps_the_stream(
    run: Runner,
) -> None:
    async def body() -> None:
        async with tcp_pair(max_write_buffer_size=100_000) as (rs, ws):
            ws.write(b"a" * 60_000)
            big = b"b" * 10_000_000
            with pytest.raises(StreamBufferFullError):
                while True:  # the kernel takes some; the buffer fills eventually
                    ws.write(big[:60_000])
            assert not ws.closed()
            assert len(ws._write_buffer) <= 100_000

    run(body())


# ---------------------------------------------------------------- writes


def test_write_futures_resolve_in_order_once_flushed(run: Runner) -> None:
    async def body() -> None:
        async with tcp_pair() as (rs, ws):
            order: list[int] = []
            futures = [ws.write(bytes([i]) * 8_000_000) for i in range(3)]
            for i, future in enumerate(futures):
                future.add_done_callback(lambda _, i=i: order.append(i))
            assert ws.writing()
            data = await rs.read_bytes(24_000_000)
            await asyncio.gather(*futures)
            assert order == [0, 1, 2]
            assert data == b"\0" * 8_000_000 + b"\1" * 8_000_000 + b"\2" * 8_000_000
            assert await ws.write(b"") is None

    run(body())


def test_a_large_bytearray_written_is_resizable_once_its_write_completes(run: Runner) -> None:
    async def body() -> None:
        async with tcp_pair() as (rs, ws):
            data = bytearray(b"q" * 3_000_000)
            future = ws.write(data)
            received = await rs.read_bytes(len(data))
            await future
            del data[:]
            assert received == b"q" * 3_000_000

    run(body())


def test_typed_memoryviews_are_written_as_bytes(run: Runner) -> None:
    async def body() -> None:
        async with tcp_pair() as (rs, ws):
            view = memoryview(bytes(range(80))).cast("L")
            await ws.write(view)
            assert await rs.read_bytes(80) == bytes(range(80))

    run(body())


# ---------------------------------------------------------------- closing


def test_close_fails_every_pending_future_and_calls_back_once(run: Runner) -> None:
    async def body() -> None:
        async with tcp_pair() as (rs, ws):
            calls: list[int] = []
            ws.set_close_callback(lambda: calls.append(1))
            read = ws.read_bytes(1)
            write = ws.write(b"w" * 20_000_000)  # more than the kernel takes: stays pending
            ws.close()
            ws.close()
            for future in (read, write):
                with pytest.raises(StreamClosedError) as info:
                    await future
                assert info.value.real_error is None
            await wait_until(lambda: calls)
            await asyncio.sleep(0.01)
            assert calls == [1]
            assert ws.closed() and ws.socket is None
            with pytest.raises(StreamClosedError):
                ws.write(b"after")

    run(body())


def test_close_with_an_error_records_it_and_fails_read_until_close(run: Runner) -> None:
    async def body() -> None:
        async with tcp_pair() as (rs, ws):
            future = rs.read_until_close()
            await ws.write(b"partial")
            await asyncio.sleep(0.01)
            rs.close(exc_info=ValueError("boom"))
            with pytest.raises(StreamClosedError) as info:
                await future
            assert isinstance(info.value.real_error, ValueError)
            assert isinstance(rs.error, ValueError)

    run(body())


def test_an_unawaited_failed_write_is_not_reported_as_unhandled(run: Runner) -> None:
    async def body() -> None:
        async with tcp_pair() as (rs, ws):
            ws.write(b"x" * 20_000_000)  # fire and forget
            ws.close()
            gc.collect()

    run(body())  # the loop-error guard fails the test on "exception was never retrieved"


# ---------------------------------------------------------------- peers that vanish


def test_a_reset_during_a_read_fails_it_with_the_reset(run: Runner) -> None:
    async def body() -> None:
        async with tcp_pair() as (rs, ws):
            future = rs.read_bytes(100)
            await ws.write(b"part")
            await asyncio.sleep(0.01)
            reset(ws)
            with pytest.raises(StreamClosedError) as info:
                await future
            assert isinstance(rs.error, ConnectionResetError)
            assert isinstance(info.value.real_error, ConnectionResetError)

    run(body())


def test_data_then_reset_in_one_burst_still_ends_the_pending_read(run: Runner) -> None:
    # uvloop reports the reset once, with the data: the stream must not wait for more events.
    async def body() -> None:
        async with tcp_pair(read_chunk_size=4) as (rs, ws):
            future = rs.read_until(b"never")
            ws.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            ws.socket.send(b"0123456789" * 10)
            reset(ws)
            with pytest.raises(StreamClosedError):
                await future

    run(body())


def test_a_reset_that_follows_a_completed_read_is_noticed_by_the_next_one(
    run: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pollguard, "SWEEP_INTERVAL", 0.02)

    async def body() -> None:
        async with tcp_pair() as (rs, ws):
            await asyncio.sleep(0.01)
            ws.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            ws.socket.send(b"exactly one line\n")
            reset(ws)
            assert await rs.read_until(b"\n") == b"exactly one line\n"
            with pytest.raises(StreamClosedError):
                await asyncio.wait_for(rs.read_until(b"\n"), 5)

    run(body())


def test_an_idle_stream_notices_its_peer_going_away(run: Runner) -> None:
    async def body() -> None:
        async with tcp_pair() as (rs, ws):
            closed = asyncio.Event()
            rs.set_close_callback(closed.set)
            ws.close()
            await asyncio.wait_for(closed.wait(), 5)
            assert rs.error is None

    run(body())


def test_a_reset_during_a_write_fails_it_quietly(run: Runner) -> None:
    async def body() -> None:
        async with tcp_pair() as (rs, ws):
            future = ws.write(b"w" * 50_000_000)
            await rs.read_bytes(1000)
            reset(rs)
            with pytest.raises(StreamClosedError) as info:
                await future
            assert info.value.real_error is not None
            assert info.value.real_error.errno in (errno.EPIPE, errno.ECONNRESET)
            assert ws.closed()

    run(body())


def test_read_until_close_after_a_reset_returns_the_data(run: Runner) -> None:
    async def body() -> None:
        async with tcp_pair() as (rs, ws):
            await ws.write(b"kept")
            await asyncio.sleep(0.01)
            future = rs.read_until_close()
            reset(ws)
            assert await future == b"kept"
            assert isinstance(rs.error, ConnectionResetError)

    run(body())


# ---------------------------------------------------------------- connecting


def test_connect_refused_fails_with_stream_closed_and_records_the_cause(run: Runner) -> None:
    async def body() -> None:
        listener, port = bind_unused_port()
        listener.close()  # nothing listens there any more
        stream = IOStream(socket.socket())
        with pytest.raises(StreamClosedError):
            await stream.connect(("127.0.0.1", port))
        assert isinstance(stream.error, ConnectionRefusedError)

    run(body())


def test_writes_before_the_connection_completes_follow_it(run: Runner) -> None:
    async def body() -> None:
        listener, port = bind_unused_port()
        listener.setblocking(True)
        stream = IOStream(socket.socket())
        try:
            connected = stream.connect(("127.0.0.1", port))
            written = stream.write(b"early bytes")
            order: list[str] = []
            connected.add_done_callback(lambda _: order.append("connect"))
            written.add_done_callback(lambda _: order.append("write"))
            assert await connected is stream
            await written
            await asyncio.sleep(0)  # let the done callbacks run
            assert order == ["connect", "write"]
            peer, _ = await asyncio.get_running_loop().run_in_executor(None, listener.accept)
            with peer:
                assert peer.recv(100) == b"early bytes"
            stream.set_nodelay(True)
        finally:
            stream.close()
            listener.close()

    run(body())


def test_connect_twice_is_an_error(run: Runner) -> None:
    async def body() -> None:
        listener, port = bind_unused_port()
        stream = IOStream(socket.socket())
        try:
            stream.connect(("127.0.0.1", port))
            with pytest.raises(RuntimeError, match="already in progress"):
                stream.connect(("127.0.0.1", port))
        finally:
            stream.close()
            listener.close()

    run(body())


def test_unix_socket_streams_work_and_ignore_nodelay(run: Runner) -> None:
    async def body() -> None:
        a, b = socket.socketpair()
        left, right = IOStream(a), IOStream(b)
        try:
            left.set_nodelay(True)
            await left.write(b"over unix\n")
            assert await right.read_until(b"\n") == b"over unix\n"
        finally:
            left.close()
            right.close()

    run(body())


# ---------------------------------------------------------------- the subclass contract


class FdStream(BaseIOStream):
    """A user subclass over a raw descriptor, with Tornado's four hooks and nothing else."""

    def __init__(self, fd: int, **kwargs: Any) -> None:
        os.set_blocking(fd, False)
        self.fd = fd
        self.reads = 0
        super().__init__(**kwargs)
        self._update_watch()

    def fileno(self) -> int:
        return self.fd

    def close_fd(self) -> None:
        os.close(self.fd)

    def read_from_fd(self, buf: bytearray | memoryview) -> int | None:
        self.reads += 1
        try:
            return os.readv(self.fd, [buf])
        except BlockingIOError:
            return None

    def write_to_fd(self, data: memoryview) -> int:
        return os.write(self.fd, data)


def test_a_base_iostream_subclass_gets_every_read_and_write_feature(run: Runner) -> None:
    async def body() -> None:
        a, b = socket.socketpair()
        left, right = FdStream(a.detach()), FdStream(b.detach(), read_chunk_size=3)
        try:
            assert await left.write(b"first line\nsecond") is None
            assert await right.read_until(b"\n") == b"first line\n"
            assert await right.read_bytes(6) == b"second"
            assert right.reads >= 4  # chunks of 3 bytes
            left.write(b"rest")
            left.close()
            assert await right.read_until_close() == b"rest"
            assert right.closed() and right.error is None
        finally:
            left.close()
            right.close()

    run(body())


def test_stream_closed_error_carries_its_cause() -> None:
    cause = ConnectionResetError(errno.ECONNRESET, "reset")
    error = StreamClosedError(real_error=cause)
    assert error.real_error is cause and str(error) == "Stream is closed"
    assert isinstance(error, OSError)
    assert StreamClosedError().real_error is None
