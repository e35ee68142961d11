"""Tests for squall.wsgi.WSGIContainer over real sockets, on asyncio and uvloop."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any
from wsgiref.validate import validator

import pytest

from squall.web import Application, FallbackHandler, RequestHandler
from squall.wsgi import WSGIContainer
from tests.conftest import Runner
from tests.helpers.raw_http import RawClient, Response, request, serving

Environ = dict[str, Any]
StartResponse = Callable[..., Any]


def hello(environ: Environ, start_response: StartResponse) -> list[bytes]:
    start_response("200 OK", [("X-App", "wsgi")])
    return [b"Hello ", b"world"]


def typed_hello(environ: Environ, start_response: StartResponse) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"Hello ", b"world"]


async def fetch(app: Any, raw: bytes, *, head: bool = False) -> Response:
    async with serving(app) as (_, port), await RawClient.connect(port) as client:
        await client.send(raw)
        return await client.read_response(head_request=head)


@pytest.fixture
def pool() -> Iterator[concurrent.futures.ThreadPoolExecutor]:
    with concurrent.futures.ThreadPoolExecutor(4) as executor:
        yield executor


def test_list_body_gets_content_length_and_default_content_type(run: Runner[Any]) -> None:
    resp = run(fetch(WSGIContainer(hello), request("GET", "/")))
    assert resp.status == 200 and resp.body == b"Hello world"
    assert resp.header("Content-Length") == "11"
    assert resp.header("Content-Type") == "text/html; charset=UTF-8"
    assert resp.header("X-App") == "wsgi"
    assert not resp.chunked


def test_environ_follows_pep_3333(run: Runner[Any]) -> None:
    seen: list[Environ] = []

    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        length = int(environ["CONTENT_LENGTH"])
        seen.append(dict(environ, body=environ["wsgi.input"].read(length)))
        start_response("201 Created", [("Content-Type", "text/plain")])
        return [b""]

    raw = request(
        "POST",
        "/a%20b/caf%C3%A9?x=1&y=%20",
        headers=[("Content-Type", "text/plain"), ("X-Twice", "1"), ("X-Twice", "2")],
        body=b"payload",
        host="Example.com:8080",
    )
    resp = run(fetch(WSGIContainer(validator(app)), raw))
    assert resp.status == 201 and resp.reason == "Created"
    env = seen[0]
    assert env["REQUEST_METHOD"] == "POST"
    assert env["SCRIPT_NAME"] == ""
    assert env["PATH_INFO"] == "/a b/caf\xc3\xa9"  # the raw bytes as latin-1, per PEP 3333
    assert env["QUERY_STRING"] == "x=1&y=%20"
    assert (env["SERVER_NAME"], env["SERVER_PORT"]) == ("example.com", "8080")
    assert env["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert env["REMOTE_ADDR"] == "127.0.0.1"
    assert env["CONTENT_TYPE"] == "text/plain" and env["CONTENT_LENGTH"] == "7"
    assert "HTTP_CONTENT_TYPE" not in env and "HTTP_CONTENT_LENGTH" not in env
    assert env["HTTP_X_TWICE"] == "1,2"
    assert env["HTTP_HOST"] == "Example.com:8080"
    assert env["wsgi.url_scheme"] == "http" and env["wsgi.version"] == (1, 0)
    assert env["wsgi.multithread"] is False
    assert env["body"] == b"payload"


def test_iterator_body_streams_chunked_runs_in_the_executor_and_is_closed(
    run: Runner[Any], pool: concurrent.futures.ThreadPoolExecutor
) -> None:
    threads: list[threading.Thread] = []
    closed: list[bool] = []

    class Body:
        def __iter__(self) -> Iterator[bytes]:
            for piece in (b"one ", b"", b"two ", b"three"):
                threads.append(threading.current_thread())
                yield piece

        def close(self) -> None:
            closed.append(True)

    def app(environ: Environ, start_response: StartResponse) -> Body:
        assert environ["wsgi.multithread"] is True
        start_response("200 OK", [("Content-Type", "text/plain")])
        return Body()

    resp = run(fetch(WSGIContainer(validator(app), executor=pool), request("GET", "/")))
    assert resp.status == 200 and resp.body == b"one two three"
    assert resp.chunked and resp.header("Content-Length") is None
    assert closed == [True]
    assert threads and threading.main_thread() not in threads


def test_app_declared_content_length_is_kept_when_streaming(run: Runner[Any]) -> None:
    def app(environ: Environ, start_response: StartResponse) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Length", "6"), ("Content-Type", "text/plain")])
        yield b"abc"
        yield b"def"

    resp = run(fetch(WSGIContainer(validator(app)), request("GET", "/")))
    assert resp.body == b"abcdef" and not resp.chunked


def test_head_request_gets_headers_only(run: Runner[Any]) -> None:
    resp = run(fetch(WSGIContainer(hello), request("HEAD", "/"), head=True))
    assert resp.status == 200 and resp.body == b""
    assert resp.header("Content-Length") == "11"


def test_legacy_write_callable_output_comes_first(run: Runner[Any]) -> None:
    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        write = start_response("200 OK", [])
        write(b"written ")
        return [b"returned"]

    resp = run(fetch(WSGIContainer(app), request("GET", "/")))
    assert resp.body == b"written returned"


def test_error_before_output_gives_500_and_is_logged(
    run: Runner[Any], caplog: pytest.LogCaptureFixture
) -> None:
    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        raise ZeroDivisionError("boom")

    with caplog.at_level(logging.ERROR, logger="squall.application"):
        resp = run(fetch(WSGIContainer(app), request("GET", "/")))
    assert resp.status == 500 and b"500" in resp.body
    errors = [r for r in caplog.records if r.name == "squall.application"]
    assert len(errors) == 1 and "WSGI application" in errors[0].getMessage()
    assert errors[0].exc_info is not None and errors[0].exc_info[0] is ZeroDivisionError


def test_start_response_with_exc_info_replaces_status_before_output(run: Runner[Any]) -> None:
    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        try:
            raise KeyError("x")
        except KeyError:
            headers = [("Retry-After", "1"), ("Content-Type", "text/plain")]
            start_response("503 Service Unavailable", headers, sys.exc_info())
        return [b"later"]

    resp = run(fetch(WSGIContainer(validator(app)), request("GET", "/")))
    assert resp.status == 503 and resp.header("Retry-After") == "1"


def test_bad_status_and_double_start_response_give_500(
    run: Runner[Any], caplog: pytest.LogCaptureFixture
) -> None:
    def bad_status(environ: Environ, start_response: StartResponse) -> list[bytes]:
        start_response("OK", [])
        return [b""]

    def twice(environ: Environ, start_response: StartResponse) -> list[bytes]:
        start_response("200 OK", [])
        start_response("200 OK", [])
        return [b""]

    with caplog.at_level(logging.ERROR, logger="squall.application"):
        assert run(fetch(WSGIContainer(bad_status), request())).status == 500
        assert run(fetch(WSGIContainer(twice), request())).status == 500
    messages = [r.exc_info[1] for r in caplog.records if r.exc_info]
    assert "3-digit" in str(messages[0]) and "twice" in str(messages[1])


def test_error_mid_stream_ends_the_response_and_closes_the_body(
    run: Runner[Any], caplog: pytest.LogCaptureFixture
) -> None:
    closed: list[bool] = []

    class Body:
        def __iter__(self) -> Iterator[bytes]:
            yield b"partial"
            raise RuntimeError("mid-stream")

        def close(self) -> None:
            closed.append(True)

    def app(environ: Environ, start_response: StartResponse) -> Body:
        start_response("200 OK", [])
        return Body()

    with caplog.at_level(logging.ERROR, logger="squall.application"):
        resp = run(fetch(WSGIContainer(app), request()))
    assert resp.status == 200 and resp.body == b"partial"
    assert closed == [True]
    assert any("WSGI application" in r.getMessage() for r in caplog.records)


def test_client_disconnect_stops_the_iteration_without_an_error(
    run: Runner[Any], pool: concurrent.futures.ThreadPoolExecutor, caplog: pytest.LogCaptureFixture
) -> None:
    closed = threading.Event()

    class Endless:
        def __iter__(self) -> Iterator[bytes]:
            while True:  # only the disconnect can stop it
                yield b"x" * 65536

        def close(self) -> None:
            closed.set()

    def app(environ: Environ, start_response: StartResponse) -> Endless:
        start_response("200 OK", [])
        return Endless()

    async def body() -> None:
        async with serving(WSGIContainer(app, executor=pool)) as (_, port):
            client = await RawClient.connect(port)
            await client.send(request())
            await client.reader.readexactly(1000)
            await client.close()
            loop = asyncio.get_running_loop()
            assert await loop.run_in_executor(None, closed.wait, 10)

    with caplog.at_level(logging.ERROR, logger="squall.application"):
        run(body())
    assert not [r for r in caplog.records if r.name == "squall.application"]


def test_fallback_handler_serves_wsgi_beside_request_handlers(
    run: Runner[Any], pool: concurrent.futures.ThreadPoolExecutor, caplog: pytest.LogCaptureFixture
) -> None:
    class Native(RequestHandler):
        def get(self) -> None:
            self.write("native")

    container = WSGIContainer(validator(typed_hello), executor=pool)
    app = Application(
        [("/native", Native), (r"/legacy/.*", FallbackHandler, {"fallback": container})]
    )

    def logged() -> bool:
        return any("200 GET /legacy/x (127.0.0.1)" in r.getMessage() for r in caplog.records)

    async def body() -> tuple[Response, Response]:
        async with serving(app) as (_, port), await RawClient.connect(port) as client:
            await client.send(request("GET", "/legacy/x"))
            first = await client.read_response()
            await client.send(request("GET", "/native"))  # same connection: kept alive
            second = await client.read_response()
            while not logged():  # the container logs just after the response went out
                await asyncio.sleep(0.01)
            return first, second

    with caplog.at_level(logging.INFO, logger="squall.access"):
        legacy, native = run(body(), timeout=10)
    assert legacy.body == b"Hello world" and native.body == b"native"


def test_concurrent_requests_run_in_parallel_on_a_thread_pool(
    run: Runner[Any], pool: concurrent.futures.ThreadPoolExecutor
) -> None:
    barrier = threading.Barrier(2, timeout=5)

    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        start_response("200 OK", [])
        return [b"%d" % barrier.wait()]

    async def one(port: int) -> Response:
        async with await RawClient.connect(port) as client:
            await client.send(request())
            return await client.read_response()

    async def body() -> list[bytes]:
        async with serving(WSGIContainer(app, executor=pool)) as (_, port):
            responses = await asyncio.gather(one(port), one(port))
            return sorted(r.body for r in responses)

    assert run(body()) == [b"0", b"1"]
