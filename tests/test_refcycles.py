"""Normal operation leaves no reference cycles behind (Tornado's circlerefs_test, our own).

A cycle is not a leak, but it outlives reference counting: its objects (a failed Future, its
traceback and every frame on it, a handler and its request) wait for the cyclic collector,
which costs memory and a full-GC pause under load. Each test runs its scenario once to warm
caches, then again with the collector off and ``DEBUG_SAVEALL`` on, and fails naming the objects
the collector found unreachable.
"""

from __future__ import annotations

import asyncio
import gc
import sys
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from squall import gen, httpserver, web
from squall.iostream import PipeIOStream
from squall.process import CalledProcessError, Subprocess
from squall.testing import bind_unused_port
from tests.conftest import Runner

pytestmark = pytest.mark.skipif(
    sys.implementation.name != "cpython", reason="reference counting is CPython's"
)


@contextmanager
def no_cycle_garbage() -> Iterator[None]:
    """Fail if the block leaves objects that only the cyclic collector can free."""
    was_enabled = gc.isenabled()
    gc.disable()
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        yield
        gc.collect()
        garbage = [repr(item)[:120] for item in gc.garbage]
    finally:
        gc.garbage.clear()
        gc.set_debug(0)
        if was_enabled:
            gc.enable()
    assert garbage == [], "reference cycles left behind:\n" + "\n".join(garbage)


def twice(run: Runner[Any], scenario: Callable[[], Awaitable[None]]) -> None:
    async def body() -> None:
        await scenario()  # warm-up: first-use caches are not garbage
        with no_cycle_garbage():
            await scenario()

    run(body())


def test_a_failure_thrown_through_nested_gen_coroutines_leaves_no_cycle(
    run: Runner[Any],
) -> None:
    @gen.coroutine
    def inner() -> Any:
        yield gen.moment
        raise ValueError("inner failed")

    @gen.coroutine
    def outer() -> Any:
        yield inner()  # the failure is thrown in here and not caught

    async def scenario() -> None:
        with pytest.raises(ValueError):
            await outer()

    twice(run, scenario)


def test_a_cancelled_gen_coroutine_leaves_no_cycle(run: Runner[Any]) -> None:
    @gen.coroutine
    def sleeper() -> Any:
        yield asyncio.sleep(60)

    async def scenario() -> None:
        future = sleeper()
        await asyncio.sleep(0)
        future.cancel()
        with pytest.raises(asyncio.CancelledError):
            await future

    twice(run, scenario)


def test_a_timed_out_gen_coroutine_and_multi_leave_no_cycle(run: Runner[Any]) -> None:
    @gen.coroutine
    def waits() -> Any:
        loop = asyncio.get_running_loop()
        yield gen.with_timeout(loop.time() + 0.001, asyncio.sleep(60))

    async def scenario() -> None:
        with pytest.raises(gen.TimeoutError):
            await waits()
        assert await gen.multi({"a": asyncio.sleep(0, 1), "b": gen.sleep(0)}) == {
            "a": 1,
            "b": None,
        }

    twice(run, scenario)


def test_a_subprocess_with_pipes_and_a_failing_one_leave_no_cycle(run: Runner[Any]) -> None:
    async def scenario() -> None:
        proc = Subprocess([sys.executable, "-S", "-c", "print(1)"], stdout=Subprocess.STREAM)
        stdout = proc.stdout
        assert isinstance(stdout, PipeIOStream)
        assert await stdout.read_until_close() == b"1\n"
        assert await proc.wait_for_exit() == 0
        stdout.close()
        failing = Subprocess([sys.executable, "-S", "-c", "raise SystemExit(3)"])
        with pytest.raises(CalledProcessError):
            await failing.wait_for_exit()

    twice(run, scenario)


class SyncHandler(web.RequestHandler):
    def get(self) -> None:
        self.write("ok")


class FinishHandler(web.RequestHandler):
    def get(self) -> None:
        raise web.Finish("ok")


class CoroutineHandler(web.RequestHandler):
    @gen.coroutine
    def get(self) -> Any:
        yield gen.sleep(0.001)
        self.write("ok")


class AsyncHandler(web.RequestHandler):
    async def get(self) -> None:
        await asyncio.sleep(0.001)
        self.write("ok")


@pytest.mark.parametrize(
    "handler",
    [SyncHandler, FinishHandler, CoroutineHandler, AsyncHandler],
    ids=lambda h: h.__name__,
)
def test_a_request_to_a_handler_leaves_no_cycle(
    run: Runner[Any], handler: type[web.RequestHandler]
) -> None:
    async def body() -> None:
        sock, port = bind_unused_port()
        server = httpserver.HTTPServer(web.Application([("/", handler)]))
        server.add_sockets([sock])
        reader, writer = await asyncio.open_connection("127.0.0.1", port)

        async def fetch() -> None:
            # Keep-alive: the connection stays open, so only the request's own objects can
            # become garbage (a connection's end is another matter, in the protocol layer).
            writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            head = await reader.readuntil(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200 ")
            assert await reader.readexactly(2) == b"ok"

        await fetch()
        with no_cycle_garbage():
            await fetch()
        writer.close()
        server.stop()
        await server.close_all_connections()

    run(body())


def test_the_cycle_check_itself_sees_a_cycle() -> None:
    class Node:
        other: Any = None

    with pytest.raises(AssertionError, match="Node"):
        with no_cycle_garbage():
            a, b = Node(), Node()
            a.other, b.other = b, a
            del a, b
