"""The ceiling of any Python HTTP server: an ``asyncio.Protocol`` on uvloop + httptools.

    python raw_app.py SCENARIO PORT [WORKERS] [MODE]

Same command line as the other scenario apps, but only SCENARIO ``hello`` with one worker is
served (MODE is ignored): ``GET /plaintext`` answers ``Hello, World!`` (text/plain) and
``GET /json`` answers ``{"message":"Hello, World!"}`` (application/json); anything else is a
404. No framework at all: the responses are canned bytes, rebuilt once a second when the
``Date`` header changes, so a request costs the parser callbacks plus one dict lookup.

HTTP/1.1 behaviour kept correct despite the shortcuts: one response per parsed request, in
order; every response produced by one ``data_received`` leaves in a single
``transport.write``; a request that does not keep the connection alive (``Connection: close``,
or HTTP/1.0 without keep-alive) is answered with ``Connection: close`` and the connection is
closed after the write, ignoring anything pipelined behind it; HEAD gets the headers only;
unparsable input gets a 400 and a close. Reading pauses while the transport's write buffer is
over its high-water mark, so a client that pipelines without reading cannot grow it unbounded.
Needs ``uvloop`` and ``httptools`` (the peers' venv has both).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from email.utils import formatdate
from typing import cast

import httptools
import uvloop

SERVER_NAME = b"raw_uvloop"

# path -> (status line, content type, body)
ROUTES: dict[bytes, tuple[bytes, bytes, bytes]] = {
    b"/plaintext": (b"200 OK", b"text/plain", b"Hello, World!"),
    b"/json": (b"200 OK", b"application/json", b'{"message":"Hello, World!"}'),
}
NOT_FOUND = (b"404 Not Found", b"text/plain", b"Not Found")
BAD_REQUEST = (b"400 Bad Request", b"text/plain", b"Bad Request")
METHOD_NOT_ALLOWED = (b"405 Method Not Allowed", b"text/plain", b"Method Not Allowed")
EXTRA_HEADERS = {METHOD_NOT_ALLOWED[0]: b"Allow: GET, HEAD\r\n"}

KEEP, KEEP_10, CLOSE = 0, 1, 2  # which Connection header a response carries
_CONNECTION = {KEEP: b"", KEEP_10: b"Connection: keep-alive\r\n", CLOSE: b"Connection: close\r\n"}


class Canned:
    """Every response as ready-to-send bytes, rebuilt when the ``Date`` second changes."""

    def __init__(self) -> None:
        self.second = -1
        self.full: dict[tuple[bytes, int], bytes] = {}  # (path, connection kind) -> response
        self.head: dict[tuple[bytes, int], bytes] = {}  # the same without the body (HEAD)
        self.errors: dict[bytes, bytes] = {}  # status line -> response that closes
        self.refresh()

    @staticmethod
    def _build(status: bytes, ctype: bytes, body: bytes, date: bytes, conn: int) -> bytes:
        return b"".join(
            (
                b"HTTP/1.1 ",
                status,
                b"\r\nServer: ",
                SERVER_NAME,
                b"\r\nContent-Type: ",
                ctype,
                b"\r\nContent-Length: ",
                str(len(body)).encode(),
                b"\r\nDate: ",
                date,
                b"\r\n",
                _CONNECTION[conn],
                EXTRA_HEADERS.get(status, b""),
                b"\r\n",
            )
        )

    def refresh(self) -> None:
        """Rebuild the responses if the wall-clock second moved (cheap no-op otherwise)."""
        now = int(time.time())
        if now == self.second:
            return
        self.second = now
        date = formatdate(now, usegmt=True).encode()
        full, head = {}, {}
        for path, (status, ctype, body) in [*ROUTES.items(), (b"", NOT_FOUND)]:
            for conn in (KEEP, KEEP_10, CLOSE):
                h = self._build(status, ctype, body, date, conn)
                head[path, conn] = h
                full[path, conn] = h + body
        self.full, self.head = full, head
        self.errors = {
            status: self._build(status, ctype, body, date, CLOSE) + body
            for status, ctype, body in (BAD_REQUEST, METHOD_NOT_ALLOWED)
        }


CANNED = Canned()


def tick(loop: asyncio.AbstractEventLoop) -> None:
    """Refresh the canned responses, then again just after the next wall-clock second."""
    CANNED.refresh()
    loop.call_later(1.0 - time.time() % 1.0 + 0.001, tick, loop)


class HttpProtocol(asyncio.Protocol):
    """One connection: feed httptools, queue one canned response per complete request."""

    __slots__ = ("parser", "transport", "url", "out", "closing")

    def __init__(self) -> None:
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.url = b""
        self.out: list[bytes] = []
        self.closing = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None

    def pause_writing(self) -> None:
        if self.transport is not None:
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.transport is not None and not self.closing:
            self.transport.resume_reading()

    # httptools callbacks
    def on_message_begin(self) -> None:
        self.url = b""

    def on_url(self, url: bytes) -> None:
        self.url += url  # may arrive in pieces when the request line is split across reads

    def on_message_complete(self) -> None:
        if self.closing:
            return  # pipelined behind a request that closes the connection: not answered
        parser = self.parser
        if parser.should_keep_alive():
            conn = KEEP if parser.get_http_version() == "1.1" else KEEP_10
        else:
            conn = CLOSE
            self.closing = True
        method = parser.get_method()
        if method != b"GET" and method != b"HEAD":
            self.out.append(CANNED.errors[METHOD_NOT_ALLOWED[0]])
            self.closing = True
            return
        path = self.url.partition(b"?")[0]
        if path not in ROUTES:
            path = b""
        table = CANNED.full if method == b"GET" else CANNED.head
        self.out.append(table[path, conn])

    def data_received(self, data: bytes) -> None:
        if self.closing:
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self.closing = True  # no protocol switch here: answer what was parsed, then close
        except httptools.HttpParserError:
            if not self.closing:
                self.out.append(CANNED.errors[BAD_REQUEST[0]])
            self.closing = True
        transport = self.transport
        if transport is None:
            return
        if self.out:
            out = self.out
            transport.write(out[0] if len(out) == 1 else b"".join(out))
            out.clear()
        if self.closing:
            transport.close()  # after the buffered responses are flushed


def main() -> None:
    """Serve ``hello`` on 127.0.0.1:PORT until SIGINT/SIGTERM."""
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    scenario, port = sys.argv[1], int(sys.argv[2])
    workers = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    if scenario != "hello" or workers != 1:
        sys.exit(f"raw_app.py serves scenario 'hello' with 1 worker only, not {sys.argv[1:]}")
    loop = uvloop.new_event_loop()
    asyncio.set_event_loop(loop)
    server = loop.run_until_complete(
        loop.create_server(HttpProtocol, "127.0.0.1", port, reuse_address=True, backlog=4096)
    )
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, loop.stop)
    tick(loop)
    print(f"raw_uvloop {scenario} pid={os.getpid()} ready", flush=True)
    try:
        loop.run_forever()
    finally:
        server.close()
        loop.close()


if __name__ == "__main__":
    main()
