"""Differential check: squall's HTTP/1.1 verdicts against h11, an independent parser.

For the generated valid streams of ``tests/helpers/http_streams.py``, for malformed mutations
of them (a byte flipped, inserted or removed) and for the classic request-smuggling shapes
(:data:`SHAPES`), each parser gives a verdict: the requests it accepted (method, target, body
as framed) and how the stream ended (served, waiting for more bytes, or refused with which
status). Where the verdicts differ, the difference must be one of :data:`KNOWN`, the
disagreements listed with their reasons in ``docs/http1-conformance.md``; anything else
fails and names the input.

Two normalisations keep the comparison about parsing, not about connection management:
h11 does not keep an HTTP/1.0 connection alive (so only the requests up to where it stops are
compared), and h11 refuses a bad line only once the line ends, where llhttp refuses at the
first bad byte (so a stream h11 is still waiting on is also tried with an empty line added).
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import h11
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.helpers.fake_transport import ProtocolHarness
from tests.helpers.http_streams import Req, stream_bytes, streams
from tests.helpers.hypothesis_profiles import examples, timeout
from tests.helpers.raw_http import IncompleteResponse, RecordingDelegate, parse_one

CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
DOC = Path(__file__).resolve().parents[2] / "docs" / "http1-conformance.md"


@dataclass(frozen=True)
class Verdict:
    """What a parser made of a stream."""

    requests: tuple[tuple[str, str, bytes], ...]  # accepted: method, target, body
    outcome: str  # "served", "waiting", "closed" (after a close-request) or a status, "400"
    reason: str = ""  # the parser's words for a refusal

    @property
    def refused(self) -> bool:
        return self.outcome.isdigit()


def squall_verdict(raw: bytes) -> Verdict:
    """Feed ``raw`` to the protocol (one read) with an echo delegate; read what happened."""

    async def run() -> Verdict:
        delegate = RecordingDelegate()
        h = ProtocolHarness(delegate)
        h.feed(raw)
        await h.settle()
        out = h.transport.sent
        heads = [
            r.start_line is not None and r.start_line.method == "HEAD" for r in delegate.requests
        ]
        pos = count = 0
        last = None
        while pos < len(out):
            if out.startswith(CONTINUE, pos):
                pos += len(CONTINUE)
                continue
            is_head = count < len(heads) and heads[count]
            try:
                last, pos = parse_one(out, pos, head_request=is_head)
            except IncompleteResponse:  # the refusal of a HEAD request that was not dispatched
                last, pos = parse_one(out, pos, head_request=True)
            count += 1
        accepted = tuple(
            (r.start_line.method, r.start_line.path, r.body)
            for r in delegate.requests
            if r.finished and r.start_line is not None
        )
        waiting = h.proto._rec.cur is not None
        closed = h.closed
        h.close()
        if last is not None and last.status >= 400:
            return Verdict(accepted, str(last.status), refusals.reason())
        if closed:
            return Verdict(accepted, "closed")
        return Verdict(accepted, "waiting" if waiting else "served")

    refusals = _Refusals()
    try:
        return asyncio.run(run())
    finally:
        refusals.close()


class _Refusals(logging.Handler):
    """The reason of a refusal, from its INFO line ("Malformed HTTP message from ...: ...")."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.messages: list[str] = []
        self.logger = logging.getLogger("squall.general")
        self.level_before = self.logger.level
        self.logger.setLevel(logging.INFO)
        self.logger.addHandler(self)

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage().partition(": ")[2])

    def reason(self) -> str:
        return self.messages[-1] if self.messages else ""

    def close(self) -> None:
        self.logger.removeHandler(self)
        self.logger.setLevel(self.level_before)
        super().close()


def h11_verdict(raw: bytes) -> Verdict:
    """Drive an h11 server connection over ``raw``, answering each request with an empty 200."""
    conn = h11.Connection(h11.SERVER, max_incomplete_event_size=64 * 1024 + 1024)
    conn.receive_data(raw)
    accepted: list[tuple[str, str, bytes]] = []
    current: list[bytes] | None = None
    method = target = ""
    try:
        while True:
            event = conn.next_event()
            if isinstance(event, h11.Request):
                method, target = event.method.decode(), event.target.decode("latin-1")
                current = []
            elif isinstance(event, h11.Data):
                assert current is not None
                current.append(event.data)
            elif isinstance(event, h11.EndOfMessage):
                assert current is not None
                accepted.append((method, target, b"".join(current)))
                current = None
                if conn.their_state is not h11.DONE:  # CONNECT or an upgrade: HTTP ends here
                    return Verdict(tuple(accepted), "closed")
                conn.send(h11.Response(status_code=200, headers=[("Content-Length", "0")]))
                conn.send(h11.EndOfMessage())
                if conn.our_state is not h11.DONE:
                    return Verdict(tuple(accepted), "closed")  # HTTP/1.0 or Connection: close
                conn.start_next_cycle()
            elif event is h11.NEED_DATA:
                pending = current is not None or conn.trailing_data[0].strip(b"\r\n")
                return Verdict(tuple(accepted), "waiting" if pending else "served")
            else:
                return Verdict(tuple(accepted), "closed")
    except h11.RemoteProtocolError as exc:
        return Verdict(tuple(accepted), str(exc.error_status_hint), str(exc))


# -- the disagreements that remain, each with its reason in docs/http1-conformance.md -----------


_NOT_REFUSED = r"served|waiting|closed"
_ANY = r"served|waiting|closed|\d{3} "


@dataclass(frozen=True)
class Known:
    """A documented disagreement: squall's side and h11's side, as patterns on the verdicts."""

    id: str
    squall: str  # regex on "<outcome> <reason>" of squall's verdict
    h11: str  # regex on "<outcome> <reason>" of h11's verdict
    raw: str = ""  # regex that must be found in the input (decoded as latin-1), if given


KNOWN = [
    # llhttp reads lines strictly: CRLF only, no bare CR or LF; h11 also takes a bare LF.
    Known("bare-lf", r"400 Bad Request: .*(Missing expected (CR|LF)|Expected (CRLF|LF))", _ANY),
    Known("bare-lf", r"400 Bad Request: .*Invalid header (field|value) char", _ANY, r"[^\r]\n"),
    # Obsolete line folding: refused (RFC 9112 §5.2 allows either); h11 unfolds it.
    Known(
        "obs-fold",
        r"400 Bad Request: .*(Unexpected whitespace after header value|Invalid header value char)",
        _ANY,
        r"\r\n[ \t]",
    ),
    # Control characters in a field value: refused (RFC 9110 §5.5); h11 keeps them (a MAY).
    Known(
        "field-ctl",
        r"400 Bad Request: .*Invalid header value char",
        _ANY,
        r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]",
    ),
    # HTTP versions other than 1.0 and 1.1 are 505; h11 serves 1.x and 2.x as 1.1.
    Known("version", r"505 ", _NOT_REFUSED),
    # A request line without a version reads as HTTP/0.9: 505 here, 400 in h11.
    Known("http-0.9", r"505 ", r"400 "),
    # Empty lines before a request line are skipped (RFC 9112 §2.2 SHOULD); h11 refuses them.
    Known("empty-lines", _NOT_REFUSED, r"400 no request line received"),
    # Runs of spaces in the request line: llhttp splits on them (RFC 9112 §3 MAY).
    Known("request-line-spaces", _NOT_REFUSED, r"400 illegal request line"),
    # The request target must be one of the four forms of RFC 9112 §3.2 (llhttp parses an
    # absolute URL strictly); h11 takes any run of visible characters.
    Known(
        "target",
        r"400 Bad Request: .*(Unexpected (start )?char in url|Invalid characters in url)",
        _NOT_REFUSED,
    ),
    # Host must be a valid uri-host[:port] (RFC 9110 §7.2 MUST); h11 does not look.
    Known("host", r"400 Invalid Host header", _NOT_REFUSED),
    # Chunk extensions are parsed (token [= token / quoted-string]); h11 skips them.
    Known("chunk-extension", r"400 Bad Request: .*Invalid character in chunk extension", _ANY),
    # No whitespace after a chunk size (RFC 9112 §7.1 gives it to extensions only), and a
    # size must fit 64 bits.
    Known(
        "chunk-size",
        r"400 Bad Request: .*(Invalid character in chunk size|Chunk size overflow)",
        _NOT_REFUSED,
    ),
    # Content-Length: one field, one value; duplicates and lists are refused (RFC 9110 §8.6
    # allows refusing); h11 merges identical values.
    Known(
        "content-length",
        r"400 Bad Request: .*(Duplicate Content-Length|Invalid character in Content-Length)",
        _NOT_REFUSED,
    ),
    # Content-Length beside Transfer-Encoding, also in trailers: refused (RFC 9112 §6.1 MAY);
    # h11 ignores the Content-Length.
    Known("cl-and-te", r"400 Bad Request: .*can't be present with", _ANY),
    # A Transfer-Encoding whose last coding is not chunked is 400 (RFC 9112 §6.3 MUST); h11
    # answers 501 for any coding it does not know.
    Known("transfer-coding", r"400 Bad Request: .*Transfer-Encoding", r"501 "),
]


def explain(raw: bytes, ours: Verdict, theirs: Verdict) -> str | None:
    """The id of the documented disagreement that covers these verdicts, if any."""
    a = f"{ours.outcome} {ours.reason}"
    b = f"{theirs.outcome} {theirs.reason}"
    text = raw.decode("latin-1")
    for known in KNOWN:
        if re.match(known.squall, a) and re.match(known.h11, b):
            if not known.raw or re.search(known.raw, text):
                return known.id
    return None


def compare(raw: bytes) -> str | None:
    """None when squall and h11 agree on ``raw``, else the documented id; fails otherwise."""
    ours = squall_verdict(raw)
    theirs = h11_verdict(raw)
    if theirs.outcome == "closed" and ours.requests[: len(theirs.requests)] == theirs.requests:
        return None  # h11 stopped serving (HTTP/1.0, upgrade); squall may go on
    if theirs.outcome == "waiting" and ours.refused:
        # h11 judges a line when it ends; llhttp at the first bad byte.
        ended = h11_verdict(raw + b"\r\n\r\n")
        if ended.refused:
            theirs = Verdict(theirs.requests, ended.outcome, ended.reason)
    if ours == theirs or (ours.requests == theirs.requests and ours.outcome == theirs.outcome):
        return None
    if ours.requests != theirs.requests[: len(ours.requests)] and not (
        theirs.requests == ours.requests[: len(theirs.requests)]
    ):
        pytest.fail(f"the parsers accepted different requests from {raw!r}: {ours} / {theirs}")
    known = explain(raw, ours, theirs)
    if known is None:
        pytest.fail(f"undocumented disagreement on {raw!r}:\n  squall: {ours}\n  h11:    {theirs}")
    return known


# -- inputs ---------------------------------------------------------------------------------------


@given(streams(max_requests=4, max_body=4096))
@settings(max_examples=examples(0.5))
@pytest.mark.timeout(timeout(0.5))
def test_valid_streams_get_the_same_verdict(reqs: list[Req]) -> None:
    raw = stream_bytes(reqs)
    ours = squall_verdict(raw)
    assert not ours.refused, ours
    assert compare(raw) is None


@st.composite
def mutations(draw: st.DrawFn) -> bytes:
    """A valid stream with one byte flipped, inserted or removed."""
    raw = bytearray(stream_bytes(draw(streams(max_requests=3, max_body=2048))))
    pos = draw(st.integers(0, len(raw) - 1))
    kind = draw(st.sampled_from(["flip", "insert", "remove"]))
    if kind == "flip":
        raw[pos] ^= draw(st.integers(1, 255))
    elif kind == "insert":
        raw.insert(pos, draw(st.integers(0, 255)))
    else:
        del raw[pos]
    return bytes(raw)


@given(mutations())
@settings(max_examples=examples(5.0))
@pytest.mark.timeout(timeout(5.0))
def test_mutated_streams_get_the_same_verdict_or_a_documented_one(raw: bytes) -> None:
    compare(raw)


POST = b"POST /s HTTP/1.1\r\nHost: a\r\n"
CHUNKED = POST + b"Transfer-Encoding: chunked\r\n\r\n"
GET = b"GET /next HTTP/1.1\r\nHost: a\r\n\r\n"

#: Classic request-smuggling shapes: (name, bytes, the documented disagreement or None).
SHAPES: list[tuple[str, bytes, str | None]] = [
    ("CL.CL differing", POST + b"Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", None),
    (
        "CL.CL identical",
        POST + b"Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello",
        "content-length",
    ),
    ("CL list", POST + b"Content-Length: 5, 5\r\n\r\nhello", "content-length"),
    (
        "CL.TE",
        POST + b"Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nX",
        "cl-and-te",
    ),
    (
        "TE.CL",
        POST + b"Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n",
        "cl-and-te",
    ),
    (
        "TE.TE identity",
        POST + b"Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\n",
        "transfer-coding",
    ),
    ("TE xchunked", POST + b"Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n", "transfer-coding"),
    (
        "TE chunked, identity",
        POST + b"Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n",
        "transfer-coding",
    ),
    ("TE identity, chunked", POST + b"Transfer-Encoding: identity, chunked\r\n\r\n0\r\n\r\n", None),
    (
        "TE chunked twice",
        POST + b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "transfer-coding",
    ),
    ("TE space before colon", POST + b"Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n", None),
    ("TE tab", POST + b"Transfer-Encoding:\tchunked\r\n\r\n0\r\n\r\n", None),
    ("TE upper case", POST + b"Transfer-Encoding: CHUNKED\r\n\r\n0\r\n\r\n", None),
    ("TE folded", POST + b"Transfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n", "obs-fold"),
    ("TE after a folded line", POST + b" Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "obs-fold"),
    ("TE after a bare LF", POST + b"X: y\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "bare-lf"),
    ("TE vertical tab", POST + b"Transfer-Encoding:\x0bchunked\r\n\r\n0\r\n\r\n", None),
    ("TE in HTTP/1.0", b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", None),
    ("CL plus sign", POST + b"Content-Length: +5\r\n\r\nhello", None),
    ("CL negative", POST + b"Content-Length: -5\r\n\r\nhello", None),
    ("CL hex", POST + b"Content-Length: 0x5\r\n\r\nhello", None),
    ("CL two numbers", POST + b"Content-Length: 5 5\r\n\r\nhello", None),
    ("CL overflow", POST + b"Content-Length: 99999999999999999999999\r\n\r\nhello", None),
    ("CL then a hidden request", POST + b"Content-Length: 0\r\n\r\n" + GET, None),
    ("chunk size with a space", CHUNKED + b"5 \r\nhello\r\n0\r\n\r\n", "chunk-size"),
    ("chunk size 0x", CHUNKED + b"0x5\r\nhello\r\n0\r\n\r\n", None),
    ("chunk size negative", CHUNKED + b"-5\r\nhello\r\n0\r\n\r\n", None),
    ("chunk size overflow", CHUNKED + b"1" * 17 + b"\r\nhello\r\n0\r\n\r\n", "chunk-size"),
    ("chunk with bare LFs", CHUNKED + b"5\nhello\n0\n\n", None),
    ("chunk data longer than its size", CHUNKED + b"5\r\nhelloXX\r\n0\r\n\r\n", None),
    ("chunk extension with a space", CHUNKED + b"5;a b\r\nhello\r\n0\r\n\r\n", "chunk-extension"),
    ("last chunk, then a request", CHUNKED + b"0\r\n\r\n" + GET, None),
    (
        "framing field in trailers",
        CHUNKED + b"5\r\nhello\r\n0\r\nContent-Length: 5\r\n\r\n",
        "cl-and-te",
    ),
    ("two Host fields", b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", None),
    ("no Host", b"GET / HTTP/1.1\r\n\r\n", None),
    ("Host with a space", b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", "host"),
    ("NUL in a value", b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x00b\r\n\r\n", None),
    ("CR in a value", b"GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n", None),
    ("space in a field name", b"GET / HTTP/1.1\r\nHost: a\r\nX Y: z\r\n\r\n", None),
    ("request line trailing space", b"GET / HTTP/1.1 \r\nHost: a\r\n\r\n", None),
    ("request line double space", b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", "request-line-spaces"),
    # Any token is a method (squall re-parses one llhttp does not know), as in h11.
    ("lower-case method", b"get / HTTP/1.1\r\nHost: a\r\n\r\n", None),
    ("unknown method", b"FOO / HTTP/1.1\r\nHost: a\r\n\r\n", None),
    ("method not a token", b"FOO,BAR / HTTP/1.1\r\nHost: a\r\n\r\n", None),
    ("HTTP/1.2", b"GET / HTTP/1.2\r\nHost: a\r\n\r\n", "version"),
    ("HTTP/2.0 request line", b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", "version"),
    ("HTTP/0.9", b"GET /\r\n\r\n", "http-0.9"),
    ("empty line first", b"\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", "empty-lines"),
    ("empty line between", b"GET / HTTP/1.1\r\nHost: a\r\n\r\n\r\n" + GET, "empty-lines"),
    ("obs-text in a value", b"GET / HTTP/1.1\r\nHost: a\r\nX: \xe9\r\n\r\n", None),
    ("GET with a body", b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc" + GET, None),
]


@pytest.mark.parametrize(
    ("raw", "expected"), [(s[1], s[2]) for s in SHAPES], ids=[s[0] for s in SHAPES]
)
def test_smuggling_shapes_get_the_same_verdict_or_the_documented_one(
    raw: bytes, expected: str | None
) -> None:
    assert compare(raw) == expected
    if expected is not None:
        assert squall_verdict(raw).refused or expected in ("empty-lines", "request-line-spaces")


def test_every_documented_disagreement_is_in_the_conformance_doc() -> None:
    text = DOC.read_text(encoding="utf-8")
    for known in KNOWN:
        assert f"`{known.id}`" in text, f"{known.id} is not in {DOC.name}"
