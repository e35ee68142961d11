"""TCPClient and the resolvers: real connections over loopback, Happy Eyeballs timing."""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime
import socket
import ssl
from typing import Any

import pytest

from squall.iostream import IOStream, SSLIOStream, StreamClosedError
from squall.netutil import (
    BlockingResolver,
    DefaultExecutorResolver,
    DefaultLoopResolver,
    ExecutorResolver,
    OverrideResolver,
    Resolver,
    ThreadedResolver,
)
from squall.tcpclient import TCPClient, _Connector
from squall.tcpserver import TCPServer
from squall.testing import bind_unused_port
from tests.conftest import Runner


class Accepting(TCPServer):
    """Keeps every accepted stream in a queue."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.streams: asyncio.Queue[IOStream] = asyncio.Queue()

    def handle_stream(self, stream: IOStream, address: Any) -> None:
        self.streams.put_nowait(stream)


class FixedResolver(Resolver):
    """Answers every name with the given addresses."""

    def initialize(self, answer: list[tuple[int, Any]]) -> None:  # type: ignore[override]
        self.answer = answer
        self.asked: list[tuple[str, int, int]] = []

    async def resolve(
        self, host: str, port: int, family: int = socket.AF_UNSPEC
    ) -> list[tuple[int, Any]]:
        self.asked.append((host, port, family))
        return self.answer


def refused_port() -> int:
    sock, port = bind_unused_port()
    sock.close()
    return port


def test_connect_resolves_and_returns_a_connected_stream(run: Runner) -> None:
    async def body() -> None:
        sock, port = bind_unused_port()
        server = Accepting()
        server.add_socket(sock)
        client = TCPClient()
        try:
            stream = await client.connect("localhost", port, af=socket.AF_INET)
            peer = await server.streams.get()
            await stream.write(b"hello")
            assert await peer.read_bytes(5) == b"hello"
            stream.close()
            peer.close()
        finally:
            server.stop()
            client.close()

    run(body())


def test_a_refused_family_falls_back_to_the_other_at_once(run: Runner) -> None:
    async def body() -> None:
        sock, port = bind_unused_port()
        server = Accepting()
        server.add_socket(sock)
        dead = refused_port()
        resolver = FixedResolver(
            [(socket.AF_INET, ("127.0.0.1", dead)), (socket.AF_INET6, ("::1", dead, 0, 0))]
            + [(socket.AF_INET, ("127.0.0.1", port))]
        )
        client = TCPClient(resolver=resolver)
        loop = asyncio.get_running_loop()
        try:
            start = loop.time()
            stream = await client.connect("example.test", 1234)
            assert loop.time() - start < 0.25  # no waiting for the Happy Eyeballs timer
            assert stream.socket.getpeername()[1] == port
            assert resolver.asked == [("example.test", 1234, socket.AF_UNSPEC)]
            stream.close()
            (await server.streams.get()).close()
        finally:
            server.stop()
            client.close()

    run(body())


def test_every_address_refused_raises_the_last_error(run: Runner) -> None:
    async def body() -> None:
        client = TCPClient()
        with pytest.raises(StreamClosedError) as info:  # as Tornado: the cause is attached
            await client.connect("127.0.0.1", refused_port())
        assert isinstance(info.value.real_error, ConnectionRefusedError)

    run(body())


def test_timeouts_name_the_step_that_took_too_long(
    run: Runner, client_context: ssl.SSLContext
) -> None:
    async def body() -> None:
        class Never(Resolver):
            def resolve(self, host: str, port: int, family: int = 0) -> Any:
                return asyncio.get_running_loop().create_future()

        with pytest.raises(TimeoutError, match="Timeout while resolving slow.test"):
            await TCPClient(resolver=Never()).connect(
                "slow.test", 1, timeout=datetime.timedelta(seconds=0.05)
            )
        sock, port = bind_unused_port()
        server = Accepting()  # accepts, never answers the TLS handshake
        server.add_socket(sock)
        try:
            with pytest.raises(TimeoutError, match=f"TLS handshake with 127.0.0.1:{port}"):
                await TCPClient().connect(
                    "127.0.0.1", port, ssl_options=client_context, timeout=0.3
                )
            peer = await server.streams.get()
            await peer.read_until_close()  # the abandoned attempt was closed
        finally:
            server.stop()

    run(body())


def test_connect_with_tls_verifies_the_host(
    run: Runner, server_context: ssl.SSLContext, client_context: ssl.SSLContext
) -> None:
    async def body() -> None:
        class Echo(TCPServer):
            async def handle_stream(self, stream: IOStream, address: Any) -> None:
                await stream.write(await stream.read_until(b"\n"))
                stream.close()

        sock, port = bind_unused_port()
        server = Echo(ssl_options=server_context)
        server.add_socket(sock)
        try:
            stream = await TCPClient().connect("localhost", port, ssl_options=client_context)
            assert isinstance(stream, SSLIOStream)
            await stream.write(b"secure\n")
            assert await stream.read_until(b"\n") == b"secure\n"
            stream.close()
        finally:
            server.stop()

    run(body())


def test_source_ip_and_port_bind_the_local_end(run: Runner) -> None:
    async def body() -> None:
        sock, port = bind_unused_port()
        server = Accepting()
        server.add_socket(sock)
        local = refused_port()  # free a moment ago
        try:
            stream = await TCPClient().connect(
                "127.0.0.1", port, source_ip="127.0.0.1", source_port=local
            )
            assert stream.socket.getsockname() == ("127.0.0.1", local)
            stream.close()
            (await server.streams.get()).close()
            with pytest.raises(OSError):  # not an address of this host
                await TCPClient().connect("127.0.0.1", port, source_ip="192.0.2.55")
        finally:
            server.stop()

    run(body())


# ---------------------------------------------------------------- Happy Eyeballs, unit


class FakeStream:
    def __init__(self) -> None:
        self.closed = False

    def close(self) -> None:
        self.closed = True


def test_the_connector_tries_the_second_family_after_the_delay(run_asyncio: Runner) -> None:
    async def body() -> None:
        attempts: dict[str, asyncio.Future[Any]] = {}
        streams: dict[str, FakeStream] = {}

        def connect(af: int, addr: str) -> tuple[FakeStream, asyncio.Future[Any]]:
            streams[addr] = FakeStream()
            attempts[addr] = asyncio.get_running_loop().create_future()
            return streams[addr], attempts[addr]

        connector = _Connector([(10, "v6a"), (10, "v6b"), (2, "v4a")], connect)
        future = connector.start(timeout=0.05)
        assert list(attempts) == ["v6a"]
        while "v4a" not in attempts:
            await asyncio.sleep(0.005)
        assert list(attempts) == ["v6a", "v4a"]
        attempts["v4a"].set_result(streams["v4a"])
        assert await future == (2, "v4a", streams["v4a"])
        assert streams["v6a"].closed and not streams["v4a"].closed
        attempts["v6a"].set_result(streams["v6a"])  # a loser finishing late is closed
        await asyncio.sleep(0)

    run_asyncio(body())


def test_the_connector_deadline_names_the_pending_attempts(run_asyncio: Runner) -> None:
    async def body() -> None:
        def connect(af: int, addr: Any) -> tuple[FakeStream, asyncio.Future[Any]]:
            return FakeStream(), asyncio.get_running_loop().create_future()

        connector = _Connector([(10, ("2001:db8::1", 443, 0, 0)), (2, ("192.0.2.1", 443))], connect)
        loop_time = connector.io_loop.time()
        future = connector.start(timeout=0.01, connect_timeout=loop_time + 0.1)
        with pytest.raises(TimeoutError) as info:
            await future
        assert str(info.value) == "Timeout while connecting to 192.0.2.1:443, [2001:db8::1]:443"
        assert all(stream.closed for stream in connector.streams)

    run_asyncio(body())


# ---------------------------------------------------------------- resolvers


@pytest.mark.parametrize(
    "make",
    [
        DefaultLoopResolver,
        DefaultExecutorResolver,
        BlockingResolver,
        ThreadedResolver,
        lambda: ExecutorResolver(concurrent.futures.ThreadPoolExecutor(1)),
    ],
    ids=["loop", "executor", "blocking", "threaded", "given-executor"],
)
def test_resolvers_find_localhost_and_report_bad_names(run: Runner, make: Any) -> None:
    async def body() -> None:
        resolver = make()
        try:
            answer = await resolver.resolve("localhost", 80)
            assert (socket.AF_INET, ("127.0.0.1", 80)) in answer or (
                socket.AF_INET6,
                ("::1", 80, 0, 0),
            ) in answer
            assert await resolver.resolve("127.0.0.1", 8, socket.AF_INET) == [
                (socket.AF_INET, ("127.0.0.1", 8))
            ]
            with pytest.raises(OSError):
                await resolver.resolve("no such host.invalid", 80)
        finally:
            resolver.close()

    run(body())


def test_override_resolver_prefers_the_most_specific_mapping(run: Runner) -> None:
    async def body() -> None:
        resolver = OverrideResolver(
            BlockingResolver(),
            {
                "example.com": "127.0.0.1",
                ("example.com", 443): ("127.0.0.2", 8443),
                ("example.com", 443, socket.AF_INET6): ("::1", 9443),
            },
        )
        assert await resolver.resolve("example.com", 80, socket.AF_INET) == [
            (socket.AF_INET, ("127.0.0.1", 80))
        ]
        assert await resolver.resolve("example.com", 443, socket.AF_INET) == [
            (socket.AF_INET, ("127.0.0.2", 8443))
        ]
        assert await resolver.resolve("example.com", 443, socket.AF_INET6) == [
            (socket.AF_INET6, ("::1", 9443, 0, 0))
        ]
        resolver.close()

    run(body())


def test_resolver_configure_chooses_the_implementation() -> None:
    saved = Resolver._save_configuration()
    try:
        assert isinstance(Resolver(), DefaultLoopResolver)
        Resolver.configure("squall.netutil.ThreadedResolver", num_threads=2)
        assert isinstance(Resolver(), ThreadedResolver)
        assert Resolver.configured_class() is ThreadedResolver
        with pytest.raises(ValueError, match="Invalid subclass"):
            Resolver.configure(int)  # type: ignore[arg-type]
    finally:
        Resolver._restore_configuration(saved)
    assert isinstance(Resolver(), DefaultLoopResolver)
