"""Tests for squall.ioloop (IOLoop, PeriodicCallback) and squall._loop, on asyncio and uvloop."""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime
import logging
import random
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from squall import _loop, gen, ioloop
from squall.ioloop import IOLoop, PeriodicCallback

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(params=["asyncio", "uvloop"])
def loop_kind(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Select the loop implementation through SQUALL_LOOP; close every loop afterwards."""
    if request.param == "uvloop":
        pytest.importorskip("uvloop")
    monkeypatch.setenv("SQUALL_LOOP", request.param)
    ioloop._reset_for_tests()
    yield request.param
    ioloop._reset_for_tests()


@pytest.fixture
def io_loop(loop_kind: str) -> IOLoop:
    loop = IOLoop()
    assert _loop.loop_name(loop.asyncio_loop) == loop_kind
    return loop


@pytest.fixture
def clean_registry() -> Iterator[None]:
    ioloop._reset_for_tests()
    yield
    ioloop._reset_for_tests()


def start_with_fuse(io: IOLoop, seconds: float = 5.0) -> None:
    """Start ``io``; fail if nothing stopped it within ``seconds``."""
    blown: list[bool] = []

    def blow() -> None:
        blown.append(True)
        io.stop()

    fuse = io.call_later(seconds, blow)
    io.start()
    io.remove_timeout(fuse)
    assert not blown, f"the loop was not stopped within {seconds} s"


def app_errors(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "squall.application"]


# ---- timeouts ---------------------------------------------------------------------------------


def test_instance_add_timeout_with_wall_clock_deadline_fires_after_delay(loop_kind: str) -> None:
    fired: list[float] = []
    begin = time.monotonic()

    def callback() -> None:
        fired.append(time.monotonic() - begin)
        IOLoop.instance().stop()

    IOLoop.instance().add_timeout(time.time() + 0.2, callback)
    start_with_fuse(IOLoop.instance())
    assert len(fired) == 1
    assert 0.15 <= fired[0] < 2.0
    assert _loop.loop_name(IOLoop.instance().asyncio_loop) == loop_kind


def test_add_timeout_with_timedelta_is_relative_to_now(io_loop: IOLoop) -> None:
    fired: list[float] = []
    begin = time.monotonic()

    def callback(tag: str) -> None:
        fired.append(time.monotonic() - begin)
        io_loop.stop()

    io_loop.add_timeout(datetime.timedelta(seconds=0.1), callback, "x")
    start_with_fuse(io_loop)
    assert len(fired) == 1 and fired[0] >= 0.09


def test_add_timeout_passes_keyword_callback_and_arguments(io_loop: IOLoop) -> None:
    got: list[tuple[int, int]] = []

    def callback(a: int, b: int) -> None:
        got.append((a, b))
        io_loop.stop()

    io_loop.add_timeout(io_loop.time(), callback=callback, a=1, b=2)
    start_with_fuse(io_loop)
    assert got == [(1, 2)]


def test_add_timeout_rejects_a_deadline_that_is_not_a_time(io_loop: IOLoop) -> None:
    with pytest.raises(TypeError, match="timedelta"):
        io_loop.add_timeout("soon", lambda: None)  # type: ignore[arg-type]


def test_remove_timeout_cancels_a_pending_timeout(io_loop: IOLoop) -> None:
    fired: list[str] = []
    handle = io_loop.add_timeout(datetime.timedelta(seconds=0.05), fired.append, "cancelled")
    io_loop.remove_timeout(handle)
    io_loop.call_later(0.15, io_loop.stop)
    start_with_fuse(io_loop)
    assert fired == []


def test_remove_timeout_after_firing_and_twice_is_harmless(io_loop: IOLoop) -> None:
    fired: list[str] = []
    handle = io_loop.call_later(0.0, fired.append, "fired")
    io_loop.call_later(0.05, io_loop.stop)
    start_with_fuse(io_loop)
    io_loop.remove_timeout(handle)
    io_loop.remove_timeout(handle)
    assert fired == ["fired"]


def test_call_at_and_call_later_fire_in_deadline_order(io_loop: IOLoop) -> None:
    order: list[str] = []
    io_loop.call_at(io_loop.time() + 0.06, order.append, "at")
    io_loop.call_later(0.02, order.append, "later")
    io_loop.call_later(0.1, io_loop.stop)
    start_with_fuse(io_loop)
    assert order == ["later", "at"]


# ---- run_sync, start, stop, close ---------------------------------------------------------------


def test_run_sync_returns_results_of_coroutines_futures_and_plain_values(io_loop: IOLoop) -> None:
    async def compute() -> int:
        await asyncio.sleep(0.01)
        return 42

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        assert io_loop.run_sync(compute) == 42
        assert io_loop.run_sync(lambda: None) is None
        assert io_loop.run_sync(lambda: [compute(), compute()]) == [42, 42]
        assert io_loop.run_sync(lambda: pool.submit(pow, 2, 10)) == 1024


def test_run_sync_refuses_a_plain_value_as_tornado_does(io_loop: IOLoop) -> None:
    with pytest.raises(gen.BadYieldError, match="'plain'"):
        io_loop.run_sync(lambda: "plain")


def test_run_sync_reraises_the_exception_of_func(io_loop: IOLoop) -> None:
    async def fail() -> None:
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        io_loop.run_sync(fail)


def test_run_sync_times_out_a_never_ending_coroutine(io_loop: IOLoop) -> None:
    cancelled: list[bool] = []

    async def forever() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    begin = time.monotonic()
    with pytest.raises(TimeoutError, match="0.1 seconds"):
        io_loop.run_sync(forever, timeout=0.1)
    assert 0.09 <= time.monotonic() - begin < 2.0
    assert cancelled == [True]

    async def usable() -> str:
        return "still usable"

    assert io_loop.run_sync(usable) == "still usable"


def test_run_sync_inside_the_running_loop_raises(io_loop: IOLoop) -> None:
    async def nested() -> str:
        with pytest.raises(RuntimeError, match="already running"):
            io_loop.run_sync(lambda: None)
        with pytest.raises(RuntimeError, match="already running"):
            io_loop.start()
        return "ok"

    assert io_loop.run_sync(nested) == "ok"


def test_start_makes_the_loop_the_threads_asyncio_loop_only_while_running(
    loop_kind: str,
) -> None:
    io = IOLoop(make_current=False)
    seen: list[asyncio.AbstractEventLoop] = []

    def look() -> None:
        seen.append(asyncio.get_event_loop_policy().get_event_loop())
        io.stop()

    assert _loop.thread_loop() is None
    io.add_callback(look)
    start_with_fuse(io)
    assert seen == [io.asyncio_loop]
    assert _loop.thread_loop() is None


def test_stop_before_start_makes_start_return(io_loop: IOLoop) -> None:
    io_loop.stop()
    start_with_fuse(io_loop)


def test_close_refuses_a_running_loop_and_is_idempotent(io_loop: IOLoop) -> None:
    async def try_close() -> None:
        with pytest.raises(RuntimeError, match="running"):
            io_loop.close()

    io_loop.run_sync(try_close)
    io_loop.close()
    io_loop.close()
    assert io_loop.asyncio_loop.is_closed()
    with pytest.raises(RuntimeError, match="closed"):
        io_loop.start()
    fresh = IOLoop.current()
    assert fresh is not io_loop and not fresh.asyncio_loop.is_closed()


def test_add_callback_after_close_is_dropped(io_loop: IOLoop) -> None:
    io_loop.close()
    io_loop.add_callback(lambda: None)
    io_loop.add_callback_from_signal(lambda: None)
    io_loop.stop()


# ---- errors in callbacks ----------------------------------------------------------------------


def test_exception_in_callback_is_logged_and_the_loop_keeps_running(
    io_loop: IOLoop, caplog: pytest.LogCaptureFixture
) -> None:
    after: list[str] = []

    def bad() -> None:
        raise ValueError("callback failed")

    io_loop.add_callback(bad)
    io_loop.call_later(0.0, bad)
    io_loop.add_timeout(datetime.timedelta(0), bad)
    io_loop.spawn_callback(bad)
    io_loop.call_later(0.05, after.append, "ran")
    io_loop.call_later(0.06, io_loop.stop)
    start_with_fuse(io_loop)
    assert after == ["ran"]
    errors = app_errors(caplog)
    assert len(errors) == 4
    for record in errors:
        assert record.levelno == logging.ERROR
        assert record.getMessage().startswith("Exception in callback ")
        assert record.exc_info is not None and record.exc_info[0] is ValueError


def test_failing_awaitable_returned_by_a_callback_is_logged(
    io_loop: IOLoop, caplog: pytest.LogCaptureFixture
) -> None:
    async def bad_later() -> None:
        await asyncio.sleep(0)
        raise KeyError("async failure")

    io_loop.add_callback(bad_later)
    io_loop.call_later(0.05, io_loop.stop)
    start_with_fuse(io_loop)
    errors = app_errors(caplog)
    assert len(errors) == 1
    assert errors[0].exc_info is not None and errors[0].exc_info[0] is KeyError


def test_handle_callback_exception_can_be_overridden(
    loop_kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[BaseException | None] = []

    class Recording(IOLoop):
        def handle_callback_exception(self, callback: object) -> None:
            seen.append(sys.exc_info()[1])

    io = Recording()
    io.add_callback(lambda: 1 / 0)
    io.call_later(0.02, io.stop)
    start_with_fuse(io)
    assert [type(e) for e in seen] == [ZeroDivisionError]
    assert app_errors(caplog) == []


def test_system_exit_in_a_callback_propagates_out_of_start(io_loop: IOLoop) -> None:
    def leave() -> None:
        raise SystemExit(3)

    io_loop.add_callback(leave)
    with pytest.raises(SystemExit):
        io_loop.start()


# ---- threads, current() and instance() ----------------------------------------------------------


def test_add_callback_from_another_thread_wakes_an_idle_loop(io_loop: IOLoop) -> None:
    ran_on: list[int] = []

    def from_thread() -> None:
        # Not waiting for readiness: the pause lets the loop fall asleep in its selector, which
        # only a thread-safe wake-up ends before the fuse (5 s).
        time.sleep(0.1)
        io_loop.add_callback(record_and_stop)

    def record_and_stop() -> None:
        ran_on.append(threading.get_ident())
        io_loop.stop()

    worker = threading.Thread(target=from_thread)
    io_loop.add_callback(worker.start)
    begin = time.monotonic()
    start_with_fuse(io_loop)
    worker.join()
    assert ran_on == [threading.get_ident()]
    assert time.monotonic() - begin < 1.0


def test_instance_is_the_main_loop_seen_from_other_threads(loop_kind: str) -> None:
    main = IOLoop.instance()
    seen: list[IOLoop] = []
    ran_on: list[int] = []

    def from_thread() -> None:
        seen.append(IOLoop.instance())
        IOLoop.instance().add_callback(record_and_stop)

    def record_and_stop() -> None:
        ran_on.append(threading.get_ident())
        main.stop()

    worker = threading.Thread(target=from_thread)
    main.add_callback(worker.start)
    start_with_fuse(main)
    worker.join()
    assert seen == [main]
    assert ran_on == [threading.get_ident()]


def test_instance_first_created_in_another_thread_is_found_by_the_main_thread(
    loop_kind: str,
) -> None:
    made: list[IOLoop] = []
    worker = threading.Thread(target=lambda: made.append(IOLoop.instance()))
    worker.start()
    worker.join()
    assert IOLoop.initialized()
    assert IOLoop.instance() is made[0]
    assert IOLoop.current() is made[0]


def test_current_is_the_instance_on_the_main_thread_and_running_loop_inside(
    loop_kind: str,
) -> None:
    assert IOLoop.current(instance=False) is None
    assert not IOLoop.initialized()
    current = IOLoop.current()
    assert IOLoop.instance() is current
    assert IOLoop.current() is current
    inside: list[IOLoop] = []

    async def look() -> None:
        inside.append(IOLoop.current())

    current.run_sync(look)
    assert inside == [current]


def test_current_in_a_thread_is_that_threads_own_loop(loop_kind: str) -> None:
    main = IOLoop.current()
    results: list[object] = []

    def work() -> None:
        results.append(IOLoop.current(instance=False))
        own = IOLoop.current()
        results.extend([own, IOLoop.current()])
        IOLoop.clear_current()
        results.append(IOLoop.current(instance=False))
        own.close()

    worker = threading.Thread(target=work)
    worker.start()
    worker.join()
    assert results[0] is None
    assert results[1] is results[2] and results[1] is not main
    assert results[3] is None


def test_clear_instance_forgets_the_main_loop(loop_kind: str) -> None:
    first = IOLoop.instance()
    IOLoop.clear_instance()
    assert not IOLoop.initialized()
    second = IOLoop.instance()
    assert second is not first
    first.close()


def test_install_makes_a_loop_the_instance(loop_kind: str) -> None:
    IOLoop.instance()
    other = IOLoop(make_current=False)
    other.install()
    assert IOLoop.instance() is other


def test_make_current_sets_the_threads_asyncio_loop(loop_kind: str) -> None:
    io = IOLoop()
    assert asyncio.get_event_loop_policy().get_event_loop() is io.asyncio_loop
    io.close()
    assert _loop.thread_loop() is None


def test_current_adopts_a_loop_set_with_asyncio_set_event_loop(clean_registry: None) -> None:
    loop = asyncio.new_event_loop()
    try:
        asyncio.set_event_loop(loop)
        io = IOLoop.current()
        assert io.asyncio_loop is loop
        io.close()
        assert not loop.is_closed()  # squall did not create it, so it does not close it
    finally:
        asyncio.set_event_loop(None)
        loop.close()


def test_current_inside_asyncio_run_wraps_the_running_loop_once(clean_registry: None) -> None:
    async def main() -> tuple[IOLoop, IOLoop, asyncio.AbstractEventLoop]:
        return IOLoop.current(), IOLoop.current(), asyncio.get_running_loop()

    first, second, running = asyncio.run(main())
    assert first is second and first.asyncio_loop is running
    assert IOLoop.current(instance=False) is None


# ---- futures, executors, file descriptors -------------------------------------------------------


def test_add_future_calls_back_on_the_loop_thread(io_loop: IOLoop) -> None:
    got: list[tuple[object, int]] = []

    def done(future: concurrent.futures.Future[None]) -> None:
        got.append((future.result(), threading.get_ident()))
        io_loop.stop()

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        io_loop.add_future(pool.submit(time.sleep, 0.02), done)
        start_with_fuse(io_loop)
    assert got == [(None, threading.get_ident())]


def test_add_future_with_an_asyncio_future(io_loop: IOLoop) -> None:
    got: list[object] = []

    async def main() -> None:
        future: asyncio.Future[str] = io_loop.asyncio_loop.create_future()
        io_loop.add_future(future, lambda f: got.append(f.result()))
        future.set_result("value")
        await asyncio.sleep(0.01)

    io_loop.run_sync(main)
    assert got == ["value"]
    with pytest.raises(TypeError, match="Future"):
        io_loop.add_future("not a future", print)  # type: ignore[type-var]


def test_run_in_executor_uses_a_worker_thread(io_loop: IOLoop) -> None:
    ident = io_loop.run_sync(lambda: io_loop.run_in_executor(None, threading.get_ident))
    assert ident != threading.get_ident()


def test_set_default_executor_is_used_for_none(io_loop: IOLoop) -> None:
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="chosen") as pool:
        io_loop.set_default_executor(pool)
        name = io_loop.run_sync(
            lambda: io_loop.run_in_executor(None, lambda: threading.current_thread().name)
        )
    assert name.startswith("chosen")


def test_add_handler_reports_readable_and_writable_sockets(io_loop: IOLoop) -> None:
    left, right = socket.socketpair()
    events: list[tuple[object, int]] = []

    def on_ready(fileobj: object, event: int) -> None:
        events.append((fileobj, event))
        if event == IOLoop.WRITE:
            io_loop.update_handler(left, IOLoop.READ)
            right.send(b"x")
        else:
            io_loop.remove_handler(left)
            io_loop.stop()

    try:
        io_loop.add_handler(left, on_ready, IOLoop.WRITE)
        with pytest.raises(ValueError, match="already"):
            io_loop.add_handler(left.fileno(), on_ready, IOLoop.READ)
        start_with_fuse(io_loop)
        assert events == [(left, IOLoop.WRITE), (left, IOLoop.READ)]
        io_loop.remove_handler(left)  # a second removal does nothing
        with pytest.raises(KeyError):
            io_loop.update_handler(left, IOLoop.READ)
    finally:
        left.close()
        right.close()


def test_close_all_fds_closes_registered_objects(io_loop: IOLoop) -> None:
    left, right = socket.socketpair()
    try:
        io_loop.add_handler(left, lambda fd, ev: None, IOLoop.READ)
        io_loop.close(all_fds=True)
        assert left.fileno() == -1
    finally:
        left.close()
        right.close()


def test_blocking_thresholds_are_recorded(
    io_loop: IOLoop, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="squall.general")
    io_loop.set_blocking_log_threshold(0.5)
    assert io_loop.blocking_log_threshold == 0.5
    io_loop.set_blocking_signal_threshold(1.5, io_loop.log_stack)
    assert io_loop.blocking_log_threshold == 1.5
    assert [r.levelno for r in caplog.records if r.name == "squall.general"] == [logging.DEBUG] * 2


# ---- PeriodicCallback -------------------------------------------------------------------------


def test_periodic_callback_runs_repeatedly_then_stops(io_loop: IOLoop) -> None:
    calls: list[float] = []

    def tick() -> None:
        calls.append(time.monotonic())
        if len(calls) == 3:
            periodic.stop()
            io_loop.call_later(0.05, io_loop.stop)  # room for a fourth call that must not come

    periodic = PeriodicCallback(tick, 10, io_loop=io_loop)
    io_loop.add_callback(periodic.start)
    start_with_fuse(io_loop)
    assert len(calls) == 3
    assert not periodic.is_running()
    # Runs land on multiples of the period: a late run makes the next gap shorter (missed
    # runs are skipped, not caught up), so only the span over three runs is bounded below.
    assert all(later > earlier for earlier, later in zip(calls, calls[1:], strict=False))
    assert calls[-1] - calls[0] >= 0.009


def test_periodic_callback_takes_a_timedelta(io_loop: IOLoop) -> None:
    periodic = PeriodicCallback(lambda: None, datetime.timedelta(seconds=2))
    assert periodic.callback_time == 2000


@pytest.mark.parametrize("bad", [0, -5, datetime.timedelta(0)])
def test_periodic_callback_rejects_a_non_positive_period(bad: float) -> None:
    with pytest.raises(ValueError, match="positive"):
        PeriodicCallback(lambda: None, bad)


def test_periodic_callback_overrun_skips_missed_runs(io_loop: IOLoop) -> None:
    starts: list[float] = []
    ends: list[float] = []

    def slow() -> None:
        starts.append(time.monotonic())
        if len(starts) == 1:
            time.sleep(0.15)  # overrun: a period is 0.1 s
        else:
            periodic.stop()
            io_loop.stop()
        ends.append(time.monotonic())

    periodic = PeriodicCallback(slow, 100)
    io_loop.add_callback(periodic.start)
    start_with_fuse(io_loop)
    # Catching up would call again at once; skipping waits for the next multiple of the period.
    assert starts[1] - ends[0] >= 0.02


def test_periodic_callback_awaits_a_coroutine_before_the_next_run(io_loop: IOLoop) -> None:
    active: list[int] = [0]
    peak: list[int] = [0]
    runs: list[int] = []

    async def slow() -> None:
        active[0] += 1
        peak[0] = max(peak[0], active[0])
        await asyncio.sleep(0.03)  # three periods
        active[0] -= 1
        runs.append(1)
        if len(runs) == 3:
            periodic.stop()
            io_loop.stop()

    periodic = PeriodicCallback(slow, 10)
    io_loop.add_callback(periodic.start)
    start_with_fuse(io_loop)
    assert peak == [1]


def test_periodic_callback_logs_exceptions_and_keeps_running(
    io_loop: IOLoop, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[int] = []

    def flaky() -> None:
        calls.append(1)
        if len(calls) == 3:
            periodic.stop()
            io_loop.stop()
        raise RuntimeError("periodic failure")

    periodic = PeriodicCallback(flaky, 5)
    io_loop.add_callback(periodic.start)
    start_with_fuse(io_loop)
    assert len(calls) == 3
    assert len(app_errors(caplog)) == 3


@pytest.mark.parametrize(("draw", "factor"), [(0.0, 0.75), (1.0, 1.25)])
def test_periodic_callback_jitter_varies_the_period_by_half_the_fraction(
    io_loop: IOLoop, monkeypatch: pytest.MonkeyPatch, draw: float, factor: float
) -> None:
    monkeypatch.setattr(random, "random", lambda: draw)
    periodic = PeriodicCallback(lambda: None, 1000, jitter=0.5)
    before = io_loop.asyncio_loop.time()
    periodic.start()
    timer = periodic._timer
    assert timer is not None
    assert timer.when() - before == pytest.approx(factor, abs=0.05)
    periodic.stop()


# ---- squall._loop and the no-loop-at-import rule ----------------------------------------------


def test_importing_and_constructing_creates_no_event_loop() -> None:
    code = textwrap.dedent(
        """
        import asyncio, gc
        from squall import _loop
        from squall.ioloop import IOLoop, PeriodicCallback

        def loops():
            return sum(isinstance(o, asyncio.AbstractEventLoop) for o in gc.get_objects())

        PeriodicCallback(lambda: None, 100, io_loop=None)
        IOLoop.current(instance=False)
        print(_loop.loop_was_created(), loops(), IOLoop.initialized())
        io = IOLoop.current()
        print(_loop.loop_was_created(), loops(), IOLoop.initialized())
        io.close()
        """
    )
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["False 0 False", "True 1 True"]


def test_run_sync_converts_every_yieldable_without_gen_imported() -> None:
    # run_sync converts what its function returns as a coroutine's yield is converted
    # (squall._yieldables, below the IOLoop): a list needs no import of gen.
    code = textwrap.dedent(
        """
        import asyncio, concurrent.futures, sys
        from squall.ioloop import IOLoop
        assert "squall.gen" not in sys.modules and "squall.concurrent" not in sys.modules
        done = concurrent.futures.Future()
        done.set_result(3)

        async def two():
            return 2

        io = IOLoop()
        print(io.run_sync(lambda: [None, two(), done, {"k": asyncio.sleep(0, "v")}]))
        try:
            io.run_sync(lambda: 42)
        except TypeError as exc:
            print(type(exc).__name__, exc)
        io.close()
        """
    )
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "[None, 2, 3, {'k': 'v'}]",
        "BadYieldError yielded unknown object 42",
    ]


def test_futures_made_before_the_ioloop_is_imported_say_what_to_do() -> None:
    code = "from squall import _yieldables\n_yieldables.multi([])\n"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert "RuntimeError: no event loop is running and squall.ioloop is not imported" in (
        result.stderr
    )


def test_loop_choice_rejects_unknown_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SQUALL_LOOP", "tokio")
    with pytest.raises(ValueError, match="auto, uvloop, asyncio"):
        _loop.new_event_loop()
    monkeypatch.setenv("SQUALL_LOOP", " AsyncIO ")
    assert _loop.loop_choice() == "asyncio"


def test_auto_falls_back_to_asyncio_and_uvloop_demands_uvloop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # makes `import uvloop` fail
    monkeypatch.delenv("SQUALL_LOOP", raising=False)
    loop = _loop.new_event_loop()
    try:
        assert _loop.loop_name(loop) == "asyncio"
    finally:
        loop.close()
    monkeypatch.setenv("SQUALL_LOOP", "uvloop")
    with pytest.raises(RuntimeError, match="uvloop is not installed"):
        _loop.new_event_loop()


def test_auto_prefers_uvloop_when_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("uvloop")
    monkeypatch.setenv("SQUALL_LOOP", "auto")
    loop = _loop.new_event_loop()
    try:
        assert _loop.loop_name(loop) == "uvloop"
    finally:
        loop.close()


def test_loop_record_is_set_by_new_event_loop_and_reset_after_fork(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_loop, "_loop_created", False)
    assert not _loop.loop_was_created()
    loop = _loop.new_event_loop()
    loop.close()
    assert _loop.loop_was_created()
    _loop.reset_after_fork()
    assert not _loop.loop_was_created()

    async def inside() -> bool:
        return _loop.loop_was_created()

    assert asyncio.run(inside())  # a running loop counts, even one squall did not create
