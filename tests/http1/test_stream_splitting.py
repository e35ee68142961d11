"""Property: a valid request stream is served the same way wherever its reads end.

hypothesis draws pipelined batches of valid requests (``tests/helpers/http_streams.py``:
GET/HEAD/POST/PUT/..., Content-Length and chunked bodies from 0 B to 1 MiB with chunk
extensions and trailers, gzip bodies, ``Expect: 100-continue``, HTTP/1.0 with and without
keep-alive, absolute-form targets) and the points where reads end, including the shape of
issue 13 (at least 200 KiB of one body and the start of the next head in one read). The same
bytes are fed to the protocol on the fake transport whole and split; then:

- the requests the delegate saw (start line, header fields, body, finished) are the same in
  both runs, and are the requests that were sent;
- the bytes written back are the same, except for ``100 Continue`` interim responses: the
  server sends one only when the body has not arrived yet, which depends on the reads
  (RFC 9110 §10.1.1); each one must come right before its request's final response;
- the connection is closed at the end exactly when the last request asked for it.

The number of examples comes from the hypothesis profile (``tests/helpers/hypothesis_profiles``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from squall._http1.framing import MAX_CHUNK_LINE
from tests.helpers.fake_transport import ProtocolHarness
from tests.helpers.http_streams import (
    BIG_TAIL,
    Req,
    big_tail_streams,
    split_points,
    stream_bytes,
    streams,
)
from tests.helpers.hypothesis_profiles import examples, timeout
from tests.helpers.raw_http import RecordingDelegate, parse_one

CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_BUCKETS = {"0 B": 0, "<= 4 KiB": 4096, "<= 200 KiB": BIG_TAIL, "<= 1 MiB": 1 << 20}


@dataclass
class Seen:
    """What one run of the protocol did: the requests the delegate saw, the bytes it wrote."""

    requests: list[tuple[object, ...]]
    finals: list[bytes]  # one final response per request, raw bytes
    continues: list[int]  # for each final response: how many 100 Continue preceded it
    closed: bool
    fed: int  # bytes the protocol was given before it closed


def serve(reqs: Sequence[Req], cuts: Sequence[int]) -> Seen:
    """Feed the stream of ``reqs`` cut at ``cuts`` to a fresh protocol; record what it did."""
    data = stream_bytes(reqs)
    bounds = [0, *cuts, len(data)]

    async def run() -> Seen:
        errors = _ErrorLog()
        delegate = RecordingDelegate()
        h = ProtocolHarness(delegate, decompress=True)
        fed = 0
        for a, b in zip(bounds, bounds[1:], strict=False):
            if h.closed:
                break
            # The delegate answers at once, so reading never has to pause here.
            assert not h.transport.reading_paused, "reading paused with nothing to wait for"
            h.feed(data[a:b])
            fed = b
        await h.settle()
        seen = [
            (
                r.start_line,
                list(r.headers.get_all()) if r.headers is not None else None,
                r.body,
                r.finished,
            )
            for r in delegate.requests
        ]
        finals, continues = _split_responses(h.transport.sent, reqs)
        closed = h.closed
        h.close()
        errors.check()
        return Seen(seen, finals, continues, closed, fed)

    return asyncio.run(run())


class _ErrorLog(logging.Handler):
    """Collects squall's ERROR records while one run lasts: any is a failure (our bug)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []
        self.logger = logging.getLogger("squall")
        self.logger.addHandler(self)

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def check(self) -> None:
        self.logger.removeHandler(self)
        assert not self.records, [r.getMessage() for r in self.records]


def _split_responses(out: bytes, reqs: Sequence[Req]) -> tuple[list[bytes], list[int]]:
    finals: list[bytes] = []
    continues: list[int] = []
    pos = 0
    interim = 0
    while pos < len(out):
        if out.startswith(CONTINUE, pos):
            interim += 1
            pos += len(CONTINUE)
            continue
        is_head = len(finals) < len(reqs) and reqs[len(finals)].method == "HEAD"
        resp, end = parse_one(out, pos, head_request=is_head)
        finals.append(resp.raw)
        continues.append(interim)
        interim = 0
        pos = end
    assert interim == 0, "a 100 Continue with no final response after it"
    return finals, continues


def check_against_the_model(seen: Seen, reqs: Sequence[Req]) -> None:
    """The unsplit run served exactly the requests that were sent."""
    assert len(seen.requests) == len(reqs), [r[0] for r in seen.requests]
    for (start_line, fields, body, finished), req in zip(seen.requests, reqs, strict=True):
        assert start_line == (req.method, req.target, req.version)
        assert finished
        assert body == req.body
        assert fields is not None
        got: dict[str, list[str]] = {}
        for name, value in fields:
            got.setdefault(name.lower(), []).append(value)
        assert got["host"] == [req.host]
        for name, value, _, _ in req.fields:
            assert value in got[name.lower()], (name, value, got)
        for name, _ in req.trailers:
            assert name.lower() not in got, f"trailer {name} merged into the headers"
        if req.gzip:
            assert got["x-consumed-content-encoding"] == ["gzip"]
    assert len(seen.finals) == len(reqs)
    for raw, req, interim in zip(seen.finals, reqs, seen.continues, strict=True):
        resp, _ = parse_one(raw, head_request=req.method == "HEAD")
        assert resp.status == 200, raw[:300]
        if req.method != "HEAD":
            assert resp.body == (req.body or req.target.encode("latin-1"))
        assert interim <= (1 if req.expect_continue else 0)
    assert seen.closed == (not reqs[-1].keeps_alive)
    assert seen.fed == len(stream_bytes(reqs))


def record_coverage(reqs: list[Req], cuts: list[int]) -> None:
    """Report what the examples covered (shown by --hypothesis-show-statistics)."""
    largest = max(len(r.body) for r in reqs)
    event(f"largest body: {next(n for n in _BUCKETS if largest <= _BUCKETS[n])}")
    event(
        f"requests: {len(reqs)}; reads: {'1' if not cuts else '2-10' if len(cuts) < 10 else '>10'}"
    )
    for r in reqs:
        event(f"{r.version} {r.framing}{' gzip' if r.gzip else ''}")


def check_split(reqs: list[Req], cuts: list[int]) -> None:
    whole = serve(reqs, [])
    check_against_the_model(whole, reqs)
    split = serve(reqs, cuts)
    assert split.requests == whole.requests
    assert split.finals == whole.finals
    for req, interim in zip(reqs, split.continues, strict=True):
        assert interim <= (1 if req.expect_continue else 0)
    assert (split.closed, split.fed) == (whole.closed, whole.fed)


@given(st.data())
@settings(max_examples=examples(1.0))
@pytest.mark.timeout(timeout(1.0))
def test_any_split_of_a_valid_stream_is_served_like_the_whole_stream(data: st.DataObject) -> None:
    reqs = data.draw(streams(), label="requests")
    cuts = data.draw(split_points(reqs), label="cuts")
    record_coverage(reqs, cuts)
    check_split(reqs, cuts)


@st.composite
def issue_13_cases(draw: st.DrawFn) -> tuple[list[Req], list[int]]:
    """A stream with a body over 200 KiB followed by a request, and reads ending so that one
    of them holds at least 200 KiB of that body and the start of the next head."""
    reqs = draw(big_tail_streams())
    wire = [r.wire() for r in reqs]
    i = next(i for i, r in enumerate(reqs) if len(r.framed_body()) > BIG_TAIL)
    start = sum(map(len, wire[: i + 1]))  # where the request after the big one begins
    head = len(reqs[i + 1].head())
    end = start + draw(st.integers(1, head - 1))
    begin = start - draw(st.integers(BIG_TAIL, len(reqs[i].framed_body())))
    others = draw(split_points(reqs))
    cuts = sorted({*[c for c in others if not begin <= c <= end], begin, end})
    return reqs, [c for c in cuts if 0 < c < sum(map(len, wire))]


@given(issue_13_cases())
@settings(max_examples=examples(0.5))
@pytest.mark.timeout(timeout(0.5))
def test_a_read_with_200_kib_of_body_and_a_partial_head_is_served_like_the_whole_stream(
    case: tuple[list[Req], list[int]],
) -> None:
    reqs, cuts = case
    record_coverage(reqs, cuts)
    check_split(reqs, cuts)


SMALL = [
    Req(
        "POST",
        "/c",
        framing="chunked",
        body=b"hello world",
        chunks=(5, 6),
        extensions=(b";a=b", b";e=" + b"v" * (MAX_CHUNK_LINE - 4)),
        trailers=(("X-T", "1"),),
    ),
    Req("GET", "http://example.com/abs?q=1", fields=(("X-Custom", "v", "  ", "\t"),)),
    Req("PUT", "/g", framing="length", body=b"zip me", gzip=True, expect_continue=True),
    Req("GET", "/old", version="HTTP/1.0", connection="keep-alive"),
    Req("HEAD", "/h", version="HTTP/1.0"),
]


def test_every_byte_in_its_own_read_is_served_like_the_whole_stream() -> None:
    total = len(stream_bytes(SMALL))
    check_split(SMALL, list(range(1, total)))
