"""Load: pipelining keep-alive clients with bodies up to 1 MiB against a server process.

The load that found issue 13 (a valid request answered 431 when one read held the tail of a
large body and the start of the next head), rebuilt as a test: a squall ``HTTPServer`` in its
own process (uvloop, an echo delegate that streams each body back), and in this process
:data:`CLIENTS` keep-alive clients that, for :data:`SECONDS` seconds, each send batches of 1 to 4
pipelined requests (Content-Length or chunked bodies from 0 B to 1 MiB, chunk sizes drawn at
random, written in pieces of random size) and check every response byte for byte, beside
:data:`IDLE` connections that never send anything. Zero errors are allowed: no refusal, no
reset, no byte out of place, nothing logged by the server at INFO or above.

``SQUALL_LOAD_SECONDS`` lengthens the run (at least 10 s).
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Runner

ROOT = Path(__file__).resolve().parents[2]
CLIENTS = 100
IDLE = 500
SECONDS = max(10.0, float(os.environ.get("SQUALL_LOAD_SECONDS", "10")))
MAX_BODY = 1024 * 1024
BIG = 200 * 1024  # bytes: a body this large can share a read with the next head

SERVER = r"""
import asyncio, logging, signal, sys
from squall.httpserver import HTTPServer
from squall.httputil import HTTPHeaders, HTTPMessageDelegate, HTTPServerConnectionDelegate
from squall.httputil import ResponseStartLine
from squall.netutil import bind_sockets

signal.alarm(int(sys.argv[1]))  # a fuse: the test kills the server long before
logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(levelname)s %(message)s")
logging.getLogger("squall.access").setLevel(logging.WARNING)


class Echo(HTTPServerConnectionDelegate):
    def start_request(self, server_conn, request_conn):
        return Message(request_conn)


class Message(HTTPMessageDelegate):
    def __init__(self, conn):
        self.conn = conn

    def headers_received(self, start_line, headers):
        out = HTTPHeaders()
        if "Content-Length" in headers:
            out["Content-Length"] = headers["Content-Length"]
        elif "Transfer-Encoding" not in headers:
            out["Content-Length"] = "0"
        # (a chunked request gets a chunked response: no Content-Length)
        return self.conn.write_headers(ResponseStartLine("HTTP/1.1", 200, "OK"), out)

    def data_received(self, chunk):
        return self.conn.write(chunk)

    def finish(self):
        self.conn.finish()

    def on_connection_close(self):
        logging.getLogger("load").error("connection closed in the middle of a request")


async def main():
    server = HTTPServer(Echo())
    sockets = bind_sockets(0, "127.0.0.1", backlog=4096)
    server.add_sockets(sockets)
    print(sockets[0].getsockname()[1], flush=True)
    await asyncio.Event().wait()


try:
    import uvloop
    uvloop.run(main())
except ImportError:
    asyncio.run(main())
"""


@dataclass
class Tally:
    """What the clients did."""

    requests: int = 0
    bytes_echoed: int = 0
    chunked: int = 0
    big_then_more: int = 0  # a body over 200 KiB followed by another request in its batch
    largest: int = 0
    errors: list[str] = field(default_factory=list)


@pytest.fixture
def server_process() -> Iterator[tuple[subprocess.Popen[str], int]]:
    """The echo server in its own process; yields (process, port) and stops it afterwards."""
    fuse = int(SECONDS) + 120
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(fuse)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # the port, once the server listens
        assert line.strip().isdigit(), f"server did not start: {line!r} {proc.stderr.read()!r}"
        yield proc, int(line)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


def _request(rng: random.Random, pool: bytes, request_id: int) -> tuple[bytes, bytes, bool]:
    """One POST/PUT with a random body: (its bytes, the body, whether it is chunked)."""
    roll = rng.random()
    if roll < 0.5:
        size = rng.randrange(0, 4097)
    elif roll < 0.75:
        size = rng.randrange(0, 64 * 1024)
    else:
        size = rng.randrange(BIG - 50 * 1024, MAX_BODY + 1)
    start = rng.randrange(0, len(pool) - size) if size < len(pool) else 0
    body = pool[start : start + size]
    method = rng.choice([b"POST", b"PUT"])
    head = b"%s /echo/%d HTTP/1.1\r\nHost: load\r\nX-Pad: %s\r\n" % (
        method,
        request_id,
        b"p" * rng.randrange(0, 300),
    )
    if rng.random() < 0.5:
        return head + b"Content-Length: %d\r\n\r\n" % size + body, body, False
    pieces = []
    pos = 0
    while pos < size:
        n = min(size - pos, rng.choice([1, 7, 100, 4096, 65536, 300_000]))
        ext = b";n=%d" % n if rng.random() < 0.2 else b""
        pieces.append(b"%x%s\r\n%s\r\n" % (n, ext, body[pos : pos + n]))
        pos += n
    trailer = b"X-Checksum: %d\r\n" % (sum(body[:64]) if body else 0) if rng.random() < 0.2 else b""
    framed = head + b"Transfer-Encoding: chunked\r\n\r\n" + b"".join(pieces) + b"0\r\n" + trailer
    return framed + b"\r\n", body, True


async def _read_response(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    """One response: (head, body), the body decoded from Content-Length or chunked framing."""
    head = await reader.readuntil(b"\r\n\r\n")
    lower = head.lower()
    if b"\r\ncontent-length:" in lower:
        length = int(lower.split(b"\r\ncontent-length:")[1].split(b"\r\n")[0])
        return head, await reader.readexactly(length)
    assert b"\r\ntransfer-encoding: chunked" in lower, head
    parts = []
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        if size == 0:
            assert await reader.readexactly(2) == b"\r\n"
            return head, b"".join(parts)
        parts.append(await reader.readexactly(size))
        assert await reader.readexactly(2) == b"\r\n"


async def _client(port: int, seed: int, pool: bytes, until: float, tally: Tally) -> None:
    rng = random.Random(seed)
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
    request_id = seed * 1_000_000
    try:
        while time.monotonic() < until:
            batch = [_request(rng, pool, request_id + i) for i in range(rng.randint(1, 4))]
            request_id += len(batch)
            data = b"".join(raw for raw, _, _ in batch)

            async def send(data: bytes = data) -> None:
                pos = 0
                while pos < len(data):  # pieces of random size: the reads vary too
                    n = rng.choice([1, 100, 1460, 16384, 65536, 262144, 1 << 20])
                    writer.write(data[pos : pos + n])
                    pos += n
                    await writer.drain()

            sender = asyncio.create_task(send())
            for i, (_, body, chunked) in enumerate(batch):
                head, echoed = await asyncio.wait_for(_read_response(reader), 30)
                if not head.startswith(b"HTTP/1.1 200 OK\r\n") or b"close" in head.lower():
                    raise AssertionError(f"unexpected response head {head[:200]!r}")
                if echoed != body:
                    raise AssertionError(f"echo of a {len(body)}-byte body differs")
                tally.requests += 1
                tally.bytes_echoed += len(body)
                tally.chunked += chunked
                tally.largest = max(tally.largest, len(body))
                tally.big_then_more += len(body) >= BIG and i + 1 < len(batch)
            await sender
    except Exception as exc:  # every failure is counted, with what it was
        tally.errors.append(f"client {seed}: {exc!r}")
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except OSError as exc:
            tally.errors.append(f"client {seed} closing: {exc!r}")


async def _idle(port: int, holders: list[asyncio.StreamWriter]) -> None:
    """A connection that never sends a byte (the server's head timeout closes it)."""
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    holders.append(writer)


@pytest.mark.slow
def test_pipelining_clients_with_bodies_to_1_mib_get_every_byte_back_with_no_error(
    run_asyncio: Runner[Any], server_process: tuple[subprocess.Popen[str], int]
) -> None:
    proc, port = server_process
    pool = random.Random(13).randbytes(2 * MAX_BODY)
    tally = Tally()

    async def body() -> None:
        idle: list[asyncio.StreamWriter] = []
        await asyncio.gather(*(_idle(port, idle) for _ in range(IDLE)))
        until = time.monotonic() + SECONDS
        await asyncio.gather(*(_client(port, i + 1, pool, until, tally) for i in range(CLIENTS)))
        for writer in idle:
            writer.close()

    start = time.monotonic()
    run_asyncio(body(), timeout=SECONDS + 120)
    elapsed = time.monotonic() - start
    proc.send_signal(signal.SIGTERM)
    _, server_log = proc.communicate(timeout=30)
    print(
        f"\nload: {tally.requests} requests ({tally.chunked} chunked) in {elapsed:.1f} s, "
        f"{tally.bytes_echoed / 2**20:.0f} MiB echoed, largest body {tally.largest} B, "
        f"{tally.big_then_more} bodies >= 200 KiB followed by a pipelined request, "
        f"{len(tally.errors)} errors, server log lines: {len(server_log.splitlines())}"
    )
    assert tally.errors == []
    assert server_log.strip() == "", server_log[-3000:]
    assert elapsed >= SECONDS
    assert tally.requests >= CLIENTS * 5
    assert tally.big_then_more > 0
