"""squall serve's per-request layer (``squall/_cli/request_layer.py``) on a fake connection.

The behaviour over real processes (request ids, the 503 cap, the root path, access lines) is
in ``test_serve_options.py`` and ``test_serve_logging.py``; these tests pin what the app sees
of ``request.connection`` through the layer, and its counting, in both builds.
"""

from __future__ import annotations

from typing import Any

from squall._cli.request_layer import ServeSettings, ServingConnection, ServingDelegate
from squall._supervisor.worker import Worker
from squall.httputil import (
    HTTPConnection,
    HTTPHeaders,
    HTTPMessageDelegate,
    HTTPServerConnectionDelegate,
    RequestStartLine,
    ResponseStartLine,
)


class FakeContext:
    remote_ip = "10.0.0.7"
    protocol = "https"


class FakeConnection(HTTPConnection):
    """Records what the layer passes on."""

    def __init__(self) -> None:
        self.context = FakeContext()
        self.stream = "the stream"
        self.written: list[Any] = []
        self.finished = False
        self.close_callback: Any = None
        self.detached = False

    def write_headers(
        self, start_line: Any, headers: HTTPHeaders, chunk: bytes | None = None
    ) -> Any:
        self.written.append((start_line, dict(headers.get_all()), chunk))
        return None

    def write(self, chunk: bytes) -> Any:
        self.written.append(chunk)
        return None

    def finish(self) -> None:
        self.finished = True

    def set_close_callback(self, callback: Any) -> None:
        self.close_callback = callback

    def detach(self) -> str:
        self.detached = True
        return "detached stream"


class App(HTTPServerConnectionDelegate):
    """Answers every request with 201 and the id it saw, through the connection it gets."""

    def __init__(self) -> None:
        self.connections: list[HTTPConnection] = []
        self.headers: list[HTTPHeaders] = []

    def start_request(self, server_conn: object, request_conn: HTTPConnection) -> Any:
        app = self

        class Message(HTTPMessageDelegate):
            def headers_received(self, start_line: Any, headers: HTTPHeaders) -> None:
                app.connections.append(request_conn)
                app.headers.append(headers)

            def finish(self) -> None:
                out = HTTPHeaders({"Content-Length": "5"})
                request_conn.write_headers(ResponseStartLine("HTTP/1.1", 201, "Created"), out)
                request_conn.write(b"hello")
                request_conn.finish()

        return Message()


def serve_one(
    settings: ServeSettings, worker: Worker, headers: dict[str, str] | None = None
) -> tuple[App, FakeConnection]:
    app = App()
    conn = FakeConnection()
    message = ServingDelegate(app, worker, settings).start_request(object(), conn)
    message.headers_received(RequestStartLine("GET", "/x", "HTTP/1.1"), HTTPHeaders(headers or {}))
    message.finish()
    return app, conn


def test_the_app_sees_the_protocol_connection_through_the_layer() -> None:
    worker = Worker(sockets=[], graceful_timeout=1.0)
    app, conn = serve_one(ServeSettings(None, None, None), worker)
    seen = app.connections[0]
    assert isinstance(seen, ServingConnection)
    assert seen.context is conn.context
    assert seen.stream == "the stream"
    assert seen.peer() == ("10.0.0.7", "https")


def test_a_new_request_id_reaches_the_app_and_the_response_and_the_request_is_counted() -> None:
    worker = Worker(sockets=[], graceful_timeout=1.0)
    app, conn = serve_one(ServeSettings(None, None, None), worker)
    request_id = app.headers[0]["X-Request-Id"]
    assert len(request_id) == 16 and int(request_id, 16) >= 0
    start_line, headers, _ = conn.written[0]
    assert start_line.code == 201
    assert headers["X-Request-Id"] == request_id
    assert conn.written[1] == b"hello" and conn.finished
    assert worker.served == 1 and worker.inflight == 0
    seen = app.connections[0]
    assert isinstance(seen, ServingConnection)
    assert (seen.status, seen.bytes) == (201, 5)


def test_ids_are_unique_and_a_clients_printable_id_is_kept() -> None:
    worker = Worker(sockets=[], graceful_timeout=1.0)
    settings = ServeSettings(None, None, None)
    ids = {serve_one(settings, worker)[0].headers[0]["X-Request-Id"] for _ in range(50)}
    assert len(ids) == 50
    kept = serve_one(settings, worker, {"X-Request-Id": "proxy-id:42"})
    assert kept[0].headers[0]["X-Request-Id"] == "proxy-id:42"
    replaced = serve_one(settings, worker, {"X-Request-Id": "bad id with spaces"})
    assert replaced[0].headers[0]["X-Request-Id"] != "bad id with spaces"


def test_over_the_cap_the_app_never_sees_the_request() -> None:
    worker = Worker(sockets=[], graceful_timeout=1.0)
    worker.request_started()  # one request already in flight
    app, conn = serve_one(ServeSettings(1, None, None), worker)
    assert app.connections == []
    start_line, headers, body = conn.written[0]
    assert (start_line.code, headers["Retry-After"], headers["Connection"]) == (503, "1", "close")
    assert body.startswith(b"503 Service Unavailable") and conn.finished


def test_detach_passes_through_and_ends_the_request_for_counting() -> None:
    worker = Worker(sockets=[], graceful_timeout=1.0)
    app = App()
    conn = FakeConnection()
    message = ServingDelegate(app, worker, ServeSettings(None, None, None)).start_request(
        object(), conn
    )
    message.headers_received(RequestStartLine("GET", "/x", "HTTP/1.1"), HTTPHeaders())
    seen = app.connections[0]
    assert isinstance(seen, ServingConnection)
    assert seen.detach() == "detached stream" and conn.detached
    assert worker.inflight == 0 and worker.served == 1
