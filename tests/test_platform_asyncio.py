"""Tests for squall.platform.asyncio: the IOLoop classes, the adapters, the selector thread."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from squall import _ioloop, _selector_thread, gen, ioloop
from squall.ioloop import IOLoop
from squall.platform import asyncio as platform_asyncio
from squall.platform.asyncio import (
    AddThreadSelectorEventLoop,
    AsyncIOLoop,
    AsyncIOMainLoop,
    SelectorThread,
    to_asyncio_future,
    to_tornado_future,
)
from tests.conftest import Runner

VAR: contextvars.ContextVar[str] = contextvars.ContextVar("VAR", default="unset")


@pytest.fixture(autouse=True)
def clean_ioloops() -> Iterator[None]:
    ioloop._reset_for_tests()
    yield
    ioloop._reset_for_tests()


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    a, b = socket.socketpair()
    yield a, b
    a.close()
    b.close()


def selector_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "squall-selector"]


# ---- the IOLoop classes ------------------------------------------------------------------------


def test_ioloop_builds_asyncio_loop_and_current_builds_main_loop() -> None:
    loop = IOLoop(make_current=False)
    assert type(loop) is AsyncIOLoop and isinstance(loop, IOLoop)
    current = IOLoop.current()
    assert type(current) is AsyncIOMainLoop
    assert IOLoop.current() is current
    assert IOLoop._ioloop_for_asyncio[current.asyncio_loop] is current
    loop.close()
    assert loop.asyncio_loop.is_closed()


def test_ioloop_over_a_given_asyncio_loop_is_unique_and_closes_it() -> None:
    raw = asyncio.new_event_loop()
    io_loop = IOLoop(asyncio_loop=raw, make_current=False)
    assert io_loop.asyncio_loop is raw and io_loop.selector_loop is raw
    with pytest.raises(RuntimeError, match="already wraps"):
        IOLoop(asyncio_loop=raw, make_current=False)

    async def current() -> IOLoop:
        return IOLoop.current()

    assert io_loop.run_sync(current) is io_loop
    io_loop.close()
    assert raw.is_closed()
    assert raw not in IOLoop._ioloop_for_asyncio


def test_closed_ioloops_leave_the_registry() -> None:
    before = len(IOLoop._ioloop_for_asyncio)
    for _ in range(5):
        IOLoop(make_current=False).close()
    assert len(IOLoop._ioloop_for_asyncio) == before


def test_configure_chooses_the_class_ioloop_builds() -> None:
    class Custom(AsyncIOLoop):
        pass

    saved = IOLoop._save_configuration()
    try:
        IOLoop.configure(Custom)
        loop = IOLoop(make_current=False)
        assert type(loop) is Custom
        loop.close()
        with pytest.raises(ValueError, match="Invalid subclass"):
            IOLoop.configure(dict)  # type: ignore[arg-type]
    finally:
        IOLoop._restore_configuration(saved)
    loop = IOLoop(make_current=False)
    assert type(loop) is AsyncIOLoop
    loop.close()


def test_asyncio_main_loop_wraps_the_thread_loop_and_refuses_a_second_wrap() -> None:
    raw = asyncio.new_event_loop()
    asyncio.set_event_loop(raw)
    try:
        main = AsyncIOMainLoop()
        assert main.asyncio_loop is raw and IOLoop.current() is main
        with pytest.raises(RuntimeError):
            AsyncIOMainLoop()
        main.close()
        assert raw.is_closed()
    finally:
        asyncio.set_event_loop(None)


def test_facade_inside_asyncio_run_is_a_main_loop_that_leaves_the_loop_open() -> None:
    async def body() -> IOLoop:
        return IOLoop.current()

    with asyncio.Runner() as runner:
        facade = runner.run(body())
        assert type(facade) is AsyncIOMainLoop
        facade.close()  # an IOLoop current() made for someone else's loop...
        assert not runner.get_loop().is_closed()  # ...leaves that loop to its owner
        assert runner.run(body()) is not facade


def test_to_asyncio_future_and_to_tornado_future(run: Runner[Any]) -> None:
    @gen.coroutine
    def legacy() -> Any:
        yield gen.moment
        return 42

    async def native() -> int:
        return 7

    async def body() -> None:
        future = asyncio.get_running_loop().create_future()
        assert to_tornado_future(future) is future
        assert to_asyncio_future(future) is future
        assert await to_asyncio_future(legacy()) == 42
        assert await to_asyncio_future(native()) == 7
        assert await to_asyncio_future([legacy(), native()]) == [42, 7]

    run(body())


def test_any_thread_policy_warns_and_gives_worker_threads_a_loop() -> None:
    original = asyncio.get_event_loop_policy()
    with pytest.warns(DeprecationWarning, match="AnyThreadEventLoopPolicy"):
        policy = platform_asyncio.AnyThreadEventLoopPolicy()
    asyncio.set_event_loop_policy(policy)
    try:
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            loop = pool.submit(asyncio.get_event_loop).result()
            assert isinstance(loop, asyncio.AbstractEventLoop)
            assert pool.submit(asyncio.get_event_loop).result() is loop
            pool.submit(loop.close).result()
    finally:
        asyncio.set_event_loop_policy(original)
    with pytest.raises(AttributeError):
        _ = platform_asyncio.NoSuchThing


# ---- SelectorThread ----------------------------------------------------------------------------


def test_selector_thread_calls_readers_on_the_loop_thread_in_their_context(
    run: Runner[Any], pair: tuple[socket.socket, socket.socket]
) -> None:
    a, b = pair

    async def body() -> None:
        loop = asyncio.get_running_loop()
        selector = SelectorThread(loop)
        got: asyncio.Queue[tuple[bytes, str, bool]] = asyncio.Queue()

        def on_readable() -> None:
            data = a.recv(100)
            got.put_nowait((data, VAR.get(), threading.current_thread() is threading.main_thread()))

        VAR.set("at add")
        selector.add_reader(a, on_readable)
        VAR.set("later")
        b.send(b"ping")
        assert await got.get() == (b"ping", "at add", True)
        assert selector.remove_reader(a) is True
        assert selector.remove_reader(a) is False
        b.send(b"unseen")
        await asyncio.sleep(0.05)
        assert got.empty()
        selector.close()
        selector.close()

    run(body())
    assert not selector_threads()


def test_selector_thread_writers_fire_while_writable(
    run: Runner[Any], pair: tuple[socket.socket, socket.socket]
) -> None:
    a, _ = pair

    async def body() -> None:
        selector = SelectorThread(asyncio.get_running_loop())
        ready = asyncio.Event()
        selector.add_writer(a.fileno(), ready.set)
        await asyncio.wait_for(ready.wait(), 5)
        assert selector.remove_writer(a) is True
        selector.close()

    run(body())


@pytest.mark.loop_errors_ok
def test_selector_thread_reports_callback_errors_to_the_loop(
    run: Runner[Any], pair: tuple[socket.socket, socket.socket]
) -> None:
    a, b = pair

    async def body() -> None:
        loop = asyncio.get_running_loop()
        seen: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        loop.set_exception_handler(lambda _loop, context: seen.put_nowait(context))
        selector = SelectorThread(loop)

        def broken() -> None:
            a.recv(100)
            raise ZeroDivisionError

        selector.add_reader(a, broken)
        b.send(b"x")
        context = await asyncio.wait_for(seen.get(), 5)
        assert isinstance(context["exception"], ZeroDivisionError)
        b.send(b"y")  # the selector keeps serving after the error
        context = await asyncio.wait_for(seen.get(), 5)
        assert isinstance(context["exception"], ZeroDivisionError)
        selector.close()

    run(body())


def test_selector_thread_reports_an_fd_closed_while_watched(run: Runner[Any]) -> None:
    async def body() -> None:
        selector = SelectorThread(asyncio.get_running_loop())
        a, b = socket.socketpair()
        woke = asyncio.Event()
        selector.add_reader(a, woke.set)
        await asyncio.sleep(0.02)  # the helper is now in select() on it
        fd = a.fileno()
        a.close()
        selector.add_reader(fd, woke.set)  # re-registered under its number: a bad fd now
        await asyncio.wait_for(woke.wait(), 5)
        selector.remove_reader(fd)
        b.close()
        selector.close()

    run(body())


def test_asyncio_run_shuts_the_selector_thread_down() -> None:
    async def body() -> None:
        SelectorThread(asyncio.get_running_loop())
        await asyncio.sleep(0.01)
        assert selector_threads()

    for _ in range(3):
        asyncio.run(body())
    assert not selector_threads()


def test_atexit_hook_stops_threads_and_closes_wakers() -> None:
    loop = asyncio.new_event_loop()
    selector = SelectorThread(loop)
    try:
        loop.run_until_complete(asyncio.sleep(0.02))
        assert selector in platform_asyncio._selector_loops
        platform_asyncio._atexit_callback()
        assert selector._waker_r.fileno() == -1 and selector._waker_w.fileno() == -1
        assert not selector_threads()
    finally:
        selector.close()
        loop.close()


def test_closing_before_the_loop_ran_leaves_nothing_pending() -> None:
    loop = asyncio.new_event_loop()
    selector = SelectorThread(loop)
    loop.call_soon(loop.stop)
    loop.run_forever()
    task = selector._thread_manager_task
    assert task is not None and not task.done()
    selector.close()
    loop.close()
    # conftest's loop-error guard fails the test if the task is reported as destroyed pending.


# ---- AddThreadSelectorEventLoop and an IOLoop on it --------------------------------------------


def test_add_thread_selector_loop_delegates_and_closes_both_twice() -> None:
    raw = asyncio.new_event_loop()
    wrapped = AddThreadSelectorEventLoop(raw)  # type: ignore[abstract]
    assert wrapped.time() == pytest.approx(raw.time(), abs=1)
    assert wrapped.is_closed() is False
    assert "AddThreadSelectorEventLoop" in repr(wrapped)
    wrapped.close()
    wrapped.close()
    assert raw.is_closed()


def test_ioloop_on_a_loop_without_add_reader_uses_the_selector_thread(
    monkeypatch: pytest.MonkeyPatch, pair: tuple[socket.socket, socket.socket]
) -> None:
    monkeypatch.setattr(_ioloop, "_lacks_add_reader", lambda loop: True)
    a, b = pair
    io_loop = IOLoop(make_current=False)
    assert isinstance(io_loop.selector_loop, AddThreadSelectorEventLoop)
    events: list[int] = []

    def handler(fd: socket.socket, event: int) -> None:
        events.append(event)
        fd.recv(100)
        io_loop.stop()

    async def arm() -> None:
        io_loop.add_handler(a, handler, IOLoop.READ)
        b.send(b"ping")

    io_loop.run_sync(arm)
    io_loop.start()
    assert events == [IOLoop.READ]
    io_loop.remove_handler(a)
    io_loop.close()
    assert io_loop.asyncio_loop.is_closed()
    assert not selector_threads()


def test_the_public_names_are_the_classes_the_ioloop_builds() -> None:
    # Defined in squall._ioloop and squall._selector_thread; one object under every name.
    assert ioloop.IOLoop is platform_asyncio.IOLoop is _ioloop.IOLoop
    assert IOLoop.configurable_default() is AsyncIOLoop is _ioloop.AsyncIOLoop
    assert AsyncIOMainLoop is _ioloop.AsyncIOMainLoop
    assert platform_asyncio.BaseAsyncIOLoop is _ioloop.BaseAsyncIOLoop
    assert AddThreadSelectorEventLoop is _selector_thread.AddThreadSelectorEventLoop
    loop = IOLoop()
    try:
        assert type(loop) is AsyncIOLoop
        assert isinstance(IOLoop.current(), AsyncIOLoop)  # made current by IOLoop()
    finally:
        loop.close()
    assert type(IOLoop.current()) is AsyncIOMainLoop  # a new one for the thread
