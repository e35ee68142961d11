"""Test helpers with Tornado's ``tornado.testing`` API: event-loop test cases over real sockets.

    from squall.testing import AsyncHTTPTestCase, gen_test

    class HelloTest(AsyncHTTPTestCase):
        def get_app(self):
            return make_app()

        def test_hello(self):
            response = self.fetch("/")
            self.assertEqual(response.code, 200)

        @gen_test
        async def test_hello_async(self):
            response = await self.http_client.fetch(self.get_url("/"))
            self.assertEqual(response.body, b"Hello")

Every test gets a fresh event loop (``self.io_loop``), closed in tearDown. As in Tornado 6, an
exception raised inside an IOLoop callback (or a plain asyncio callback) is logged, not raised
into the test: ``IOLoop`` logs it on ``squall.application`` ("Exception in callback"), asyncio
on its own logger. Use ``ExpectLog`` to assert on it, or a log-checking runner to fail on it. A
task still pending at tearDown is cancelled; one that then fails with anything but the
cancellation fails the test. pytest users can use the fixtures of ``squall.pytest_plugin``.
"""

from __future__ import annotations

import asyncio
import atexit
import functools
import inspect
import logging
import os
import re
import shutil
import socket
import ssl
import tempfile
import traceback
import unittest
from collections.abc import Awaitable, Callable, Coroutine, Generator
from contextlib import AbstractContextManager
from types import TracebackType
from typing import Any, TypeVar, overload

from squall import gen
from squall.httpclient import AsyncHTTPClient, HTTPResponse
from squall.httpserver import HTTPServer
from squall.ioloop import IOLoop
from squall.netutil import bind_sockets

__all__ = [
    "AsyncHTTPSTestCase",
    "AsyncHTTPTestCase",
    "AsyncTestCase",
    "ExpectLog",
    "bind_unused_port",
    "gen_test",
    "get_async_test_timeout",
    "setup_with_context_manager",
]

_ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]
_T = TypeVar("_T")


def bind_unused_port(
    reuse_port: bool = False, address: str = "127.0.0.1"
) -> tuple[socket.socket, int]:
    """Bind a listening socket to a free port on ``address``; return ``(socket, port)``."""
    sockets = bind_sockets(0, address, reuse_port=reuse_port)
    for extra in sockets[1:]:  # a hostname may give one socket per family: keep the first
        extra.close()
    return sockets[0], int(sockets[0].getsockname()[1])


def setup_with_context_manager(testcase: unittest.TestCase, cm: AbstractContextManager[_T]) -> _T:
    """Enter ``cm`` for the rest of ``testcase`` (call it from ``setUp``); return what it gives.

    The context is exited as a cleanup (``addCleanup``), after ``tearDown``, even when the test
    or ``tearDown`` fails.
    """
    value = cm.__enter__()
    testcase.addCleanup(cm.__exit__, None, None, None)
    return value


def get_async_test_timeout() -> float:
    """Seconds an async test may run: ``ASYNC_TEST_TIMEOUT`` from the environment, else 5."""
    try:
        return float(os.environ.get("ASYNC_TEST_TIMEOUT", 5))
    except ValueError:
        return 5.0


def _finish_pending_tasks(loop: asyncio.AbstractEventLoop) -> BaseException | None:
    """Cancel the tasks still pending on the idle ``loop`` and let them unwind; return the
    first exception (other than the cancellation) one of them ended with."""
    pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
    for task in pending:
        task.cancel()
    if pending:
        loop.run_until_complete(asyncio.wait(pending))
    loop.run_until_complete(loop.shutdown_asyncgens())
    errors = [task.exception() for task in pending if not task.cancelled()]
    return next((error for error in errors if error is not None), None)


class AsyncTestCase(unittest.TestCase):
    """A TestCase with a fresh event loop per test, ``self.io_loop`` (current during the test).

    Write async tests with :func:`gen_test`; callback-style tests call :meth:`wait` and
    :meth:`stop`. An exception that escapes an IOLoop callback is logged, not raised, as in
    Tornado 6 (see the module docstring). Pending tasks are cancelled in tearDown, and one that
    fails other than by the cancellation fails the test. An ``async def`` or generator test
    method without ``@gen_test`` fails with TypeError instead of passing silently.
    """

    def __init__(self, methodName: str = "runTest") -> None:
        super().__init__(methodName)
        self._failure: _ExcInfo | None = None
        self._stopped = False
        self._running = False
        self._stop_args: Any = None
        if (method := getattr(self, methodName, None)) is not None:
            setattr(self, methodName, _check_result(method))

    def setUp(self) -> None:
        """Create ``self.io_loop`` with :meth:`get_new_ioloop` and make it current."""
        super().setUp()
        self.io_loop = self.get_new_ioloop()
        self.io_loop.make_current()

    def tearDown(self) -> None:
        """Cancel pending tasks, close the loop, and fail if a pending task failed."""
        loop = self.io_loop.asyncio_loop
        if not loop.is_closed():
            AsyncHTTPClient._close_shared(loop)  # e.g. one a handler made with AsyncHTTPClient()
            if (error := _finish_pending_tasks(loop)) is not None:
                self._record_failure((type(error), error, error.__traceback__))
        IOLoop.clear_current()
        self.io_loop.close(all_fds=True)
        super().tearDown()
        self._rethrow()

    def get_new_ioloop(self) -> IOLoop:
        """Return the IOLoop for one test (a new loop of the ``SQUALL_LOOP`` kind)."""
        return IOLoop(make_current=False)

    def _record_failure(self, exc_info: _ExcInfo) -> None:
        if self._failure is None:
            self._failure = exc_info
        if self._running:  # make wait() return and raise it now
            self.io_loop.stop()
            self._running = False

    def _rethrow(self) -> None:
        if (failure := self._failure) is not None:
            self._failure = None
            raise failure[1].with_traceback(failure[2])

    def stop(self, _arg: Any = None, **kwargs: Any) -> None:
        """Make the current (or next) :meth:`wait` return ``_arg`` or ``kwargs``. Deprecated
        callback style, kept from Tornado."""
        self._stop_args = kwargs or _arg
        if self._running:
            self.io_loop.stop()
            self._running = False
        self._stopped = True

    def wait(
        self, condition: Callable[[], bool] | None = None, timeout: float | None = None
    ) -> Any:
        """Run the loop until :meth:`stop` is called (and ``condition()`` holds, if given).

        Returns what was passed to ``stop``. After ``timeout`` seconds (default
        :func:`get_async_test_timeout`) fails with "Async operation timed out after N seconds".
        """
        timeout = get_async_test_timeout() if timeout is None else timeout
        if not self._stopped and self._failure is None:
            timer = self.io_loop.call_later(timeout, self._wait_timed_out, timeout)
            try:
                while True:
                    self._running = True
                    self.io_loop.start()
                    if self._failure is not None or condition is None or condition():
                        break
            finally:
                self._running = False
                self.io_loop.remove_timeout(timer)
        self._stopped = False
        self._rethrow()
        result, self._stop_args = self._stop_args, None
        return result

    def _wait_timed_out(self, timeout: float) -> None:
        error = self.failureException(f"Async operation timed out after {timeout} seconds")
        self._record_failure((type(error), error, None))


def _check_result(method: Callable[..., Any]) -> Callable[..., None]:
    @functools.wraps(method)
    def run(*args: Any, **kwargs: Any) -> None:
        result = method(*args, **kwargs)
        if inspect.isgenerator(result) or inspect.iscoroutine(result):
            result.close()
            raise TypeError(
                f"{method.__name__} is a generator or coroutine function: it should be "
                "decorated with @squall.testing.gen_test, or it never runs"
            )
        if result is not None:
            raise ValueError(f"Return value from test method ignored: {result!r}")

    return run


_TestMethod = Callable[..., Coroutine[Any, Any, Any] | Generator[Any, Any, Any] | Awaitable[Any]]


@overload
def gen_test(func: _TestMethod, timeout: float | None = None) -> Callable[..., None]: ...
@overload
def gen_test(
    func: None = None, timeout: float | None = None
) -> Callable[[_TestMethod], Callable[..., None]]: ...
def gen_test(
    func: _TestMethod | None = None, timeout: float | None = None
) -> Callable[..., None] | Callable[[_TestMethod], Callable[..., None]]:
    """Run an ``async def`` (or generator) test method on ``self.io_loop`` until it finishes.

    Use as ``@gen_test`` or ``@gen_test(timeout=30)``; the default timeout is
    :func:`get_async_test_timeout`. A generator test runs as a ``squall.gen.coroutine`` (it may
    yield whatever those yield: awaitables, lists and dicts of them, ``gen.Task``...). A test
    still running at the timeout is cancelled and TimeoutError raised.
    """

    def decorate(method: _TestMethod) -> Callable[..., None]:
        is_generator = inspect.isgeneratorfunction(method)

        @functools.wraps(method)
        def run(self: AsyncTestCase, *args: Any, **kwargs: Any) -> None:
            limit = get_async_test_timeout() if timeout is None else timeout
            started: list[Any] = []  # the test's generator or coroutine object
            expired: list[str] = []  # where the test was waiting when its time ran out

            def start(*call_args: Any, **call_kwargs: Any) -> Any:
                started.append(method(*call_args, **call_kwargs))
                return started[0]

            runner = gen.coroutine(start) if is_generator else start

            async def body() -> Any:
                task = asyncio.current_task()
                assert task is not None  # run_sync runs this as a task

                def expire() -> None:
                    expired.append(_waiting_at(started[0] if started else None))
                    task.cancel()

                timer = asyncio.get_running_loop().call_later(limit, expire)
                try:
                    result = runner(self, *args, **kwargs)
                    return await result if inspect.isawaitable(result) else result
                finally:
                    timer.cancel()

            try:
                self.io_loop.run_sync(body)
            except asyncio.CancelledError:
                if not expired:
                    raise
            if expired:  # cancelled at the deadline (even if the test swallowed it)
                error = TimeoutError(
                    f"Async test {method.__name__} timed out after {limit} seconds; raise "
                    "the ASYNC_TEST_TIMEOUT environment variable or pass gen_test(timeout=...)"
                )
                if expired[0]:
                    error.add_note(f"The test was waiting at:\n{expired[0]}")
                _throw_into(started[0] if started else None, error)
                raise error from None

        return run

    return decorate if func is None else decorate(func)


def _waiting_at(test: Any) -> str:
    """The stack of a suspended generator or coroutine: its frame and what it awaits."""
    frames = []
    while test is not None:
        frame = getattr(test, "gi_frame", None) or getattr(test, "cr_frame", None)
        if frame is None:
            break
        frames.append((frame, frame.f_lineno))
        test = getattr(test, "gi_yieldfrom", None) or getattr(test, "cr_await", None)
    return "".join(traceback.StackSummary.extract(iter(frames)).format())


def _throw_into(test: Any, error: TimeoutError) -> None:
    """Raise ``error`` inside a generator test still suspended at a ``yield``, so that the
    traceback ends at the line the test was stuck on. Returns if that cannot be done."""
    if not inspect.isgenerator(test) or test.gi_frame is None or test.gi_running:
        return
    try:
        test.throw(error)
    except (StopIteration, gen.Return):  # the test caught it and finished
        return
    test.close()  # it caught the error and went on waiting: stop it


class AsyncHTTPTestCase(AsyncTestCase):
    """An AsyncTestCase with an HTTP server running ``get_app()`` on a free local port.

    Override :meth:`get_app`. ``self.fetch(path)`` fetches synchronously; ``self.http_client``
    (an AsyncHTTPClient) and ``self.http_server`` are there for async tests. tearDown stops the
    server, closes its connections and the client, then the loop.
    """

    def setUp(self) -> None:
        """Start the server on a fresh port and create the client."""
        super().setUp()
        sock, self._port = bind_unused_port()
        try:
            self.http_client = self.get_http_client()
            self._app = self.get_app()
            self.http_server = self.get_http_server()
            self.http_server.add_sockets([sock])
        except BaseException:  # tearDown will not run: release what was made, then fail
            sock.close()
            if (client := getattr(self, "http_client", None)) is not None:
                client.close()
            AsyncTestCase.tearDown(self)
            raise

    def get_app(self) -> Any:
        """Return the Application (or any server delegate or callable) to test. Must be
        overridden."""
        raise NotImplementedError(f"{type(self).__name__} must override get_app()")

    def get_http_client(self) -> AsyncHTTPClient:
        """Return the client used by :meth:`fetch`: a private AsyncHTTPClient."""
        return AsyncHTTPClient(force_instance=True)

    def get_http_server(self) -> HTTPServer:
        """Return the server: ``HTTPServer(app, **get_httpserver_options())``."""
        return HTTPServer(self._app, **self.get_httpserver_options())

    def get_httpserver_options(self) -> dict[str, Any]:
        """Extra keyword arguments for HTTPServer (none by default)."""
        return {}

    def get_http_port(self) -> int:
        """The port the server listens on."""
        return self._port

    def get_protocol(self) -> str:
        """The URL scheme: "http"."""
        return "http"

    def get_url(self, path: str) -> str:
        """The absolute URL for ``path`` on the test server."""
        return f"{self.get_protocol()}://127.0.0.1:{self.get_http_port()}{path}"

    def fetch(self, path: str, raise_error: bool = False, **kwargs: Any) -> HTTPResponse:
        """Fetch ``path`` (or an absolute URL) synchronously and return the response.

        Error statuses come back as responses unless ``raise_error``; ``kwargs`` are
        HTTPRequest options. Fails with TimeoutError after :func:`get_async_test_timeout`.
        """
        url = path if path.lower().startswith(("http://", "https://")) else self.get_url(path)
        return self.io_loop.run_sync(
            lambda: self.http_client.fetch(url, raise_error=raise_error, **kwargs),
            timeout=get_async_test_timeout(),
        )

    def tearDown(self) -> None:
        """Stop the server, close every connection and the client, then the loop."""
        self.http_server.stop()
        self.http_client.close()  # first: a TLS server connection closes once its peer has
        self.io_loop.run_sync(self.http_server.close_all_connections, get_async_test_timeout())
        del self.http_server, self._app
        super().tearDown()


class AsyncHTTPSTestCase(AsyncHTTPTestCase):
    """An AsyncHTTPTestCase served over TLS, with a certificate made at runtime.

    The certificate (for 127.0.0.1, localhost and ::1, signed by a throwaway authority) comes
    from the ``trustme`` package (a test dependency), made once per process; the client does
    not validate it. :meth:`default_ssl_options` names its files, :meth:`get_ssl_options`
    serves them.
    """

    def get_http_client(self) -> AsyncHTTPClient:
        """A private client that does not validate the test certificate."""
        return AsyncHTTPClient(force_instance=True, defaults={"validate_cert": False})

    def get_httpserver_options(self) -> dict[str, Any]:
        """Serve with :meth:`get_ssl_options`."""
        return {"ssl_options": self.get_ssl_options()}

    def get_ssl_options(self) -> ssl.SSLContext | dict[str, Any]:
        """The server's TLS settings, an ``ssl_options`` value (a dict or an ``SSLContext``):
        by default :meth:`default_ssl_options`. Override it to serve something else."""
        return self.default_ssl_options()

    @staticmethod
    def default_ssl_options() -> dict[str, Any]:
        """The test certificate as ``ssl_options`` keys: ``{"certfile": ..., "keyfile": ...}``.

        A new dict each call, so a caller may add keys (``dict(ssl_version=...,
        **AsyncHTTPSTestCase.default_ssl_options())``). The two PEM files are written once per
        process to a private temporary folder, removed when the process exits."""
        certfile, keyfile = _test_certificate_files()
        return {"certfile": certfile, "keyfile": keyfile}

    def get_protocol(self) -> str:
        """The URL scheme: "https"."""
        return "https"


@functools.cache
def _test_certificate() -> Any:
    try:
        import trustme
    except ImportError:
        raise RuntimeError(
            "AsyncHTTPSTestCase needs the trustme package for its test certificate: "
            "`pip install trustme`, or override get_ssl_options()"
        ) from None
    return trustme.CA().issue_cert("127.0.0.1", "localhost", "::1")


@functools.cache
def _test_certificate_files() -> tuple[str, str]:
    """The test certificate's chain and key as PEM files: (certfile, keyfile)."""
    certificate = _test_certificate()
    folder = tempfile.mkdtemp(prefix="squall-test-cert-")  # readable by this user alone
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    certfile = os.path.join(folder, "cert.pem")
    keyfile = os.path.join(folder, "key.pem")
    with open(certfile, "wb") as f:
        for blob in certificate.cert_chain_pems:
            f.write(blob.bytes())
    certificate.private_key_pem.write_to_path(keyfile)
    return certfile, keyfile


class ExpectLog(logging.Filter):
    """Context manager that swallows log records matching ``regex`` on ``logger``.

    ``logger`` is a Logger or its name; ``regex`` (a string or compiled pattern) must match the
    start of the formatted message. If ``required`` and nothing matched by the end of the
    block, AssertionError names the regex. ``level`` only matches records of that level (the
    logger is opened to it for the block). ``logged_stack`` tells whether a record carried a
    traceback.
    """

    def __init__(
        self,
        logger: logging.Logger | str,
        regex: str | re.Pattern[str],
        required: bool = True,
        level: int | None = None,
    ) -> None:
        super().__init__()
        self.logger = logging.getLogger(logger) if isinstance(logger, str) else logger
        self.regex = re.compile(regex)
        self.required, self.level = required, level
        self.matched = False
        #: How many records matched (and were swallowed).
        self.matched_count = 0
        self.logged_stack = False
        self._saved_level: int | None = None

    def filter(self, record: logging.LogRecord) -> bool:
        """Drop a matching record (returns False); let every other one through."""
        if record.exc_info:
            self.logged_stack = True
        if self.level is not None and record.levelno != self.level:
            return True
        if self.regex.match(record.getMessage()):
            self.matched = True
            self.matched_count += 1
            return False
        return True

    def __enter__(self) -> ExpectLog:
        if self.level is not None and self.level < self.logger.getEffectiveLevel():
            self._saved_level = self.logger.level
            self.logger.setLevel(self.level)
        self.logger.addFilter(self)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.logger.removeFilter(self)
        if self._saved_level is not None:
            self.logger.setLevel(self._saved_level)
            self._saved_level = None
        if exc_type is None and self.required and not self.matched:
            raise AssertionError(
                f"did not get expected log message matching {self.regex.pattern!r} "
                f"on logger {self.logger.name!r}"
            )
