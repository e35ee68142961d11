"""RequestHandler lifecycle over real sockets: initialize, 405, body parsing, XSRF, prepare,
the verb method (sync or async), auto-finish, on_finish, on_connection_close, Finish and
uncaught exceptions; and the hot path: a sync ``get`` runs inline, with no Task."""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import Coroutine
from typing import Any

from squall.testing import AsyncHTTPTestCase, ExpectLog, gen_test
from squall.web import Application, Finish, HTTPError, RequestHandler
from tests.helpers.raw_http import RawClient, request


class Journal:
    """What handlers did, shared between the test and the handlers it serves."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.seen: dict[str, Any] = {}
        self.started = asyncio.Event()
        self.closed = asyncio.Event()
        self.finished = asyncio.Event()


class JournalHandler(RequestHandler):
    """Records every lifecycle hook in the test's Journal."""

    journal: Journal

    def initialize(self, journal: Journal, **kwargs: Any) -> None:  # type: ignore[override]
        self.journal = journal
        journal.calls.append("initialize")
        journal.seen["init_kwargs"] = kwargs

    def prepare(self) -> None:
        self.journal.calls.append("prepare")
        self.journal.seen["prepare_body_arguments"] = dict(self.request.body_arguments)
        self.journal.seen["prepare_path_args"] = list(self.path_args)

    def on_finish(self) -> None:
        self.journal.calls.append("on_finish")
        self.journal.finished.set()

    def on_connection_close(self) -> None:
        self.journal.calls.append("on_connection_close")
        self.journal.closed.set()


class OrderHandler(JournalHandler):
    def get(self, *args: str) -> None:
        self.journal.calls.append("get")
        self.write("ok")

    def post(self, *args: str) -> None:
        self.journal.calls.append("post")
        self.write("posted")


class AsyncGetHandler(JournalHandler):
    async def get(self) -> None:
        self.journal.calls.append("get:start")
        await asyncio.sleep(0)
        self.journal.calls.append("get:end")
        self.write("async ok")


class AsyncPrepareHandler(JournalHandler):
    async def prepare(self) -> None:  # type: ignore[override]
        self.journal.calls.append("prepare:start")
        await asyncio.sleep(0)
        self.journal.calls.append("prepare:end")
        self.user = "from-async-prepare"

    def get(self) -> None:
        self.journal.calls.append("get")
        self.write(self.user)


class FinishInPrepareHandler(JournalHandler):
    def prepare(self) -> None:
        self.journal.calls.append("prepare")
        self.finish("stopped in prepare")

    def get(self) -> None:
        self.journal.calls.append("get")


class AsyncFinishInPrepareHandler(JournalHandler):
    async def prepare(self) -> None:  # type: ignore[override]
        self.journal.calls.append("prepare")
        await asyncio.sleep(0)
        self.finish("stopped in async prepare")

    def get(self) -> None:
        self.journal.calls.append("get")


class SlowHandler(JournalHandler):
    async def get(self) -> None:
        self.journal.calls.append("get")
        self.journal.started.set()
        await self.journal.closed.wait()


class FinishRaisingHandler(JournalHandler):
    def get(self) -> None:
        self.write("partial ")
        raise Finish("and done")


class FinishInPrepareRaisingHandler(JournalHandler):
    def prepare(self) -> None:
        raise Finish()

    def get(self) -> None:
        self.journal.calls.append("get")


class BoomHandler(JournalHandler):
    def get(self) -> None:
        raise ValueError("boom")

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        self.journal.calls.append(f"log_exception:{type(value).__name__}")
        super().log_exception(typ, value, tb)

    def send_error(self, status_code: int = 500, **kwargs: Any) -> None:
        self.journal.calls.append(f"send_error:{status_code}")
        super().send_error(status_code, **kwargs)


class AsyncBoomHandler(BoomHandler):
    async def get(self) -> None:  # type: ignore[override]
        await asyncio.sleep(0)
        raise KeyError("async boom")


class HTTPErrorHandler(JournalHandler):
    def get(self) -> None:
        raise HTTPError(418, "tea for %s", "two")


class GetOnlyHandler(RequestHandler):
    def get(self) -> None:
        self.write("got")


class GetPutHandler(RequestHandler):
    def get(self) -> None:
        self.write("got")

    def put(self) -> None:
        self.write("put")


class NarrowMethodsHandler(RequestHandler):
    SUPPORTED_METHODS = ("GET",)

    def get(self) -> None:
        self.write("got")

    def post(self) -> None:
        self.write("never")


class PropfindHandler(RequestHandler):
    SUPPORTED_METHODS = (*RequestHandler.SUPPORTED_METHODS, "PROPFIND")

    def propfind(self) -> None:
        self.write("propfound")


class InitKwargsHandler(RequestHandler):
    def initialize(self, greeting: str, punctuation: str = "!") -> None:  # type: ignore[override]
        self.greeting = greeting + punctuation

    def get(self) -> None:
        self.write(self.greeting)


class BrokenInitializeHandler(RequestHandler):
    def initialize(self) -> None:  # type: ignore[override]
        raise RuntimeError("cannot initialize")

    def get(self) -> None:
        self.write("never")


class XSRFRecordingHandler(JournalHandler):
    def post(self) -> None:
        self.journal.calls.append("post")


class InlineProbeHandler(JournalHandler):
    def get(self) -> None:
        self.journal.seen["task_in_get"] = asyncio.current_task()
        self.write("inline")

    def on_finish(self) -> None:
        self.journal.seen["task_in_on_finish"] = asyncio.current_task()
        super().on_finish()


class LifecycleTest(AsyncHTTPTestCase):
    def get_app(self) -> Application:
        self.journal = Journal()
        j = {"journal": self.journal}
        return Application(
            [
                (r"/order/(\w+)", OrderHandler, {**j, "extra": 1}),
                ("/async-get", AsyncGetHandler, j),
                ("/async-prepare", AsyncPrepareHandler, j),
                ("/finish-in-prepare", FinishInPrepareHandler, j),
                ("/async-finish-in-prepare", AsyncFinishInPrepareHandler, j),
                ("/slow", SlowHandler, j),
                ("/finish-raise", FinishRaisingHandler, j),
                ("/finish-raise-prepare", FinishInPrepareRaisingHandler, j),
                ("/boom", BoomHandler, j),
                ("/async-boom", AsyncBoomHandler, j),
                ("/teapot", HTTPErrorHandler, j),
                ("/get-only", GetOnlyHandler),
                ("/get-put", GetPutHandler),
                ("/narrow", NarrowMethodsHandler),
                ("/propfind", PropfindHandler),
                ("/init", InitKwargsHandler, {"greeting": "hello"}),
                ("/inline", InlineProbeHandler, j),
                ("/broken-init", BrokenInitializeHandler),
            ]
        )

    # -- construction and order ----------------------------------------------------------------

    def test_initialize_gets_the_rule_kwargs(self) -> None:
        response = self.fetch("/init")
        assert response.body == b"hello!"
        self.fetch("/order/x")
        assert self.journal.seen["init_kwargs"] == {"extra": 1}

    def test_sync_hooks_run_in_tornado_order(self) -> None:
        response = self.fetch("/order/abc")
        assert response.code == 200
        assert response.body == b"ok"
        assert self.journal.calls == ["initialize", "prepare", "get", "on_finish"]

    def test_path_args_are_set_before_prepare(self) -> None:
        self.fetch("/order/abc")
        assert self.journal.seen["prepare_path_args"] == ["abc"]

    def test_body_is_parsed_before_prepare(self) -> None:
        response = self.fetch("/order/x", method="POST", body="a=1&b=two")
        assert response.body == b"posted"
        assert self.journal.seen["prepare_body_arguments"] == {"a": [b"1"], "b": [b"two"]}

    def test_async_get_is_awaited_then_auto_finished(self) -> None:
        response = self.fetch("/async-get")
        assert response.body == b"async ok"
        assert self.journal.calls == [
            "initialize",
            "prepare",
            "get:start",
            "get:end",
            "on_finish",
        ]

    def test_async_prepare_is_awaited_before_the_verb_method(self) -> None:
        response = self.fetch("/async-prepare")
        assert response.body == b"from-async-prepare"
        assert self.journal.calls == [
            "initialize",
            "prepare:start",
            "prepare:end",
            "get",
            "on_finish",
        ]

    def test_finishing_in_prepare_skips_the_verb_method(self) -> None:
        response = self.fetch("/finish-in-prepare")
        assert response.body == b"stopped in prepare"
        assert self.journal.calls == ["initialize", "prepare", "on_finish"]

    def test_finishing_in_async_prepare_skips_the_verb_method(self) -> None:
        response = self.fetch("/async-finish-in-prepare")
        assert response.body == b"stopped in async prepare"
        assert self.journal.calls == ["initialize", "prepare", "on_finish"]

    def test_on_finish_runs_once_after_the_response_is_complete(self) -> None:
        self.fetch("/order/a")
        assert self.journal.calls.count("on_finish") == 1
        assert "on_connection_close" not in self.journal.calls

    # -- methods -------------------------------------------------------------------------------

    def test_unimplemented_supported_method_is_405_with_allow(self) -> None:
        response = self.fetch("/get-only", method="POST", body="")
        assert response.code == 405
        assert response.headers["Allow"] == "GET"
        response = self.fetch("/get-put", method="DELETE")
        assert response.code == 405
        assert response.headers["Allow"] == "GET, PUT"

    def test_method_outside_supported_methods_is_405_even_if_defined(self) -> None:
        response = self.fetch("/narrow", method="POST", body="")
        assert response.code == 405
        assert response.body != b"never"
        assert response.headers["Allow"] == "GET"

    def test_unknown_method_is_405(self) -> None:
        response = self.fetch("/get-only", method="PROPFIND", allow_nonstandard_methods=True)
        assert response.code == 405

    def test_extended_supported_methods_reach_the_lowercase_method(self) -> None:
        response = self.fetch("/propfind", method="PROPFIND", allow_nonstandard_methods=True)
        assert response.code == 200
        assert response.body == b"propfound"

    def test_head_without_a_head_method_is_405(self) -> None:
        response = self.fetch("/get-only", method="HEAD")
        assert response.code == 405

    # -- client disconnect ---------------------------------------------------------------------

    @gen_test
    async def test_client_reset_during_slow_async_get_calls_on_connection_close(self) -> None:
        client = await RawClient.connect(self.get_http_port())
        await client.send(request("GET", "/slow"))
        await self.journal.started.wait()
        sock = client.writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        client.writer.transport.abort()  # RST: the connection is gone
        await asyncio.wait_for(self.journal.closed.wait(), 5)
        # get returns once closed is set and auto-finishes into the dead connection quietly.
        await asyncio.wait_for(self.journal.finished.wait(), 5)
        assert self.journal.calls == [
            "initialize",
            "prepare",
            "get",
            "on_connection_close",
            "on_finish",
        ]

    @gen_test
    async def test_client_close_during_slow_async_get_calls_on_connection_close(self) -> None:
        client = await RawClient.connect(self.get_http_port())
        await client.send(request("GET", "/slow"))
        await self.journal.started.wait()
        await client.close()
        await asyncio.wait_for(self.journal.closed.wait(), 1)

    # -- Finish and exceptions -----------------------------------------------------------------

    def test_finish_exception_ends_quietly_with_its_args(self) -> None:
        with ExpectLog("squall", ".*", required=False) as log:
            response = self.fetch("/finish-raise")
        assert response.code == 200
        assert response.body == b"partial and done"
        assert not log.matched or not log.logged_stack

    def test_finish_exception_in_prepare_skips_the_verb_method(self) -> None:
        response = self.fetch("/finish-raise-prepare")
        assert response.code == 200
        assert response.body == b""
        assert "get" not in self.journal.calls
        assert self.journal.calls[-1] == "on_finish"

    def test_uncaught_exception_is_logged_then_sent_as_500(self) -> None:
        with ExpectLog("squall.application", r"Uncaught exception GET /boom \(") as log:
            response = self.fetch("/boom")
        assert log.logged_stack
        assert response.code == 500
        assert b"500: Internal Server Error" in response.body
        assert self.journal.calls[-3:] == [
            "log_exception:ValueError",
            "send_error:500",
            "on_finish",
        ]

    def test_uncaught_exception_in_async_get_is_logged_then_sent_as_500(self) -> None:
        with ExpectLog("squall.application", r"Uncaught exception GET /async-boom"):
            response = self.fetch("/async-boom")
        assert response.code == 500
        assert self.journal.calls[-3:] == ["log_exception:KeyError", "send_error:500", "on_finish"]

    def test_exception_in_initialize_is_logged_and_answered_500(self) -> None:
        with ExpectLog("squall.application", "Uncaught exception creating handler for /broken"):
            response = self.fetch("/broken-init")
        assert response.code == 500
        assert b"never" not in response.body

    def test_http_error_is_logged_as_warning_with_its_message(self) -> None:
        with ExpectLog("squall.general", r"418 GET /teapot \(127\.0\.0\.1\): tea for two"):
            response = self.fetch("/teapot")
        assert response.code == 418


class XSRFBeforePrepareTest(AsyncHTTPTestCase):
    def get_app(self) -> Application:
        self.journal = Journal()
        return Application(
            [("/", XSRFRecordingHandler, {"journal": self.journal})], xsrf_cookies=True
        )

    def test_xsrf_check_runs_before_prepare(self) -> None:
        with ExpectLog("squall.general", "403 POST"):
            response = self.fetch("/", method="POST", body="a=1")
        assert response.code == 403
        assert "prepare" not in self.journal.calls
        assert "post" not in self.journal.calls


class MalformedBodyTest(AsyncHTTPTestCase):
    def get_app(self) -> Application:
        self.journal = Journal()
        return Application([(r"/order/(\w+)", OrderHandler, {"journal": self.journal})])

    def test_malformed_multipart_body_is_400_before_prepare(self) -> None:
        with ExpectLog("squall", ".*", required=False):
            response = self.fetch(
                "/order/x",
                method="POST",
                body=b"no boundary here",
                headers={"Content-Type": "multipart/form-data; boundary=XYZ"},
            )
        assert response.code == 400
        assert "prepare" not in self.journal.calls
        assert "post" not in self.journal.calls
        assert b"posted" not in response.body


class HotPathTest(AsyncHTTPTestCase):
    """A sync get completes inline in the protocol callback: no Task, no ensure_future."""

    def get_app(self) -> Application:
        self.journal = Journal()
        j = {"journal": self.journal}
        return Application([("/inline", InlineProbeHandler, j), ("/async-get", AsyncGetHandler, j)])

    async def _count_tasks_during(self, path: str) -> tuple[list[str], int]:
        loop = asyncio.get_running_loop()
        created: list[str] = []
        ensured: list[object] = []
        client = await RawClient.connect(self.get_http_port())
        original_factory = loop.get_task_factory()
        original_ensure = asyncio.ensure_future

        def factory(
            loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, Any], **kwargs: Any
        ) -> asyncio.Task[Any]:
            # A compiled coroutine has no __qualname__: its class names the function.
            created.append(getattr(coro, "__qualname__", None) or type(coro).__name__)
            return asyncio.Task(coro, loop=loop, **kwargs)

        def counting_ensure(obj: Any, **kwargs: Any) -> Any:
            ensured.append(obj)
            return original_ensure(obj, **kwargs)

        loop.set_task_factory(factory)  # type: ignore[arg-type]
        asyncio.ensure_future = counting_ensure  # type: ignore[assignment]
        try:
            await client.send(request("GET", path))
            response = await client.read_response()
            await self.journal.finished.wait()  # no wait_for: it would make a Task itself
        finally:
            asyncio.ensure_future = original_ensure
            loop.set_task_factory(original_factory)
            await client.close()
        assert response.status == 200
        return created, len(ensured)

    @gen_test
    async def test_sync_get_completes_inline_without_creating_a_task(self) -> None:
        tasks, ensured = await self._count_tasks_during("/inline")
        assert (tasks, ensured) == ([], 0)
        assert self.journal.seen["task_in_get"] is None
        assert self.journal.seen["task_in_on_finish"] is None

    @gen_test
    async def test_async_get_does_create_a_task(self) -> None:
        # The counterpart that shows the counting above can fail.
        tasks, ensured = await self._count_tasks_during("/async-get")
        assert len(tasks) == 1 and "_run_async" in tasks[0], tasks
        assert ensured >= 1
