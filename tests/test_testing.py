"""Tests for squall.testing: AsyncTestCase, AsyncHTTPTestCase, gen_test and ExpectLog."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import socket
import ssl
import unittest
import warnings
from collections.abc import Generator
from typing import Any

import pytest

from squall import gen, testing
from squall.httpclient import AsyncHTTPClient, HTTPClientError, HTTPResponse
from squall.ioloop import IOLoop
from squall.web import Application, RequestHandler


class HelloHandler(RequestHandler):
    def get(self) -> None:
        self.set_header("X-Greeting", "hi")
        self.write("Hello")


class EchoHandler(RequestHandler):
    def post(self) -> None:
        self.write(self.request.body)


class FailHandler(RequestHandler):
    def get(self) -> None:
        raise RuntimeError("boom")


def make_app() -> Application:
    return Application([("/", HelloHandler), ("/echo", EchoHandler), ("/fail", FailHandler)])


def run_case(case: unittest.TestCase) -> unittest.TestResult:
    """Run one TestCase outside pytest's machinery and return its result."""
    result = unittest.TestResult()
    case.run(result)
    return result


def only_problem(result: unittest.TestResult) -> str:
    problems = result.errors + result.failures
    assert len(problems) == 1, problems
    return problems[0][1]


# ---- module functions --------------------------------------------------------------------------


def test_bind_unused_port_gives_a_listening_socket_on_that_port() -> None:
    sock, port = testing.bind_unused_port()
    try:
        assert sock.getsockname() == ("127.0.0.1", port)
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass  # connecting proves it listens
    finally:
        sock.close()


def test_bind_unused_port_gives_a_different_port_each_time() -> None:
    first, port1 = testing.bind_unused_port()
    second, port2 = testing.bind_unused_port()
    first.close()
    second.close()
    assert port1 != port2


def test_get_async_test_timeout_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ASYNC_TEST_TIMEOUT", raising=False)
    assert testing.get_async_test_timeout() == 5
    monkeypatch.setenv("ASYNC_TEST_TIMEOUT", "2.5")
    assert testing.get_async_test_timeout() == 2.5
    monkeypatch.setenv("ASYNC_TEST_TIMEOUT", "soon")
    assert testing.get_async_test_timeout() == 5


# ---- AsyncHTTPTestCase used the ordinary way -----------------------------------------------------


class HTTPTestCaseTest(testing.AsyncHTTPTestCase):
    def get_app(self) -> Application:
        return make_app()

    def test_fetch_returns_status_body_and_headers(self) -> None:
        response = self.fetch("/")
        assert response.code == 200
        assert response.body == b"Hello"
        assert response.headers["X-Greeting"] == "hi"
        assert response.effective_url == self.get_url("/")

    def test_fetch_returns_error_statuses_without_raising(self) -> None:
        response = self.fetch("/nowhere")
        assert response.code == 404
        assert isinstance(response.error, HTTPClientError)

    def test_fetch_raise_error_true_raises(self) -> None:
        with pytest.raises(HTTPClientError) as info:
            self.fetch("/nowhere", raise_error=True)
        assert info.value.code == 404

    def test_fetch_500_with_expect_log_swallowing_the_traceback(self) -> None:
        with testing.ExpectLog("squall.application", "Uncaught exception") as expected:
            response = self.fetch("/fail")
        assert response.code == 500
        assert expected.logged_stack

    def test_fetch_posts_a_body(self) -> None:
        response = self.fetch("/echo", method="POST", body="payload")
        assert response.body == b"payload"

    def test_fetch_accepts_an_absolute_url(self) -> None:
        assert self.fetch(self.get_url("/")).body == b"Hello"

    def test_get_url_uses_loopback_and_the_server_port(self) -> None:
        assert self.get_url("/x") == f"http://127.0.0.1:{self.get_http_port()}/x"
        assert self.get_protocol() == "http"

    def test_io_loop_is_current_during_the_test(self) -> None:
        assert IOLoop.current() is self.io_loop

    @testing.gen_test
    async def test_gen_test_runs_an_async_def_test(self) -> None:
        response = await self.http_client.fetch(self.get_url("/"))
        assert response.body == b"Hello"
        assert asyncio.get_running_loop() is self.io_loop.asyncio_loop

    @testing.gen_test(timeout=10)
    def test_gen_test_runs_a_generator_test(self) -> Generator[Any, Any, None]:
        response = yield self.http_client.fetch(self.get_url("/"))
        assert response.body == b"Hello"
        both = yield [asyncio.sleep(0, "a"), self.http_client.fetch(self.get_url("/"))]
        assert both[0] == "a" and both[1].code == 200
        named = yield {"x": asyncio.sleep(0, 1)}
        assert named == {"x": 1}
        with pytest.raises(HTTPClientError):
            yield self.http_client.fetch(self.get_url("/nowhere"))

    def test_stop_and_wait_deliver_a_legacy_callback_result(self) -> None:
        self.http_client.fetch(self.get_url("/"), callback=self.stop)
        response = self.wait()
        assert isinstance(response, HTTPResponse)
        assert response.body == b"Hello"

    def test_wait_with_condition_restarts_until_it_holds(self) -> None:
        calls: list[int] = []

        def tick() -> None:
            calls.append(1)
            self.stop()
            if len(calls) < 3:
                self.io_loop.add_callback(tick)

        self.io_loop.add_callback(tick)
        self.wait(condition=lambda: len(calls) == 3)
        assert len(calls) == 3

    def test_stop_before_wait_makes_wait_return_at_once(self) -> None:
        self.stop("early")
        assert self.wait(timeout=0.01) == "early"


class HTTPSTestCaseTest(testing.AsyncHTTPSTestCase):
    def get_app(self) -> Application:
        return make_app()

    def test_fetch_over_tls_round_trip(self) -> None:
        assert self.get_url("/").startswith("https://127.0.0.1:")
        response = self.fetch("/echo", method="POST", body=b"secret")
        assert response.code == 200
        assert response.body == b"secret"

    def test_server_really_speaks_tls(self) -> None:
        # A plain-HTTP request gets no HTTP answer: the fetch fails with code 599.
        with pytest.raises(HTTPClientError) as failure:
            self.fetch(f"http://127.0.0.1:{self.get_http_port()}/")
        assert failure.value.code == 599

    def test_the_default_ssl_options_are_what_the_server_serves(self) -> None:
        assert self.get_ssl_options() == testing.AsyncHTTPSTestCase.default_ssl_options()


def test_default_ssl_options_name_a_matching_certificate_and_key() -> None:
    options = testing.AsyncHTTPSTestCase.default_ssl_options()  # a static method
    assert sorted(options) == ["certfile", "keyfile"]
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(**options)  # raises if the key does not match the certificate
    with open(options["certfile"], "rb") as f:
        assert f.read().startswith(b"-----BEGIN CERTIFICATE-----")
    assert os.stat(os.path.dirname(options["keyfile"])).st_mode & 0o077 == 0  # private folder
    # A new dict each time: a caller adding keys changes nothing for the next one.
    options["ssl_version"] = ssl.PROTOCOL_TLS_SERVER
    assert "ssl_version" not in testing.AsyncHTTPSTestCase.default_ssl_options()


class ExtendedSSLOptionsTest(testing.AsyncHTTPSTestCase):
    # Tornado's own SSL tests extend the defaults so.
    def get_app(self) -> Application:
        return make_app()

    def get_ssl_options(self) -> dict[str, Any]:
        return dict(
            ssl_version=ssl.PROTOCOL_TLS_SERVER,
            **testing.AsyncHTTPSTestCase.default_ssl_options(),
        )

    def test_a_server_on_the_extended_options_answers_over_tls(self) -> None:
        response = self.fetch("/echo", method="POST", body=b"over tls")
        assert (response.code, response.body) == (200, b"over tls")


# ---- failures a test case must report ------------------------------------------------------------


def test_gen_test_timeout_fails_the_test_with_a_hint() -> None:
    class Slow(testing.AsyncTestCase):
        @testing.gen_test(timeout=0.05)
        async def test_slow(self) -> None:
            await asyncio.sleep(5)

    message = only_problem(run_case(Slow("test_slow")))
    assert "TimeoutError" in message
    assert "timed out after 0.05 seconds" in message
    assert "ASYNC_TEST_TIMEOUT" in message


def test_gen_test_timeout_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASYNC_TEST_TIMEOUT", "0.05")

    class Slow(testing.AsyncTestCase):
        @testing.gen_test
        def test_slow(self) -> Generator[Any, Any, None]:
            yield asyncio.sleep(5)

    assert "timed out after 0.05 seconds" in only_problem(run_case(Slow("test_slow")))


def test_gen_test_passes_on_a_timeout_error_raised_by_the_test_itself() -> None:
    class Raises(testing.AsyncTestCase):
        @testing.gen_test(timeout=5)
        async def test_raises(self) -> None:
            raise TimeoutError("my own")

    message = only_problem(run_case(Raises("test_raises")))
    assert "my own" in message
    assert "ASYNC_TEST_TIMEOUT" not in message


def test_gen_test_reports_a_failed_assertion_as_a_failure() -> None:
    class Fails(testing.AsyncTestCase):
        @testing.gen_test
        async def test_fails(self) -> None:
            await asyncio.sleep(0)
            self.assertEqual(1, 2)

    result = run_case(Fails("test_fails"))
    assert len(result.failures) == 1 and not result.errors


def test_wait_times_out_with_tornados_message() -> None:
    class Waits(testing.AsyncTestCase):
        def test_waits(self) -> None:
            self.wait(timeout=0.05)

    result = run_case(Waits("test_waits"))
    assert len(result.failures) == 1
    assert "Async operation timed out after 0.05 seconds" in result.failures[0][1]


def test_an_exception_in_an_ioloop_callback_is_logged_not_raised_as_in_tornado_6(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Leaky(testing.AsyncTestCase):
        def test_leaky(self) -> None:
            def explode() -> None:
                raise ZeroDivisionError("in a callback")

            self.io_loop.add_callback(explode)
            self.io_loop.add_callback(self.stop)
            self.wait()

        @testing.gen_test
        async def test_spawned(self) -> None:
            async def fails() -> None:
                raise ValueError("in a spawned coroutine")

            self.io_loop.spawn_callback(fails)
            await asyncio.sleep(0.01)

    with caplog.at_level(logging.ERROR, logger="squall.application"):
        for name in ("test_leaky", "test_spawned"):
            result = run_case(Leaky(name))
            assert result.wasSuccessful(), result.errors + result.failures
    assert [r.getMessage()[:21] for r in caplog.records] == ["Exception in callback"] * 2
    assert [type(r.exc_info[1]) for r in caplog.records if r.exc_info] == [
        ZeroDivisionError,
        ValueError,
    ]


def test_an_exception_in_an_fd_handler_is_logged_and_the_test_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Handler(testing.AsyncTestCase):
        def test_handler(self) -> None:
            read_end, write_end = socket.socketpair()
            calls: list[int] = []

            def on_readable(fd: Any, events: int) -> None:
                calls.append(events)
                self.io_loop.remove_handler(fd)
                self.stop()
                raise KeyError("in a handler")

            self.io_loop.add_handler(read_end, on_readable, IOLoop.READ)
            write_end.send(b"x")
            self.wait()
            read_end.close()
            write_end.close()
            assert calls == [IOLoop.READ]

    with caplog.at_level(logging.ERROR, logger="squall.application"):
        result = run_case(Handler("test_handler"))
    assert result.wasSuccessful(), result.errors + result.failures
    assert [r.getMessage()[:21] for r in caplog.records] == ["Exception in callback"]


def test_an_expected_exception_in_an_ioloop_callback_is_only_logged() -> None:
    class Expected(testing.AsyncTestCase):
        def test_expected(self) -> None:
            self.io_loop.add_callback(lambda: 1 / 0)
            self.io_loop.add_callback(self.stop)
            with testing.ExpectLog("squall.application", "Exception in callback"):
                self.wait()

    result = run_case(Expected("test_expected"))
    assert result.wasSuccessful(), result.errors + result.failures


def test_a_generator_test_that_times_out_points_at_the_line_it_was_stuck_on() -> None:
    class Slow(testing.AsyncTestCase):
        @testing.gen_test(timeout=0.05)
        def test_slow(self) -> Generator[Any, Any, None]:
            yield gen.sleep(10)  # the line the traceback must end on

    message = only_problem(run_case(Slow("test_slow")))
    assert "timed out after 0.05 seconds" in message
    assert "yield gen.sleep(10)  # the line the traceback must end on" in message


def test_a_coroutine_test_that_times_out_says_where_it_was_waiting() -> None:
    class Slow(testing.AsyncTestCase):
        @testing.gen_test(timeout=0.05)
        async def test_slow(self) -> None:
            await asyncio.sleep(10)  # awaited here

    message = only_problem(run_case(Slow("test_slow")))
    assert "The test was waiting at:" in message
    assert "await asyncio.sleep(10)  # awaited here" in message


@pytest.mark.loop_errors_ok
def test_an_exception_reaching_the_asyncio_handler_is_logged_by_asyncio() -> None:
    class Leaky(testing.AsyncTestCase):
        @testing.gen_test
        async def test_leaky(self) -> None:
            def explode() -> None:
                raise KeyError("raw asyncio callback")

            asyncio.get_running_loop().call_soon(explode)
            await asyncio.sleep(0.01)

    with testing.ExpectLog("asyncio", "Exception in callback") as expected:
        result = run_case(Leaky("test_leaky"))
    assert result.wasSuccessful(), result.errors + result.failures
    assert expected.matched_count == 1 and expected.logged_stack


def test_an_undecorated_coroutine_test_fails_instead_of_passing() -> None:
    class Forgot(testing.AsyncTestCase):
        async def test_forgot(self) -> None:
            raise AssertionError("never runs")

    message = only_problem(run_case(Forgot("test_forgot")))
    assert "gen_test" in message


def test_teardown_cancels_tasks_left_pending() -> None:
    seen: list[str] = []

    class Pending(testing.AsyncTestCase):
        @testing.gen_test
        async def test_pending(self) -> None:
            async def forever() -> None:
                try:
                    await asyncio.sleep(100)
                except asyncio.CancelledError:
                    seen.append("cancelled")
                    raise

            self.task = asyncio.ensure_future(forever())
            await asyncio.sleep(0)

    result = run_case(Pending("test_pending"))
    assert result.wasSuccessful(), result.errors
    assert seen == ["cancelled"]


def test_a_pending_task_failing_as_it_is_cancelled_fails_the_test() -> None:
    class Stubborn(testing.AsyncTestCase):
        @testing.gen_test
        async def test_stubborn(self) -> None:
            async def refuses() -> None:
                try:
                    await asyncio.sleep(100)
                except asyncio.CancelledError:
                    raise LookupError("cleanup went wrong") from None

            self.task = asyncio.ensure_future(refuses())
            await asyncio.sleep(0)

    assert "LookupError: cleanup went wrong" in only_problem(run_case(Stubborn("test_stubborn")))


def test_http_test_case_leaves_no_resource_warnings_or_current_loop() -> None:
    class Clean(testing.AsyncHTTPTestCase):
        def get_app(self) -> Application:
            return make_app()

        def test_fetches(self) -> None:
            for _ in range(3):
                assert self.fetch("/").code == 200
            assert self.fetch("/echo", method="POST", body=b"x").body == b"x"

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = run_case(Clean("test_fetches"))
        gc.collect()
    assert result.wasSuccessful(), result.errors
    assert [w for w in caught if issubclass(w.category, ResourceWarning)] == []
    assert IOLoop.current(instance=False) is None


def test_teardown_closes_the_shared_client_of_the_test_loop() -> None:
    class Shared(testing.AsyncHTTPTestCase):
        def get_app(self) -> Application:
            return make_app()

        @testing.gen_test
        async def test_shared(self) -> None:
            response = await AsyncHTTPClient().fetch(self.get_url("/"))  # never closed here
            assert response.code == 200

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = run_case(Shared("test_shared"))
        gc.collect()
    assert result.wasSuccessful(), result.errors
    assert [w for w in caught if issubclass(w.category, ResourceWarning)] == []


def test_http_test_case_without_get_app_reports_it_and_cleans_up() -> None:
    class NoApp(testing.AsyncHTTPTestCase):
        def test_nothing(self) -> None:
            pass

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        message = only_problem(run_case(NoApp("test_nothing")))
        gc.collect()
    assert "must override get_app()" in message
    assert [w for w in caught if issubclass(w.category, ResourceWarning)] == []


def test_shared_client_of_a_test_loop_is_not_the_test_client() -> None:
    class Shared(testing.AsyncHTTPTestCase):
        def get_app(self) -> Application:
            return make_app()

        def test_shared(self) -> None:
            shared = AsyncHTTPClient()
            assert shared is not self.http_client
            shared.close()

    assert run_case(Shared("test_shared")).wasSuccessful()


# ---- ExpectLog -------------------------------------------------------------------------------


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture
def collected() -> Generator[tuple[logging.Logger, Collect], None, None]:
    logger = logging.getLogger("squall.test_expectlog")
    handler = Collect()
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    yield logger, handler
    logger.removeHandler(handler)
    logger.propagate = True
    logger.setLevel(logging.NOTSET)


def test_expect_log_swallows_matching_records_only(
    collected: tuple[logging.Logger, Collect],
) -> None:
    logger, handler = collected
    with testing.ExpectLog(logger, r"expected \d+") as expected:
        logger.warning("expected %d here", 42)
        logger.warning("something else")
    assert expected.matched
    assert handler.messages == ["something else"]
    logger.warning("expected 7 after the block")
    assert handler.messages[-1] == "expected 7 after the block"


def test_expect_log_matches_at_the_start_of_the_message(
    collected: tuple[logging.Logger, Collect],
) -> None:
    logger, handler = collected
    with testing.ExpectLog(logger, "needle", required=False) as expected:
        logger.warning("a needle in the middle")
    assert not expected.matched
    assert handler.messages == ["a needle in the middle"]


def test_expect_log_required_and_not_matched_fails_naming_the_regex(
    collected: tuple[logging.Logger, Collect],
) -> None:
    logger, _ = collected
    with pytest.raises(AssertionError, match="never logged"):
        with testing.ExpectLog(logger.name, "never logged"):
            logger.warning("unrelated")


def test_expect_log_not_required_does_not_fail(collected: tuple[logging.Logger, Collect]) -> None:
    logger, _ = collected
    with testing.ExpectLog(logger, "never logged", required=False) as expected:
        pass
    assert not expected.matched


def test_expect_log_lets_an_exception_from_the_block_through(
    collected: tuple[logging.Logger, Collect],
) -> None:
    logger, _ = collected
    with pytest.raises(ValueError, match="from the block"):
        with testing.ExpectLog(logger, "never logged"):
            raise ValueError("from the block")


def test_expect_log_level_matches_only_that_level_and_opens_the_logger(
    collected: tuple[logging.Logger, Collect],
) -> None:
    logger, handler = collected
    with testing.ExpectLog(logger, "detail", level=logging.DEBUG) as expected:
        logger.info("detail at info")
        logger.debug("detail at debug")
    assert expected.matched
    assert handler.messages == ["detail at info"]
    assert logger.level == logging.INFO


def test_expect_log_records_whether_a_stack_was_logged(
    collected: tuple[logging.Logger, Collect],
) -> None:
    logger, _ = collected
    with testing.ExpectLog(logger, "plain") as expected:
        logger.error("plain")
    assert not expected.logged_stack
    with testing.ExpectLog(logger, "failed") as expected:
        try:
            raise RuntimeError("x")
        except RuntimeError:
            logger.exception("failed")
    assert expected.logged_stack


def test_setup_with_context_manager_exits_after_teardown_even_when_the_test_fails() -> None:
    events: list[str] = []

    class Context:
        def __enter__(self) -> str:
            events.append("enter")
            return "value"

        def __exit__(self, *exc: object) -> None:
            events.append("exit")

    class Case(unittest.TestCase):
        def setUp(self) -> None:
            self.value = testing.setup_with_context_manager(self, Context())

        def tearDown(self) -> None:
            events.append(f"tearDown {self.value}")

        def test_fails(self) -> None:
            events.append("test")
            raise AssertionError("on purpose")

    result = unittest.TestResult()
    Case("test_fails").run(result)
    assert len(result.failures) == 1
    assert events == ["enter", "test", "tearDown value", "exit"]
