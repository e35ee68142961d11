"""Bad requests over real sockets: one test per bad input, on the asyncio loop and on uvloop.

Each test asserts the status code, that the server closes the connection after the error
response (nothing more arrives, then EOF), that the bad input was logged exactly once at INFO
on ``squall.general``, that the application never saw a complete request, and that the server
still answers a good request on a new connection. The smuggling tests prove a request hidden in
a body is never served; the last tests show what RFC 9112 allows is accepted.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from tests.conftest import Runner
from tests.helpers.raw_http import (
    RawClient,
    RecordingDelegate,
    Response,
    chunked,
    parse_responses,
    request,
    serving,
)

H = b"Host: example.com\r\n"


def get(*header_lines: bytes, version: bytes = b"HTTP/1.1", host: bytes = H) -> bytes:
    """A GET with the given raw header lines."""
    return b"GET / " + version + b"\r\n" + host + b"".join(header_lines) + b"\r\n"


def post(*header_lines: bytes, body: bytes = b"") -> bytes:
    """A POST with the given raw header lines and raw body bytes."""
    return b"POST /upload HTTP/1.1\r\n" + H + b"".join(header_lines) + b"\r\n" + body


def rejected(
    run: Runner[Any],
    caplog: pytest.LogCaptureFixture,
    raw: bytes,
    status: int,
    **server_kwargs: Any,
) -> tuple[Response, RecordingDelegate]:
    """Send ``raw``, expect one ``status`` response then EOF; then a good request works."""
    delegate = RecordingDelegate()

    async def body() -> Response:
        async with serving(delegate, **server_kwargs) as (_, port):
            async with await RawClient.connect(port) as client:
                await client.send(raw)
                data = await client.read_until_eof()
            [resp] = parse_responses(data)  # exactly one response, then the server closed
            async with await RawClient.connect(port) as client:
                await client.send(request("GET", "/good"))
                good = await client.read_response()
            assert (good.status, good.body) == (200, b"/good")
            return resp

    caplog.set_level(logging.INFO, logger="squall.general")
    resp = run(body())
    assert resp.status == status, resp.raw
    assert resp.closes
    # A head over the size limits is logged as "Unsatisfiable read" (Tornado's words for a
    # head it could not read within max_header_size); every other refusal as malformed.
    malformed = [
        r
        for r in caplog.records
        if r.name == "squall.general"
        and r.getMessage().startswith(
            "Unsatisfiable read from" if status in (414, 431) else "Malformed HTTP message"
        )
    ]
    assert len(malformed) == 1, [r.getMessage() for r in caplog.records]
    assert malformed[0].levelno == logging.INFO
    # The application never got a complete bad request; only the good one was answered.
    assert [r.path for r in delegate.requests if r.finished] == ["/good"]
    return resp, delegate


# -- request line ---------------------------------------------------------------------------------


def test_malformed_request_line_is_400(run: Runner[Any], caplog: pytest.LogCaptureFixture) -> None:
    rejected(run, caplog, b"GET / HTTP/1.1 trailing-junk\r\n" + H + b"\r\n", 400)


def test_request_line_without_a_version_is_505(
    run: Runner[Any], caplog: pytest.LogCaptureFixture
) -> None:
    # llhttp reads "GET /" as HTTP/0.9, which this server does not speak.
    rejected(run, caplog, b"GET /\r\n" + H + b"\r\n", 505)


def test_invalid_method_token_is_400(run: Runner[Any], caplog: pytest.LogCaptureFixture) -> None:
    rejected(run, caplog, b"G@T / HTTP/1.1\r\n" + H + b"\r\n", 400)


def test_http_2_0_request_line_is_505(run: Runner[Any], caplog: pytest.LogCaptureFixture) -> None:
    rejected(run, caplog, get(version=b"HTTP/2.0"), 505)


def test_http_1_2_request_line_is_505(run: Runner[Any], caplog: pytest.LogCaptureFixture) -> None:
    rejected(run, caplog, get(version=b"HTTP/1.2"), 505)


def test_request_target_over_the_limit_is_414(
    run: Runner[Any], caplog: pytest.LogCaptureFixture
) -> None:
    raw = b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\n" + H + b"\r\n"
    rejected(run, caplog, raw, 414, max_header_size=4096)


# -- header syntax --------------------------------------------------------------------------------


def test_header_line_without_a_colon_is_400(
    run: Runner[Any], caplog: pytest.LogCaptureFixture
) -> None:
    rejected(run, caplog, get(b"NoColonHere\r\n"), 400)


def test_obs_fold_continuation_line_is_400(
    run: Runner[Any], caplog: pytest.LogCaptureFixture
) -> None:
    rejected(run, caplog, get(b"X-Folded: first\r\n", b"  second\r\n"), 400)


def test_whitespace_between_header_name_and_colon_is_400(
    run: Runner[Any], caplog: pytest.LogCaptureFixture
) -> None:
    rejected(run, caplog, get(b"X-Spaced : value\r\n"), 400)


def test_nul_in_a_header_value_is_400(run: Runner[Any], caplog: pytest.LogCaptureFixture) -> None:
    rejected(run, caplog, get(b"X-Nul: a\x00b\r\n"), 400)


def test_bare_cr_in_a_header_value_is_400(
    run: Runner[Any], caplog: pytest.LogCaptureFixture
) -> None:
    rejected(run, caplog, get(b"X-Cr: a\rb\r\n"), 400)


def test_control_character_in_a_header_value_is_400(
    run: Runner[Any], caplog: pytest.LogCaptureFixture
) -> None:
    rejected(run, caplog, get(b"X-Ctl: a\x01b\r\n"), 400)


def test_del_character_in_a_header_value_is_400(
    run: Runner[Any], caplog: pytest.LogCaptureFixture
) -> None:
    rejected(run, caplog, get(b"X-Del: a\x7fb\r\n"), 400)


def test_header_section_over_max_header_size_is_431(
    run: Runner[Any], caplog: pytest.LogCaptureFixture
) -> None:
    raw = get(b"X-Big: " + b"v" * 3000 + b"\r\n", b"X-Big2: " + b"v" * 3000 + b"\r\n")
    rejected(run, caplog, raw, 431, max_header_size=4096)


def test_one_huge_header_value_is_431(run: Runner[Any], caplog: pytest.LogCaptureFixture) -> None:
    rejected(run, caplog, get(b"X-Huge: " + b"v" * 20000 + b"\r\n"), 431, max_header_size=4096)


def test_header_line_that_never_ends_is_cut_off_with_431(
    run: Runner[Any], caplog: pytest.LogCaptureFixture
) -> None:
    # httptools buffers a partial field itself: the protocol bounds what that may cost.
    raw = b"GET / HTTP/1.1\r\n" + H + b"X-Endless: " + b"v" * 80_000
    rejected(run, caplog, raw, 431, max_header_size=4096)


def test_more_than_max_headers_fields_is_431(
    run: Runner[Any], caplog: pytest.LogCaptureFixture
) -> None:
    fields = [b"X-F%d: v\r\n" % i for i in range(100)]  # plus Host: 101 fields
    rejected(run, caplog, get(*fields), 431)


# -- Host -----------------------------------------------------------------------------------------


def test_missing_host_on_http11_is_400(run: Runner[Any], caplog: pytest.LogCaptureFixture) -> None:
    rejected(run, caplog, get(host=b""), 400)


def test_two_host_headers_are_400(run: Runner[Any], caplog: pytest.LogCaptureFixture) -> None:
    rejected(run, caplog, get(b"Host: other.example\r\n"), 400)


def test_host_with_a_port_out_of_range_is_400(
    run: Runner[Any], caplog: pytest.LogCaptureFixture
) -> None:
    rejected(run, caplog, get(host=b"Host: a:99999\r\n"), 400)


def test_host_with_a_non_numeric_port_is_400(
    run: Runner[Any], caplog: pytest.LogCaptureFixture
) -> None:
    rejected(run, caplog, get(host=b"Host: a:b\r\n"), 400)


def test_host_with_a_space_is_400(run: Runner[Any], caplog: pytest.LogCaptureFixture) -> None:
    rejected(run, caplog, get(host=b"Host: a b\r\n"), 400)


def test_host_with_a_slash_is_400(run: Runner[Any], caplog: pytest.LogCaptureFixture) -> None:
    rejected(run, caplog, get(host=b"Host: a/b\r\n"), 400)


# -- body framing ---------------------------------------------------------------------------------


def test_content_length_with_transfer_encoding_is_400(
    run: Runner[Any], caplog: pytest.LogCaptureFixture
) -> None:
    raw = post(b"Content-Length: 5\r\n", b"Transfer-Encoding: chunked\r\n", body=chunked(b"hello"))
    rejected(run, caplog, raw, 400)


def test_duplicate_content_length_is_400(
    run: Runner[Any], caplog: pytest.LogCaptureFixture
) -> None:
    raw = post(b"Content-Length: 5\r\n", b"Content-Length: 5\r\n", body=b"hello")
    rejected(run, caplog, raw, 400)


def test_conflicting_content_length_is_400(
    run: Runner[Any], caplog: pytest.LogCaptureFixture
) -> None:
    raw = post(b"Content-Length: 5\r\n", b"Content-Length: 6\r\n", body=b"hello!")
    rejected(run, caplog, raw, 400)


def test_content_length_list_is_400(run: Runner[Any], caplog: pytest.LogCaptureFixture) -> None:
    rejected(run, caplog, post(b"Content-Length: 5, 5\r\n", body=b"hello"), 400)


def test_non_numeric_content_length_is_400(
    run: Runner[Any], caplog: pytest.LogCaptureFixture
) -> None:
    rejected(run, caplog, post(b"Content-Length: five\r\n", body=b"hello"), 400)


def test_plus_signed_content_length_is_400(
    run: Runner[Any], caplog: pytest.LogCaptureFixture
) -> None:
    rejected(run, caplog, post(b"Content-Length: +5\r\n", body=b"hello"), 400)


def test_negative_content_length_is_400(run: Runner[Any], caplog: pytest.LogCaptureFixture) -> None:
    rejected(run, caplog, post(b"Content-Length: -5\r\n", body=b"hello"), 400)


def test_overflowing_content_length_is_400(
    run: Runner[Any], caplog: pytest.LogCaptureFixture
) -> None:
    raw = post(b"Content-Length: 99999999999999999999999999\r\n", body=b"hello")
    rejected(run, caplog, raw, 400)


def test_transfer_encoding_not_ending_in_chunked_is_400(
    run: Runner[Any], caplog: pytest.LogCaptureFixture
) -> None:
    rejected(run, caplog, post(b"Transfer-Encoding: gzip\r\n", body=b"hello"), 400)


def test_transfer_coding_other_than_chunked_is_501(
    run: Runner[Any], caplog: pytest.LogCaptureFixture
) -> None:
    raw = post(b"Transfer-Encoding: gzip, chunked\r\n", body=chunked(b"hello"))
    rejected(run, caplog, raw, 501)


def test_invalid_chunk_size_is_400(run: Runner[Any], caplog: pytest.LogCaptureFixture) -> None:
    raw = post(b"Transfer-Encoding: chunked\r\n", body=b"zz\r\nhello\r\n0\r\n\r\n")
    rejected(run, caplog, raw, 400)


def test_chunk_size_overflow_is_400(run: Runner[Any], caplog: pytest.LogCaptureFixture) -> None:
    raw = post(b"Transfer-Encoding: chunked\r\n", body=b"f" * 20 + b"\r\nhello\r\n0\r\n\r\n")
    rejected(run, caplog, raw, 400)


def test_bad_chunk_terminator_is_400(run: Runner[Any], caplog: pytest.LogCaptureFixture) -> None:
    raw = post(b"Transfer-Encoding: chunked\r\n", body=b"5\r\nhelloXX0\r\n\r\n")
    rejected(run, caplog, raw, 400)


# -- size limits on bodies ------------------------------------------------------------------------


def test_body_over_max_body_size_by_content_length_is_413_before_it_is_sent(
    run: Runner[Any], caplog: pytest.LogCaptureFixture
) -> None:
    # Only the head is sent: the answer must not wait for the body.
    rejected(run, caplog, post(b"Content-Length: 1025\r\n"), 413, max_body_size=1024)


def test_chunked_body_accumulating_over_max_body_size_is_413(
    run: Runner[Any], caplog: pytest.LogCaptureFixture
) -> None:
    # 3 x 400 bytes: the limit is crossed by the third chunk, before the last chunk is sent.
    raw = post(b"Transfer-Encoding: chunked\r\n", body=chunked(*[b"x" * 400] * 3)[:-5])
    rejected(run, caplog, raw, 413, max_body_size=1024)


# -- request smuggling ----------------------------------------------------------------------------

HIDDEN = b"GET /hidden HTTP/1.1\r\n" + H + b"\r\n"


@pytest.mark.parametrize(
    "raw",
    [
        # CL.TE: a front end using Content-Length forwards everything as one request.
        post(
            b"Content-Length: %d\r\n" % (5 + len(HIDDEN)),
            b"Transfer-Encoding: chunked\r\n",
            body=b"0\r\n\r\n" + HIDDEN,
        ),
        # TE.CL: a front end using chunked forwards everything; CL would end the body early.
        post(
            b"Transfer-Encoding: chunked\r\n",
            b"Content-Length: 3\r\n",
            body=b"%x\r\n" % (len(HIDDEN) + 3) + b"abc" + HIDDEN + b"\r\n0\r\n\r\n",
        ),
        # Obfuscated Transfer-Encoding.
        post(
            b"Content-Length: %d\r\n" % (5 + len(HIDDEN)),
            b"Transfer-Encoding: xchunked\r\n",
            body=b"0\r\n\r\n" + HIDDEN,
        ),
        # Two Content-Length fields disagreeing about where the body ends.
        post(b"Content-Length: 0\r\n", b"Content-Length: %d\r\n" % len(HIDDEN), body=HIDDEN),
    ],
    ids=["CL.TE", "TE.CL", "TE-obfuscated", "CL.CL"],
)
def test_request_hidden_in_a_body_is_never_served(
    run: Runner[Any], caplog: pytest.LogCaptureFixture, raw: bytes
) -> None:
    _, delegate = rejected(run, caplog, raw, 400)
    assert "/hidden" not in delegate.paths
    assert delegate.paths == ["/good"]


# -- what RFC 9112 allows is accepted -------------------------------------------------------------


def _served(run: Runner[Any], raw: bytes) -> tuple[list[Response], RecordingDelegate]:
    delegate = RecordingDelegate()

    async def body() -> list[Response]:
        async with serving(delegate) as (_, port):
            async with await RawClient.connect(port) as client:
                await client.send(raw)
                return [await client.read_response()]

    return run(body()), delegate


def test_absolute_form_request_target_is_accepted(run: Runner[Any]) -> None:
    [resp], delegate = _served(run, request("GET", "http://example.com/a?b=c"))
    assert resp.status == 200
    assert delegate.paths == ["http://example.com/a?b=c"]


def test_chunk_extensions_are_ignored(run: Runner[Any]) -> None:
    raw = post(b"Transfer-Encoding: chunked\r\n", body=b"5;a=b;c\r\nhello\r\n0;z=1\r\n\r\n")
    [resp], delegate = _served(run, raw)
    assert (resp.status, resp.body) == (200, b"hello")


def test_trailer_fields_are_accepted(run: Runner[Any]) -> None:
    raw = post(b"Transfer-Encoding: chunked\r\n", body=chunked(b"hi", trailers=b"X-Sum: 1\r\n"))
    [resp], delegate = _served(run, raw)
    assert (resp.status, resp.body) == (200, b"hi")


def test_optional_whitespace_around_header_values_is_accepted(run: Runner[Any]) -> None:
    raw = post(b"Content-Length: \t 5 \t\r\n", b"X-Pad:   v  \r\n", body=b"hello")
    [resp], delegate = _served(run, raw)
    assert (resp.status, resp.body) == (200, b"hello")
    assert delegate.requests[0].headers is not None
    assert delegate.requests[0].headers["X-Pad"] == "v"


def test_http10_request_without_host_is_accepted(run: Runner[Any]) -> None:
    [resp], _ = _served(run, b"GET /old HTTP/1.0\r\n\r\n")
    assert (resp.status, resp.body) == (200, b"/old")


def test_valid_hosts_are_accepted(run: Runner[Any]) -> None:
    raw = b"".join(
        get(host=b"Host: " + host + b"\r\n")
        for host in (b"example.com:8080", b"[::1]:80", b"127.0.0.1", b"xn--bcher-kva.example")
    )
    delegate = RecordingDelegate()

    async def body() -> bytes:
        async with serving(delegate) as (_, port):
            async with await RawClient.connect(port) as client:
                await client.send(raw)
                return b"".join([(await client.read_response()).raw for _ in range(4)])

    assert [r.status for r in parse_responses(run(body()))] == [200] * 4
