"""Connection timeouts over real sockets: head, idle keep-alive, body total and body minimum rate.

Timeouts are small (0.3 s); elapsed times are checked loosely (closed after at least 80% of the
timeout and before the timeout plus 2 s): these are behaviour checks, not benchmarks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from squall._http1 import HTTP1Params
from squall._server import Server
from squall.netutil import bind_sockets
from tests.conftest import Runner
from tests.helpers.raw_http import (
    RawClient,
    RecordedRequest,
    RecordingDelegate,
    parse_responses,
    reply,
    request,
    serving,
)

TIMEOUT = 0.3


def assert_elapsed(start: float, timeout: float) -> None:
    elapsed = time.monotonic() - start
    assert timeout * 0.8 <= elapsed < timeout + 2, f"closed after {elapsed:.3f} s"


async def drip(client: RawClient, data: bytes, interval: float = 0.05) -> None:
    """Send ``data`` one byte at a time until it is sent or the server hangs up."""
    for i in range(len(data)):
        try:
            await client.send(data[i : i + 1])
        except (ConnectionError, OSError):
            return
        await asyncio.sleep(interval)


@contextlib.asynccontextmanager
async def protocol_server(delegate: RecordingDelegate, **params: Any) -> AsyncIterator[int]:
    """A bare ``Server`` with any ``HTTP1Params`` (HTTPServer does not expose them all)."""
    server = Server(delegate, HTTP1Params(**params))
    sockets = bind_sockets(0, "127.0.0.1")
    server.add_sockets(sockets, asyncio.get_running_loop())
    try:
        yield sockets[0].getsockname()[1]
    finally:
        server.stop()
        await server.close_all_connections()


def test_dripping_client_is_closed_at_header_timeout(
    run: Runner[None], caplog: pytest.LogCaptureFixture
) -> None:
    delegate = RecordingDelegate()

    async def body() -> None:
        async with serving(delegate, header_timeout=TIMEOUT) as (_, port):
            async with await RawClient.connect(port) as client:
                start = time.monotonic()
                sender = asyncio.ensure_future(drip(client, request("GET", "/", {"X": "y" * 100})))
                data = await client.read_until_eof(timeout=TIMEOUT + 3)
                assert_elapsed(start, TIMEOUT)
                await sender
        [resp] = parse_responses(data)
        assert resp.status == 408

    caplog.set_level(logging.INFO, logger="squall.general")
    run(body())
    assert delegate.requests == []
    assert any("Timeout reading request head" in r.getMessage() for r in caplog.records)


def test_client_that_never_sends_a_byte_is_closed_at_header_timeout(run: Runner[None]) -> None:
    async def body() -> None:
        async with serving(RecordingDelegate(), header_timeout=TIMEOUT) as (_, port):
            async with await RawClient.connect(port) as client:
                start = time.monotonic()
                await client.assert_closed(timeout=TIMEOUT + 3)
                assert_elapsed(start, TIMEOUT)

    run(body())


def test_client_that_never_sends_a_byte_is_closed_at_a_shorter_idle_timeout(
    run: Runner[None], caplog: pytest.LogCaptureFixture
) -> None:
    # Tornado's idle_connection_timeout covers the wait for the first request too.
    async def body() -> None:
        kwargs: dict[str, Any] = {"idle_connection_timeout": TIMEOUT, "header_timeout": 30.0}
        async with serving(RecordingDelegate(), **kwargs) as (_, port):
            async with await RawClient.connect(port) as client:
                start = time.monotonic()
                assert await client.read_until_eof(timeout=TIMEOUT + 3) == b""
                assert_elapsed(start, TIMEOUT)

    caplog.set_level(logging.INFO, logger="squall.general")
    run(body())
    assert not caplog.records  # an unused connection closes without a word, as an idle one


def test_a_request_begun_before_the_idle_timeout_gets_the_head_timeout(run: Runner[None]) -> None:
    async def body() -> None:
        kwargs: dict[str, Any] = {"idle_connection_timeout": TIMEOUT, "header_timeout": 30.0}
        async with serving(RecordingDelegate(), **kwargs) as (_, port):
            async with await RawClient.connect(port) as client:
                raw = request("GET", "/slow")
                await client.send(raw[:5])
                await asyncio.sleep(TIMEOUT * 2)  # past the idle timeout, inside the head's
                await client.send(raw[5:])
                assert (await client.read_response()).body == b"/slow"

    run(body())


def test_idle_keep_alive_connection_is_closed_at_idle_timeout(run: Runner[None]) -> None:
    async def body() -> None:
        kwargs: dict[str, Any] = {"idle_connection_timeout": TIMEOUT, "header_timeout": 30.0}
        async with serving(RecordingDelegate(), **kwargs) as (_, port):
            async with await RawClient.connect(port) as client:
                for path in ("/1", "/2"):  # the idle clock restarts after each response
                    await client.send(request("GET", path))
                    assert (await client.read_response()).body == path.encode()
                    await asyncio.sleep(TIMEOUT / 2)
                start = time.monotonic()
                await client.assert_closed(timeout=TIMEOUT + 3)
                assert_elapsed(start, TIMEOUT / 2)

    run(body())


def test_connection_with_a_request_in_progress_is_not_idle(run: Runner[None]) -> None:
    async def slow(req: Any) -> None:
        await asyncio.sleep(TIMEOUT * 3)
        reply(req, b"done")

    async def body() -> None:
        kwargs: dict[str, Any] = {"idle_connection_timeout": TIMEOUT, "header_timeout": TIMEOUT}
        async with serving(slow, **kwargs) as (_, port):
            async with await RawClient.connect(port) as client:
                await client.send(request("GET", "/"))
                assert (await client.read_response()).body == b"done"

    run(body())


def test_trickling_body_is_stopped_at_body_timeout(
    run: Runner[None], caplog: pytest.LogCaptureFixture
) -> None:
    delegate = RecordingDelegate()

    async def body() -> None:
        async with serving(delegate, body_timeout=TIMEOUT) as (_, port):
            async with await RawClient.connect(port) as client:
                await client.send(request("POST", "/", {"Content-Length": "1000"}))
                start = time.monotonic()
                sender = asyncio.ensure_future(drip(client, b"x" * 1000))
                try:
                    data: bytes | None = await client.read_until_eof(timeout=TIMEOUT + 3)
                except ConnectionResetError:
                    # The server answered 408 and closed while the client still sent: the
                    # kernel's reset can discard the unread answer (no lingering close yet,
                    # docs/http1-conformance.md). The log line and the delegate show the stop.
                    data = None
                assert_elapsed(start, TIMEOUT)
                with contextlib.suppress(ConnectionResetError, BrokenPipeError):
                    await sender
        if data is not None:
            [resp] = parse_responses(data)
            assert resp.status == 408

    caplog.set_level(logging.INFO, logger="squall.general")
    run(body())
    rec = delegate.requests[0]
    assert rec.closed and not rec.finished
    assert any("Timeout reading body" in r.getMessage() for r in caplog.records)


def test_trickling_body_is_stopped_by_the_minimum_rate_rule(run: Runner[None]) -> None:
    delegate = RecordingDelegate()

    async def body() -> None:
        # 20 bytes/s against a minimum of 1000 bytes/s after a 0.3 s allowance.
        params = {"body_start_timeout": TIMEOUT, "body_min_rate": 1000.0}
        async with protocol_server(delegate, **params) as port:
            async with await RawClient.connect(port) as client:
                await client.send(request("POST", "/", {"Content-Length": "1000"}))
                start = time.monotonic()
                sender = asyncio.ensure_future(drip(client, b"x" * 1000))
                with contextlib.suppress(ConnectionResetError):  # see the test above
                    await client.read_until_eof(timeout=TIMEOUT + 3)
                assert_elapsed(start, TIMEOUT)
                with contextlib.suppress(ConnectionResetError, BrokenPipeError):
                    await sender

    run(body())
    assert not delegate.requests[0].finished


def test_body_sent_at_a_good_rate_may_take_longer_than_the_start_allowance(
    run: Runner[None],
) -> None:
    delegate = RecordingDelegate()

    async def body() -> None:
        params = {"body_start_timeout": TIMEOUT, "body_min_rate": 1000.0}
        async with protocol_server(delegate, **params) as port:
            async with await RawClient.connect(port) as client:
                await client.send(request("POST", "/", {"Content-Length": str(20 * 1000)}))
                start = time.monotonic()
                for _ in range(20):  # 1000 bytes every 0.05 s: 20 kB/s for a second
                    await client.send(b"y" * 1000)
                    await asyncio.sleep(0.05)
                resp = await client.read_response()
                assert time.monotonic() - start > TIMEOUT * 2
        assert resp.status == 200 and len(resp.body) == 20 * 1000

    run(body())


def test_a_slow_consumer_does_not_make_the_client_time_out(run: Runner[None]) -> None:
    async def body() -> None:
        got_first = asyncio.Event()

        async def consume(rec: RecordedRequest, chunk: bytes) -> None:
            if len(rec.chunks) == 1:
                got_first.set()
                await asyncio.sleep(TIMEOUT * 3)  # reading is paused meanwhile

        delegate = RecordingDelegate(on_data=consume)
        params = {"body_start_timeout": TIMEOUT, "body_min_rate": 1e9, "chunk_size": 1024}
        async with protocol_server(delegate, **params) as port:
            async with await RawClient.connect(port) as client:
                await client.send(request("POST", "/", {"Content-Length": "2048"}) + b"a" * 1024)
                await got_first.wait()
                await client.send(b"b" * 1024)
                resp = await client.read_response(timeout=TIMEOUT * 3 + 3)
        assert resp.status == 200
        assert resp.body == b"a" * 1024 + b"b" * 1024

    run(body())
