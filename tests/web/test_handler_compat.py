"""RequestHandler details that Tornado code relies on, over real sockets: unimplemented verbs
are one function object, ``finish``/``flush`` return an ``asyncio.Future``, cancellation
inside and around a handler, ``HTTPError(204)``, ``compute_etag`` returning bytes, and path
values that are not UTF-8 reaching a handler with its own ``decode_argument``."""

from __future__ import annotations

import asyncio
import json
from typing import Any, ClassVar
from unittest.mock import MagicMock

import pytest

from squall.httputil import HTTPServerRequest
from squall.testing import AsyncHTTPTestCase, ExpectLog, gen_test
from squall.web import Application, HTTPError, RequestHandler


class PostOnly(RequestHandler):
    def post(self) -> None:
        self.write("posted")


def test_unimplemented_verbs_are_the_very_function_of_the_base_class() -> None:
    unimplemented = RequestHandler._unimplemented_method
    for verb in ("head", "get", "post", "delete", "patch", "put", "options"):
        assert getattr(RequestHandler, verb) is unimplemented, verb
        assert getattr(PostOnly, verb) is (PostOnly.post if verb == "post" else unimplemented), verb
    # The check an application makes: "which methods does this handler implement?"
    implemented = [
        verb
        for verb in ("get", "post", "put")
        if getattr(PostOnly, verb) is not RequestHandler._unimplemented_method
    ]
    assert implemented == ["post"]


class Quiet(RequestHandler):
    def get(self) -> None:
        self.write("unused")


def _by_hand(connection: Any) -> Quiet:
    """A handler made the way jupyter_server's tests make one: no server, a stand-in
    connection set on the request."""
    request = HTTPServerRequest("GET", "/")
    request.connection = connection
    return Quiet(Application(), request)


def test_a_connections_non_awaitable_answer_is_passed_through_by_flush_and_finish() -> None:
    async def main() -> None:
        connection = MagicMock()
        handler = _by_hand(connection)
        handler.write("first")
        assert handler.flush() is connection.write_headers.return_value
        connection.write_headers.assert_called_once()
        handler.write("second")
        assert handler.finish() is connection.write.return_value
        connection.write.assert_called_once_with(b"second")
        connection.finish.assert_called_once_with()

        answers_none = MagicMock()
        answers_none.write_headers.return_value = None
        assert _by_hand(answers_none).finish() is None
        answers_none.finish.assert_called_once_with()

    asyncio.run(main())


def test_a_connections_awaitable_answer_still_becomes_an_asyncio_future() -> None:
    async def written() -> None:
        return None

    async def main() -> None:
        connection = MagicMock()
        connection.write_headers.side_effect = lambda *args: written()
        finished = _by_hand(connection).finish("body")
        assert isinstance(finished, asyncio.Future)
        assert await finished is None

    asyncio.run(main())


class Journal:
    returned: ClassVar[list[Any]] = []
    task: ClassVar[asyncio.Task[Any] | None] = None
    started: ClassVar[asyncio.Event | None] = None


class FinishReturnsFuture(RequestHandler):
    async def get(self) -> None:
        self.write("hello, ")
        flushed = self.flush()
        Journal.returned.append(flushed)
        await flushed
        finished = self.finish("world")
        Journal.returned.append(finished)
        await finished


class AwaitsCancelled(RequestHandler):
    async def get(self) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        future.cancel()
        await future


class RaisesCancelled(RequestHandler):
    def get(self) -> None:
        raise asyncio.CancelledError()


class CancelledFromOutside(RequestHandler):
    async def get(self) -> None:
        Journal.task = asyncio.current_task()
        assert Journal.started is not None
        Journal.started.set()
        await asyncio.get_running_loop().create_future()  # never resolves


class NoContentByError(RequestHandler):
    def get(self) -> None:
        self.set_header("Content-Type", "text/plain")
        raise HTTPError(204)


class BytesEtag(RequestHandler):
    def get(self, tag: str) -> None:
        self.write(tag)

    def compute_etag(self) -> bytes | None:
        return self._write_buffer[0]


class Latin1Args(RequestHandler):
    def decode_argument(self, value: bytes, name: str | None = None) -> Any:
        return value.decode("latin-1")

    def get(self, *args: Any, **kwargs: Any) -> None:
        self.write({"args": list(args), "kwargs": kwargs, "q": self.get_argument("q", "")})


class PlainArgs(RequestHandler):
    def get(self, arg: str) -> None:
        self.write(arg)


class CompatTest(AsyncHTTPTestCase):
    def get_app(self) -> Application:
        return Application(
            [
                ("/post-only", PostOnly),
                ("/finish-future", FinishReturnsFuture),
                ("/awaits-cancelled", AwaitsCancelled),
                ("/raises-cancelled", RaisesCancelled),
                ("/cancelled-from-outside", CancelledFromOutside),
                ("/no-content", NoContentByError),
                ("/etag/(.*)", BytesEtag),
                ("/latin1/(.*)", Latin1Args),
                ("/latin1-named/(?P<name>.*)", Latin1Args),
                ("/plain/(.*)", PlainArgs),
            ]
        )

    def setUp(self) -> None:
        super().setUp()
        Journal.returned = []
        Journal.task = None

    def test_unimplemented_method_answers_405_with_allow(self) -> None:
        response = self.fetch("/post-only")
        assert response.code == 405
        assert response.headers["Allow"] == "POST"

    def test_finish_and_flush_return_asyncio_futures(self) -> None:
        response = self.fetch("/finish-future")
        assert response.body == b"hello, world"
        assert len(Journal.returned) == 2
        for returned in Journal.returned:
            assert isinstance(returned, asyncio.Future)
            assert returned.done()

    def test_awaiting_a_cancelled_future_is_an_uncaught_exception(self) -> None:
        for path in ("/awaits-cancelled", "/raises-cancelled"):
            with ExpectLog("squall.application", f"Uncaught exception GET {path}"):
                response = self.fetch(path, request_timeout=5)
            assert response.code == 500, path

    @gen_test
    async def test_cancelling_the_handlers_task_answers_500_quietly_and_ends_cancelled(
        self,
    ) -> None:
        Journal.started = asyncio.Event()
        fetched = self.http_client.fetch(
            self.get_url("/cancelled-from-outside"), request_timeout=5, raise_error=False
        )
        await Journal.started.wait()
        task = Journal.task
        assert task is not None
        task.cancel()
        response = await fetched
        assert response.code == 500
        assert task.cancelled()

    def test_http_error_204_sends_no_body_and_no_length(self) -> None:
        response = self.fetch("/no-content")
        assert response.code == 204
        assert response.body == b""
        assert "Content-Length" not in response.headers
        assert "Transfer-Encoding" not in response.headers

    def test_compute_etag_may_return_bytes(self) -> None:
        for tag, if_none_match, code in [
            ('"xyzzy"', '"xyzzy"', 304),
            ('"xyzzy1"', 'W/"xyzzy1"', 304),
            ('"xyzzy2"', 'W/"xyzzy1", W/"xyzzy2"', 304),
            ('"xyzzy"', "*", 304),
            ('"xyzzy"', '"xyzzy1"', 200),
        ]:
            response = self.fetch("/etag/" + tag, headers={"If-None-Match": if_none_match})
            assert response.code == code, (tag, if_none_match)

    def test_a_handler_with_its_own_decode_argument_gets_bytes_that_are_not_utf8(self) -> None:
        body = json.loads(self.fetch("/latin1/%E9t%E9?q=%E9").body)
        assert body == {"args": ["\u00e9t\u00e9"], "kwargs": {}, "q": "\u00e9"}
        body = json.loads(self.fetch("/latin1-named/caf%E9").body)
        assert body["kwargs"] == {"name": "caf\u00e9"}
        # UTF-8 still arrives as its bytes (decoded as latin-1 here, as the handler asks).
        body = json.loads(self.fetch("/latin1/%C3%A9").body)
        assert body["args"] == ["\u00c3\u00a9"]

    def test_without_decode_argument_a_path_that_is_not_utf8_is_400(self) -> None:
        with ExpectLog("squall.general", ".*400 GET /plain/%E9.*Invalid unicode"):
            response = self.fetch("/plain/%E9")
        assert response.code == 400
        assert self.fetch("/plain/%C3%A9").body == "\u00e9".encode()


class _Detachable:
    """A connection that can hand over its stream (what the HTTP/1.1 exchange offers)."""

    def __init__(self) -> None:
        self.stream = object()

    def set_close_callback(self, callback: Any) -> None:
        pass

    def detach(self) -> Any:
        return self.stream


class _NotDetachable:
    def set_close_callback(self, callback: Any) -> None:
        pass


def test_detach_hands_over_the_connections_stream_and_ends_http() -> None:
    from squall.httputil import HTTPServerRequest

    conn = _Detachable()
    handler = RequestHandler(Application(), HTTPServerRequest("GET", "/", connection=conn))
    assert handler.detach() is conn.stream
    assert handler._finished  # no response, no finish(): the stream belongs to the caller
    other = RequestHandler(
        Application(), HTTPServerRequest("GET", "/", connection=_NotDetachable())
    )
    with pytest.raises(NotImplementedError, match="_NotDetachable"):
        other.detach()
