"""One fuzz input through ``HTTP1Protocol.data_received``, and the invariants checked after it.

:func:`run_one` is what the atheris entry point (``http1_fuzz.py``) calls for each input, and
what ``tests/http1/test_fuzz_regressions.py`` replays for each file in ``fuzz/regressions/``.
It needs no atheris.

An input is a control byte, then the bytes a client sends. The control byte chooses how the
bytes are cut into reads (whole; fixed pieces of 1 to 64 bytes; pieces whose sizes come from
the data), whether the application answers at once or on a later loop turn, and whether gzip
bodies are decoded. The protocol runs on the fake transport with small limits (256-byte heads,
1 KiB bodies, 64-byte body pieces), so every limit is within reach of a short input.

Invariants (a failure raises :class:`InvariantError`, which the fuzzer reports as a crash):

1. No exception escapes the protocol, and nothing is logged at ERROR (an error log is our bug).
2. Every response is well-framed: a status line, then a body that matches its Content-Length
   or its chunked framing; one final response per request the application saw, in order, at
   most one error response, and it is the last thing written.
3. The connection either keeps serving (open, every complete request answered) or closes
   after a final response; it never closes in the middle of one.
4. Memory stays bounded: what the protocol holds (targets, fields, body pieces, held reads) is
   within a constant times its limits, whatever the length of the input.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from typing import Any

from squall._http1 import HTTP1Params, HTTP1Protocol, ServerState
from squall._http1.exchange import HTTP1Exchange
from squall.httputil import (
    HTTPConnection,
    HTTPHeaders,
    HTTPMessageDelegate,
    HTTPServerConnectionDelegate,
    RequestStartLine,
    ResponseStartLine,
)
from tests.helpers.fake_transport import FakeTransport
from tests.helpers.raw_http import IncompleteResponse, parse_one

__all__ = ["InvariantError", "control_byte", "run_one"]

PARAMS = HTTP1Params(
    max_header_size=256,
    max_headers=8,
    max_body_size=1024,
    chunk_size=64,
    max_pipelined=4,
    server_header="squall/fuzz",
)
PARAMS_GZIP = replace(PARAMS, decompress=True)
MAX_READ = 4096  # bytes: the largest read the harness hands the protocol
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


class InvariantError(AssertionError):
    """An invariant of the protocol does not hold for this input."""


def control_byte(split: int = 0, deferred: bool = False, gzip: bool = False) -> int:
    """The control byte for a seed: ``split`` 0 (one read) to 63, answers, gzip."""
    return (split & 63) | (64 if deferred else 0) | (128 if gzip else 0)


class _Echo(HTTPServerConnectionDelegate):
    """Answers every request with 200 and its body (or its target), now or on a later turn."""

    def __init__(self, deferred: bool) -> None:
        self.deferred = deferred
        self.seen: list[_Message] = []

    def start_request(self, server_conn: object, request_conn: HTTPConnection) -> Any:
        msg = _Message(self, request_conn)
        self.seen.append(msg)
        return msg


class _Message(HTTPMessageDelegate):
    def __init__(self, owner: _Echo, conn: HTTPConnection) -> None:
        self.owner = owner
        self.conn = conn
        self.method = ""
        self.target = ""
        self.body: list[bytes] = []
        self.finished = False

    def headers_received(self, start_line: Any, headers: HTTPHeaders) -> None:
        assert isinstance(start_line, RequestStartLine)
        self.method, self.target = start_line.method, start_line.path

    def data_received(self, chunk: bytes) -> None:
        self.body.append(chunk)

    def finish(self) -> None:
        self.finished = True
        if self.owner.deferred:
            asyncio.get_running_loop().call_soon(self.answer)
        else:
            self.answer()

    def answer(self) -> None:
        body = b"".join(self.body) or self.target.encode("latin-1")
        headers = HTTPHeaders({"Content-Length": str(len(body))})
        self.conn.write_headers(ResponseStartLine("HTTP/1.1", 200, "OK"), headers, body)
        self.conn.finish()


class _Errors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _pieces(data: bytes, split: int) -> list[bytes]:
    if split == 0:
        return [data[i : i + MAX_READ] for i in range(0, len(data), MAX_READ)]
    if split < 32:
        size = split + 1
        return [data[i : i + size] for i in range(0, len(data), size)]
    # Sizes from the data itself: each byte of the stream also says where the next read ends.
    out = []
    pos = 0
    while pos < len(data):
        size = 1 + data[pos] % (split * 2)
        out.append(data[pos : pos + size])
        pos += size
    return out


def _check_memory(proto: HTTP1Protocol, params: HTTP1Params, read: int) -> None:
    """What the protocol holds is bounded by its limits (``read``: the largest read so far)."""
    held = len(proto._upgrade_tail) + sum(map(len, proto._held))
    if held > 2 * read:
        raise InvariantError(f"{held} bytes held while suspended (reads of {read})")
    exchanges = [e for e in proto._queue if isinstance(e, HTTP1Exchange)]
    if len(exchanges) > params.max_pipelined + 2 + read // 16:
        raise InvariantError(f"{len(exchanges)} requests queued after a {read}-byte read")
    if proto._active is not None:
        exchanges.append(proto._active)
    head_bound = 2 * params.max_header_size + 64
    body_bound = 4 * params.chunk_size + 2 * read  # the read-ahead of a queued body
    for ex in exchanges:
        head = len(ex.url) + sum(len(n) + len(v) for n, v in ex.raw_headers)
        body = sum(map(len, ex.body_pending)) + len(ex.body_rest)
        if head > head_bound or body > body_bound:
            raise InvariantError(f"a request holds {head} head and {body} body bytes")


async def _serve(stream: bytes, split: int, deferred: bool, params: HTTP1Params) -> None:
    loop = asyncio.get_running_loop()
    state = ServerState(loop, params.shortest_timeout)
    echo = _Echo(deferred)
    proto = HTTP1Protocol(echo, params, state)
    transport = FakeTransport()
    transport.protocol = proto
    proto.connection_made(transport)
    largest = 0
    try:
        for piece in _pieces(stream, split):
            for _ in range(20):  # let deferred answers run; a real transport would wait too
                if not transport.reading_paused or transport.closed:
                    break
                await asyncio.sleep(0)
            if transport.closed or transport.reading_paused:
                break
            proto.data_received(piece)
            largest = max(largest, len(piece))
            _check_memory(proto, params, largest)
        for _ in range(20):
            await asyncio.sleep(0)
        _check_output(transport, echo, stream)
    finally:
        state.close()
        if not transport.lost:
            # The peer goes away (late answers are then dropped, as on a real transport).
            transport.closed = transport.lost = True
            proto.connection_lost(None)
        for _ in range(3):
            await asyncio.sleep(0)


def _check_output(transport: FakeTransport, echo: _Echo, stream: bytes) -> None:
    out = transport.sent
    pos = 0
    finals = 0
    errors = 0
    dispatched = echo.seen
    while pos < len(out):
        if out.startswith(CONTINUE, pos):
            pos += len(CONTINUE)
            continue
        if errors:
            raise InvariantError(f"bytes after an error response: {out[pos : pos + 80]!r}")
        is_head = finals < len(dispatched) and dispatched[finals].method == "HEAD"
        try:
            try:
                resp, end = parse_one(out, pos, head_request=is_head, eof=False)
            except IncompleteResponse:
                # The refusal of a HEAD request that never reached the application has no
                # body (its method is not known here): the last thing written, and HEAD sent.
                resp, end = parse_one(out, pos, head_request=True, eof=False)
                if resp.status < 400 or end != len(out) or b"HEAD " not in stream:
                    raise
            pos = end
        except (IncompleteResponse, AssertionError, ValueError) as exc:
            raise InvariantError(f"a badly framed response ({exc}): {out[pos : pos + 120]!r}")
        if resp.status >= 400:
            errors += 1
            if not transport.closed:
                raise InvariantError(f"the connection stayed open after a {resp.status}")
        finals += 1
    answered = [m for m in dispatched if m.finished]
    if not transport.closed and finals < len(answered):
        raise InvariantError(f"{len(answered)} complete requests, {finals} responses")


_LOOP: asyncio.AbstractEventLoop | None = None


def run_one(data: bytes) -> None:
    """Run one fuzz input (control byte, then the stream); raise on a broken invariant."""
    global _LOOP
    if not data:
        return
    control, stream = data[0], data[1:]
    params = PARAMS_GZIP if control & 128 else PARAMS
    if _LOOP is None or _LOOP.is_closed():
        _LOOP = asyncio.new_event_loop()
    errors = _Errors()
    logger = logging.getLogger("squall")
    logger.addHandler(errors)
    level = logger.level
    logger.setLevel(logging.WARNING)  # refusals log at INFO: not needed here
    try:
        _LOOP.run_until_complete(_serve(stream, control & 63, bool(control & 64), params))
    finally:
        logger.removeHandler(errors)
        logger.setLevel(level)
    if errors.messages:
        raise InvariantError(f"logged at ERROR: {errors.messages}")
