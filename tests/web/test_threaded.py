"""@threaded: a blocking sync method runs in the thread pool and blocks only itself."""

from __future__ import annotations

import asyncio
import threading
import time

from squall.httpclient import AsyncHTTPClient
from squall.testing import AsyncHTTPTestCase, ExpectLog, gen_test
from squall.web import Application, HTTPError, RequestHandler, threaded


class SleepHandler(RequestHandler):
    @threaded
    def get(self) -> None:
        time.sleep(float(self.get_argument("t", "1")))
        self.set_header("X-Thread", threading.current_thread().name)
        self.set_status(201)
        self.write("slept")


class DirectHandler(RequestHandler):
    def get(self) -> None:
        self.write("direct")


class FinishInThreadHandler(RequestHandler):
    @threaded
    def get(self) -> None:
        self.finish("too early")


class ErrorInThreadHandler(RequestHandler):
    @threaded
    def get(self) -> None:
        raise HTTPError(418, "teapot in a thread")


class ThreadedTest(AsyncHTTPTestCase):
    def get_app(self) -> Application:
        return Application(
            [
                ("/s", SleepHandler),
                ("/d", DirectHandler),
                ("/finish", FinishInThreadHandler),
                ("/error", ErrorInThreadHandler),
            ]
        )

    @gen_test(timeout=10)
    async def test_direct_request_is_answered_while_two_threaded_sleeps_run(self) -> None:
        client = AsyncHTTPClient()
        slow = [asyncio.ensure_future(client.fetch(self.get_url("/s?t=1"))) for _ in range(2)]
        await asyncio.sleep(0.2)  # both sleeps are under way in the pool
        start = time.monotonic()
        direct = await client.fetch(self.get_url("/d"))
        elapsed = time.monotonic() - start
        assert direct.body == b"direct"
        assert elapsed < 0.1, f"/d took {elapsed:.3f} s while /s slept in threads"
        for response in await asyncio.gather(*slow):
            assert response.code == 201
            assert response.body == b"slept"
            assert response.headers["X-Thread"].startswith("squall-threaded")

    def test_finish_inside_a_threaded_method_raises_and_says_why(self) -> None:
        with ExpectLog("squall.application", "Uncaught exception"):
            response = self.fetch("/finish")
        assert response.code == 500

    def test_http_error_in_a_thread_becomes_its_status(self) -> None:
        with ExpectLog("squall.general", "418 GET /error"):
            response = self.fetch("/error")
        assert response.code == 418
