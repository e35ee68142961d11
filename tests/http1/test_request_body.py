"""Request bodies through the HTTP/1.1 protocol: framing, 100-continue, flow control, gzip."""

from __future__ import annotations

import asyncio
import gzip
import logging
import os
from typing import Any

import pytest

from squall.httputil import HTTPHeaders, ResponseStartLine
from tests.conftest import Runner
from tests.helpers.fake_transport import ProtocolHarness
from tests.helpers.raw_http import (
    RecordedRequest,
    RecordingDelegate,
    chunked,
    parse_responses,
    request,
    respond,
)

CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


# -- framing --------------------------------------------------------------------------------------


def test_content_length_body_is_delivered_whole(run_asyncio: Runner[None]) -> None:
    async def body() -> None:
        delegate = RecordingDelegate()
        h = ProtocolHarness(delegate)
        h.feed(request("POST", "/", body=b"0123456789"))
        assert delegate.requests[0].body == b"0123456789"
        assert delegate.requests[0].finished
        assert parse_responses(h.take())[0].body == b"0123456789"
        h.close()

    run_asyncio(body())


def test_chunked_body_with_extensions_and_trailers_is_accepted(run_asyncio: Runner[None]) -> None:
    raw = (
        b"POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5;name=value\r\nhello\r\n1;flag\r\n \r\n5\r\nworld\r\n"
        b"0;last=1\r\nX-Trailer: yes\r\nX-Other: 2\r\n\r\n"
    )

    async def body() -> None:
        delegate = RecordingDelegate()
        h = ProtocolHarness(delegate)
        h.feed(raw + request("GET", "/after"))
        assert delegate.requests[0].body == b"hello world"
        assert delegate.paths == ["/up", "/after"]
        assert [r.body for r in parse_responses(h.take())] == [b"hello world", b"/after"]
        h.close()

    run_asyncio(body())


def test_body_pieces_are_split_at_chunk_size(run_asyncio: Runner[None]) -> None:
    async def body() -> None:
        delegate = RecordingDelegate()
        h = ProtocolHarness(delegate, chunk_size=4)
        h.feed(request("POST", "/", body=b"abcdefghij"))
        assert delegate.requests[0].chunks == [b"abcd", b"efgh", b"ij"]
        h.close()

    run_asyncio(body())


# -- Expect: 100-continue ------------------------------------------------------------------------


def test_expect_100_continue_is_answered_before_the_body_is_read(
    run_asyncio: Runner[None],
) -> None:
    async def body() -> None:
        delegate = RecordingDelegate()
        h = ProtocolHarness(delegate)
        h.feed(request("PUT", "/", {"Expect": "100-continue", "Content-Length": "4"}))
        assert h.take() == CONTINUE
        assert delegate.requests[0].chunks == []
        h.feed(b"data")
        [resp] = parse_responses(h.take())
        assert (resp.status, resp.body) == (200, b"data")
        h.close()

    run_asyncio(body())


def test_expect_100_continue_is_not_answered_for_http10(run_asyncio: Runner[None]) -> None:
    async def body() -> None:
        h = ProtocolHarness(RecordingDelegate())
        head = {"Expect": "100-continue", "Content-Length": "4", "Connection": "keep-alive"}
        h.feed(request("PUT", "/", head, version="HTTP/1.0"))
        assert h.take() == b""
        h.feed(b"data")
        [resp] = parse_responses(h.take())
        assert (resp.status, resp.body) == (200, b"data")
        h.close()

    run_asyncio(body())


def test_expect_100_continue_over_the_limit_gets_413_at_once(run_asyncio: Runner[None]) -> None:
    async def body() -> None:
        delegate = RecordingDelegate()
        h = ProtocolHarness(delegate, max_body_size=100)
        h.feed(request("PUT", "/", {"Expect": "100-continue", "Content-Length": "101"}))
        out = h.take()
        assert b"100 Continue" not in out  # the client is never invited to send the body
        [resp] = parse_responses(out)
        assert resp.status == 413
        assert resp.closes
        # The delegate saw the head (a streaming handler may raise its limit in prepare) but
        # no body, never a finish, and hears that the request is gone.
        [seen] = delegate.requests
        assert seen.chunks == [] and not seen.finished
        await h.settle()
        assert seen.closed
        assert h.closed
        h.close()

    run_asyncio(body())


# -- read flow control ----------------------------------------------------------------------------


def test_pending_data_received_pauses_reading_until_it_resolves(run_asyncio: Runner[None]) -> None:
    async def body() -> None:
        loop = asyncio.get_running_loop()
        gates: list[asyncio.Future[None]] = []

        def slow(rec: RecordedRequest, chunk: bytes) -> asyncio.Future[None]:
            gates.append(loop.create_future())
            return gates[-1]

        delegate = RecordingDelegate(on_data=slow)
        h = ProtocolHarness(delegate, chunk_size=4)
        h.feed(request("POST", "/", body=b"aaaabbbbcc"))
        rec = delegate.requests[0]
        assert rec.chunks == [b"aaaa"]
        assert h.transport.reading_paused
        gates[0].set_result(None)
        await h.settle()
        assert rec.chunks == [b"aaaa", b"bbbb"]
        assert h.transport.reading_paused
        gates[1].set_result(None)
        await h.settle()
        assert rec.chunks == [b"aaaa", b"bbbb", b"cc"]
        assert not rec.finished  # the third future is still pending
        gates[2].set_result(None)
        await h.settle()
        assert rec.finished
        assert not h.transport.reading_paused
        assert parse_responses(h.take())[0].body == b"aaaabbbbcc"
        h.close()

    run_asyncio(body())


def test_pending_headers_received_delays_the_body(run_asyncio: Runner[None]) -> None:
    async def body() -> None:
        loop = asyncio.get_running_loop()
        gate: asyncio.Future[None] = loop.create_future()
        delegate = RecordingDelegate(on_headers=lambda rec: gate)
        h = ProtocolHarness(delegate)
        h.feed(request("POST", "/", body=b"xyz"))
        assert delegate.requests[0].chunks == []
        assert h.transport.reading_paused
        gate.set_result(None)
        await h.settle()
        assert delegate.requests[0].body == b"xyz"
        assert not h.transport.reading_paused
        h.close()

    run_asyncio(body())


def test_coroutine_data_received_is_awaited(run_asyncio: Runner[None]) -> None:
    seen: list[bytes] = []

    async def consume(rec: RecordedRequest, chunk: bytes) -> None:
        await asyncio.sleep(0)
        seen.append(chunk)

    async def body() -> None:
        delegate = RecordingDelegate(on_data=consume)
        h = ProtocolHarness(delegate, chunk_size=3)
        h.feed(request("POST", "/", body=b"123456789"))
        for _ in range(50):
            if delegate.requests[0].finished:
                break
            await asyncio.sleep(0)
        assert seen == [b"123", b"456", b"789"]
        assert parse_responses(h.take())[0].body == b"123456789"
        h.close()

    run_asyncio(body())


def test_failing_data_received_future_answers_500_and_closes(
    run_asyncio: Runner[None], caplog: pytest.LogCaptureFixture
) -> None:
    async def body() -> None:
        loop = asyncio.get_running_loop()
        gate: asyncio.Future[None] = loop.create_future()
        delegate = RecordingDelegate(on_data=lambda rec, chunk: gate)
        h = ProtocolHarness(delegate)
        h.feed(request("POST", "/", body=b"abc"))
        gate.set_exception(RuntimeError("boom"))
        await h.settle()
        [resp] = parse_responses(h.take())
        assert resp.status == 500
        assert h.closed
        h.close()

    with caplog.at_level(logging.ERROR, logger="squall.application"):
        run_asyncio(body())
    assert any("boom" in str(r.exc_info) for r in caplog.records)


def test_set_max_body_size_in_headers_received_stops_delivery(run_asyncio: Runner[None]) -> None:
    def shrink(rec: RecordedRequest) -> None:
        rec.conn.set_max_body_size(4)

    async def body() -> None:
        delegate = RecordingDelegate(on_headers=shrink)
        h = ProtocolHarness(delegate)
        h.feed(request("POST", "/", body=b"0123456789"))
        [resp] = parse_responses(h.take())
        assert resp.status == 413
        rec = delegate.requests[0]
        assert rec.chunks == []
        assert not rec.finished
        await h.settle()
        assert h.closed
        h.close()

    run_asyncio(body())


# -- write flow control ---------------------------------------------------------------------------


def test_write_waits_while_the_transport_is_paused(run_asyncio: Runner[None]) -> None:
    async def body() -> None:
        delegate = RecordingDelegate(None)
        h = ProtocolHarness(delegate)
        h.feed(request("GET", "/"))
        conn = delegate.requests[0].conn
        start = ResponseStartLine("HTTP/1.1", 200, "OK")
        await conn.write_headers(start, HTTPHeaders({"Content-Length": "6"}))  # not paused
        h.proto.pause_writing()
        waiter = asyncio.ensure_future(conn.write(b"abc"))
        await h.settle()
        assert not waiter.done()
        h.proto.resume_writing()
        await h.settle()
        assert waiter.done() and waiter.exception() is None
        await conn.write(b"def")
        conn.finish()
        assert h.take().endswith(b"\r\n\r\nabcdef")
        h.close()

    run_asyncio(body())


def test_write_waiters_fail_when_the_connection_is_lost(run_asyncio: Runner[None]) -> None:
    async def body() -> None:
        delegate = RecordingDelegate(None)
        h = ProtocolHarness(delegate)
        h.feed(request("GET", "/"))
        conn = delegate.requests[0].conn
        conn.write_headers(ResponseStartLine("HTTP/1.1", 200, "OK"), HTTPHeaders())
        h.proto.pause_writing()
        waiter = asyncio.ensure_future(conn.write(b"abc"))
        h.transport.close()
        await h.settle()
        assert isinstance(waiter.exception(), OSError)
        assert delegate.requests[0].closed
        h.close()

    run_asyncio(body())


# -- decompress_request ---------------------------------------------------------------------------


def test_gzip_request_body_is_inflated_when_decompress_is_on(run_asyncio: Runner[None]) -> None:
    plain = b"squall " * 1000

    async def body() -> None:
        delegate = RecordingDelegate()
        h = ProtocolHarness(delegate, decompress=True)
        h.feed(request("POST", "/", {"Content-Encoding": "gzip"}, gzip.compress(plain)))
        rec = delegate.requests[0]
        assert rec.body == plain
        assert rec.headers is not None
        assert rec.headers.get("X-Consumed-Content-Encoding") == "gzip"
        assert "Content-Encoding" not in rec.headers
        h.close()

    run_asyncio(body())


def test_gzip_body_is_left_alone_without_decompress(run_asyncio: Runner[None]) -> None:
    packed = gzip.compress(b"abc")

    async def body() -> None:
        delegate = RecordingDelegate()
        h = ProtocolHarness(delegate)
        h.feed(request("POST", "/", {"Content-Encoding": "gzip"}, packed))
        assert delegate.requests[0].body == packed
        h.close()

    run_asyncio(body())


def test_gzip_bomb_over_max_body_size_gets_413(run_asyncio: Runner[None]) -> None:
    bomb = gzip.compress(b"\0" * (1024 * 1024))  # about 1 KiB that inflates to 1 MiB

    async def body() -> None:
        delegate = RecordingDelegate()
        h = ProtocolHarness(delegate, decompress=True, max_body_size=64 * 1024)
        h.feed(request("POST", "/", {"Content-Encoding": "gzip"}, bomb))
        [resp] = parse_responses(h.take())
        assert resp.status == 413
        assert sum(map(len, delegate.requests[0].chunks)) <= 64 * 1024
        assert not delegate.requests[0].finished
        await h.settle()
        assert h.closed
        h.close()

    assert len(bomb) < 64 * 1024
    run_asyncio(body())


def test_invalid_gzip_body_gets_400(run_asyncio: Runner[None]) -> None:
    async def body() -> None:
        h = ProtocolHarness(RecordingDelegate(), decompress=True)
        h.feed(request("POST", "/", {"Content-Encoding": "gzip"}, b"not gzip at all"))
        [resp] = parse_responses(h.take())
        assert resp.status == 400
        h.close()

    run_asyncio(body())


def test_gzip_body_survives_a_paused_consumer(run_asyncio: Runner[None]) -> None:
    plain = os.urandom(3000).hex().encode()  # 6000 bytes that do not compress away

    async def body() -> None:
        loop = asyncio.get_running_loop()
        gates: list[asyncio.Future[None]] = []

        def slow(rec: RecordedRequest, chunk: bytes) -> asyncio.Future[None]:
            gates.append(loop.create_future())
            loop.call_soon(gates[-1].set_result, None)
            return gates[-1]

        delegate = RecordingDelegate(on_data=slow)
        h = ProtocolHarness(delegate, decompress=True, chunk_size=1000)
        h.feed(request("POST", "/", {"Content-Encoding": "gzip"}, gzip.compress(plain)))
        for _ in range(200):
            if delegate.requests[0].finished:
                break
            await asyncio.sleep(0)
        assert delegate.requests[0].body == plain
        assert all(len(c) <= 1000 for c in delegate.requests[0].chunks)
        h.close()

    run_asyncio(body())


def test_chunked_gzip_body_is_inflated(run_asyncio: Runner[None]) -> None:
    packed = gzip.compress(b"hello gzip world")

    async def body() -> None:
        delegate = RecordingDelegate()
        h = ProtocolHarness(delegate, decompress=True)
        head = {"Content-Encoding": "gzip", "Transfer-Encoding": "chunked"}
        h.feed(request("POST", "/", head, chunked(packed[:10], packed[10:])))
        assert delegate.requests[0].body == b"hello gzip world"
        h.close()

    run_asyncio(body())


def test_response_before_the_body_is_read_closes_the_connection(
    run_asyncio: Runner[None],
) -> None:
    def early(rec: RecordedRequest) -> None:
        respond(rec, b"early")

    async def body() -> None:
        delegate = RecordingDelegate(None, on_headers=early)
        h = ProtocolHarness(delegate)
        h.feed(request("POST", "/", {"Content-Length": "100"}) + b"partial")
        [resp] = parse_responses(h.take())
        assert resp.body == b"early"
        await h.settle()
        assert h.closed
        h.close()

    run_asyncio(body())


def test_returning_an_unpaused_write_from_data_received_does_not_pause_reading(
    run_asyncio: Runner[None],
) -> None:
    def headers(rec: RecordedRequest) -> None:
        rec.conn.write_headers(
            ResponseStartLine("HTTP/1.1", 200, "OK"), HTTPHeaders({"Content-Length": "9"})
        )

    def finish(rec: RecordedRequest) -> None:
        rec.conn.finish()

    async def body() -> None:
        delegate = RecordingDelegate(
            finish, on_headers=headers, on_data=lambda rec, chunk: rec.conn.write(chunk)
        )
        h = ProtocolHarness(delegate, chunk_size=3)
        h.feed(request("POST", "/", body=b"abcdefghi"))
        # Delivered and answered within the same data_received: nothing to wait for.
        assert delegate.requests[0].finished
        assert h.transport.pause_count == 0
        assert h.take().endswith(b"\r\n\r\nabcdefghi")
        h.close()

    run_asyncio(body())


def test_trailing_whitespace_is_not_part_of_a_header_value(run_asyncio: Runner[None]) -> None:
    async def body() -> None:
        delegate = RecordingDelegate()
        h = ProtocolHarness(delegate)
        h.feed(b"GET / HTTP/1.1\r\nHost: example.com \t\r\nX-A: v \r\nConnection: close \r\n\r\n")
        rec = delegate.requests[0]
        assert rec.headers is not None
        assert (rec.headers["Host"], rec.headers["X-A"]) == ("example.com", "v")
        [resp] = parse_responses(h.take())
        assert resp.status == 200 and resp.closes
        h.close()

    run_asyncio(body())


def test_delegate_may_raise_the_body_limit_before_the_size_check(run_asyncio: Runner[None]) -> None:
    async def body() -> None:
        class Raising(RecordingDelegate):
            def start_request(self, server_conn: object, request_conn: Any) -> Any:
                request_conn.set_max_body_size(1000)
                return super().start_request(server_conn, request_conn)

        delegate = Raising()
        h = ProtocolHarness(delegate, max_body_size=100)
        h.feed(request("PUT", "/", {"Content-Length": "500"}, body=b"x" * 500))
        [seen] = delegate.requests
        assert seen.body == b"x" * 500 and seen.finished
        h.close()

    run_asyncio(body())
