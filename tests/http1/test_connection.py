"""Connection-level behaviour of the HTTP/1.1 protocol: proxies, upgrades, closing, EOF, limits."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from squall._http1.flow import StreamClosedError
from squall.httputil import HTTPHeaders, HTTPOutputError, ResponseStartLine
from tests.conftest import Runner
from tests.helpers.fake_transport import ProtocolHarness
from tests.helpers.raw_http import (
    RecordedRequest,
    RecordingDelegate,
    parse_responses,
    request,
    respond,
)

# -- xheaders and protocol= ----------------------------------------------------------------------


def _context_of(rec: RecordedRequest) -> tuple[str, str]:
    context: Any = getattr(rec.conn, "context")  # noqa: B009 - HTTPConnection has no context
    return context.remote_ip, context.protocol


def test_xheaders_set_remote_ip_and_protocol_for_one_request_only(
    run_asyncio: Runner[None],
) -> None:
    seen: list[tuple[str, str]] = []

    def answer(rec: RecordedRequest) -> None:
        seen.append(_context_of(rec))
        respond(rec)

    async def body() -> None:
        h = ProtocolHarness(RecordingDelegate(answer), xheaders=True)
        proxied = {"X-Real-Ip": "203.0.113.7", "X-Scheme": "https"}
        h.feed(request("GET", "/1", proxied) + request("GET", "/2"))
        h.feed(request("GET", "/3", {"X-Forwarded-For": "198.51.100.1, 10.0.0.1"}))
        h.feed(request("GET", "/4", {"X-Forwarded-Proto": "http, https"}))
        h.close()

    run_asyncio(body())
    assert seen == [
        ("203.0.113.7", "https"),
        ("127.0.0.1", "http"),  # reset for the next request on the same connection
        ("10.0.0.1", "http"),
        ("127.0.0.1", "https"),
    ]


def test_xheaders_skip_trusted_downstream_proxies(run_asyncio: Runner[None]) -> None:
    seen: list[tuple[str, str]] = []

    def answer(rec: RecordedRequest) -> None:
        seen.append(_context_of(rec))
        respond(rec)

    async def body() -> None:
        h = ProtocolHarness(
            RecordingDelegate(answer),
            xheaders=True,
            trusted_downstream=frozenset({"10.0.0.1", "10.0.0.2"}),
        )
        h.feed(request("GET", "/", {"X-Forwarded-For": "198.51.100.1, 10.0.0.2, 10.0.0.1"}))
        h.close()

    run_asyncio(body())
    assert seen == [("198.51.100.1", "http")]


def test_xheaders_ignore_invalid_ips_and_schemes(run_asyncio: Runner[None]) -> None:
    seen: list[tuple[str, str]] = []

    def answer(rec: RecordedRequest) -> None:
        seen.append(_context_of(rec))
        respond(rec)

    async def body() -> None:
        h = ProtocolHarness(RecordingDelegate(answer), xheaders=True)
        h.feed(request("GET", "/", {"X-Real-Ip": "not-an-ip", "X-Scheme": "gopher"}))
        h.close()

    run_asyncio(body())
    assert seen == [("127.0.0.1", "http")]


def test_xheaders_are_ignored_when_off(run_asyncio: Runner[None]) -> None:
    seen: list[tuple[str, str]] = []

    def answer(rec: RecordedRequest) -> None:
        seen.append(_context_of(rec))
        respond(rec)

    async def body() -> None:
        h = ProtocolHarness(RecordingDelegate(answer))
        h.feed(request("GET", "/", {"X-Real-Ip": "203.0.113.7", "X-Scheme": "https"}))
        h.close()

    run_asyncio(body())
    assert seen == [("127.0.0.1", "http")]


def test_protocol_override_and_tls_set_the_request_protocol(run_asyncio: Runner[None]) -> None:
    seen: list[tuple[str, str]] = []

    def answer(rec: RecordedRequest) -> None:
        seen.append(_context_of(rec))
        respond(rec)

    async def body() -> None:
        for params in ({"protocol": "https"}, {"tls": True}, {}):
            h = ProtocolHarness(RecordingDelegate(answer), **params)
            h.feed(request("GET", "/"))
            h.close()

    run_asyncio(body())
    assert [p for _, p in seen] == ["https", "https", "http"]


# -- upgrade ---------------------------------------------------------------------------------------


class TailProtocol(asyncio.Protocol):
    """Records what an upgraded connection hands over."""

    def __init__(self) -> None:
        self.transport: asyncio.BaseTransport | None = None
        self.received: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.received.append(data)


UPGRADE_HEAD = {"Connection": "Upgrade", "Upgrade": "websocket"}


def _upgrading(new: TailProtocol) -> RecordingDelegate:
    def answer(rec: RecordedRequest) -> None:
        if rec.path != "/ws":
            respond(rec)
            return
        rec.conn.write_headers(
            ResponseStartLine("HTTP/1.1", 101, "Switching Protocols"),
            HTTPHeaders({"Upgrade": "websocket", "Connection": "Upgrade"}),
        )
        rec.conn.upgrade(new)

    return RecordingDelegate(answer)


def test_upgrade_hands_the_transport_and_the_bytes_after_the_head_to_the_new_protocol(
    run_asyncio: Runner[None],
) -> None:
    async def body() -> None:
        new = TailProtocol()
        h = ProtocolHarness(_upgrading(new))
        h.feed(request("GET", "/ws", UPGRADE_HEAD) + b"\x81\x05hello")
        out = h.take()
        assert out.startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
        assert b"Transfer-Encoding" not in out and b"Connection: close" not in out
        assert new.transport is h.transport
        assert h.transport.protocol is new
        assert new.received == [b"\x81\x05hello"]
        assert not h.transport.reading_paused
        # Later bytes go to the new protocol through the transport, not the HTTP parser.
        assert not h.closed
        h.close()

    run_asyncio(body())


def test_bytes_arriving_after_an_upgrade_head_but_before_the_101_are_handed_over(
    run_asyncio: Runner[None],
) -> None:
    async def body() -> None:
        new = TailProtocol()
        pending: list[RecordedRequest] = []
        delegate = RecordingDelegate(pending.append)
        h = ProtocolHarness(delegate)
        h.feed(request("GET", "/ws", UPGRADE_HEAD) + b"one")
        assert h.transport.reading_paused
        h.feed(b"two")  # already in flight when reading paused
        rec = pending[0]
        rec.conn.write_headers(
            ResponseStartLine("HTTP/1.1", 101, "Switching Protocols"), HTTPHeaders()
        )
        rec.conn.upgrade(new)
        assert b"".join(new.received) == b"onetwo"
        assert not h.transport.reading_paused
        h.close()

    run_asyncio(body())


def test_upgrade_request_answered_normally_keeps_parsing_the_pipeline(
    run_asyncio: Runner[None],
) -> None:
    async def body() -> None:
        delegate = RecordingDelegate()
        h = ProtocolHarness(delegate)
        h.feed(request("GET", "/maybe-ws", UPGRADE_HEAD) + request("GET", "/next"))
        await h.settle()
        assert delegate.paths == ["/maybe-ws", "/next"]
        assert [r.body for r in parse_responses(h.take())] == [b"/maybe-ws", b"/next"]
        assert not h.closed
        assert not h.transport.reading_paused
        h.close()

    run_asyncio(body())


def test_pipelined_request_before_an_upgrade_does_not_steal_its_bytes(
    run_asyncio: Runner[None],
) -> None:
    async def body() -> None:
        new = TailProtocol()
        delegate = _upgrading(new)
        h = ProtocolHarness(delegate)
        h.feed(request("GET", "/first") + request("GET", "/ws", UPGRADE_HEAD) + b"FRAMES")
        await h.settle()
        assert delegate.paths == ["/first", "/ws"]
        responses = parse_responses(h.take())
        assert [r.status for r in responses] == [200, 101]
        assert b"".join(new.received) == b"FRAMES"
        h.close()

    run_asyncio(body())


def test_upgrade_is_refused_for_a_request_that_did_not_ask(run_asyncio: Runner[None]) -> None:
    errors: list[Exception] = []

    def answer(rec: RecordedRequest) -> None:
        try:
            rec.conn.upgrade(TailProtocol())
        except RuntimeError as exc:
            errors.append(exc)
        respond(rec)

    async def body() -> None:
        h = ProtocolHarness(RecordingDelegate(answer))
        h.feed(request("GET", "/"))
        assert parse_responses(h.take())[0].status == 200
        h.close()

    run_asyncio(body())
    assert len(errors) == 1


# -- request targets and closing -------------------------------------------------------------------


# -- the request version ----------------------------------------------------------------------
# The protocol reads "HTTP/1.1" from the request line when a request starts at the first byte of
# a read, and asks the parser otherwise; each case below must see the version that was sent.

_V10 = request("GET", "/a", {"Connection": "keep-alive"}, version="HTTP/1.0")
_V11 = request("GET", "/b")
_POST11 = request("POST", "/c", body=b"x" * 5)
_LOOKALIKE_BODY = b"GET /a HTTP/1.1\r\n"
_LOOKALIKE = request("POST", "/c", body=_LOOKALIKE_BODY)


@pytest.mark.parametrize(
    ("reads", "versions"),
    [
        ([_V11], ["HTTP/1.1"]),
        ([_V10], ["HTTP/1.0"]),
        ([_V11 + _V10], ["HTTP/1.1", "HTTP/1.0"]),  # pipelined: only the first starts the read
        ([request("GET", "/a") + _V10], ["HTTP/1.1", "HTTP/1.0"]),  # the same method and target
        ([_V10 + _V11 + _V10], ["HTTP/1.0", "HTTP/1.1", "HTTP/1.0"]),
        ([_V10[:7], _V10[7:]], ["HTTP/1.0"]),  # the request line split over reads
        ([_V11[:20], _V11[20:]], ["HTTP/1.1"]),  # the head split after the request line
        ([_POST11[:-2], _POST11[-2:] + _V10], ["HTTP/1.1", "HTTP/1.0"]),  # read begins in a body
        ([b"\r\n" + _V10], ["HTTP/1.0"]),  # an empty line before the request
        (  # a read that begins in a body that looks like a request line
            [_LOOKALIKE[: -len(_LOOKALIKE_BODY)], _LOOKALIKE[-len(_LOOKALIKE_BODY) :] + _V10],
            ["HTTP/1.1", "HTTP/1.0"],
        ),
        ([request("GET", "/HTTP/1.1", version="HTTP/1.0")], ["HTTP/1.0"]),
    ],
    ids=[
        "1.1",
        "1.0",
        "1.1-then-1.0",
        "same-line-but-version",
        "1.0-1.1-1.0",
        "split-line",
        "split-head",
        "after-body",
        "leading-crlf",
        "body-looks-like-a-request-line",
        "target-mentions-1.1",
    ],
)
def test_each_request_gets_the_version_it_was_sent_with(
    run_asyncio: Runner[None], reads: list[bytes], versions: list[str]
) -> None:
    async def body() -> None:
        delegate = RecordingDelegate()
        h = ProtocolHarness(delegate)
        h.feed(*reads)
        await h.settle()
        got = [rec.start_line.version for rec in delegate.requests if rec.start_line]
        assert got == versions
        # The read is not kept once it has been parsed.
        assert h.proto._rec.chunk is None
        assert all(getattr(rec.conn, "line_chunk", None) is None for rec in delegate.requests)
        h.close()

    run_asyncio(body())


def test_absolute_form_target_is_accepted(run_asyncio: Runner[None]) -> None:
    async def body() -> None:
        delegate = RecordingDelegate()
        h = ProtocolHarness(delegate)
        h.feed(request("GET", "http://example.com/a?b=1", host="example.com"))
        assert delegate.paths == ["http://example.com/a?b=1"]
        assert parse_responses(h.take())[0].status == 200
        h.close()

    run_asyncio(body())


def test_bytes_after_a_connection_close_request_are_discarded(run_asyncio: Runner[None]) -> None:
    async def body() -> None:
        delegate = RecordingDelegate()
        h = ProtocolHarness(delegate)
        h.feed(
            request("GET", "/last", {"Connection": "close"})
            + request("GET", "/ignored")
            + b"garbage that is never parsed \x00\x01"
        )
        h.feed(request("GET", "/late"))
        await h.settle()
        assert delegate.paths == ["/last"]
        [resp] = parse_responses(h.take())
        assert resp.body == b"/last" and resp.closes
        assert h.closed
        h.close()

    run_asyncio(body())


def test_a_bad_request_after_good_ones_is_answered_in_order_then_closes(
    run_asyncio: Runner[None],
) -> None:
    async def body() -> None:
        delegate = RecordingDelegate()
        h = ProtocolHarness(delegate)
        h.feed(request("GET", "/a") + b"NOT HTTP AT ALL\r\n\r\n" + request("GET", "/hidden"))
        await h.settle()
        assert delegate.paths == ["/a"]
        responses = parse_responses(h.take())
        assert [r.status for r in responses] == [200, 400]
        assert responses[1].closes
        assert h.closed
        h.close()

    run_asyncio(body())


def test_a_bad_request_behind_a_slow_response_waits_its_turn(run_asyncio: Runner[None]) -> None:
    async def body() -> None:
        pending: list[RecordedRequest] = []
        delegate = RecordingDelegate(pending.append)
        h = ProtocolHarness(delegate)
        h.feed(request("GET", "/slow") + b"BROKEN\r\n\r\n")
        h.feed(request("GET", "/after-the-error"))
        assert h.take() == b""
        respond(pending[0], b"slow")
        await h.settle()
        responses = parse_responses(h.take())
        assert [r.status for r in responses] == [200, 400]
        assert delegate.paths == ["/slow"]
        assert h.closed
        h.close()

    run_asyncio(body())


def test_eof_while_a_response_is_pending_closes_and_tells_the_delegate(
    run_asyncio: Runner[None],
) -> None:
    async def body() -> None:
        pending: list[RecordedRequest] = []
        delegate = RecordingDelegate(pending.append)
        h = ProtocolHarness(delegate)
        h.feed(request("GET", "/1") + request("GET", "/2"))
        assert [r.path for r in pending] == ["/1"]
        h.eof()  # the client gave up (a half-close is how most clients close)
        await h.settle()
        assert h.closed
        assert pending[0].closed  # on_connection_close reached the delegate
        assert [r.path for r in delegate.requests] == ["/1"]  # /2 is never served
        h.close()

    run_asyncio(body())


def test_eof_after_requests_answered_at_once_closes_after_them(run_asyncio: Runner[None]) -> None:
    async def body() -> None:
        delegate = RecordingDelegate(lambda r: respond(r, r.path.encode()))
        h = ProtocolHarness(delegate)
        h.feed(request("GET", "/1") + request("GET", "/2"))
        h.eof()
        await h.settle()
        assert [r.body for r in parse_responses(h.take())] == [b"/1", b"/2"]
        assert h.closed
        h.close()

    run_asyncio(body())


def test_eof_in_the_middle_of_a_head_closes_at_once(run_asyncio: Runner[None]) -> None:
    async def body() -> None:
        delegate = RecordingDelegate()
        h = ProtocolHarness(delegate)
        h.feed(b"GET / HTTP/1.1\r\nHo")
        h.eof()
        await h.settle()
        assert h.closed
        assert delegate.requests == []
        assert h.take() == b""
        h.close()

    run_asyncio(body())


def test_eof_in_the_middle_of_a_body_tells_the_delegate(run_asyncio: Runner[None]) -> None:
    async def body() -> None:
        delegate = RecordingDelegate()
        h = ProtocolHarness(delegate)
        h.feed(request("POST", "/", {"Content-Length": "10"}) + b"abc")
        h.eof()
        await h.settle()
        assert h.closed
        rec = delegate.requests[0]
        assert rec.closed and not rec.finished
        h.close()

    run_asyncio(body())


def test_connection_lost_mid_response_calls_the_close_callback(run_asyncio: Runner[None]) -> None:
    calls: list[str] = []

    async def body() -> None:
        delegate = RecordingDelegate(None)
        h = ProtocolHarness(delegate)
        h.feed(request("GET", "/"))
        rec = delegate.requests[0]
        rec.conn.set_close_callback(lambda: calls.append("closed"))
        h.transport.close()
        await h.settle()
        assert rec.closed
        assert delegate.closed_connections == [h.proto]
        h.close()

    run_asyncio(body())
    assert calls == ["closed"]


def test_delegate_exception_in_finish_answers_500_and_is_logged(
    run_asyncio: Runner[None], caplog: pytest.LogCaptureFixture
) -> None:
    def broken(rec: RecordedRequest) -> None:
        raise ValueError("handler bug")

    async def body() -> None:
        h = ProtocolHarness(RecordingDelegate(broken))
        h.feed(request("GET", "/x") + request("GET", "/y"))
        await h.settle()
        [resp] = parse_responses(h.take())
        assert resp.status == 500 and resp.closes
        assert h.closed
        h.close()

    with caplog.at_level(logging.ERROR, logger="squall.application"):
        run_asyncio(body())
    assert [r.getMessage() for r in caplog.records] == ["Uncaught exception in GET /x (finish)"]


def test_too_many_pipelined_requests_pause_reading(run_asyncio: Runner[None]) -> None:
    async def body() -> None:
        pending: list[RecordedRequest] = []
        h = ProtocolHarness(RecordingDelegate(pending.append), max_pipelined=2)
        h.feed(b"".join(request("GET", f"/{i}") for i in range(5)))
        assert h.transport.reading_paused
        while pending:
            respond(pending.pop())
            await h.settle()
        assert not h.transport.reading_paused
        assert len(parse_responses(h.take())) == 5
        h.close()

    run_asyncio(body())


def test_drain_shutdown_finishes_the_request_in_flight_with_connection_close(
    run_asyncio: Runner[None],
) -> None:
    async def body() -> None:
        pending: list[RecordedRequest] = []
        h = ProtocolHarness(RecordingDelegate(pending.append))
        h.feed(request("GET", "/"))
        h.proto.shutdown()
        assert not h.closed
        respond(pending[0])
        await h.settle()
        [resp] = parse_responses(h.take())
        assert resp.closes
        assert h.closed
        idle = ProtocolHarness(RecordingDelegate())
        idle.proto.shutdown()
        await idle.settle()
        assert idle.closed
        h.close()
        idle.close()

    run_asyncio(body())


def test_request_failed_by_the_protocol_tells_the_delegate_and_ignores_late_writes(
    run_asyncio: Runner[None],
) -> None:
    callbacks: list[str] = []

    def watch(rec: RecordedRequest) -> None:
        rec.conn.set_close_callback(lambda: callbacks.append("closed"))

    async def body() -> None:
        delegate = RecordingDelegate(None, on_headers=watch)
        h = ProtocolHarness(delegate, max_body_size=8)
        head = request("POST", "/", {"Transfer-Encoding": "chunked"})
        h.feed(head + b"5\r\nhello\r\n")
        rec = delegate.requests[0]
        assert rec.chunks == [b"hello"] and not rec.closed
        h.feed(b"5\r\nworld\r\n")  # 10 bytes > 8: the protocol answers 413 itself
        [resp] = parse_responses(h.take())
        assert resp.status == 413
        await h.settle()
        assert rec.closed and not rec.finished
        assert callbacks == ["closed"]
        # The application, unaware, answers later: nothing is written, nothing raises.
        respond(rec, b"too late")
        rec.conn.finish()
        assert h.take() == b""
        assert h.closed
        h.close()

    run_asyncio(body())


def test_finish_after_a_content_length_error_is_quiet(run_asyncio: Runner[None]) -> None:
    async def body() -> None:
        delegate = RecordingDelegate(None)
        h = ProtocolHarness(delegate)
        h.feed(request("GET", "/"))
        conn = delegate.requests[0].conn
        conn.write_headers(
            ResponseStartLine("HTTP/1.1", 200, "OK"), HTTPHeaders({"Content-Length": "1"})
        )
        with pytest.raises(HTTPOutputError, match="more data than Content-Length"):
            conn.write(b"too long")
        h.take()
        late = conn.write(b"x")  # dropped: the exchange is over
        with pytest.raises(StreamClosedError):
            await late
        conn.finish()  # e.g. an error handler tidying up: no "finish() called twice"
        assert h.take() == b""
        await h.settle()
        assert h.closed
        h.close()

    run_asyncio(body())


H2C = {"Connection": "Upgrade, HTTP2-Settings", "Upgrade": "h2c", "HTTP2-Settings": "AAMAAABk"}


def test_upgrade_request_with_a_body_is_served_as_a_normal_request(
    run_asyncio: Runner[None],
) -> None:
    async def body() -> None:
        delegate = RecordingDelegate()
        h = ProtocolHarness(delegate)
        h.feed(request("POST", "/h2c", H2C, b"payload") + request("GET", "/next"))
        await h.settle()
        assert [(r.path, r.body) for r in delegate.requests] == [
            ("/h2c", b"payload"),
            ("/next", b""),
        ]
        assert [r.body for r in parse_responses(h.take())] == [b"payload", b"/next"]
        assert not h.closed
        h.close()

    run_asyncio(body())


def test_upgrade_request_with_a_chunked_body_arriving_later_is_served(
    run_asyncio: Runner[None],
) -> None:
    async def body() -> None:
        delegate = RecordingDelegate()
        h = ProtocolHarness(delegate)
        head = request("POST", "/h2c", {**H2C, "Transfer-Encoding": "chunked"})
        h.feed(head, b"3\r\nabc\r\n", b"2\r\nde\r\n0\r\n\r\n" + request("GET", "/next"))
        await h.settle()
        assert [(r.path, r.body) for r in delegate.requests] == [("/h2c", b"abcde"), ("/next", b"")]
        assert [r.status for r in parse_responses(h.take())] == [200, 200]
        h.close()

    run_asyncio(body())
