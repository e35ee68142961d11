"""Tests for squall.concurrent: futures helpers, run_on_executor, chain_future, return_future."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from squall import concurrent as sc
from squall import gen, ioloop
from squall.ioloop import IOLoop


@pytest.fixture(params=["asyncio", "uvloop"])
def io_loop(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[IOLoop]:
    """A fresh current IOLoop of each kind; every loop is closed afterwards."""
    if request.param == "uvloop":
        pytest.importorskip("uvloop")
    monkeypatch.setenv("SQUALL_LOOP", request.param)
    ioloop._reset_for_tests()
    yield IOLoop()
    ioloop._reset_for_tests()


@pytest.fixture
def pool() -> Iterator[concurrent.futures.ThreadPoolExecutor]:
    with concurrent.futures.ThreadPoolExecutor(2) as executor:
        yield executor


def app_errors(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "squall.application"]


# ---- Future, is_future, DummyExecutor ----------------------------------------------------------


def test_future_is_asyncio_future_and_is_future_knows_both_kinds(io_loop: IOLoop) -> None:
    assert sc.Future is asyncio.Future
    assert sc.FUTURES == (asyncio.Future, concurrent.futures.Future)
    assert sc.is_future(io_loop.asyncio_loop.create_future())
    assert sc.is_future(concurrent.futures.Future())
    assert not sc.is_future(object())


def test_dummy_executor_runs_calls_at_once_in_the_calling_thread() -> None:
    ok = sc.dummy_executor.submit(lambda x: (x, threading.current_thread()), 1)
    assert ok.done() and ok.result() == (1, threading.current_thread())
    bad = sc.DummyExecutor().submit(lambda: 1 / 0)
    assert isinstance(bad.exception(), ZeroDivisionError)
    sc.dummy_executor.shutdown()


# ---- run_on_executor ---------------------------------------------------------------------------


class Worker:
    def __init__(self, executor: concurrent.futures.Executor) -> None:
        self.executor = executor
        self._other = executor

    @sc.run_on_executor
    def thread_name(self, suffix: str) -> str:
        return threading.current_thread().name + suffix

    @sc.run_on_executor
    def fail(self) -> None:
        raise LookupError("in pool")

    @sc.run_on_executor(executor="_other")
    def add(self, a: int, b: int = 0) -> int:
        return a + b


def test_run_on_executor_runs_in_the_pool_and_returns_an_asyncio_future(
    io_loop: IOLoop, pool: concurrent.futures.ThreadPoolExecutor
) -> None:
    worker = Worker(pool)

    async def main() -> str:
        future = worker.thread_name("!")
        assert isinstance(future, asyncio.Future)
        return await future

    name = io_loop.run_sync(main)
    assert name.endswith("!") and name != threading.current_thread().name + "!"


def test_run_on_executor_propagates_exceptions(
    io_loop: IOLoop, pool: concurrent.futures.ThreadPoolExecutor
) -> None:
    with pytest.raises(LookupError, match="in pool"):
        io_loop.run_sync(Worker(pool).fail)


def test_run_on_executor_named_executor_and_kwargs(
    io_loop: IOLoop, pool: concurrent.futures.ThreadPoolExecutor
) -> None:
    assert io_loop.run_sync(lambda: Worker(pool).add(2, b=3)) == 5


def test_run_on_executor_is_yieldable_in_gen_coroutine(
    io_loop: IOLoop, pool: concurrent.futures.ThreadPoolExecutor
) -> None:
    @gen.coroutine
    def work() -> Any:
        value = yield Worker(pool).add(40, 2)
        return value

    assert io_loop.run_sync(work) == 42


def test_run_on_executor_legacy_callback_runs_on_the_loop_thread(
    io_loop: IOLoop, pool: concurrent.futures.ThreadPoolExecutor
) -> None:
    got: list[tuple[int, threading.Thread]] = []

    async def main() -> None:
        def record(value: int) -> None:
            got.append((value, threading.current_thread()))

        Worker(pool).add(1, 1, callback=record)  # type: ignore[call-arg]  # legacy keyword
        while not got:
            await asyncio.sleep(0.001)

    io_loop.run_sync(main, timeout=5)
    assert got == [(2, threading.current_thread())]


def test_run_on_executor_rejects_positional_non_function_arguments() -> None:
    with pytest.raises(ValueError, match="executor=name"):
        sc.run_on_executor("executor")  # type: ignore[call-overload]  # misuse on purpose


# ---- chain_future ------------------------------------------------------------------------------


def test_chain_future_copies_result_exception_and_cancellation(io_loop: IOLoop) -> None:
    async def main() -> list[Any]:
        loop = asyncio.get_running_loop()
        pairs = [(loop.create_future(), loop.create_future()) for _ in range(3)]
        for a, b in pairs:
            sc.chain_future(a, b)
        pairs[0][0].set_result("r")
        pairs[1][0].set_exception(KeyError("e"))
        pairs[2][0].cancel()
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        b0, b1, b2 = (b for _, b in pairs)
        return [b0.result(), type(b1.exception()), b2.cancelled()]

    assert io_loop.run_sync(main) == ["r", KeyError, True]


def test_chain_future_leaves_a_finished_target_alone(io_loop: IOLoop) -> None:
    async def main() -> Any:
        loop = asyncio.get_running_loop()
        a, b = loop.create_future(), loop.create_future()
        sc.chain_future(a, b)
        b.set_result("first")
        a.set_result("second")
        await asyncio.sleep(0)
        return b.result()

    assert io_loop.run_sync(main) == "first"


def test_chain_future_from_a_thread_sets_the_target_on_its_loop(
    io_loop: IOLoop, pool: concurrent.futures.ThreadPoolExecutor
) -> None:
    async def main() -> tuple[str, bool]:
        target = asyncio.get_running_loop().create_future()
        setter_threads: list[threading.Thread] = []
        target.add_done_callback(lambda _: setter_threads.append(threading.current_thread()))
        sc.chain_future(pool.submit(lambda: "from thread"), target)
        value = await target
        await asyncio.sleep(0)
        return value, setter_threads == [threading.current_thread()]

    assert io_loop.run_sync(main) == ("from thread", True)


def test_chain_future_into_a_concurrent_future(io_loop: IOLoop) -> None:
    async def main() -> Any:
        a: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        b: concurrent.futures.Future[str] = concurrent.futures.Future()
        sc.chain_future(a, b)
        a.set_result("x")
        await asyncio.sleep(0)
        return b.result(timeout=0)

    assert io_loop.run_sync(main) == "x"


# ---- the future_* helpers ----------------------------------------------------------------------


def test_set_result_unless_cancelled_ignores_cancelled_futures(io_loop: IOLoop) -> None:
    live = io_loop.asyncio_loop.create_future()
    sc.future_set_result_unless_cancelled(live, 1)
    assert live.result() == 1
    gone = io_loop.asyncio_loop.create_future()
    gone.cancel()
    sc.future_set_result_unless_cancelled(gone, 2)
    assert gone.cancelled()


def test_set_exception_unless_cancelled_logs_when_cancelled(
    io_loop: IOLoop, caplog: pytest.LogCaptureFixture
) -> None:
    live = io_loop.asyncio_loop.create_future()
    sc.future_set_exception_unless_cancelled(live, KeyError("k"))
    assert isinstance(live.exception(), KeyError)
    gone = io_loop.asyncio_loop.create_future()
    gone.cancel()
    sc.future_set_exception_unless_cancelled(gone, ValueError("late"))
    records = app_errors(caplog)
    assert [r.getMessage() for r in records] == ["Exception after Future was cancelled"]
    assert records[0].exc_info is not None and records[0].exc_info[0] is ValueError


def test_future_set_exc_info_takes_a_sys_exc_info_triple(io_loop: IOLoop) -> None:
    future = io_loop.asyncio_loop.create_future()
    try:
        raise OSError("triple")
    except OSError:
        sc.future_set_exc_info(future, sys.exc_info())
    assert isinstance(future.exception(), OSError)
    with pytest.raises(ValueError, match="needs an exception"):
        sc.future_set_exc_info(io_loop.asyncio_loop.create_future(), (None, None, None))


def test_future_add_done_callback_runs_at_once_when_done(io_loop: IOLoop) -> None:
    calls: list[str] = []
    done = io_loop.asyncio_loop.create_future()
    done.set_result(None)
    sc.future_add_done_callback(done, lambda f: calls.append("done"))
    assert calls == ["done"]

    async def main() -> None:
        pending = asyncio.get_running_loop().create_future()
        sc.future_add_done_callback(pending, lambda f: calls.append("later"))
        assert calls == ["done"]
        pending.set_result(None)
        await asyncio.sleep(0)

    io_loop.run_sync(main)
    finished: concurrent.futures.Future[int] = concurrent.futures.Future()
    finished.set_result(1)
    sc.future_add_done_callback(finished, lambda f: calls.append("concurrent"))
    assert calls == ["done", "later", "concurrent"]


# ---- return_future -----------------------------------------------------------------------------


@sc.return_future
def fetch(url: str, callback: Callable[..., None]) -> None:
    IOLoop.current().add_callback(callback, f"body of {url}")


@sc.return_future
def signal_only(callback: Callable[..., None]) -> None:
    IOLoop.current().add_callback(callback)


def test_return_future_resolves_with_the_callback_argument(io_loop: IOLoop) -> None:
    async def main() -> tuple[Any, Any]:
        return await fetch("/a"), await signal_only()

    assert io_loop.run_sync(main) == ("body of /a", None)


def test_return_future_also_calls_the_callers_callback(io_loop: IOLoop) -> None:
    got: list[Any] = []

    async def main() -> None:
        by_keyword = fetch("/k", callback=got.append)
        by_position = fetch("/p", got.append)
        bare = signal_only(callback=lambda *args: got.append(args))
        await asyncio.gather(by_keyword, by_position, bare)
        await asyncio.sleep(0.01)

    io_loop.run_sync(main)
    assert sorted(map(repr, got)) == sorted(["'body of /k'", "'body of /p'", "()"])


def test_return_future_exception_before_callback_fails_the_future(io_loop: IOLoop) -> None:
    @sc.return_future
    def broken(callback: Callable[..., None]) -> None:
        raise ConnectionError("down")

    async def main() -> None:
        with pytest.raises(ConnectionError):
            await broken()

    io_loop.run_sync(main)


def test_return_future_exception_after_callback_propagates(io_loop: IOLoop) -> None:
    @sc.return_future
    def late(callback: Callable[..., None]) -> None:
        callback("done")
        raise ConnectionError("after")

    async def main() -> None:
        with pytest.raises(ConnectionError):
            late()

    io_loop.run_sync(main)


def test_return_future_function_returning_a_value_fails(io_loop: IOLoop) -> None:
    @sc.return_future
    def returns(callback: Callable[..., None]) -> int:
        return 3

    async def main() -> None:
        with pytest.raises(sc.ReturnValueIgnoredError, match="returned 3"):
            await returns()

    io_loop.run_sync(main)


def test_return_future_is_yieldable_in_gen_coroutine(io_loop: IOLoop) -> None:
    @gen.coroutine
    def work() -> Any:
        body = yield fetch("/y")
        return body

    assert io_loop.run_sync(work) == "body of /y"
