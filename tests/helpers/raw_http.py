"""Raw HTTP/1.1 test helpers: request bytes, a strict response parser, a socket client, delegates.

Everything here speaks bytes so that tests can assert on exactly what crossed the wire:

- :func:`request` builds request bytes; :func:`parse_responses` splits a byte stream into
  :class:`Response` objects (Content-Length, chunked, no-body and close-delimited framing) and
  fails on anything it cannot account for.
- :class:`RawClient` is an asyncio-streams client that reads one response at a time and can
  check that the server closed the connection.
- :class:`RecordingDelegate` is an ``HTTPServerConnectionDelegate`` that records every request
  it sees and answers through hooks (by default a 200 with the request body, or the path).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from squall.httpserver import HTTPServer
from squall.httputil import (
    HTTPConnection,
    HTTPHeaders,
    HTTPMessageDelegate,
    HTTPServerConnectionDelegate,
    HTTPServerRequest,
    RequestStartLine,
    ResponseStartLine,
)
from squall.netutil import bind_sockets

__all__ = [
    "RawClient",
    "RecordedRequest",
    "RecordingDelegate",
    "Response",
    "chunked",
    "echo",
    "parse_one",
    "parse_responses",
    "request",
    "reply",
    "respond",
    "serving",
]

NO_BODY_STATUSES = frozenset({204, 304})


def request(
    method: str = "GET",
    target: str = "/",
    headers: dict[str, str] | list[tuple[str, str]] | None = None,
    body: bytes = b"",
    *,
    version: str = "HTTP/1.1",
    host: str | None = "example.com",
) -> bytes:
    """Build request bytes; a ``Host`` comes first unless ``host`` is None.

    A non-empty ``body`` gets a Content-Length unless the headers frame it already."""
    pairs = list(headers.items()) if isinstance(headers, dict) else list(headers or [])
    names = {name.lower() for name, _ in pairs}
    if host is not None and "host" not in names:
        pairs.insert(0, ("Host", host))
    if body and "content-length" not in names and "transfer-encoding" not in names:
        pairs.append(("Content-Length", str(len(body))))
    head = f"{method} {target} {version}\r\n" + "".join(f"{n}: {v}\r\n" for n, v in pairs)
    return head.encode("latin-1") + b"\r\n" + body


def chunked(*pieces: bytes, trailers: bytes = b"") -> bytes:
    """Frame ``pieces`` as a chunked body (empty pieces are skipped), then the last chunk."""
    out = b"".join(b"%x\r\n%b\r\n" % (len(p), p) for p in pieces if p)
    return out + b"0\r\n" + trailers + b"\r\n"


@dataclass
class Response:
    """One parsed response: status, reason, header pairs (as sent), body and its raw bytes."""

    version: str
    status: int
    reason: str
    header_pairs: list[tuple[str, str]]
    body: bytes
    raw: bytes
    chunked: bool = False

    def header(self, name: str) -> str | None:
        """The value of ``name`` (case-insensitive); None if absent; fails if repeated."""
        values = self.headers_named(name)
        assert len(values) <= 1, f"{name} sent {len(values)} times: {values}"
        return values[0] if values else None

    def headers_named(self, name: str) -> list[str]:
        """Every value sent for ``name``, in order."""
        lname = name.lower()
        return [v for n, v in self.header_pairs if n.lower() == lname]

    @property
    def closes(self) -> bool:
        """True if the response says ``Connection: close``."""
        return "close" in (self.header("Connection") or "").lower()


class IncompleteResponse(Exception):
    """The bytes end in the middle of a response."""


def _parse_head(data: bytes, pos: int) -> tuple[str, int, str, list[tuple[str, str]], int]:
    end = data.find(b"\r\n\r\n", pos)
    if end < 0:
        raise IncompleteResponse(f"no end of head in {data[pos : pos + 200]!r}")
    lines = data[pos:end].decode("latin-1").split("\r\n")
    version, _, rest = lines[0].partition(" ")
    code, _, reason = rest.partition(" ")
    assert version in ("HTTP/1.1", "HTTP/1.0"), f"bad status line {lines[0]!r}"
    assert len(code) == 3 and code.isdigit(), f"bad status line {lines[0]!r}"
    pairs: list[tuple[str, str]] = []
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        assert sep and name and name == name.strip(), f"bad header line {line!r}"
        pairs.append((name, value.strip()))
    return version, int(code), reason, pairs, end + 4


def _parse_chunked(data: bytes, pos: int) -> tuple[bytes, int]:
    body: list[bytes] = []
    while True:
        eol = data.find(b"\r\n", pos)
        if eol < 0:
            raise IncompleteResponse("no chunk size line")
        size = int(data[pos:eol].split(b";")[0], 16)
        pos = eol + 2
        if size == 0:
            # No trailers from this server: the last chunk is 0\r\n\r\n.
            if len(data) < pos + 2:
                raise IncompleteResponse("no end of last chunk")
            assert data[pos : pos + 2] == b"\r\n", f"trailer after last chunk: {data[pos:]!r}"
            return b"".join(body), pos + 2
        if len(data) < pos + size + 2:
            raise IncompleteResponse("chunk cut short")
        body.append(data[pos : pos + size])
        assert data[pos + size : pos + size + 2] == b"\r\n", "chunk not followed by CRLF"
        pos += size + 2


def parse_one(
    data: bytes, pos: int = 0, *, head_request: bool = False, eof: bool = True
) -> tuple[Response, int]:
    """Parse the response starting at ``pos``; returns it and the position after it.

    ``eof`` says the stream ended with ``data`` (a close-delimited body runs to the end)."""
    version, status, reason, pairs, pos_body = _parse_head(data, pos)
    lower = {n.lower(): v for n, v in pairs}
    is_chunked = False
    if head_request or status < 200 or status in NO_BODY_STATUSES:
        body, end = b"", pos_body
    elif "transfer-encoding" in lower:
        assert lower["transfer-encoding"] == "chunked", lower["transfer-encoding"]
        assert "content-length" not in lower, "both Content-Length and Transfer-Encoding"
        body, end = _parse_chunked(data, pos_body)
        is_chunked = True
    elif "content-length" in lower:
        length = int(lower["content-length"])
        end = pos_body + length
        if len(data) < end:
            raise IncompleteResponse(f"body has {len(data) - pos_body} of {length} bytes")
        body = data[pos_body:end]
    else:
        if not eof:
            raise IncompleteResponse("close-delimited body")
        body, end = data[pos_body:], len(data)
    resp = Response(version, status, reason, pairs, body, data[pos:end], is_chunked)
    return resp, end


def parse_responses(data: bytes, *, head_requests: int = 0) -> list[Response]:
    """Split ``data`` into responses; every byte must belong to one.

    Interim ``1xx`` responses are returned as responses of their own. The first
    ``head_requests`` final responses are parsed as answers to HEAD (no body)."""
    out: list[Response] = []
    pos = 0
    heads = head_requests
    while pos < len(data):
        is_head = False
        if heads:
            # Peek at the status: an interim response does not use up a HEAD.
            status = int(data[pos + 9 : pos + 12])
            is_head = status >= 200
            heads -= is_head
        resp, pos = parse_one(data, pos, head_request=is_head)
        out.append(resp)
    return out


class RawClient:
    """A client over asyncio streams that reads responses one at a time."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self._buf = b""

    @classmethod
    async def connect(cls, port: int, host: str = "127.0.0.1", **kwargs: Any) -> RawClient:
        """Open a connection to ``host:port`` (extra arguments go to ``open_connection``)."""
        reader, writer = await asyncio.open_connection(host, port, **kwargs)
        return cls(reader, writer)

    async def send(self, data: bytes) -> None:
        """Write ``data`` and wait until it is handed to the kernel."""
        self.writer.write(data)
        await self.writer.drain()

    def send_nowait(self, data: bytes) -> None:
        """Queue ``data`` without waiting (for bodies the server may echo while reading)."""
        self.writer.write(data)

    async def read_response(self, *, head_request: bool = False, timeout: float = 10.0) -> Response:
        """Read exactly one response (an interim 1xx counts as one)."""
        async with asyncio.timeout(timeout):
            while True:
                try:
                    resp, end = parse_one(self._buf, head_request=head_request, eof=False)
                except IncompleteResponse:
                    data = await self.reader.read(65536)
                    if not data:
                        resp, end = parse_one(self._buf, head_request=head_request, eof=True)
                        self._buf = self._buf[end:]
                        return resp
                    self._buf += data
                    continue
                self._buf = self._buf[end:]
                return resp

    async def read_until_eof(self, timeout: float = 10.0) -> bytes:
        """Everything the server sends until it closes (fails after ``timeout`` seconds)."""
        async with asyncio.timeout(timeout):
            rest = await self.reader.read()
        data, self._buf = self._buf + rest, b""
        return data

    async def assert_closed(self, timeout: float = 10.0) -> None:
        """Assert the server closes the connection without sending anything more."""
        try:
            rest = await self.read_until_eof(timeout)
        except ConnectionResetError:
            return
        assert rest == b"", f"unexpected bytes before close: {rest[:200]!r}"

    async def close(self) -> None:
        """Close our side and wait for the transport to go away."""
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except (ConnectionError, OSError):
            pass

    async def __aenter__(self) -> RawClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


# ---------------------------------------------------------------------------------------------
# Delegates


@dataclass
class RecordedRequest:
    """What a :class:`RecordingDelegate` saw of one request."""

    conn: HTTPConnection
    server_conn: object
    start_line: RequestStartLine | None = None
    headers: HTTPHeaders | None = None
    chunks: list[bytes] = field(default_factory=list)
    finished: bool = False
    closed: bool = False

    @property
    def body(self) -> bytes:
        """The body pieces joined."""
        return b"".join(self.chunks)

    @property
    def path(self) -> str:
        """The request target."""
        assert self.start_line is not None
        return self.start_line.path


Hook = Callable[[RecordedRequest], "Awaitable[None] | None"]
DataHook = Callable[[RecordedRequest, bytes], "Awaitable[None] | None"]


def respond(
    rec: RecordedRequest,
    body: bytes = b"ok",
    status: int = 200,
    headers: dict[str, str] | None = None,
    *,
    finish: bool = True,
) -> None:
    """Answer ``rec`` with ``body`` and a Content-Length (plus ``headers``)."""
    h = HTTPHeaders(headers or {})
    if "Content-Length" not in h:
        h["Content-Length"] = str(len(body))
    reason = {200: "OK", 201: "Created", 204: "No Content", 304: "Not Modified"}.get(status, "")
    rec.conn.write_headers(ResponseStartLine("HTTP/1.1", status, reason), h, body)
    if finish:
        rec.conn.finish()


def echo(rec: RecordedRequest) -> None:
    """The default answer: 200 with the request body, or the path when there is none."""
    respond(rec, rec.body or rec.path.encode("latin-1"))


class _Message(HTTPMessageDelegate):
    def __init__(self, owner: RecordingDelegate, rec: RecordedRequest) -> None:
        self.owner = owner
        self.rec = rec

    def headers_received(
        self, start_line: RequestStartLine | ResponseStartLine, headers: HTTPHeaders
    ) -> Awaitable[None] | None:
        assert isinstance(start_line, RequestStartLine)
        self.rec.start_line = start_line
        self.rec.headers = headers
        hook = self.owner.on_headers
        return None if hook is None else hook(self.rec)

    def data_received(self, chunk: bytes) -> Awaitable[None] | None:
        assert not self.rec.finished, "data_received after finish"
        self.rec.chunks.append(chunk)
        hook = self.owner.on_data
        return None if hook is None else hook(self.rec, chunk)

    def finish(self) -> None:
        assert not self.rec.finished, "finish twice"
        self.rec.finished = True
        hook = self.owner.on_finish
        if hook is not None:
            hook(self.rec)

    def on_connection_close(self) -> None:
        self.rec.closed = True


class RecordingDelegate(HTTPServerConnectionDelegate):
    """Records every request; answers through ``on_headers``/``on_data``/``on_finish`` hooks.

    By default ``on_finish`` is :func:`echo`. Set a hook to None to do nothing at that point."""

    def __init__(
        self,
        on_finish: Hook | None = echo,
        *,
        on_headers: Hook | None = None,
        on_data: DataHook | None = None,
    ) -> None:
        self.requests: list[RecordedRequest] = []
        self.on_finish = on_finish
        self.on_headers = on_headers
        self.on_data = on_data
        self.closed_connections: list[object] = []

    def start_request(
        self, server_conn: object, request_conn: HTTPConnection
    ) -> HTTPMessageDelegate:
        """Record a new request."""
        rec = RecordedRequest(request_conn, server_conn)
        self.requests.append(rec)
        return _Message(self, rec)

    def on_close(self, server_conn: object) -> None:
        """Record a closed connection."""
        self.closed_connections.append(server_conn)

    @property
    def paths(self) -> list[str]:
        """The request targets seen so far, in order."""
        return [r.path for r in self.requests if r.start_line is not None]


# ---------------------------------------------------------------------------------------------
# Real servers


def reply(
    req: HTTPServerRequest,
    body: bytes = b"ok",
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> None:
    """Answer a plain-callable request through ``request.connection`` with a Content-Length."""
    conn = req.connection
    assert conn is not None
    h = HTTPHeaders({"Content-Length": str(len(body))})
    h.update(headers or {})
    conn.write_headers(ResponseStartLine("HTTP/1.1", status, "OK"), h, body)
    conn.finish()


@asynccontextmanager
async def serving(
    app: HTTPServerConnectionDelegate | Callable[[HTTPServerRequest], Any],
    host: str = "127.0.0.1",
    **kwargs: Any,
) -> AsyncIterator[tuple[HTTPServer, int]]:
    """Run an ``HTTPServer`` on the running loop on a free port of ``host``.

    Yields ``(server, port)``; afterwards stops it and closes every connection."""
    server = HTTPServer(app, **kwargs)
    sockets = bind_sockets(0, host)
    port: int = sockets[0].getsockname()[1]
    server.add_sockets(sockets)
    try:
        yield server, port
    finally:
        server.stop()
        await server.close_all_connections()
