"""Byte accounting: every limit charges a request for its own bytes, wherever a read ends.

The first tests are the regression for issue 13 (a read holding the tail of a large body and
the start of the next head answered 431); then each counter of ``accounting.py``'s header is
driven to its limit in one read and spread over many, and the two hardening limits on chunked
framing (a chunk-size line of at most 4 KiB; a chunk size that promises more than
``max_body_size`` refused as soon as its line is read).
"""

from __future__ import annotations

import gzip
import logging
from typing import Any

import pytest

from squall._http1.framing import MAX_CHUNK_LINE
from tests.conftest import Runner
from tests.helpers.fake_transport import ProtocolHarness
from tests.helpers.raw_http import RecordingDelegate, chunked, parse_responses, request
from tests.server.test_bad_input import rejected

BIG = 300 * 1024  # bytes: more than the old guard's 192 KiB, less than two 256 KiB reads


def feed_in_pieces(h: ProtocolHarness, stream: bytes, cuts: list[int]) -> None:
    """Feed ``stream`` cut at the given positions (one ``data_received`` per piece)."""
    bounds = [0, *sorted(cuts), len(stream)]
    h.feed(*(stream[a:b] for a, b in zip(bounds, bounds[1:], strict=False) if b > a))


def statuses(h: ProtocolHarness) -> list[int]:
    return [r.status for r in parse_responses(h.take())]


# -- issue 13: a head is charged only for its own bytes ------------------------------------------


@pytest.mark.parametrize("framing", ["length", "chunked"])
def test_a_read_with_a_large_body_tail_and_the_next_heads_start_is_served(
    run_asyncio: Runner[None], framing: str
) -> None:
    body_bytes = b"b" * BIG
    if framing == "length":
        first = request("POST", "/a", body=body_bytes)
    else:
        first = request("POST", "/a", {"Transfer-Encoding": "chunked"}, chunked(body_bytes))
    second = request("GET", "/b", {"X-Pad": "p" * 100})
    stream = first + second

    async def body() -> None:
        delegate = RecordingDelegate()
        h = ProtocolHarness(delegate)
        # Read 1: a little of the first request; read 2: the rest of its body (> 192 KiB)
        # and 20 bytes of the next head; read 3: the rest of that head.
        feed_in_pieces(h, stream, [1000, len(first) + 20])
        assert statuses(h) == [200, 200]
        assert delegate.paths == ["/a", "/b"]
        assert delegate.requests[0].body == body_bytes
        assert not h.closed
        h.close()

    run_asyncio(body())


def test_a_head_that_begins_inside_a_read_is_charged_from_its_first_byte(
    run_asyncio: Runner[None],
) -> None:
    # With max_header_size=4096 the open-head bound is 2 * 4096 + 64 KiB = 73,728 bytes: the
    # first read holds 72,000 bytes of body and 3,000 of an open head, the second the rest.
    first = request("POST", "/a", body=b"x" * 72_000)
    second = request("GET", "/b", {"X-Pad": "p" * 3000})

    async def body() -> None:
        delegate = RecordingDelegate()
        h = ProtocolHarness(delegate, max_header_size=4096)
        feed_in_pieces(h, first + second, [len(first) + 3000])
        assert statuses(h) == [200, 200]
        h.close()

    run_asyncio(body())


@pytest.mark.parametrize("where", ["alone", "after-a-body", "after-a-chunked-body"])
def test_a_header_line_that_never_ends_is_431_wherever_it_begins(
    run_asyncio: Runner[None], where: str
) -> None:
    before = {
        "alone": b"",
        "after-a-body": request("POST", "/a", body=b"x" * 50_000),
        "after-a-chunked-body": request(
            "POST", "/a", {"Transfer-Encoding": "chunked"}, chunked(b"x" * 50_000)
        ),
    }[where]
    endless = b"GET /b HTTP/1.1\r\nHost: a\r\nX-Endless: " + b"v" * 200_000

    async def body() -> None:
        delegate = RecordingDelegate()
        h = ProtocolHarness(delegate, max_header_size=4096)
        stream = before + endless
        for start in range(0, len(stream), 65536):
            h.feed(stream[start : start + 65536])
            if h.closed:
                break
        got = statuses(h)
        assert got == ([200] if before else []) + [431]
        await h.settle()
        assert h.closed
        h.close()

    run_asyncio(body())


# -- trailers ------------------------------------------------------------------------------------

TRAILED = (
    b"POST /t HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"5\r\nhello\r\n0\r\nX-Trailer: yes\r\nContent-Encoding: gzip\r\nExpect: 100-continue\r\n\r\n"
)


@pytest.mark.parametrize("cut", [0, 60, len(TRAILED) - 5])
def test_trailer_fields_never_reach_the_request_headers(
    run_asyncio: Runner[None], cut: int
) -> None:
    async def body() -> None:
        delegate = RecordingDelegate()
        h = ProtocolHarness(delegate, decompress=True)
        feed_in_pieces(h, TRAILED + request("GET", "/next"), [cut] if cut else [])
        headers = delegate.requests[0].headers
        assert headers is not None
        assert sorted(headers.keys()) == ["Host", "Transfer-Encoding"]
        assert delegate.requests[0].body == b"hello"  # Content-Encoding: gzip came too late
        assert [r.body for r in parse_responses(h.take())] == [b"hello", b"/next"]
        h.close()

    run_asyncio(body())


def test_a_trailer_section_over_the_limit_is_431(run_asyncio: Runner[None]) -> None:
    trailers = b"".join(b"X-T%d: %s\r\n" % (i, b"v" * 100) for i in range(60))  # > 4 KiB

    async def body() -> None:
        delegate = RecordingDelegate()
        h = ProtocolHarness(delegate, max_header_size=4096)
        h.feed(
            request("POST", "/", {"Transfer-Encoding": "chunked"}, chunked(b"x", trailers=trailers))
        )
        assert statuses(h) == [431]
        await h.settle()
        assert h.closed
        h.close()

    run_asyncio(body())


# -- chunk-size lines ----------------------------------------------------------------------------

CHUNKED_HEAD = b"POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"


@pytest.mark.parametrize("piece", [None, 1000, 65536])
def test_a_chunk_extension_over_4_kib_is_400_and_closes(
    run_asyncio: Runner[None], caplog: pytest.LogCaptureFixture, piece: int | None
) -> None:
    stream = CHUNKED_HEAD + b"5;ext=" + b"e" * (1024 * 1024) + b"\r\nhello\r\n0\r\n\r\n"

    async def body() -> None:
        delegate = RecordingDelegate()
        h = ProtocolHarness(delegate)
        step = piece or len(stream)
        fed = 0
        while fed < len(stream) and not h.closed and not h.proto._suspended:
            h.feed(stream[fed : fed + step])
            fed += step
        assert fed <= len(CHUNKED_HEAD) + MAX_CHUNK_LINE + step  # refused as soon as seen
        [resp] = parse_responses(h.take())
        assert resp.status == 400
        assert b"chunk extensions too long" in resp.body
        # Refused before dispatch (one read) or once dispatched: never a byte of its body.
        assert all(r.chunks == [] and not r.finished for r in delegate.requests)
        await h.settle()
        assert h.closed
        h.close()

    caplog.set_level(logging.INFO, logger="squall.general")
    run_asyncio(body())
    [line] = [r for r in caplog.records if r.getMessage().startswith("Malformed HTTP message")]
    assert line.levelno == logging.INFO


def test_chunk_extensions_of_exactly_4_kib_are_accepted(run_asyncio: Runner[None]) -> None:
    size_line = b"5;" + b"e" * (MAX_CHUNK_LINE - 2)
    assert len(size_line) == MAX_CHUNK_LINE

    async def body() -> None:
        for step in (len(size_line) * 2, 7):  # whole, and in 7-byte reads
            delegate = RecordingDelegate()
            h = ProtocolHarness(delegate)
            stream = CHUNKED_HEAD + size_line + b"\r\nhello\r\n0\r\n\r\n"
            h.feed(*(stream[i : i + step] for i in range(0, len(stream), step)))
            assert [r.body for r in parse_responses(h.take())] == [b"hello"]
            h.close()

    run_asyncio(body())


@pytest.mark.parametrize("size", [b"fffffffffffffff", b"6400001", b"000000000000000000006400001"])
def test_a_chunk_size_over_max_body_size_is_413_before_its_data(
    run_asyncio: Runner[None], size: bytes
) -> None:
    async def body() -> None:
        delegate = RecordingDelegate(on_finish=None)
        h = ProtocolHarness(delegate)  # max_body_size 100 MiB = 0x6400000
        h.feed(CHUNKED_HEAD + size + b"\r\n")  # the size line alone, no data yet
        [resp] = parse_responses(h.take())
        assert resp.status == 413
        assert delegate.requests[0].chunks == []
        await h.settle()
        assert h.closed
        h.close()

    run_asyncio(body())


def test_chunk_sizes_adding_up_past_the_limit_are_413_at_the_line_that_crosses_it(
    run_asyncio: Runner[None],
) -> None:
    async def body() -> None:
        delegate = RecordingDelegate(on_finish=None)
        h = ProtocolHarness(delegate, max_body_size=100)
        h.feed(CHUNKED_HEAD + b"40\r\n" + b"a" * 64 + b"\r\n")
        assert h.take() == b""  # 64 bytes: within the limit
        h.feed(b"30\r\n")  # 64 + 48 > 100
        assert statuses(h) == [413]
        assert delegate.requests[0].body == b"a" * 64
        h.close()

    run_asyncio(body())


def test_a_queued_request_promising_too_much_is_413_when_its_turn_comes(
    run_asyncio: Runner[None],
) -> None:
    async def body() -> None:
        delegate = RecordingDelegate()
        h = ProtocolHarness(delegate, max_body_size=1000)
        h.feed(request("GET", "/first") + CHUNKED_HEAD + b"fffff\r\n")
        assert statuses(h) == [200, 413]
        assert delegate.paths == ["/first", "/up"]
        h.close()

    run_asyncio(body())


def test_a_delegate_raising_the_limit_accepts_a_large_chunk(run_asyncio: Runner[None]) -> None:
    async def body() -> None:
        def raise_limit(rec: Any) -> None:
            rec.conn.set_max_body_size(1 << 20)

        delegate = RecordingDelegate(on_headers=raise_limit)
        h = ProtocolHarness(delegate, max_body_size=100)
        h.feed(CHUNKED_HEAD + b"%x\r\n" % 5000 + b"z" * 5000 + b"\r\n0\r\n\r\n")
        assert [r.body for r in parse_responses(h.take())] == [b"z" * 5000]
        h.close()

    run_asyncio(body())


def test_a_bad_chunk_line_before_an_upgrade_request_in_the_same_read_is_answered(
    run_asyncio: Runner[None],
) -> None:
    upgrade = request("GET", "/ws", {"Connection": "upgrade", "Upgrade": "websocket"})

    async def body() -> None:
        delegate = RecordingDelegate()
        h = ProtocolHarness(delegate)
        h.feed(CHUNKED_HEAD + b"5;x=" + b"e" * 5000 + b"\r\nhello\r\n0\r\n\r\n" + upgrade)
        assert statuses(h) == [400]
        await h.settle()
        assert h.closed
        assert delegate.paths == []
        h.close()

    run_asyncio(body())


# -- gzip ---------------------------------------------------------------------------------------

GZ = {"Content-Encoding": "gzip"}


def test_a_gzip_body_of_several_members_is_inflated_whole(run_asyncio: Runner[None]) -> None:
    data = gzip.compress(b"first ") + gzip.compress(b"second")

    async def body() -> None:
        for cut in (0, 5, len(data) // 2 + 30):
            delegate = RecordingDelegate()
            h = ProtocolHarness(delegate, decompress=True)
            stream = request("POST", "/", GZ, data)
            feed_in_pieces(h, stream, [len(stream) - len(data) + cut] if cut else [])
            assert delegate.requests[0].body == b"first second"
            h.close()

    run_asyncio(body())


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        # "invalid gzip data": the words Tornado logs (and its tests look for) for both.
        (gzip.compress(b"hello") + b"garbage", b"invalid gzip data (Error"),
        (gzip.compress(b"hello" * 100)[:-10], b"invalid gzip data (the body ends inside a member)"),
    ],
    ids=["trailing-garbage", "truncated"],
)
def test_a_gzip_body_that_is_not_whole_gzip_is_400(
    run_asyncio: Runner[None], data: bytes, reason: bytes
) -> None:
    async def body() -> None:
        delegate = RecordingDelegate()
        h = ProtocolHarness(delegate, decompress=True)
        h.feed(request("POST", "/", GZ, data))
        [resp] = parse_responses(h.take())
        assert resp.status == 400
        assert reason in resp.body
        assert not delegate.requests[0].finished
        await h.settle()
        assert h.closed
        h.close()

    run_asyncio(body())


def test_gzip_wire_bytes_over_the_limit_are_413_even_if_they_inflate_small(
    run_asyncio: Runner[None],
) -> None:
    # A small member followed by another: 2 KiB on the wire, under 100 bytes inflated.
    data = b"".join(gzip.compress(b"x") for _ in range(100))

    async def body() -> None:
        delegate = RecordingDelegate()
        h = ProtocolHarness(delegate, decompress=True, max_body_size=1000)
        h.feed(request("POST", "/", {**GZ, "Transfer-Encoding": "chunked"}, chunked(data)))
        assert statuses(h) == [413]
        h.close()

    run_asyncio(body())


# -- over real sockets: the bad-input contract ---------------------------------------------------


def test_a_long_chunk_extension_over_a_socket_is_400_logged_and_closed(
    run: Runner[Any], caplog: pytest.LogCaptureFixture
) -> None:
    raw = CHUNKED_HEAD + b"5;x=" + b"e" * 100_000 + b"\r\nhello\r\n0\r\n\r\n"
    resp, _ = rejected(run, caplog, raw, 400)
    assert b"chunk extensions too long" in resp.body


def test_an_impossible_chunk_size_over_a_socket_is_413_logged_and_closed(
    run: Runner[Any], caplog: pytest.LogCaptureFixture
) -> None:
    rejected(run, caplog, CHUNKED_HEAD + b"fffffffffffffff\r\n", 413)
