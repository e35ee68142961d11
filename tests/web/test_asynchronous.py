"""Tornado 5.1's callback-era semantics: @asynchronous, exceptions from later callbacks,
flush(callback=), and the raw-callable request.write()/finish()."""

from __future__ import annotations

import logging
import time

from squall import gen
from squall.httpserver import HTTPServer
from squall.httputil import HTTPServerRequest
from squall.ioloop import IOLoop
from squall.testing import AsyncHTTPTestCase, ExpectLog
from squall.web import Application, RequestHandler, asynchronous


class LaterHandler(RequestHandler):
    @asynchronous
    def get(self) -> None:
        IOLoop.current().add_timeout(time.time() + 0.05, self.on_response)

    def on_response(self) -> None:
        self.write("later")
        self.finish()


class TwoFailuresHandler(RequestHandler):
    @asynchronous
    def get(self) -> None:
        IOLoop.current().add_callback(self.fail, "first")
        IOLoop.current().add_timeout(time.time() + 0.05, self.fail, "second")

    def fail(self, which: str) -> None:
        raise ValueError(f"{which} callback failed")


class CoroutineHandler(RequestHandler):
    @asynchronous
    @gen.coroutine
    def get(self) -> object:
        yield gen.Task(IOLoop.current().add_timeout, time.time() + 0.05)
        self.write("coroutine")  # no finish(): the framework finishes when the future resolves


class FlushCallbackHandler(RequestHandler):
    @asynchronous
    def get(self) -> None:
        self.write("part1,")
        self.flush(callback=self.flushed)

    def flushed(self) -> None:
        self.write("flushed")
        self.finish()


class AsynchronousTest(AsyncHTTPTestCase):
    def get_app(self) -> Application:
        return Application(
            [
                ("/later", LaterHandler),
                ("/two", TwoFailuresHandler),
                ("/coroutine", CoroutineHandler),
                ("/flush", FlushCallbackHandler),
            ]
        )

    def test_connection_stays_open_until_a_later_callback_finishes(self) -> None:
        response = self.fetch("/later")
        assert (response.code, response.body) == (200, b"later")

    def test_two_failing_callbacks_give_one_500_and_one_error_log(self) -> None:
        records: list[logging.LogRecord] = []
        counter = logging.Handler(logging.DEBUG)
        counter.emit = records.append  # type: ignore[method-assign]
        app_logger = logging.getLogger("squall.application")
        app_logger.addHandler(counter)
        try:
            with ExpectLog("squall.application", "Uncaught exception") as expected:
                response = self.fetch("/two")
                # Let the second callback fire after the response was sent.
                self.io_loop.run_sync(lambda: gen.sleep(0.1))
        finally:
            app_logger.removeHandler(counter)
        assert response.code == 500
        assert expected.matched_count == 1  # the first failure, logged once
        assert [r for r in records if r.levelno >= logging.ERROR] == []  # nothing else

    def test_asynchronous_coroutine_is_finished_when_its_future_resolves(self) -> None:
        response = self.fetch("/coroutine")
        assert (response.code, response.body) == (200, b"coroutine")

    def test_flush_callback_runs_after_the_data_is_written(self) -> None:
        response = self.fetch("/flush")
        assert (response.code, response.body) == (200, b"part1,flushed")


def _raw_callable(request: HTTPServerRequest) -> None:
    body = f"You requested {request.uri}\n".encode()
    request.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%b" % (len(body), body))
    request.finish()


class RawCallableTest(AsyncHTTPTestCase):
    """Tornado <= 3 style: HTTPServer(handle_request) writing the raw response itself."""

    def get_app(self) -> object:
        return _raw_callable

    def get_httpserver_options(self) -> dict[str, object]:
        return {}

    def test_request_write_and_finish_send_the_raw_response(self) -> None:
        response = self.fetch("/hello?x=1")
        assert (response.code, response.body) == (200, b"You requested /hello?x=1\n")


_ = HTTPServer
