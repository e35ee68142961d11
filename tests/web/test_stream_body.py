"""@stream_request_body over real sockets: prepare before the body, data_received per chunk
(sync or async), the verb method after the body, per-request max_body_size and body_timeout
set in prepare, and failures while streaming."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from squall.testing import AsyncHTTPTestCase, ExpectLog, gen_test
from squall.web import Application, HTTPError, RequestHandler, stream_request_body
from tests.helpers.raw_http import RawClient, chunked, request

CHUNK_SIZE = 16  # the server hands the body over in pieces of at most this many bytes


class Journal:
    def __init__(self) -> None:
        self.events: list[str] = []
        self.chunks: list[bytes] = []
        self.closed = asyncio.Event()
        self.finished = asyncio.Event()
        self.in_body = asyncio.Event()


@stream_request_body
class StreamHandler(RequestHandler):
    journal: Journal

    def initialize(self, journal: Journal) -> None:  # type: ignore[override]
        self.journal = journal

    def prepare(self) -> None:
        self.journal.events.append("prepare")
        limit = self.get_query_argument("limit", None)
        if limit is not None:
            assert self.request.connection is not None
            self.request.connection.set_max_body_size(int(limit))
        timeout = self.get_query_argument("timeout", None)
        if timeout is not None:
            assert self.request.connection is not None
            self.request.connection.set_body_timeout(float(timeout))

    def data_received(self, chunk: bytes) -> None:
        if not self.journal.chunks:
            self.journal.events.append("data")
        self.journal.chunks.append(chunk)
        self.journal.in_body.set()
        if self.get_query_argument("fail", None) == "value":
            raise ValueError("data_received failed")
        if self.get_query_argument("fail", None) == "http":
            raise HTTPError(422, "refused in data_received")

    def _respond(self, *args: Any) -> None:
        self.journal.events.append("verb")
        self.write(
            {
                "chunks": len(self.journal.chunks),
                "total": sum(len(c) for c in self.journal.chunks),
                "sizes_ok": all(0 < len(c) <= CHUNK_SIZE for c in self.journal.chunks),
                "body": b"".join(self.journal.chunks).decode("latin-1"),
                "request_body": self.request.body.decode("latin-1"),
                "body_arguments": {k: len(v) for k, v in self.request.body_arguments.items()},
            }
        )

    post = put = get = _respond

    def on_finish(self) -> None:
        self.journal.events.append("on_finish")
        self.journal.finished.set()

    def on_connection_close(self) -> None:
        super().on_connection_close()
        self.journal.events.append("on_connection_close")
        self.journal.closed.set()


@stream_request_body
class AsyncStreamHandler(StreamHandler):
    async def prepare(self) -> None:  # type: ignore[override]
        self.journal.events.append("prepare:start")
        await asyncio.sleep(0.01)
        self.journal.events.append("prepare:end")

    async def data_received(self, chunk: bytes) -> None:  # type: ignore[override]
        self.journal.events.append(f"data:{len(self.journal.chunks)}")
        self.journal.chunks.append(chunk)
        await asyncio.sleep(0)
        if self.get_query_argument("fail", None) == "http":
            raise HTTPError(413, "too much in async data_received")

    async def post(self) -> None:  # type: ignore[override]
        await asyncio.sleep(0)
        self._respond()


@stream_request_body
class FinishInPrepareStreamHandler(StreamHandler):
    def prepare(self) -> None:
        self.journal.events.append("prepare")
        self.set_status(403)
        self.finish("no upload for you")


class BufferedHandler(RequestHandler):
    def post(self) -> None:
        self.write({"body": self.request.body.decode(), "args": self.get_body_arguments("a")})


class StreamTest(AsyncHTTPTestCase):
    def get_app(self) -> Application:
        self.journal = Journal()
        j = {"journal": self.journal}
        return Application(
            [
                ("/stream", StreamHandler, j),
                ("/async-stream", AsyncStreamHandler, j),
                ("/finish-in-prepare", FinishInPrepareStreamHandler, j),
                ("/buffered", BufferedHandler),
            ]
        )

    def get_httpserver_options(self) -> dict[str, Any]:
        return {"chunk_size": CHUNK_SIZE, "max_body_size": 1000}

    def post(self, path: str, body: bytes, **kwargs: Any) -> dict[str, Any]:
        response = self.fetch(path, method="POST", body=body, **kwargs)
        assert response.code == 200, (response.code, response.body)
        result: dict[str, Any] = json.loads(response.body)
        return result

    # -- the happy path ------------------------------------------------------------------------

    def test_body_is_streamed_in_chunks_between_prepare_and_the_verb(self) -> None:
        body = bytes(range(65, 65 + 26)) * 4  # 104 bytes
        got = self.post("/stream", body)
        assert got["body"] == body.decode()
        assert got["total"] == len(body)
        assert got["chunks"] >= len(body) // CHUNK_SIZE
        assert got["sizes_ok"]
        assert self.journal.events == ["prepare", "data", "verb", "on_finish"]

    def test_streamed_body_is_not_buffered_or_parsed(self) -> None:
        got = self.post(
            "/stream", b"a=1&b=2", headers={"Content-Type": "application/x-www-form-urlencoded"}
        )
        assert got["body"] == "a=1&b=2"
        assert got["request_body"] == ""
        assert got["body_arguments"] == {}

    def test_malformed_form_body_is_not_an_error_when_streamed(self) -> None:
        got = self.post(
            "/stream", b"junk", headers={"Content-Type": "multipart/form-data; boundary=zz"}
        )
        assert got["body"] == "junk"

    @gen_test
    async def test_chunked_upload_is_streamed(self) -> None:
        pieces = [b"first piece;", b"second;", b"x" * 40]
        client = await RawClient.connect(self.get_http_port())
        try:
            await client.send(
                request("POST", "/stream", {"Transfer-Encoding": "chunked"}, chunked(*pieces))
            )
            response = await client.read_response()
        finally:
            await client.close()
        got = json.loads(response.body)
        assert got["body"] == b"".join(pieces).decode()
        assert got["sizes_ok"]

    @gen_test
    async def test_data_received_sees_chunks_while_the_upload_is_still_arriving(self) -> None:
        client = await RawClient.connect(self.get_http_port())
        try:
            await client.send(request("POST", "/stream", {"Content-Length": "20"}) + b"0123456789")
            await self.journal.in_body.wait()
            assert b"".join(self.journal.chunks) == b"0123456789"
            assert "verb" not in self.journal.events
            await client.send(b"abcdefghij")
            response = await client.read_response()
        finally:
            await client.close()
        assert json.loads(response.body)["body"] == "0123456789abcdefghij"

    def test_get_without_body_runs_prepare_then_get(self) -> None:
        response = self.fetch("/stream")
        assert json.loads(response.body)["chunks"] == 0
        assert self.journal.events == ["prepare", "verb", "on_finish"]

    def test_async_prepare_and_data_received_are_awaited_in_order(self) -> None:
        body = b"z" * (CHUNK_SIZE * 3)
        got = self.post("/async-stream", body)
        assert got["body"] == body.decode()
        events = self.journal.events
        assert events[:2] == ["prepare:start", "prepare:end"]
        assert events[2:5] == ["data:0", "data:1", "data:2"]
        assert events[-2:] == ["verb", "on_finish"]

    def test_finishing_in_prepare_skips_body_and_verb(self) -> None:
        response = self.fetch("/finish-in-prepare", method="POST", body=b"q" * 50)
        assert response.code == 403
        assert response.body == b"no upload for you"
        assert self.journal.chunks == []
        assert "verb" not in self.journal.events

    def test_non_streaming_handler_gets_the_whole_body(self) -> None:
        response = self.fetch("/buffered", method="POST", body="a=1&a=2")
        assert json.loads(response.body) == {"body": "a=1&a=2", "args": ["1", "2"]}

    # -- per-request limits --------------------------------------------------------------------

    @gen_test
    async def test_lower_max_body_size_in_prepare_gives_413(self) -> None:
        client = await RawClient.connect(self.get_http_port())
        try:
            with ExpectLog("squall.general", ".*", required=False):
                await client.send(request("POST", "/stream?limit=10", body=b"x" * 100))
                response = await client.read_response()
        finally:
            await client.close()
        assert response.status == 413
        assert "verb" not in self.journal.events

    @gen_test
    async def test_max_body_size_in_prepare_applies_to_chunked_uploads(self) -> None:
        client = await RawClient.connect(self.get_http_port())
        try:
            with ExpectLog("squall.general", ".*", required=False):
                await client.send(
                    request(
                        "POST",
                        "/stream?limit=30",
                        {"Transfer-Encoding": "chunked"},
                        chunked(b"a" * 20, b"b" * 20, b"c" * 20),
                    )
                )
                response = await client.read_response()
        finally:
            await client.close()
        assert response.status == 413
        assert "verb" not in self.journal.events
        assert sum(map(len, self.journal.chunks)) <= 30

    def test_higher_max_body_size_in_prepare_allows_a_bigger_body(self) -> None:
        body = b"y" * 3000  # over the server's max_body_size of 1000
        got = self.post("/stream?limit=5000", body)
        assert got["total"] == 3000

    def test_body_over_the_server_limit_is_413_without_a_raised_limit(self) -> None:
        with ExpectLog("squall.general", ".*", required=False):
            response = self.fetch("/stream", method="POST", body=b"y" * 3000)
        assert response.code == 413
        assert "verb" not in self.journal.events

    @gen_test
    async def test_body_timeout_set_in_prepare_ends_a_stalled_upload(self) -> None:
        client = await RawClient.connect(self.get_http_port())
        try:
            with ExpectLog("squall", ".*", required=False):
                await client.send(
                    request("POST", "/stream?timeout=0.2", {"Content-Length": "100"}) + b"part"
                )
                response = await client.read_response()
                await client.assert_closed()
        finally:
            await client.close()
        assert response.status == 408
        assert "verb" not in self.journal.events
        await self.journal.closed.wait()

    # -- failures while streaming --------------------------------------------------------------

    @gen_test
    async def test_client_disconnect_during_upload_calls_on_connection_close(self) -> None:
        client = await RawClient.connect(self.get_http_port())
        with ExpectLog("squall.application", ".*", required=False) as errors:
            await client.send(request("POST", "/stream", {"Content-Length": "500"}) + b"x" * 20)
            await self.journal.in_body.wait()
            await client.close()
            await self.journal.closed.wait()
            await self.journal.finished.wait()  # on_finish still runs, for cleanup
        assert "verb" not in self.journal.events
        assert not errors.matched  # a client leaving is not an uncaught exception

    def test_exception_in_data_received_is_a_500(self) -> None:
        with ExpectLog("squall.application", "Uncaught exception") as log:
            response = self.fetch("/stream?fail=value", method="POST", body=b"x" * 40)
        assert log.logged_stack
        assert response.code == 500
        assert "verb" not in self.journal.events

    def test_http_error_in_async_data_received_sends_its_status(self) -> None:
        with ExpectLog("squall.general", ".*too much in async data_received"):
            response = self.fetch("/async-stream?fail=http", method="POST", body=b"x" * 40)
        assert response.code == 413
        assert b"413: Request Entity Too Large" in response.body
        assert self.journal.events.count("data:0") == 1
        assert "data:1" not in self.journal.events  # nothing more once the handler failed
        assert "verb" not in self.journal.events

    def test_http_error_in_data_received_sends_its_status(self) -> None:
        with ExpectLog("squall.general", ".*refused in data_received"):
            response = self.fetch("/stream?fail=http", method="POST", body=b"x" * 40)
        assert response.code == 422
        assert response.body == (
            b"<html><title>422: Unprocessable Entity</title>"
            b"<body>422: Unprocessable Entity</body></html>"
        )
        assert "verb" not in self.journal.events
