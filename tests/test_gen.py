"""Tests for squall.gen (coroutine, Task, engine and yield points, multi, with_timeout, ...)
and squall._stack_context, on asyncio and uvloop."""

from __future__ import annotations

import asyncio
import builtins
import concurrent.futures
import contextvars
import datetime
import logging
import threading
import time
from collections.abc import Callable, Generator, Iterator
from typing import Any

import pytest

from squall import _stack_context, gen, ioloop
from squall.ioloop import IOLoop

Gen = Generator[Any, Any, Any]


@pytest.fixture(params=["asyncio", "uvloop"])
def io_loop(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[IOLoop]:
    """A fresh current IOLoop of each kind; every loop is closed afterwards."""
    if request.param == "uvloop":
        pytest.importorskip("uvloop")
    monkeypatch.setenv("SQUALL_LOOP", request.param)
    ioloop._reset_for_tests()
    yield IOLoop()
    ioloop._reset_for_tests()


def app_errors(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "squall.application"]


def resolved(value: Any) -> asyncio.Future[Any]:
    future = asyncio.get_running_loop().create_future()
    future.set_result(value)
    return future


def failed(exc: BaseException) -> asyncio.Future[Any]:
    future = asyncio.get_running_loop().create_future()
    future.set_exception(exc)
    return future


# ---- coroutine ---------------------------------------------------------------------------------


def test_coroutine_first_step_runs_inline_before_the_loop_runs(io_loop: IOLoop) -> None:
    steps: list[str] = []

    @gen.coroutine
    def work() -> Gen:
        steps.append("first")
        yield gen.moment
        steps.append("second")
        return "done"

    future = work()
    assert steps == ["first"]
    assert isinstance(future, asyncio.Future) and not future.done()
    assert io_loop.run_sync(lambda: future) == "done"
    assert steps == ["first", "second"]


def test_coroutine_raise_return_sets_the_result(io_loop: IOLoop) -> None:
    @gen.coroutine
    def work() -> Gen:
        yield gen.sleep(0)
        raise gen.Return(42)

    assert io_loop.run_sync(work) == 42


def test_coroutine_plain_return_and_return_without_value(io_loop: IOLoop) -> None:
    @gen.coroutine
    def value() -> Gen:
        yield None
        return "x"

    @gen.coroutine
    def nothing() -> Gen:
        yield None
        raise gen.Return()

    assert io_loop.run_sync(value) == "x"
    assert io_loop.run_sync(nothing) is None


def test_coroutine_on_plain_function_returns_finished_future(io_loop: IOLoop) -> None:
    @gen.coroutine
    def plain(x: int) -> int:
        return x + 1

    @gen.coroutine
    def plain_return() -> None:
        raise gen.Return("r")

    @gen.coroutine
    def plain_error() -> None:
        raise KeyError("k")

    assert plain(1).result() == 2
    assert plain_return().result() == "r"
    error = plain_error()
    assert isinstance(error.exception(), KeyError)


def test_coroutine_exception_before_first_yield_fails_the_future(io_loop: IOLoop) -> None:
    @gen.coroutine
    def work() -> Gen:
        raise ValueError("early")
        yield None

    future = work()
    assert future.done()
    with pytest.raises(ValueError, match="early"):
        future.result()


def test_yielded_future_exception_is_thrown_into_the_generator(io_loop: IOLoop) -> None:
    @gen.coroutine
    def work() -> Gen:
        try:
            yield failed(KeyError("inner"))
        except KeyError as exc:
            return f"caught {exc.args[0]}"

    assert io_loop.run_sync(work) == "caught inner"


def test_uncaught_exception_fails_the_future(io_loop: IOLoop) -> None:
    @gen.coroutine
    def work() -> Gen:
        yield gen.sleep(0)
        raise RuntimeError("late")

    with pytest.raises(RuntimeError, match="late"):
        io_loop.run_sync(work)


def test_yield_list_waits_for_all_children_in_parallel_and_keeps_order(io_loop: IOLoop) -> None:
    @gen.coroutine
    def after(delay: float, value: str) -> Gen:
        yield gen.sleep(delay)
        return value

    @gen.coroutine
    def work() -> Gen:
        begin = time.monotonic()
        values = yield [after(0.05, "slow"), after(0.0, "fast"), after(0.05, "slow2")]
        return values, time.monotonic() - begin

    values, elapsed = io_loop.run_sync(work)
    assert values == ["slow", "fast", "slow2"]
    assert elapsed < 0.095  # parallel, not 0.1 s one after the other


def test_yield_dict_gives_a_dict_of_results(io_loop: IOLoop) -> None:
    @gen.coroutine
    def work() -> Gen:
        result = yield {"a": resolved(1), "b": gen.sleep(0.01)}
        return result

    assert io_loop.run_sync(work) == {"a": 1, "b": None}


def test_yield_native_coroutine_and_awaitables(io_loop: IOLoop) -> None:
    async def native(x: int) -> int:
        await asyncio.sleep(0)
        return x * 10

    @gen.coroutine
    def work() -> Gen:
        a = yield native(1)
        b = yield asyncio.ensure_future(native(2))
        return a, b

    assert io_loop.run_sync(work) == (10, 20)


def test_yield_concurrent_future_from_a_thread(io_loop: IOLoop) -> None:
    with concurrent.futures.ThreadPoolExecutor(1) as pool:

        @gen.coroutine
        def work() -> Gen:
            name = yield pool.submit(lambda: threading.current_thread().name)
            return name

        assert io_loop.run_sync(work) != threading.current_thread().name


@pytest.mark.parametrize("yielded", [None, gen.moment], ids=["None", "moment"])
def test_yield_none_or_moment_lets_the_loop_run_once(io_loop: IOLoop, yielded: Any) -> None:
    order: list[str] = []

    @gen.coroutine
    def work() -> Gen:
        IOLoop.current().add_callback(order.append, "callback")
        yield yielded
        order.append("resumed")

    io_loop.run_sync(work)
    assert order == ["callback", "resumed"]


def test_yield_unknown_object_throws_bad_yield_error_into_generator(io_loop: IOLoop) -> None:
    @gen.coroutine
    def work() -> Gen:
        try:
            yield 42
        except TypeError as exc:
            return exc

    exc = io_loop.run_sync(work)
    assert isinstance(exc, gen.BadYieldError)
    assert str(exc) == "yielded unknown object 42"


def test_coroutine_callback_kwarg_gets_the_result_and_future_is_still_returned(
    io_loop: IOLoop,
) -> None:
    got: list[Any] = []

    @gen.coroutine
    def work(x: int) -> Gen:
        yield gen.moment
        return x * 2

    async def main() -> Any:
        future = work(21, callback=got.append)  # type: ignore[call-arg]
        value = await future
        await gen.sleep(0.01)
        return value

    assert io_loop.run_sync(main) == 42
    assert got == [42]


def test_coroutine_callback_not_called_on_failure_and_error_is_logged(
    io_loop: IOLoop, caplog: pytest.LogCaptureFixture
) -> None:
    got: list[Any] = []

    @gen.coroutine
    def work() -> Gen:
        yield gen.moment
        raise ValueError("no")

    async def main() -> None:
        work(callback=got.append)  # type: ignore[call-arg]
        await gen.sleep(0.02)

    io_loop.run_sync(main)
    assert got == []
    assert [r.exc_info[0] for r in app_errors(caplog) if r.exc_info] == [ValueError]


def test_is_coroutine_function_marks_decorated_functions_only() -> None:
    @gen.coroutine
    def decorated() -> Gen:
        yield None

    async def native() -> None:
        pass

    assert gen.is_coroutine_function(decorated)
    assert decorated.__squall_coroutine__ and decorated.__tornado_coroutine__  # type: ignore[attr-defined]
    assert not gen.is_coroutine_function(native)
    assert decorated.__name__ == "decorated"


def test_gen_coroutine_is_awaitable_from_native_code(io_loop: IOLoop) -> None:
    @gen.coroutine
    def work() -> Gen:
        yield gen.sleep(0)
        return "ok"

    async def main() -> str:
        return await work()  # type: ignore[no-any-return]

    assert io_loop.run_sync(main) == "ok"


def test_coroutine_steps_share_one_copied_context(io_loop: IOLoop) -> None:
    var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="outer")

    @gen.coroutine
    def work() -> Gen:
        var.set("inner")
        yield gen.sleep(0)
        return var.get()

    assert io_loop.run_sync(work) == "inner"
    assert var.get() == "outer"


def test_cancelling_the_future_throws_cancelled_error_into_the_generator(
    io_loop: IOLoop,
) -> None:
    cleaned: list[bool] = []

    @gen.coroutine
    def work() -> Gen:
        try:
            yield gen.sleep(10)
        except asyncio.CancelledError:
            cleaned.append(True)
            raise

    async def main() -> bool:
        future = work()
        await asyncio.sleep(0)
        future.cancel()
        for _ in range(100):
            if cleaned:
                break
            await asyncio.sleep(0)
        return future.cancelled()

    assert io_loop.run_sync(main) is True
    assert cleaned == [True]


# ---- Task and exception routing ----------------------------------------------------------------


def test_task_add_timeout_resumes_after_the_deadline(io_loop: IOLoop) -> None:
    @gen.coroutine
    def work() -> Gen:
        begin = time.monotonic()
        result = yield gen.Task(IOLoop.current().add_timeout, time.time() + 0.05)
        return result, time.monotonic() - begin

    result, elapsed = io_loop.run_sync(work)
    assert result is None
    assert elapsed >= 0.045  # the loop's monotonic clock vs time.time() may differ by rounding


def test_task_with_instance_add_timeout_as_in_the_seed_demo(io_loop: IOLoop) -> None:
    @gen.coroutine
    def get() -> Gen:
        yield gen.Task(IOLoop.instance().add_timeout, time.time() + 0.01)
        return "this is SleepHandler..."

    assert IOLoop.instance().run_sync(get) == "this is SleepHandler..."


@pytest.mark.parametrize(
    ("args", "kwargs", "expected"),
    [
        ((), {}, None),
        ((5,), {}, 5),
        ((1, 2), {}, gen.Arguments((1, 2), {})),
        ((1,), {"k": "v"}, gen.Arguments((1,), {"k": "v"})),
    ],
)
def test_task_resolves_with_what_the_callback_gets(
    io_loop: IOLoop, args: tuple[Any, ...], kwargs: dict[str, Any], expected: Any
) -> None:
    def api(prefix: str, callback: Callable[..., None]) -> None:
        assert prefix == "p"
        IOLoop.current().add_callback(callback, *args, **kwargs)

    @gen.coroutine
    def work() -> Gen:
        value = yield gen.Task(api, "p")
        return value

    assert io_loop.run_sync(work) == expected


def test_task_arguments_is_a_named_tuple() -> None:
    value = gen.Arguments((1,), {"a": 2})
    assert value.args == (1,) and value.kwargs == {"a": 2}
    assert tuple(value) == ((1,), {"a": 2})


def test_task_function_raising_synchronously_fails_the_task(io_loop: IOLoop) -> None:
    def api(callback: Callable[..., None]) -> None:
        raise OSError("refused")

    @gen.coroutine
    def work() -> Gen:
        try:
            yield gen.Task(api)
        except OSError as exc:
            return str(exc)

    assert io_loop.run_sync(work) == "refused"


def _call_later_through_router(delay: float, fn: Callable[[], object]) -> None:
    """Schedule ``fn`` as IOLoop._run_callback will once it calls route_exception."""

    def runner() -> None:
        try:
            fn()
        except Exception as exc:
            if not _stack_context.route_exception(exc):
                raise

    asyncio.get_running_loop().call_later(delay, runner)


def test_task_exception_in_a_callback_func_started_reaches_the_coroutine(io_loop: IOLoop) -> None:
    def boom() -> None:
        raise ValueError("in callback")

    def api(callback: Callable[..., None]) -> None:
        # Two hops: the failing callback is scheduled from another callback.
        _call_later_through_router(0.01, lambda: _call_later_through_router(0.0, boom))

    @gen.coroutine
    def work() -> Gen:
        try:
            yield gen.Task(api)
        except ValueError as exc:
            return f"caught: {exc}"

    assert io_loop.run_sync(work, timeout=5) == "caught: in callback"


def test_task_sink_declines_once_the_task_is_done(io_loop: IOLoop) -> None:
    routed: list[bool] = []

    def api(callback: Callable[..., None]) -> None:
        loop = asyncio.get_running_loop()
        loop.call_soon(callback, "ok")

        def late() -> None:
            routed.append(_stack_context.route_exception(ValueError("after")))

        loop.call_later(0.01, late)

    @gen.coroutine
    def work() -> Gen:
        value = yield gen.Task(api)
        yield gen.sleep(0.03)
        return value

    assert io_loop.run_sync(work) == "ok"
    assert routed == [False]


def test_task_exception_in_add_timeout_callback_reaches_the_coroutine(
    io_loop: IOLoop, caplog: pytest.LogCaptureFixture
) -> None:
    def boom() -> None:
        raise ValueError("in add_timeout callback")

    def api(callback: Callable[..., None]) -> None:
        IOLoop.current().add_timeout(time.time() + 0.01, boom)

    @gen.coroutine
    def work() -> Gen:
        try:
            yield gen.with_timeout(datetime.timedelta(seconds=1), gen.Task(api))
        except ValueError as exc:
            return str(exc)

    assert io_loop.run_sync(work) == "in add_timeout callback"
    assert app_errors(caplog) == []


def test_exception_stack_context_takes_add_callback_errors(
    io_loop: IOLoop, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[BaseException] = []

    def handler(typ: type[BaseException], value: BaseException, tb: object) -> bool:
        seen.append(value)
        return True

    def boom() -> None:
        raise KeyError("cb")

    async def main() -> None:
        with _stack_context.ExceptionStackContext(handler):
            IOLoop.current().add_callback(boom)
        await gen.sleep(0.01)

    io_loop.run_sync(main)
    assert [type(e) for e in seen] == [KeyError]
    assert app_errors(caplog) == []


# ---- _stack_context ----------------------------------------------------------------------------


def test_route_exception_without_sinks_declines() -> None:
    assert _stack_context.route_exception(ValueError()) is False


def test_route_exception_offers_innermost_sink_first_then_outer() -> None:
    calls: list[str] = []

    def outer(exc: BaseException) -> bool:
        calls.append("outer")
        return True

    def inner(exc: BaseException) -> bool:
        calls.append("inner")
        return isinstance(exc, KeyError)

    def scope() -> tuple[bool, bool]:
        _stack_context.push_sink(outer)
        _stack_context.push_sink(inner)
        return _stack_context.route_exception(KeyError()), _stack_context.route_exception(
            ValueError()
        )

    assert contextvars.copy_context().run(scope) == (True, True)
    assert calls == ["inner", "inner", "outer"]
    assert _stack_context.route_exception(KeyError()) is False  # the copy kept the sinks


def test_a_sink_that_raises_is_logged_and_declines(caplog: pytest.LogCaptureFixture) -> None:
    def broken(exc: BaseException) -> bool:
        raise RuntimeError("sink bug")

    def scope() -> bool:
        _stack_context.push_sink(broken)
        return _stack_context.route_exception(ValueError())

    assert contextvars.copy_context().run(scope) is False
    assert [r.getMessage() for r in app_errors(caplog)] == [
        f"Exception in exception sink {broken!r}"
    ]


def test_exception_stack_context_reaches_callbacks_scheduled_inside(io_loop: IOLoop) -> None:
    seen: list[tuple[type[BaseException], BaseException]] = []

    def handler(typ: type[BaseException], value: BaseException, tb: object) -> bool:
        seen.append((typ, value))
        return True

    async def main() -> None:
        with _stack_context.ExceptionStackContext(handler):
            _call_later_through_router(0.0, lambda: dict[str, int]()["missing"])
        _call_later_through_router(0.0, lambda: None)  # outside: no sink, nothing raised
        await gen.sleep(0.02)

    io_loop.run_sync(main)
    assert [typ for typ, _ in seen] == [KeyError]


def test_exception_stack_context_handles_errors_leaving_the_block() -> None:
    seen: list[type[BaseException]] = []

    def swallow(typ: type[BaseException], value: BaseException, tb: object) -> bool:
        seen.append(typ)
        return typ is KeyError

    with _stack_context.ExceptionStackContext(swallow):
        raise KeyError("suppressed")
    with pytest.raises(ValueError):
        with _stack_context.ExceptionStackContext(swallow):
            raise ValueError("kept")
    assert seen == [KeyError, ValueError]
    assert _stack_context.route_exception(KeyError()) is False  # the sink was popped


def test_null_context_hides_outer_sinks() -> None:
    taken: list[BaseException] = []

    def sink(exc: BaseException) -> bool:
        taken.append(exc)
        return True

    with _stack_context.ExceptionStackContext(lambda t, v, tb: sink(v)):
        with _stack_context.NullContext():
            assert _stack_context.route_exception(ValueError()) is False
        assert _stack_context.route_exception(ValueError()) is True
    assert len(taken) == 1


def test_wrap_binds_the_context_of_the_call_site() -> None:
    taken: list[BaseException] = []

    def fails() -> None:
        raise ValueError("wrapped")

    def handler(typ: type[BaseException], value: BaseException, tb: object) -> bool:
        taken.append(value)
        return True

    with _stack_context.ExceptionStackContext(handler):
        wrapped = _stack_context.wrap(fails)
    assert wrapped() is None  # the sink took the error
    assert [str(e) for e in taken] == ["wrapped"]
    assert _stack_context.wrap(wrapped) is wrapped
    assert _stack_context.wrap(None) is None
    bare = _stack_context.wrap(fails)
    with pytest.raises(ValueError):
        bare()


def test_run_with_stack_context_returns_the_result() -> None:
    context = _stack_context.NullContext()
    assert _stack_context.run_with_stack_context(context, lambda: 7) == 7


# ---- engine, Callback, Wait, WaitAll -----------------------------------------------------------


def test_engine_with_callback_and_wait(io_loop: IOLoop) -> None:
    done: list[Any] = []

    @gen.engine
    def work(callback: Callable[[Any], None]) -> Gen:
        cb = yield gen.Callback("key")
        IOLoop.current().add_callback(cb, "value")
        result = yield gen.Wait("key")
        callback(result)

    async def main() -> None:
        assert work(callback=done.append) is None
        while not done:
            await asyncio.sleep(0)

    io_loop.run_sync(main, timeout=5)
    assert done == ["value"]


def test_wait_all_returns_values_in_key_order(io_loop: IOLoop) -> None:
    @gen.coroutine
    def work() -> Gen:
        first = yield gen.Callback("a")
        second = yield gen.Callback("b")
        IOLoop.current().call_later(0.01, first, 1, 2)
        IOLoop.current().add_callback(second)
        values = yield gen.WaitAll(["a", "b"])
        return values

    assert io_loop.run_sync(work) == [gen.Arguments((1, 2), {}), None]


def test_yield_list_of_waits_is_a_multi_yield_point(io_loop: IOLoop) -> None:
    @gen.coroutine
    def work() -> Gen:
        (yield gen.Callback("a"))("A")
        IOLoop.current().add_callback((yield gen.Callback("b")), "B")
        values = yield {"x": gen.Wait("a"), "y": gen.Wait("b")}
        return values

    assert io_loop.run_sync(work) == {"x": "A", "y": "B"}


def test_callback_key_reuse_and_unknown_key_errors(io_loop: IOLoop) -> None:
    @gen.coroutine
    def work() -> Gen:
        cb = yield gen.Callback("k")
        errors: list[Exception] = []
        try:
            yield gen.Callback("k")
        except gen.KeyReuseError as exc:
            errors.append(exc)
        try:
            yield gen.Wait("other")
        except gen.UnknownKeyError as exc:
            errors.append(exc)
        cb()
        yield gen.Wait("k")
        return [type(e) for e in errors]

    assert io_loop.run_sync(work) == [gen.KeyReuseError, gen.UnknownKeyError]


def test_finishing_with_pending_callbacks_raises_leaked_callback_error(io_loop: IOLoop) -> None:
    @gen.coroutine
    def work() -> Gen:
        yield gen.Callback("never waited")

    with pytest.raises(gen.LeakedCallbackError):
        io_loop.run_sync(work)


def test_engine_returning_a_value_logs_return_value_ignored(
    io_loop: IOLoop, caplog: pytest.LogCaptureFixture
) -> None:
    @gen.engine
    def work() -> Gen:
        yield gen.moment
        return "dropped"

    async def main() -> None:
        work()
        await gen.sleep(0.02)

    io_loop.run_sync(main)
    assert [r.exc_info[0] for r in app_errors(caplog) if r.exc_info] == [
        gen.ReturnValueIgnoredError
    ]


def test_callback_error_while_waiting_on_a_key_is_thrown_into_the_generator(
    io_loop: IOLoop,
) -> None:
    caught: list[str] = []

    @gen.coroutine
    def work() -> Gen:
        yield gen.Callback("k")
        _call_later_through_router(0.0, lambda: 1 / 0)
        try:
            yield gen.Wait("k")
        except ZeroDivisionError:
            caught.append("in generator")
            raise

    with pytest.raises(ZeroDivisionError):
        io_loop.run_sync(work, timeout=5)
    assert caught == ["in generator"]


# ---- multi -------------------------------------------------------------------------------------


def test_multi_first_exception_propagates_and_others_are_logged(
    io_loop: IOLoop, caplog: pytest.LogCaptureFixture
) -> None:
    async def main() -> None:
        with pytest.raises(ValueError, match="first"):
            await gen.multi([resolved(1), failed(ValueError("first")), failed(KeyError("second"))])

    io_loop.run_sync(main)
    records = app_errors(caplog)
    assert [r.getMessage() for r in records] == ["Multiple exceptions in yield list"]
    assert records[0].exc_info is not None and records[0].exc_info[0] is KeyError


def test_multi_quiet_exceptions_are_not_logged(
    io_loop: IOLoop, caplog: pytest.LogCaptureFixture
) -> None:
    async def main() -> None:
        with pytest.raises(ValueError):
            await gen.multi(
                {"a": failed(ValueError()), "b": failed(KeyError())}, quiet_exceptions=KeyError
            )
        with pytest.raises(ValueError):
            await gen.Multi([failed(ValueError()), failed(OSError())], quiet_exceptions=(OSError,))

    io_loop.run_sync(main)
    assert app_errors(caplog) == []


def test_multi_waits_for_every_child_and_handles_empty(io_loop: IOLoop) -> None:
    async def main() -> Any:
        slow = gen.sleep(0.02)
        with pytest.raises(KeyError):
            await gen.multi_future([failed(KeyError()), slow])
        return slow.done(), await gen.multi([]), await gen.multi({})

    assert io_loop.run_sync(main) == (True, [], {})


# ---- with_timeout and sleep --------------------------------------------------------------------


@pytest.mark.parametrize("form", ["timedelta", "deadline"])
def test_with_timeout_raises_timeout_error(io_loop: IOLoop, form: str) -> None:
    async def main() -> Any:
        slow = gen.sleep(0.3)
        timeout: float | datetime.timedelta = (
            datetime.timedelta(seconds=0.02) if form == "timedelta" else time.time() + 0.02
        )
        begin = time.monotonic()
        with pytest.raises(gen.TimeoutError):
            await gen.with_timeout(timeout, slow)
        elapsed = time.monotonic() - begin
        cancelled = slow.cancelled()
        slow.cancel()
        return elapsed, cancelled

    elapsed, cancelled = io_loop.run_sync(main)
    assert 0.015 <= elapsed < 0.25
    assert cancelled is False  # Tornado semantics: the wrapped future runs on


def test_gen_timeout_error_is_the_builtin() -> None:
    assert gen.TimeoutError is builtins.TimeoutError is asyncio.TimeoutError


def test_with_timeout_passes_through_result_and_exception(io_loop: IOLoop) -> None:
    @gen.coroutine
    def value() -> Gen:
        yield gen.sleep(0.01)
        return "v"

    async def main() -> Any:
        got = await gen.with_timeout(datetime.timedelta(seconds=1), value())
        with pytest.raises(KeyError):
            await gen.with_timeout(time.time() + 1, failed(KeyError()))
        return got

    assert io_loop.run_sync(main) == "v"


def test_with_timeout_logs_a_late_failure_unless_quiet(
    io_loop: IOLoop, caplog: pytest.LogCaptureFixture
) -> None:
    async def fail_later(exc: Exception) -> None:
        await asyncio.sleep(0.03)
        raise exc

    async def main() -> None:
        loud = asyncio.ensure_future(fail_later(ValueError("loud")))
        quiet = asyncio.ensure_future(fail_later(OSError("quiet")))
        delta = datetime.timedelta(seconds=0.01)
        for future, quiet_types in ((loud, ()), (quiet, (OSError,))):
            with pytest.raises(TimeoutError):
                await gen.with_timeout(delta, future, quiet_exceptions=quiet_types)
        await asyncio.wait([loud, quiet])
        await asyncio.sleep(0)

    io_loop.run_sync(main)
    records = app_errors(caplog)
    assert len(records) == 1 and "after timeout" in records[0].getMessage()
    assert records[0].exc_info is not None and records[0].exc_info[0] is ValueError


def test_sleep_resolves_to_none_after_the_duration(io_loop: IOLoop) -> None:
    async def main() -> Any:
        begin = time.monotonic()
        future = gen.sleep(0.03)
        await future
        return future.result(), time.monotonic() - begin

    value, elapsed = io_loop.run_sync(main)
    assert value is None and elapsed >= 0.025


def test_moment_is_awaitable_in_native_code_and_creates_no_loop() -> None:
    async def main() -> str:
        await gen.moment
        return repr(gen.moment)

    assert asyncio.run(main()) == "squall.gen.moment"


# ---- WaitIterator ------------------------------------------------------------------------------


def test_wait_iterator_yields_in_completion_order_with_indexes(io_loop: IOLoop) -> None:
    async def after(delay: float, value: str) -> str:
        await asyncio.sleep(delay)
        return value

    async def main() -> list[tuple[Any, Any]]:
        it = gen.WaitIterator(after(0.04, "a"), after(0.0, "b"), after(0.02, "c"))
        seen = []
        while not it.done():
            value = await it.next()
            assert it.current_future is not None and it.current_future.result() == value
            seen.append((it.current_index, value))
        assert it.current_index is None and it.current_future is None
        return seen

    assert io_loop.run_sync(main) == [(1, "b"), (2, "c"), (0, "a")]


def test_wait_iterator_async_for_with_keywords_and_errors(io_loop: IOLoop) -> None:
    async def main() -> list[Any]:
        it = gen.WaitIterator(x=gen.sleep(0.02), y=resolved("now"), z=failed(KeyError("z")))
        seen: list[Any] = []
        while True:
            try:
                async for value in it:
                    seen.append((it.current_index, value))
                break
            except KeyError:
                seen.append((it.current_index, "error"))
        return seen

    assert io_loop.run_sync(main) == [("y", "now"), ("z", "error"), ("x", None)]


def test_wait_iterator_rejects_args_and_kwargs_together(io_loop: IOLoop) -> None:
    async def main() -> None:
        with pytest.raises(ValueError, match="not both"):
            gen.WaitIterator(resolved(1), b=resolved(2))

    io_loop.run_sync(main)


# ---- convert_yielded and maybe_future ----------------------------------------------------------


def test_convert_yielded_handles_each_kind(io_loop: IOLoop) -> None:
    async def native() -> int:
        return 3

    async def main() -> list[Any]:
        none = gen.convert_yielded(None)
        assert none.done()
        existing = resolved(1)
        assert gen.convert_yielded(existing) is existing
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            wrapped = gen.convert_yielded(pool.submit(lambda: 2))
        return [
            none.result(),
            await gen.convert_yielded(gen.moment),
            await wrapped,
            await gen.convert_yielded(native()),
            await gen.convert_yielded([resolved("l")]),
            await gen.convert_yielded({"d": resolved("d")}),
        ]

    assert io_loop.run_sync(main) == [None, None, 2, 3, ["l"], {"d": "d"}]


def test_convert_yielded_rejects_unknown_objects() -> None:
    with pytest.raises(TypeError, match=r"yielded unknown object 'text'"):
        gen.convert_yielded("text")


def test_convert_yielded_is_extensible_with_register(io_loop: IOLoop) -> None:
    class Deferred:
        def __init__(self, value: Any) -> None:
            self.value = value

    @gen.convert_yielded.register(Deferred)
    def _(d: Deferred) -> asyncio.Future[Any]:
        return gen.maybe_future(d.value)

    @gen.coroutine
    def work() -> Gen:
        value = yield Deferred("custom")
        return value

    assert io_loop.run_sync(work) == "custom"


def test_maybe_future_wraps_values_and_passes_futures(io_loop: IOLoop) -> None:
    async def main() -> None:
        existing = resolved(1)
        assert gen.maybe_future(existing) is existing
        wrapped = gen.maybe_future("plain")
        assert wrapped.done() and wrapped.result() == "plain"

    io_loop.run_sync(main)


def test_importing_gen_creates_no_loop() -> None:
    import subprocess
    import sys

    code = "import squall.gen, squall.concurrent, squall._loop as l; print(l.loop_was_created())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_cancelling_during_yield_moment_throws_cancelled_error(io_loop: IOLoop) -> None:
    seen: list[str] = []

    @gen.coroutine
    def work() -> Gen:
        try:
            yield gen.moment
            seen.append("resumed")
        except asyncio.CancelledError:
            seen.append("cancelled")
            raise

    async def main() -> bool:
        future = work()
        future.cancel()
        for _ in range(10):
            await asyncio.sleep(0)
        return future.cancelled()

    assert io_loop.run_sync(main) is True
    assert seen == ["cancelled"]


def test_coroutine_on_async_def_chains_the_native_result(io_loop: IOLoop) -> None:
    @gen.coroutine
    async def native() -> str:
        await asyncio.sleep(0)
        return "native"

    assert io_loop.run_sync(native) == "native"


def test_task_sink_is_innermost_inside_an_exception_stack_context(io_loop: IOLoop) -> None:
    outer: list[BaseException] = []

    def handler(typ: type[BaseException], value: BaseException, tb: object) -> bool:
        outer.append(value)
        return True

    def api(callback: Callable[..., None]) -> None:
        _call_later_through_router(0.0, lambda: 1 / 0)

    @gen.coroutine
    def work() -> Gen:
        with _stack_context.ExceptionStackContext(handler):
            future = gen.Task(api)
        try:
            yield future
        except ZeroDivisionError:
            return "task took it"

    assert io_loop.run_sync(work) == "task took it"
    assert outer == []


def test_the_yield_vocabulary_is_one_object_under_every_name() -> None:
    # Defined in squall._yieldables (below the IOLoop, whose run_sync uses it), re-exported.
    from squall import _yieldables, concurrent
    from squall.platform import asyncio as platform_asyncio

    for name in ("convert_yielded", "multi", "sleep", "moment", "BadYieldError"):
        assert getattr(gen, name) is getattr(_yieldables, name), name
    assert gen.Multi is gen.multi_future is gen.multi
    assert concurrent._create_future is _yieldables._create_future
    assert platform_asyncio.convert_yielded is gen.convert_yielded
