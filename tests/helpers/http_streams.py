"""Generated HTTP/1.1 request streams: a model of valid requests, their bytes, and strategies.

Used by the stream-splitting property suite (``tests/http1/test_stream_splitting.py``), the
differential check against h11 (``tests/http1/test_differential.py``) and the fuzz corpus
(``fuzz/``). Every stream :func:`streams` draws is *valid*: a server must serve each request in
it, whatever the read boundaries.

- :class:`Req` is one request as the application should see it (method, target, version,
  header fields, decoded body) plus how it travels (Content-Length or chunked, chunk sizes and
  extensions, trailers, gzip, ``Expect: 100-continue``, keep-alive). :meth:`Req.wire` gives its
  bytes.
- Bodies come from a seed and a size (0 B to 1 MiB), not from hypothesis' own buffer, so large
  bodies cost nothing to draw and still shrink (to a smaller size, to seed 0).
- :func:`split_points` draws where reads end, including the shape of issue 13: at least
  200 KiB of one body and the start of the next head in the same read.
"""

from __future__ import annotations

import gzip
import random
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from hypothesis import strategies as st

__all__ = [
    "BIG_TAIL",
    "Req",
    "big_tail_streams",
    "body_bytes",
    "requests",
    "split_points",
    "stream_bytes",
    "streams",
]

BIG_TAIL = 200 * 1024  # bytes of one body that issue 13's read held beside a partial head
MAX_BODY = 1024 * 1024


def body_bytes(seed: int, size: int) -> bytes:
    """``size`` bytes determined by ``seed`` (readable text for small seeds, to ease reading
    a failing example; random bytes otherwise)."""
    if seed == 0:
        return (b"0123456789abcdef" * (size // 16 + 1))[:size]
    return random.Random(seed).randbytes(size)


@dataclass(frozen=True, repr=False)
class Req:
    """One valid request: what the application should see, and how it travels."""

    method: str = "GET"
    target: str = "/"
    version: str = "HTTP/1.1"
    host: str = "example.com"
    #: Extra header fields as sent: (name, value, whitespace before the value, after it).
    fields: tuple[tuple[str, str, str, str], ...] = ()
    body: bytes = b""
    #: "none", "length" or "chunked".
    framing: str = "none"
    #: Chunked only: the sizes of the chunks the (encoded) body is cut into, and an extension
    #: for each (b"" for none).
    chunks: tuple[int, ...] = ()
    extensions: tuple[bytes, ...] = ()
    trailers: tuple[tuple[str, str], ...] = ()
    gzip: bool = False
    expect_continue: bool = False
    #: None, "close" or "keep-alive".
    connection: str | None = None
    encoded: bytes = field(default=b"", compare=False, repr=False)

    def __repr__(self) -> str:
        # Bodies up to 1 MiB: show their size and first bytes, not all of them.
        shown = []
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if name == "encoded":
                continue
            if name == "body":
                shown.append(f"body=<{len(value)} bytes {value[:24]!r}...>")
            elif value != Req.__dataclass_fields__[name].default:
                shown.append(f"{name}={value!r}")
        return f"Req({', '.join(shown)})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        """hypothesis prints dataclasses field by field unless told otherwise."""
        printer.text(repr(self))

    @property
    def keeps_alive(self) -> bool:
        """Whether the connection stays open after this request's response."""
        if self.version == "HTTP/1.1":
            return self.connection != "close"
        return self.connection == "keep-alive"

    @property
    def wire_body(self) -> bytes:
        """The body as sent (gzip-compressed when ``gzip``), before any chunked framing."""
        if self.gzip:
            return self.encoded or gzip.compress(self.body, compresslevel=1, mtime=0)
        return self.body

    def head(self) -> bytes:
        """The request line and header section, with its empty line."""
        lines = [f"{self.method} {self.target} {self.version}", f"Host: {self.host}"]
        for name, value, before, after in self.fields:
            lines.append(f"{name}:{before}{value}{after}")
        if self.gzip:
            lines.append("Content-Encoding: gzip")
        if self.expect_continue:
            lines.append("Expect: 100-continue")
        if self.connection is not None:
            lines.append(f"Connection: {self.connection}")
        if self.framing == "length":
            lines.append(f"Content-Length: {len(self.wire_body)}")
        elif self.framing == "chunked":
            lines.append("Transfer-Encoding: chunked")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def framed_body(self) -> bytes:
        """The body as it travels (Content-Length bytes, or chunks and trailers)."""
        data = self.wire_body
        if self.framing != "chunked":
            return data
        out = []
        pos = 0
        for size, ext in zip(self.chunks, self.extensions, strict=True):
            out.append(b"%x%b\r\n%b\r\n" % (size, ext, data[pos : pos + size]))
            pos += size
        assert pos == len(data), "chunk sizes must add up to the body"
        trailer = "".join(f"{n}: {v}\r\n" for n, v in self.trailers).encode("latin-1")
        return b"".join(out) + b"0\r\n" + trailer + b"\r\n"

    def wire(self) -> bytes:
        """The request's bytes."""
        return self.head() + self.framed_body()


def stream_bytes(reqs: Sequence[Req]) -> bytes:
    """The requests one after the other (a pipelined stream)."""
    return b"".join(r.wire() for r in reqs)


# -- strategies ----------------------------------------------------------------------------------

_TOKEN = st.text("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.~", min_size=1)
_FIELD_NAMES = ["X-Custom", "accept", "User-Agent", "Cookie", "X-Repeat", "x-request-id", "Via"]
_VALUE_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789 !#$%&'()*+,-./:;<=>?@[]^_`{|}~\"\\"
_OWS = st.sampled_from(["", " ", "  ", "\t", " \t "])
_EXTENSIONS = [b"", b";a=b", b";flag", b';name="quoted; value"', b";x=1;y=2", b";e=" + b"v" * 200]


@st.composite
def _body(draw: st.DrawFn, max_size: int) -> bytes:
    edges = sorted({n for n in (BIG_TAIL + 1000, max_size) if n <= max_size})
    size = draw(
        st.one_of(
            st.integers(0, min(64, max_size)),
            st.integers(0, min(4096, max_size)),
            st.integers(0, max_size),
            st.sampled_from(edges),
        )
    )
    seed = draw(st.integers(0, 2**16))
    return body_bytes(seed, size)


@st.composite
def _target(draw: st.DrawFn) -> str:
    path = "/" + "/".join(draw(st.lists(_TOKEN, max_size=4)))
    if draw(st.booleans()):
        pairs = draw(st.lists(st.tuples(_TOKEN, _TOKEN), max_size=3))
        path += "?" + "&".join(f"{k}={v}" for k, v in pairs)
    if draw(st.integers(0, 9)) == 0:  # absolute-form (RFC 9112 §3.2.2)
        return "http://example.com" + path
    return path


@st.composite
def _chunking(draw: st.DrawFn, size: int) -> tuple[tuple[int, ...], tuple[bytes, ...]]:
    if size == 0:
        return (), ()
    cuts = sorted(set(draw(st.lists(st.integers(1, size - 1), max_size=12)) if size > 1 else []))
    bounds = [0, *cuts, size]
    sizes = tuple(b - a for a, b in zip(bounds, bounds[1:], strict=False))
    exts = tuple(draw(st.sampled_from(_EXTENSIONS)) for _ in sizes)
    return sizes, exts


@st.composite
def requests(
    draw: st.DrawFn, *, last: bool = False, max_body: int = MAX_BODY, body_min: int = 0
) -> Req:
    """One valid request; ``last`` allows one that closes the connection."""
    version = draw(st.sampled_from(["HTTP/1.1", "HTTP/1.1", "HTTP/1.1", "HTTP/1.0"]))
    method = draw(st.sampled_from(["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"]))
    if body_min:
        method = draw(st.sampled_from(["POST", "PUT"]))
    connection: str | None = None
    if version == "HTTP/1.0":
        connection = "keep-alive" if not last or draw(st.booleans()) else None
    elif last and draw(st.integers(0, 3)) == 0:
        connection = "close"
    fields = tuple(
        draw(
            st.lists(
                st.tuples(
                    st.sampled_from(_FIELD_NAMES),
                    st.text(_VALUE_CHARS, max_size=40).map(str.strip),
                    _OWS,
                    _OWS,
                ),
                max_size=5,
            )
        )
    )
    host = draw(st.sampled_from(["example.com", "example.com:8080", "127.0.0.1", "[::1]:80"]))
    req = Req(method, draw(_target()), version, host, fields, connection=connection)
    if method in ("GET", "HEAD", "OPTIONS") and not body_min:
        if version == "HTTP/1.0" and method == "OPTIONS":
            # Like Tornado, an HTTP/1.0 request other than GET or HEAD keeps the connection
            # only with a Content-Length.
            return replace(req, framing="length")
        return req
    body = draw(_body(max_body))
    if body_min and len(body) < body_min:
        body = body_bytes(len(body) + 1, body_min + len(body) % 4096)
    gz = not body_min and draw(st.integers(0, 5)) == 0  # gzip could shrink a big body
    encoded = gzip.compress(body, compresslevel=1, mtime=0) if gz else b""
    req = replace(req, body=body, gzip=gz, encoded=encoded, framing="length")
    if version == "HTTP/1.0":
        return req  # an HTTP/1.0 request keeps the connection only with a Content-Length
    req = replace(req, expect_continue=bool(body) and draw(st.integers(0, 4)) == 0)
    if draw(st.booleans()):
        sizes, exts = draw(_chunking(len(req.wire_body)))
        trailer_field = st.tuples(st.sampled_from(["X-Sum", "X-T"]), _TOKEN)
        trailers = tuple(draw(st.lists(trailer_field, max_size=2)))
        req = replace(req, framing="chunked", chunks=sizes, extensions=exts, trailers=trailers)
    return req


@st.composite
def streams(draw: st.DrawFn, *, max_requests: int = 6, max_body: int = MAX_BODY) -> list[Req]:
    """A pipelined batch of valid requests; only the last may close the connection."""
    n = draw(st.integers(1, max_requests))
    reqs = [draw(requests(max_body=max_body)) for _ in range(n - 1)]
    reqs.append(draw(requests(last=True, max_body=max_body)))
    return reqs


@st.composite
def big_tail_streams(draw: st.DrawFn) -> list[Req]:
    """A stream in which a body of more than 200 KiB is followed by another request."""
    before = draw(st.lists(requests(max_body=4096), max_size=2))
    big = draw(requests(body_min=BIG_TAIL + 1))
    after = draw(requests(last=True, max_body=4096))
    return [*before, big, after]


@st.composite
def split_points(draw: st.DrawFn, reqs: Sequence[Req]) -> list[int]:
    """Where reads end in :func:`stream_bytes` of ``reqs`` (sorted, without 0 and the end)."""
    wire = [r.wire() for r in reqs]
    total = sum(map(len, wire))
    if total < 2:
        return []
    cuts = set(draw(st.lists(st.integers(1, total - 1), max_size=24)))
    starts = [sum(map(len, wire[:i])) for i in range(len(wire))]
    # Near message boundaries, where counters are reset.
    for start in starts[1:]:
        if draw(st.booleans()):
            cuts.add(max(1, min(total - 1, start + draw(st.integers(-3, 3)))))
    # Issue 13: >= 200 KiB of one body and the start of the next head in one read.
    for i in range(1, len(reqs)):
        prev_body = len(reqs[i - 1].framed_body())
        if prev_body >= BIG_TAIL and draw(st.booleans()):
            head = len(reqs[i].head())
            cuts.add(starts[i] + draw(st.integers(1, head - 1)))
            cuts.add(starts[i] - draw(st.integers(BIG_TAIL, prev_body)))
    if total <= 4000 and draw(st.integers(0, 9)) == 0:
        cuts.update(range(1, total))  # every byte in its own read
    return sorted(c for c in cuts if 0 < c < total)
