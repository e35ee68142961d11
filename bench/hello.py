"""Hello-world benchmark app on squall's raw server API (no framework).

    python bench/hello.py PORT

``GET /plaintext`` -> ``Hello, World!`` (text/plain); ``GET /json`` -> ``{"message": ...}``.
An ``HTTPServerConnectionDelegate`` answers through ``write_headers`` + ``finish``: the
protocol layer's cost, measured in ``bench/README.md`` against the peers.
"""

from __future__ import annotations

import sys
from typing import Any

from squall.escape import json_encode
from squall.httpserver import HTTPServer
from squall.httputil import (
    HTTPConnection,
    HTTPHeaders,
    HTTPMessageDelegate,
    HTTPServerConnectionDelegate,
    RequestStartLine,
    ResponseStartLine,
)
from squall.ioloop import IOLoop

OK = ResponseStartLine("HTTP/1.1", 200, "OK")
NOT_FOUND = ResponseStartLine("HTTP/1.1", 404, "Not Found")
PLAIN = b"Hello, World!"


class Hello(HTTPMessageDelegate):
    __slots__ = ("conn", "path")

    def __init__(self, conn: HTTPConnection) -> None:
        self.conn = conn
        self.path = ""

    def headers_received(self, start_line, headers):  # type: ignore[no-untyped-def]
        self.path = start_line.path
        return None

    def finish(self) -> None:
        # Bodies and header objects are built once per endpoint (write_headers does not change
        # them); the protocol adds Date and Server.
        start, headers, body = RESPONSES.get(self.path, NOT_FOUND_RESPONSE)
        self.conn.write_headers(start, headers, body)
        self.conn.finish()


def _response(start: ResponseStartLine, ctype: str, body: bytes) -> tuple[Any, HTTPHeaders, bytes]:
    return start, HTTPHeaders({"Content-Type": ctype, "Content-Length": str(len(body))}), body


RESPONSES = {
    "/plaintext": _response(OK, "text/plain", PLAIN),
    "/json": _response(OK, "application/json", json_encode({"message": "Hello, World!"}).encode()),
}
NOT_FOUND_RESPONSE = _response(NOT_FOUND, "text/plain", b"Not Found")


class App(HTTPServerConnectionDelegate):
    def start_request(self, server_conn: object, request_conn: HTTPConnection) -> Hello:
        return Hello(request_conn)


def main() -> None:
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8001
    HTTPServer(App()).listen(port, "127.0.0.1")
    IOLoop.current().start()


if __name__ == "__main__":
    _ = RequestStartLine
    main()
