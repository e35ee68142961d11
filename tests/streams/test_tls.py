"""SSLIOStream and IOStream.start_tls over real sockets, with certificates from trustme."""

from __future__ import annotations

import asyncio
import socket
import ssl
from typing import Any

import pytest

from squall import netutil
from squall.iostream import IOStream, SSLIOStream, StreamClosedError
from squall.log import gen_log
from squall.testing import ExpectLog, bind_unused_port
from tests.conftest import Runner
from tests.streams.pairs import tcp_pair, tls_pair


def test_data_flows_both_ways_over_tls(
    run: Runner, server_context: ssl.SSLContext, client_context: ssl.SSLContext
) -> None:
    async def body() -> None:
        async with tls_pair(server_context, client_context) as (server, client):
            assert client.socket.cipher() is not None
            big = bytes(range(256)) * 20_000  # 5 MB: many TLS records, partial writes
            written = client.write(big)
            assert await server.read_bytes(len(big)) == big
            await written
            await server.write(b"pong\n")
            assert await client.read_until(b"\n") == b"pong\n"
            server.close()
            with pytest.raises(StreamClosedError):
                await client.read_bytes(1)

    run(body())


def test_an_untrusted_certificate_fails_the_handshake_on_both_sides(
    run: Runner, server_context: ssl.SSLContext
) -> None:
    async def body() -> None:
        listener, port = bind_unused_port()
        accepted: asyncio.Future[SSLIOStream] = asyncio.get_running_loop().create_future()

        def on_connection(connection: socket.socket, address: Any) -> None:
            wrapped = server_context.wrap_socket(
                connection, server_side=True, do_handshake_on_connect=False
            )
            accepted.set_result(SSLIOStream(wrapped))

        remove = netutil.add_accept_handler(listener, on_connection)
        client = SSLIOStream(socket.socket())  # the default context: the system's CAs only
        try:
            with ExpectLog(gen_log, "SSL Error"):
                with pytest.raises(ssl.SSLCertVerificationError):
                    await client.connect(("127.0.0.1", port), server_hostname="localhost")
                server = await accepted
                with pytest.raises((ssl.SSLError, OSError)):
                    await server.wait_for_handshake()
            assert client.closed() and server.closed()
        finally:
            remove()
            listener.close()
            client.close()

    run(body())


def test_a_hostname_mismatch_fails_the_connect(
    run: Runner, server_context: ssl.SSLContext, client_context: ssl.SSLContext
) -> None:
    async def body() -> None:
        listener, port = bind_unused_port()
        streams: list[SSLIOStream] = []

        def on_connection(connection: socket.socket, address: Any) -> None:
            wrapped = server_context.wrap_socket(
                connection, server_side=True, do_handshake_on_connect=False
            )
            streams.append(SSLIOStream(wrapped))

        remove = netutil.add_accept_handler(listener, on_connection)
        client = SSLIOStream(socket.socket(), ssl_options=client_context)
        try:
            with ExpectLog(gen_log, ".*Hostname mismatch", required=False):
                with ExpectLog(gen_log, "SSL Error", required=False):
                    with pytest.raises(ssl.SSLCertVerificationError):
                        await client.connect(("127.0.0.1", port), server_hostname="example.org")
                    while not streams or not streams[0].closed():
                        await asyncio.sleep(0.005)
        finally:
            remove()
            listener.close()
            client.close()

    run(body())


def test_connect_without_server_hostname_when_the_context_checks_names_says_so(
    run: Runner, client_context: ssl.SSLContext
) -> None:
    async def body() -> None:
        listener, port = bind_unused_port()
        client = SSLIOStream(socket.socket(), ssl_options=client_context)
        try:
            with pytest.raises(ValueError, match="server_hostname"):
                await client.connect(("127.0.0.1", port))
        finally:
            listener.close()
            client.close()

    run(body())


def test_start_tls_upgrades_a_plain_connection(
    run: Runner, server_context: ssl.SSLContext, client_context: ssl.SSLContext
) -> None:
    async def body() -> None:
        async with tcp_pair() as (server, client):
            await client.write(b"STARTTLS\r\n")
            assert await server.read_until(b"\r\n") == b"STARTTLS\r\n"
            closed: list[bool] = []
            client.set_close_callback(lambda: closed.append(True))
            client_tls = client.start_tls(False, client_context, server_hostname="localhost")
            server_tls = server.start_tls(True, server_context)
            secure_client, secure_server = await asyncio.gather(client_tls, server_tls)
            assert isinstance(secure_client, SSLIOStream)
            assert client.closed() and client.socket is None  # handed over, not closed
            await secure_client.write(b"secret\n")
            assert await secure_server.read_until(b"\n") == b"secret\n"
            secure_client.close()
            secure_server.close()
            while not closed:  # the close callback moved to the new stream
                await asyncio.sleep(0.005)

    run(body())


def test_start_tls_refuses_a_stream_that_is_not_idle(
    run: Runner, client_context: ssl.SSLContext
) -> None:
    async def body() -> None:
        async with tcp_pair() as (server, client):
            client.read_bytes(1)
            with pytest.raises(ValueError, match="not idle"):
                client.start_tls(False, client_context, server_hostname="localhost")

    run(body())


def test_cancelling_start_tls_closes_the_connection(
    run: Runner, client_context: ssl.SSLContext
) -> None:
    async def body() -> None:
        async with tcp_pair() as (server, client):
            future = client.start_tls(False, client_context, server_hostname="localhost")
            future.cancel()
            # The server never answers the handshake; it sees the connection end.
            await server.read_until_close()

    run(body())


def test_wait_for_handshake_twice_at_once_is_an_error_and_after_it_resolves_at_once(
    run: Runner, server_context: ssl.SSLContext, client_context: ssl.SSLContext
) -> None:
    async def body() -> None:
        listener, port = bind_unused_port()
        accepted: asyncio.Future[SSLIOStream] = asyncio.get_running_loop().create_future()

        def on_connection(connection: socket.socket, address: Any) -> None:
            wrapped = server_context.wrap_socket(
                connection, server_side=True, do_handshake_on_connect=False
            )
            stream = SSLIOStream(wrapped)
            assert stream.socket.cipher() is None  # the handshake has not run yet
            accepted.set_result(stream)

        remove = netutil.add_accept_handler(listener, on_connection)
        client = SSLIOStream(socket.socket(), ssl_options=client_context)
        try:
            connecting = client.connect(("127.0.0.1", port), server_hostname="localhost")
            server = await accepted
            waiting = server.wait_for_handshake()
            with pytest.raises(RuntimeError, match="Already waiting"):
                server.wait_for_handshake()
            assert await waiting is server
            assert await server.wait_for_handshake() is server
            await connecting
            server.close()
        finally:
            remove()
            listener.close()
            client.close()

    run(body())


def test_an_ssl_stream_wants_a_wrapped_socket_once_connected(run: Runner) -> None:
    async def body() -> None:
        a, b = socket.socketpair()
        try:
            with pytest.raises(ValueError, match="not wrapped in TLS"):
                SSLIOStream(a)
        finally:
            a.close()
            b.close()

    run(body())


def test_plain_bytes_at_a_tls_server_are_logged_and_close_it(
    run: Runner, server_context: ssl.SSLContext
) -> None:
    async def body() -> None:
        listener, port = bind_unused_port()
        accepted: asyncio.Future[SSLIOStream] = asyncio.get_running_loop().create_future()

        def on_connection(connection: socket.socket, address: Any) -> None:
            wrapped = server_context.wrap_socket(
                connection, server_side=True, do_handshake_on_connect=False
            )
            accepted.set_result(SSLIOStream(wrapped))

        remove = netutil.add_accept_handler(listener, on_connection)
        client = IOStream(socket.socket())
        try:
            await client.connect(("127.0.0.1", port))
            with ExpectLog(gen_log, "SSL Error"):
                await client.write(b"GET / HTTP/1.0\r\n\r\n")
                server = await accepted
                with pytest.raises(ssl.SSLError):
                    await server.wait_for_handshake()
        finally:
            remove()
            listener.close()
            client.close()

    run(body())
