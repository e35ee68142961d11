"""The loop-block detector: one warning per blocked episode, naming the handler and the line."""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from types import FrameType
from typing import Any

import pytest

from squall import gen
from squall._observe import blocking
from squall.ioloop import IOLoop
from squall.testing import AsyncHTTPTestCase
from squall.web import Application, RequestHandler

LOOPS = ["asyncio", "uvloop"]


class SleepHandler(RequestHandler):
    def get(self) -> None:
        time.sleep(0.5)
        self.write("this is SleepHandler...")


class AsyncSleepHandler(RequestHandler):
    async def get(self) -> None:
        await gen.moment
        time.sleep(0.3)  # still blocks the loop: async def does not make sleep asynchronous
        self.write("slept")


class DirectHandler(RequestHandler):
    def get(self) -> None:
        self.write("this is DirectHandler...")


class _Server(AsyncHTTPTestCase):
    """The seed's two routes on a real server (driven by hand from pytest functions)."""

    settings: dict[str, Any] = {}

    def get_app(self) -> Application:
        rules = [(r"/s", SleepHandler), (r"/a", AsyncSleepHandler), (r"/d", DirectHandler)]
        return Application(rules, **self.settings)

    def runTest(self) -> None:
        """Unused: the pytest functions below drive setUp/fetch/tearDown."""


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def warnings(self) -> list[str]:
        return [r.getMessage() for r in self.records if r.levelno == logging.WARNING]


@pytest.fixture
def logged() -> Iterator[_Records]:
    """Everything logged on squall.general during the test, from any thread."""
    logger = logging.getLogger("squall.general")
    handler, level = _Records(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)


@pytest.fixture(params=LOOPS)
def server(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[_Server]:
    """A started ``_Server`` on the asyncio or the uvloop loop; torn down afterwards."""
    if request.param == "uvloop":
        pytest.importorskip("uvloop")
    monkeypatch.setenv("SQUALL_LOOP", request.param)
    case = _Server()
    case.setUp()
    try:
        yield case
    finally:
        case.tearDown()


def watchdogs() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "squall-loop-watchdog"]


def wait_until(predicate: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_a_handler_sleeping_half_a_second_logs_one_warning_naming_it_with_the_sleep_line(
    server: _Server, logged: _Records
) -> None:
    server.io_loop.set_blocking_log_threshold(0.1)
    response = server.fetch("/s")
    assert response.code == 200
    [warning] = logged.warnings()
    first_line = warning.splitlines()[0]
    assert first_line.startswith("Event loop blocked for 0.1")
    assert first_line.endswith(" s so far in SleepHandler.get (GET /s)")
    assert "Stack of the event loop thread (most recent call last):" in warning
    assert warning.rstrip().endswith("time.sleep(0.5)")  # the innermost frame: the blocking line
    assert f'"{__file__}"' in warning


def test_a_coroutine_handler_is_named_with_the_full_uri(server: _Server, logged: _Records) -> None:
    server.io_loop.set_blocking_log_threshold(0.1)
    assert server.fetch("/a?x=1").code == 200
    [warning] = logged.warnings()
    assert " s so far in AsyncSleepHandler.get (GET /a?x=1)\n" in warning
    assert warning.rstrip().endswith(
        "time.sleep(0.3)  # still blocks the loop: async def does not make sleep asynchronous"
    )


def test_the_end_of_a_reported_episode_is_logged_with_its_length(
    server: _Server, logged: _Records
) -> None:
    server.io_loop.set_blocking_log_threshold(0.1)
    server.fetch("/s")
    server.io_loop.run_sync(lambda: gen.sleep(0.1))  # let the watchdog see the loop turn again
    wait_until(lambda: any("unblocked" in r.getMessage() for r in logged.records))
    [line] = [r for r in logged.records if "unblocked" in r.getMessage()]
    assert line.levelno == logging.INFO
    seconds = float(line.getMessage().split()[4])
    assert 0.45 <= seconds < 1.5
    assert line.getMessage().endswith(" s in SleepHandler.get (GET /s)")


def test_fast_requests_and_an_idle_loop_log_no_warning(server: _Server, logged: _Records) -> None:
    server.io_loop.set_blocking_log_threshold(0.1)
    for _ in range(20):
        assert server.fetch("/d").code == 200
    server.io_loop.run_sync(lambda: gen.sleep(0.5))  # idle in the selector for 5 thresholds
    assert logged.warnings() == []


def test_set_blocking_log_threshold_none_turns_detection_off(
    server: _Server, logged: _Records
) -> None:
    server.io_loop.set_blocking_log_threshold(0.1)
    assert server.io_loop.blocking_log_threshold == 0.1
    assert len(watchdogs()) == 1
    server.io_loop.set_blocking_log_threshold(None)
    assert server.io_loop.blocking_log_threshold is None
    assert watchdogs() == []
    assert server.fetch("/s").code == 200
    assert logged.warnings() == []


def test_closing_the_loop_stops_the_watchdog_thread() -> None:
    io_loop = IOLoop(make_current=False)
    io_loop.set_blocking_log_threshold(0.1)
    assert len(watchdogs()) == 1
    io_loop.close()
    assert watchdogs() == []


def test_two_blocked_episodes_give_two_warnings_and_a_long_one_gives_one(
    logged: _Records,
) -> None:
    def slow_callback(seconds: float) -> None:
        time.sleep(seconds)

    async def scenario() -> None:
        io_loop.add_callback(slow_callback, 0.6)  # one long episode
        await gen.sleep(0.2)  # the loop turns: the episode is over
        io_loop.add_callback(slow_callback, 0.3)  # a second one
        await gen.sleep(0.2)

    io_loop = IOLoop(make_current=False)
    try:
        io_loop.set_blocking_log_threshold(0.1)
        io_loop.run_sync(scenario)
    finally:
        io_loop.close()
    warnings = logged.warnings()
    assert len(warnings) == 2
    # Not a handler: the detector names the innermost function.
    assert all("so far in test_two_blocked_episodes" in w for w in warnings)
    assert all(w.rstrip().endswith("time.sleep(seconds)") for w in warnings)


def test_a_signal_action_is_called_with_sigalrm_and_the_loop_threads_frame_instead(
    logged: _Records,
) -> None:
    calls: list[tuple[int, str]] = []

    def action(signum: int, frame: FrameType | None) -> None:
        assert frame is not None
        calls.append((signum, frame.f_code.co_name))

    def blocked_here() -> None:
        time.sleep(0.3)

    io_loop = IOLoop(make_current=False)
    try:
        io_loop.set_blocking_signal_threshold(0.1, action)
        io_loop.run_sync(blocked_here)
    finally:
        io_loop.close()
    assert calls == [(signal.SIGALRM, "blocked_here")]
    assert logged.warnings() == []


def test_an_application_default_waits_for_the_next_loop_to_run_and_loses_to_explicit_settings(
    logged: _Records,
) -> None:
    blocking.request(0.1)  # what Application(debug=True) asks for, before any loop runs
    assert watchdogs() == []
    first, second = IOLoop(make_current=False), IOLoop(make_current=False)
    try:
        assert first.blocking_log_threshold is None  # created, not run: nothing yet
        first.run_sync(lambda: None)
        assert first.blocking_log_threshold == 0.1
        assert len(watchdogs()) == 1
        blocking.request(0.2)
        second.set_blocking_log_threshold(None)  # explicit: off
        second.run_sync(lambda: None)
        assert second.blocking_log_threshold is None
    finally:
        first.close()
        second.close()
        blocking.take_pending()
    assert watchdogs() == []


def test_a_default_asked_for_inside_a_running_loop_applies_to_it_at_once() -> None:
    async def body() -> float | None:
        blocking.request(0.25)
        return IOLoop.current().blocking_log_threshold

    io_loop = IOLoop(make_current=False)
    try:
        assert io_loop.run_sync(body) == 0.25
    finally:
        io_loop.close()


def test_negative_thresholds_are_refused_with_a_message() -> None:
    io_loop = IOLoop(make_current=False)
    try:
        with pytest.raises(ValueError, match="must be >= 0 seconds"):
            io_loop.set_blocking_log_threshold(-1)
    finally:
        io_loop.close()


def test_debug_application_turns_detection_on_with_a_tenth_of_a_second(logged: _Records) -> None:
    case = type("DebugServer", (_Server,), {"settings": {"debug": True, "autoreload": False}})()
    case.setUp()
    try:
        assert case.fetch("/s").code == 200
        assert case.io_loop.blocking_log_threshold == 0.1
        [warning] = logged.warnings()
        assert "SleepHandler.get (GET /s)" in warning
    finally:
        case.tearDown()
        blocking.take_pending()


def test_importing_the_framework_and_configuring_an_app_starts_no_thread_and_no_loop() -> None:
    code = """
import threading
import squall.web, squall.ioloop, squall.httpserver, squall.autoreload
from squall import _loop
from squall._observe import blocking
app = squall.web.Application([], debug=True)
server = squall.httpserver.HTTPServer(app)
print(threading.active_count(), _loop.loop_was_created())
"""
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=True
    )
    assert result.stdout.split() == ["1", "False"], result.stderr


class _FakeRequest:
    def __init__(self) -> None:
        self.method = "GET"
        self.uri = "/late"


class LateHandler:
    """Shaped like a request handler (the detector recognises handlers by shape)."""

    def __init__(self) -> None:
        self.request = _FakeRequest()

    def get(self) -> None:
        time.sleep(0.4)


def test_a_stall_that_runs_into_a_handler_names_the_handler_too(logged: _Records) -> None:
    def start_up_then_handler() -> None:
        time.sleep(0.3)  # something else holds the loop first (start-up work, say)...
        LateHandler().get()  # ...and a handler runs straight after, with no turn between

    async def scenario() -> None:
        io_loop.add_callback(start_up_then_handler)
        await gen.sleep(0.2)

    io_loop = IOLoop(make_current=False)
    try:
        io_loop.set_blocking_log_threshold(0.1)
        io_loop.run_sync(scenario)
    finally:
        io_loop.close()
    warnings = logged.warnings()
    assert len(warnings) == 2, warnings
    assert "start_up_then_handler" in warnings[0]
    assert "LateHandler.get (GET /late)" in warnings[1]
