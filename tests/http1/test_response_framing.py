"""Response framing of the HTTP/1.1 protocol: exact bytes out for bytes in (fake transport).

Covers pipelining order and write batching, HEAD/204/304, chunked output, Content-Length
misuse, and the keep-alive rules.
"""

from __future__ import annotations

from typing import Any

import pytest

from squall.httputil import HTTPHeaders, HTTPOutputError, ResponseStartLine
from tests.conftest import Runner
from tests.helpers.fake_transport import ProtocolHarness
from tests.helpers.raw_http import RecordedRequest, RecordingDelegate, request, respond

DATE_LINE = b"Date: Thu, 01 Jan 2026 00:00:00 GMT\r\n"
SERVER_LINE = b"Server: squall/test\r\n"


def ok(body: bytes, *extra: bytes, status: bytes = b"200 OK") -> bytes:
    """The exact bytes of ``respond(rec, body)`` plus extra header lines after Server."""
    return (
        b"HTTP/1.1 "
        + status
        + b"\r\nContent-Length: %d\r\n" % len(body)
        + DATE_LINE
        + SERVER_LINE
        + b"".join(extra)
        + b"\r\n"
        + body
    )


# -- pipelining --------------------------------------------------------------------------------


def test_pipelined_requests_are_answered_in_order_in_one_transport_write(
    run_asyncio: Runner[None],
) -> None:
    async def body() -> None:
        h = ProtocolHarness(RecordingDelegate())
        h.feed(request("GET", "/a") + request("GET", "/b") + request("GET", "/c"))
        assert h.writes == [ok(b"/a") + ok(b"/b") + ok(b"/c")]
        assert not h.closed
        h.close()

    run_asyncio(body())


def test_pipelined_responses_stay_in_order_when_the_first_answers_later(
    run_asyncio: Runner[None],
) -> None:
    pending: list[RecordedRequest] = []

    def answer(rec: RecordedRequest) -> None:
        if rec.path == "/slow":
            pending.append(rec)
        else:
            respond(rec, rec.path.encode())

    async def body() -> None:
        delegate = RecordingDelegate(answer)
        h = ProtocolHarness(delegate)
        h.feed(request("GET", "/slow") + request("GET", "/b"))
        # /b is queued, not dispatched, while /slow is in progress.
        assert delegate.paths == ["/slow"]
        assert h.take() == b""
        respond(pending[0], b"slow")
        assert h.take() == ok(b"slow") + ok(b"/b")
        assert delegate.paths == ["/slow", "/b"]
        h.close()

    run_asyncio(body())


def test_requests_split_across_reads_are_reassembled(run_asyncio: Runner[None]) -> None:
    async def body() -> None:
        delegate = RecordingDelegate()
        h = ProtocolHarness(delegate)
        raw = request("POST", "/p", body=b"hello") + request("GET", "/q")
        h.feed(*(raw[i : i + 1] for i in range(len(raw))))
        assert h.take() == ok(b"hello") + ok(b"/q")
        assert [r.body for r in delegate.requests] == [b"hello", b""]
        h.close()

    run_asyncio(body())


# -- no-body responses ---------------------------------------------------------------------------


def test_head_response_keeps_content_length_but_sends_no_body(run_asyncio: Runner[None]) -> None:
    def answer(rec: RecordedRequest) -> None:
        rec.conn.write_headers(
            ResponseStartLine("HTTP/1.1", 200, "OK"),
            HTTPHeaders({"Content-Length": "5"}),
            b"hello",
        )
        rec.conn.write(b"more")
        rec.conn.finish()

    async def body() -> None:
        h = ProtocolHarness(RecordingDelegate(answer))
        h.feed(request("HEAD", "/") + request("GET", "/next", host="x"))
        assert h.take().startswith(
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n" + DATE_LINE + SERVER_LINE + b"\r\n"
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
        )
        h.close()

    run_asyncio(body())


@pytest.mark.parametrize(("status", "reason"), [(204, "No Content"), (304, "Not Modified")])
def test_204_and_304_have_no_body_and_no_chunked_framing(
    run_asyncio: Runner[None], status: int, reason: str
) -> None:
    def answer(rec: RecordedRequest) -> None:
        rec.conn.write_headers(ResponseStartLine("HTTP/1.1", status, reason), HTTPHeaders())
        rec.conn.write(b"ignored")
        rec.conn.finish()

    async def body() -> None:
        h = ProtocolHarness(RecordingDelegate(answer))
        h.feed(request("GET", "/"))
        assert h.take() == (
            b"HTTP/1.1 %d %s\r\n" % (status, reason.encode()) + DATE_LINE + SERVER_LINE + b"\r\n"
        )
        assert not h.closed
        h.close()

    run_asyncio(body())


# -- chunked output ------------------------------------------------------------------------------


def test_streamed_response_without_content_length_is_chunked(run_asyncio: Runner[None]) -> None:
    def answer(rec: RecordedRequest) -> None:
        rec.conn.write_headers(ResponseStartLine("HTTP/1.1", 200, "OK"), HTTPHeaders({"X-A": "1"}))
        rec.conn.write(b"hello ")
        rec.conn.write(b"chunked world!")
        rec.conn.write(b"")  # an empty write must not end the body
        rec.conn.finish()

    async def body() -> None:
        h = ProtocolHarness(RecordingDelegate(answer))
        h.feed(request("GET", "/"))
        assert h.take() == (
            b"HTTP/1.1 200 OK\r\nX-A: 1\r\nTransfer-Encoding: chunked\r\n"
            + DATE_LINE
            + SERVER_LINE
            + b"\r\n"
            b"6\r\nhello \r\ne\r\nchunked world!\r\n0\r\n\r\n"
        )
        assert not h.closed
        h.close()

    run_asyncio(body())


def test_first_chunk_given_to_write_headers_is_framed_too(run_asyncio: Runner[None]) -> None:
    def answer(rec: RecordedRequest) -> None:
        rec.conn.write_headers(ResponseStartLine("HTTP/1.1", 200, "OK"), HTTPHeaders(), b"abc")
        rec.conn.finish()

    async def body() -> None:
        h = ProtocolHarness(RecordingDelegate(answer))
        h.feed(request("GET", "/"))
        assert h.take() == (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
            + DATE_LINE
            + SERVER_LINE
            + b"\r\n3\r\nabc\r\n0\r\n\r\n"
        )
        h.close()

    run_asyncio(body())


def test_http10_response_without_length_is_close_delimited(run_asyncio: Runner[None]) -> None:
    def answer(rec: RecordedRequest) -> None:
        rec.conn.write_headers(ResponseStartLine("HTTP/1.1", 200, "OK"), HTTPHeaders())
        rec.conn.write(b"raw body")
        rec.conn.finish()

    async def body() -> None:
        h = ProtocolHarness(RecordingDelegate(answer))
        h.feed(request("GET", "/", {"Connection": "keep-alive"}, version="HTTP/1.0"))
        # The client asked to keep the connection; the response cannot (it has no length):
        # an HTTP/1.0 response without "Connection: Keep-Alive" is the last one.
        assert h.take() == (b"HTTP/1.1 200 OK\r\n" + DATE_LINE + SERVER_LINE + b"\r\nraw body")
        await h.settle()
        assert h.closed
        h.close()

    run_asyncio(body())


# -- Content-Length misuse -----------------------------------------------------------------------


def test_writing_more_than_content_length_raises_and_closes(run_asyncio: Runner[None]) -> None:
    errors: list[Exception] = []

    def answer(rec: RecordedRequest) -> None:
        rec.conn.write_headers(
            ResponseStartLine("HTTP/1.1", 200, "OK"), HTTPHeaders({"Content-Length": "3"})
        )
        rec.conn.write(b"ab")
        try:
            rec.conn.write(b"cd")
        except HTTPOutputError as exc:
            errors.append(exc)

    async def body() -> None:
        h = ProtocolHarness(RecordingDelegate(answer))
        h.feed(request("GET", "/") + request("GET", "/never"))
        assert len(errors) == 1
        assert h.take() == (
            b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n" + DATE_LINE + SERVER_LINE + b"\r\nab"
        )
        await h.settle()
        assert h.closed
        h.close()

    run_asyncio(body())


def test_finishing_short_of_content_length_raises_and_closes(run_asyncio: Runner[None]) -> None:
    errors: list[Exception] = []
    delegate = RecordingDelegate(None)

    async def body() -> None:
        h = ProtocolHarness(delegate)
        h.feed(request("GET", "/") + request("GET", "/never"))
        rec = delegate.requests[0]
        rec.conn.write_headers(
            ResponseStartLine("HTTP/1.1", 200, "OK"), HTTPHeaders({"Content-Length": "10"})
        )
        rec.conn.write(b"short")
        with pytest.raises(HTTPOutputError, match="5 bytes less"):
            rec.conn.finish()
        await h.settle()
        assert h.closed
        assert delegate.paths == ["/"]
        h.close()

    run_asyncio(body())
    assert not errors


def test_newline_in_a_response_header_value_is_refused(run_asyncio: Runner[None]) -> None:
    raised: list[Exception] = []

    def answer(rec: RecordedRequest) -> None:
        try:
            respond(rec, b"x", headers={"X-Evil": "a\r\nSet-Cookie: pwned=1"})
        except ValueError as exc:
            raised.append(exc)

    async def body() -> None:
        h = ProtocolHarness(RecordingDelegate(answer))
        h.feed(request("GET", "/"))
        assert raised
        assert b"pwned" not in h.take()
        await h.settle()
        assert h.closed
        h.close()

    run_asyncio(body())


# -- keep-alive ----------------------------------------------------------------------------------


def _one(run: Runner[Any], raw: bytes, **params: Any) -> tuple[bytes, bool]:
    """Feed ``raw``; return what was written and whether the connection closed."""

    async def body() -> tuple[bytes, bool]:
        h = ProtocolHarness(RecordingDelegate(), **params)
        h.feed(raw)
        await h.settle()
        out, closed = h.take(), h.closed
        h.close()
        return out, closed

    result: tuple[bytes, bool] = run(body())
    return result


def test_http11_keeps_the_connection_open_by_default(run_asyncio: Runner[Any]) -> None:
    out, closed = _one(run_asyncio, request("GET", "/"))
    assert out == ok(b"/")
    assert not closed


def test_http11_connection_close_is_answered_with_close(run_asyncio: Runner[Any]) -> None:
    out, closed = _one(run_asyncio, request("GET", "/", {"Connection": "close"}))
    assert out == ok(b"/", b"Connection: close\r\n")
    assert closed


def test_http10_without_keep_alive_closes(run_asyncio: Runner[Any]) -> None:
    # HTTP/1.0 closes unless told otherwise: no Connection field (as Tornado).
    out, closed = _one(run_asyncio, request("GET", "/", version="HTTP/1.0", host=None))
    assert out == ok(b"/")
    assert closed


def test_http10_with_keep_alive_stays_open_and_says_so(run_asyncio: Runner[Any]) -> None:
    raw = request("GET", "/", {"Connection": "keep-alive"}, version="HTTP/1.0", host=None)
    out, closed = _one(run_asyncio, raw)
    assert out == ok(b"/", b"Connection: Keep-Alive\r\n")  # spelled as Tornado
    assert not closed


@pytest.mark.parametrize(
    ("version", "field"), [("HTTP/1.1", b"Connection: close\r\n"), ("HTTP/1.0", b"")]
)
def test_connection_keep_alive_close_closes(
    run_asyncio: Runner[Any], version: str, field: bytes
) -> None:
    raw = request("GET", "/", {"Connection": "keep-alive, close"}, version=version)
    out, closed = _one(run_asyncio, raw)
    assert out == ok(b"/", field)
    assert closed


def test_no_keep_alive_closes_after_every_response(run_asyncio: Runner[Any]) -> None:
    out, closed = _one(run_asyncio, request("GET", "/") + request("GET", "/b"), no_keep_alive=True)
    assert out == ok(b"/", b"Connection: close\r\n")
    assert closed


def test_application_connection_close_header_closes_without_a_second_header(
    run_asyncio: Runner[None],
) -> None:
    def answer(rec: RecordedRequest) -> None:
        respond(rec, b"bye", headers={"Connection": "close"})

    async def body() -> None:
        h = ProtocolHarness(RecordingDelegate(answer))
        h.feed(request("GET", "/") + request("GET", "/b"))
        out = h.take()
        assert out.count(b"Connection") == 1
        assert out.endswith(b"\r\n\r\nbye")
        await h.settle()
        assert h.closed
        h.close()

    run_asyncio(body())


def test_empty_server_header_setting_sends_no_server_field(run_asyncio: Runner[None]) -> None:
    async def body() -> None:
        h = ProtocolHarness(RecordingDelegate(), server_header="")
        h.feed(request("GET", "/"))
        assert h.take() == b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n" + DATE_LINE + b"\r\n/"
        h.close()

    run_asyncio(body())
