"""pytest fixtures for squall apps: a fresh loop, a live server and a client, no TestCase needed.

Enable the plugin in your ``conftest.py`` (or run ``pytest -p squall.pytest_plugin``)::

    pytest_plugins = ["squall.pytest_plugin"]

then define an ``app`` fixture and use the others::

    @pytest.fixture
    def app():
        return make_app()

    def test_hello(squall_client):
        response = squall_client.fetch("/")
        assert response.code == 200

    def test_hello_async(squall_loop, squall_client):
        response = squall_loop.run_until_complete(squall_client.async_fetch("/"))
        assert response.body == b"Hello"

Fixtures (each one per test):

- ``squall_loop``: a :class:`LoopFixture`, a new event loop made current; pending tasks are
  cancelled (one failing as it unwinds fails the test) and the loop closed at teardown.
- ``app``: override it to return your Application; the default raises an error saying so.
- ``squall_server``: a :class:`ServerFixture`, ``HTTPServer(app)`` on a free 127.0.0.1 port
  (``.port``, ``.url(path)``, ``.server``); stopped and its connections closed at teardown.
- ``squall_client``: a :class:`ClientFixture` for that server: ``fetch(path, **kw)`` blocks,
  ``async_fetch(path, **kw)`` is awaitable; error statuses are returned, not raised, unless
  ``raise_error=True``.

squall itself is imported only when a fixture is used, so having the plugin loaded costs
nothing in test runs that do not use it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

import pytest

if TYPE_CHECKING:
    from squall.httpclient import AsyncHTTPClient, HTTPResponse
    from squall.httpserver import HTTPServer
    from squall.ioloop import IOLoop

_T = TypeVar("_T")


class LoopFixture:
    """The ``squall_loop`` fixture: ``io_loop`` (the IOLoop), ``asyncio_loop``, and a runner."""

    def __init__(self, io_loop: IOLoop) -> None:
        self.io_loop = io_loop
        self.asyncio_loop = io_loop.asyncio_loop

    def run_until_complete(self, awaitable: Awaitable[_T], timeout: float | None = None) -> _T:
        """Run the loop until ``awaitable`` finishes and return its result.

        After ``timeout`` seconds (default: ``ASYNC_TEST_TIMEOUT``, else 5) it is cancelled and
        TimeoutError raised.
        """
        from squall.testing import get_async_test_timeout

        limit = get_async_test_timeout() if timeout is None else timeout

        async def wait() -> _T:
            return await awaitable

        return self.io_loop.run_sync(wait, timeout=limit)


class ServerFixture:
    """The ``squall_server`` fixture: the running ``server`` and its ``port``."""

    def __init__(self, server: HTTPServer, port: int) -> None:
        self.server = server
        self.port = port

    def url(self, path: str = "/") -> str:
        """The absolute URL of ``path`` on this server."""
        return f"http://127.0.0.1:{self.port}{path}"


class ClientFixture:
    """The ``squall_client`` fixture: fetches from the test server."""

    def __init__(self, loop: LoopFixture, server: ServerFixture, client: AsyncHTTPClient) -> None:
        self.loop, self.server, self.http_client = loop, server, client

    async def async_fetch(
        self, path: str, raise_error: bool = False, **kwargs: Any
    ) -> HTTPResponse:
        """Fetch ``path`` (or an absolute URL) from the server; ``kwargs`` are HTTPRequest
        options."""
        url = path if path.lower().startswith(("http://", "https://")) else self.server.url(path)
        return await self.http_client.fetch(url, raise_error=raise_error, **kwargs)

    def fetch(self, path: str, raise_error: bool = False, **kwargs: Any) -> HTTPResponse:
        """Like :meth:`async_fetch`, run to completion on the test loop."""
        return self.loop.run_until_complete(self.async_fetch(path, raise_error, **kwargs))


@pytest.fixture
def squall_loop() -> Iterator[LoopFixture]:
    """A fresh event loop, current for the test, closed afterwards."""
    from squall.httpclient import AsyncHTTPClient
    from squall.ioloop import IOLoop
    from squall.testing import _finish_pending_tasks

    io_loop = IOLoop(make_current=True)
    error: BaseException | None = None
    try:
        yield LoopFixture(io_loop)
    finally:
        if not io_loop.asyncio_loop.is_closed():
            AsyncHTTPClient._close_shared(io_loop.asyncio_loop)
            error = _finish_pending_tasks(io_loop.asyncio_loop)
        IOLoop.clear_current()
        io_loop.close(all_fds=True)
    if error is not None:
        raise error  # a task left running at the end of the test failed while being cancelled


@pytest.fixture
def app() -> Any:
    """The application under test: override this fixture in your conftest or test module."""
    raise RuntimeError(
        "squall_server needs an `app` fixture: define `@pytest.fixture def app(): return "
        "Application([...])` in your conftest.py or test module"
    )


@pytest.fixture
def squall_server(squall_loop: LoopFixture, app: Any) -> Iterator[ServerFixture]:
    """``HTTPServer(app)`` listening on a free 127.0.0.1 port of ``squall_loop``."""
    from squall.httpserver import HTTPServer
    from squall.testing import bind_unused_port

    sock, port = bind_unused_port()
    server = HTTPServer(app)
    try:
        server.add_sockets([sock])
    except BaseException:
        sock.close()
        raise
    try:
        yield ServerFixture(server, port)
    finally:
        server.stop()
        squall_loop.run_until_complete(server.close_all_connections())


@pytest.fixture
def squall_client(
    squall_loop: LoopFixture, squall_server: ServerFixture
) -> Iterator[ClientFixture]:
    """A client for ``squall_server``, closed afterwards."""
    from squall.httpclient import AsyncHTTPClient

    client = AsyncHTTPClient(force_instance=True)
    try:
        yield ClientFixture(squall_loop, squall_server, client)
    finally:
        client.close()
