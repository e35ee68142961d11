"""``AsyncHTTPClient.configure(None, resolver=...)``: a custom resolver reaches every client made
afterwards, including the blocking ``HTTPClient``'s, and can send requests to a unix socket.

This is how notebook servers talk to a server listening on a unix socket: a ``Resolver``
subclass whose ``initialize`` takes its own arguments answers every host name with
``(AF_UNIX, path)``.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from squall.httpclient import AsyncHTTPClient, HTTPClient
from squall.httpserver import HTTPServer
from squall.netutil import Resolver, bind_unix_socket
from squall.simple_httpclient import SimpleAsyncHTTPClient
from squall.web import Application, RequestHandler


class WhereHandler(RequestHandler):
    def get(self) -> None:
        self.write(f"host={self.request.host} path={self.request.path}")


class UnixSocketResolver(Resolver):
    """Answers every name with the unix socket; wraps (and closes) another resolver."""

    def initialize(self, resolver: Resolver, path: str = "") -> None:  # type: ignore[override]
        self.resolver = resolver
        self.path = path
        self.asked: list[tuple[str, int]] = []

    def close(self) -> None:
        self.resolver.close()

    async def resolve(self, host: str, port: int, *args: Any, **kwargs: Any) -> Any:
        self.asked.append((host, port))
        return [(socket.AF_UNIX, self.path)]


@pytest.fixture
def unix_server(tmp_path: Path) -> Iterator[str]:
    """An Application served on a unix socket by a loop on another thread; the socket path."""
    path = str(tmp_path / "server.sock")
    ready = threading.Event()
    stop: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []

    async def serve() -> None:
        server = HTTPServer(Application([("/.*", WhereHandler)]))
        server.add_socket(bind_unix_socket(path))
        done = asyncio.Event()
        stop.append((asyncio.get_running_loop(), done))
        ready.set()
        await done.wait()
        server.stop()
        await server.close_all_connections()

    thread = threading.Thread(target=asyncio.run, args=(serve(),))
    thread.start()
    assert ready.wait(10)
    yield path
    loop, done = stop[0]
    loop.call_soon_threadsafe(done.set)
    thread.join(10)


@pytest.fixture
def restore_configuration() -> Iterator[None]:
    saved = AsyncHTTPClient._save_configuration()
    yield
    AsyncHTTPClient._restore_configuration(saved)


def test_a_configured_resolver_sends_the_blocking_clients_requests_to_a_unix_socket(
    unix_server: str, restore_configuration: None
) -> None:
    resolver = UnixSocketResolver(resolver=Resolver(), path=unix_server)
    assert isinstance(resolver, UnixSocketResolver) and resolver.path == unix_server
    AsyncHTTPClient.configure(None, resolver=resolver)
    client = HTTPClient(AsyncHTTPClient)
    try:
        response = client.fetch("http://%2Ftmp%2Fserver.sock/api/status")
    finally:
        client.close()
    assert response.code == 200
    assert response.body == b"host=%2Ftmp%2Fserver.sock path=/api/status"
    assert resolver.asked == [("%2Ftmp%2Fserver.sock", 80)]
    resolver.close()


def test_async_clients_made_after_configure_use_the_resolver(
    unix_server: str, restore_configuration: None
) -> None:
    resolver = UnixSocketResolver(resolver=Resolver(), path=unix_server)
    AsyncHTTPClient.configure(None, resolver=resolver, max_clients=2)

    async def fetch_twice() -> list[bytes]:
        client = AsyncHTTPClient()
        assert isinstance(client, SimpleAsyncHTTPClient)
        assert client.resolver is resolver and client.max_clients == 2
        bodies = [(await client.fetch(f"http://unix/{n}")).body for n in range(2)]
        client.close()
        return bodies

    assert asyncio.run(fetch_twice()) == [b"host=unix path=/0", b"host=unix path=/1"]
    # Asked once per connection (the second request may reuse the first's connection).
    assert resolver.asked and set(resolver.asked) == {("unix", 80)}
    resolver.close()  # the client did not own it: closing it is the caller's


def test_a_client_subclass_gets_keyword_arguments_in_initialize(
    unix_server: str, restore_configuration: None
) -> None:
    class ServerClient(SimpleAsyncHTTPClient):
        def initialize(  # type: ignore[override]
            self, *, label: str = "", **kwargs: Any
        ) -> None:
            super().initialize(**kwargs)
            self.label = label

    resolver = UnixSocketResolver(resolver=Resolver(), path=unix_server)

    async def fetch() -> tuple[str, bytes]:
        client = ServerClient(label="direct", resolver=resolver)
        try:
            response = await client.fetch("http://direct/")
        finally:
            client.close()
        return client.label, response.body

    assert asyncio.run(fetch()) == ("direct", b"host=direct path=/")
    resolver.close()
