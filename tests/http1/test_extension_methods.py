"""Extension methods: any token is a request method (RFC 9110 §9.1), though llhttp knows a list.

The protocol parses a request whose method llhttp refused again with a stand-in method and
keeps the real name (``protocol.py``, ``_extension_method``). These tests hold it to the
rules of the layer: the delegate sees the real method; pipelined requests before and after it
are served in order; the same bytes cut at any point get the same answers; a method that is
not a token is still refused (400), and so is one longer than the head limit (501).
"""

from __future__ import annotations

import asyncio
import logging

import pytest

from tests.helpers.fake_transport import ProtocolHarness
from tests.helpers.raw_http import RecordingDelegate, parse_responses, request

LONG = "X-" + "LONG" * 20  # 82 bytes: no registered method is that long


def serve(*reads: bytes, **params: object) -> tuple[list[tuple[str, str, bytes]], bytes, bool]:
    """Feed ``reads`` to a fresh connection with an echo delegate: (method, path, body) of
    each request the delegate saw, what was written, and whether the connection closed."""

    async def run() -> tuple[list[tuple[str, str, bytes]], bytes, bool]:
        delegate = RecordingDelegate()
        h = ProtocolHarness(delegate, **params)
        h.feed(*reads)
        await h.settle()
        seen = [
            (r.start_line.method, r.start_line.path, r.body)
            for r in delegate.requests
            if r.start_line is not None and r.finished
        ]
        out, closed = h.transport.sent, h.closed
        h.close()
        return seen, out, closed

    return asyncio.run(run())


def test_an_extension_method_reaches_the_delegate_by_its_name() -> None:
    seen, out, closed = serve(request("OTHER", "/x"))
    assert seen == [("OTHER", "/x", b"")]
    [resp] = parse_responses(out)
    assert resp.status == 200 and resp.body == b"/x"
    assert not closed


def test_an_extension_method_body_is_framed_by_its_headers() -> None:
    seen, _, _ = serve(request("REPORT-X", "/b", body=b"hello") + request("GET", "/after"))
    assert seen == [("REPORT-X", "/b", b"hello"), ("GET", "/after", b"")]


@pytest.mark.parametrize("method", ["get", "GETX", "SOURCEX", LONG, "M!#$%&'*+-.^_`|~9"])
def test_any_token_is_a_method(method: str) -> None:
    seen, out, _ = serve(request(method, "/t"))
    assert seen == [(method, "/t", b"")]
    assert [r.status for r in parse_responses(out)] == [200]


def test_pipelined_extension_methods_in_one_read_are_served_in_order() -> None:
    reads = (
        request("GET", "/1")
        + request("OTHER", "/2")
        + request("POST", "/3", body=b"abc")
        + request("PURGE-IT", "/4", body=b"xy")
        + request("OTHER", "/5")
    )
    seen, out, closed = serve(reads)
    assert seen == [
        ("GET", "/1", b""),
        ("OTHER", "/2", b""),
        ("POST", "/3", b"abc"),
        ("PURGE-IT", "/4", b"xy"),
        ("OTHER", "/5", b""),
    ]
    assert [r.body for r in parse_responses(out)] == [b"/1", b"/2", b"abc", b"xy", b"/5"]
    assert not closed


def test_an_extension_method_after_a_chunked_body_in_the_same_read() -> None:
    body = b"Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
    head = b"POST /c HTTP/1.1\r\nHost: a\r\n"
    seen, _, _ = serve(head + body + request("OTHER", "/o"))
    assert seen == [("POST", "/c", b"abc"), ("OTHER", "/o", b"")]


def test_many_extension_methods_in_one_read_do_not_recurse() -> None:
    # Each re-parse goes through one loop, not one nested call per request.
    seen, out, _ = serve(request("OTHER", "/p") * 3000, max_pipelined=10_000)
    assert len(seen) == 3000
    assert len(parse_responses(out)) == 3000


def test_a_genuine_source_request_after_an_extension_method_keeps_its_name() -> None:
    seen, _, _ = serve(request("OTHER", "/1") + request("SOURCE", "/2"))
    assert seen == [("OTHER", "/1", b""), ("SOURCE", "/2", b"")]


STREAM = (
    request("GET", "/1")
    + request("OTHER", "/2", body=b"abc")
    + b"\r\n"  # an empty line between requests (skipped)
    + request(LONG, "/3")
    + request("GETX", "/4")
    + request("POST", "/5", body=b"z")
)
EXPECTED = [
    ("GET", "/1", b""),
    ("OTHER", "/2", b"abc"),
    (LONG, "/3", b""),
    ("GETX", "/4", b""),
    ("POST", "/5", b"z"),
]


@pytest.fixture(scope="module")
def whole() -> tuple[list[tuple[str, str, bytes]], bytes, bool]:
    """The stream served from one read."""
    return serve(STREAM)


@pytest.mark.parametrize("cut", range(1, len(STREAM)))
def test_any_one_cut_of_a_stream_with_extension_methods_is_served_alike(
    cut: int, whole: tuple[list[tuple[str, str, bytes]], bytes, bool]
) -> None:
    seen, out, closed = serve(STREAM[:cut], STREAM[cut:])
    whole_seen, whole_out, whole_closed = whole
    assert whole_seen == EXPECTED
    assert (seen, closed) == (whole_seen, whole_closed)
    assert [r.body for r in parse_responses(out)] == [r.body for r in parse_responses(whole_out)]


def test_every_byte_in_its_own_read() -> None:
    seen, _, closed = serve(*[STREAM[i : i + 1] for i in range(len(STREAM))])
    assert seen == EXPECTED
    assert not closed


@pytest.mark.parametrize(
    "line",
    [b"FOO,BAR / HTTP/1.1", b"FO(O / HTTP/1.1", b"OTHER\t/ HTTP/1.1", b"asdf"],
)
def test_a_method_that_is_not_a_token_is_400(line: bytes, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, "squall.general"):
        seen, out, closed = serve(request("GET", "/ok") + line + b"\r\nHost: a\r\n\r\n")
    assert seen == [("GET", "/ok", b"")]
    first, refused = parse_responses(out)
    assert first.status == 200
    assert refused.status == 400
    assert closed
    assert any("Malformed HTTP request line" in r.getMessage() for r in caplog.records)


def test_a_method_not_a_token_after_a_cut_is_400(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, "squall.general"):
        seen, out, closed = serve(b"OTH", b"ER,X / HTTP/1.1\r\nHost: a\r\n\r\n")
    assert seen == []
    assert [r.status for r in parse_responses(out)] == [400]
    assert closed


def test_a_method_longer_than_the_head_limit_is_501(caplog: pytest.LogCaptureFixture) -> None:
    method = b"M" * 2000
    with caplog.at_level(logging.INFO, "squall.general"):
        # Whole, and cut before its end (the method waits for the next read, then is too long).
        for reads in ([method + b" / HTTP/1.1\r\n\r\n"], [method[:1500], method[1500:]]):
            seen, out, closed = serve(*reads, max_header_size=1024)
            assert seen == []
            assert [r.status for r in parse_responses(out)] == [501]
            assert closed
    assert "request method too long" in caplog.text


def test_a_connection_closed_inside_an_extension_method_serves_what_came_before() -> None:
    async def run() -> None:
        delegate = RecordingDelegate()
        h = ProtocolHarness(delegate)
        h.feed(request("GET", "/1") + b"OTHERME")  # the method is not over
        await h.settle()
        assert [r.path for r in delegate.requests] == ["/1"]
        assert not h.closed
        h.feed(b"THOD /2 HTTP/1.1\r\nHost: a\r\n\r\n")
        await h.settle()
        assert [(r.start_line.method, r.path) for r in delegate.requests if r.start_line] == [
            ("GET", "/1"),
            ("OTHERMETHOD", "/2"),
        ]
        h.feed(b"ANOTHER")
        h.eof()  # the unfinished head is dropped
        await h.settle()
        assert h.closed
        assert len(parse_responses(h.transport.sent)) == 2
        h.close()

    asyncio.run(run())
