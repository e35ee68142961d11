"""TCPServer over real sockets: handle_stream in its forms, TLS, stopping, and start(n)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import ssl
import subprocess
import sys
import textwrap
import time
from typing import Any

import pytest

from squall.iostream import IOStream, SSLIOStream, StreamClosedError
from squall.log import app_log
from squall.netutil import bind_sockets
from squall.tcpserver import TCPServer
from squall.testing import ExpectLog, bind_unused_port
from tests.conftest import Runner


class LineEcho(TCPServer):
    """Echo lines until the client goes away."""

    async def handle_stream(self, stream: IOStream, address: Any) -> None:
        try:
            while True:
                await stream.write(await stream.read_until(b"\n"))
        except StreamClosedError:
            pass


async def connect(port: int) -> IOStream:
    stream = IOStream(socket.socket())
    await stream.connect(("127.0.0.1", port))
    return stream


def test_a_coroutine_handle_stream_serves_many_clients(run: Runner) -> None:
    async def body() -> None:
        sock, port = bind_unused_port()
        server = LineEcho()
        server.add_socket(sock)
        clients = [await connect(port) for _ in range(20)]
        try:
            for i, client in enumerate(clients):
                client.write(f"hello {i}\n".encode())
            answers = [await client.read_until(b"\n") for client in clients]
            assert answers == [f"hello {i}\n".encode() for i in range(20)]
        finally:
            server.stop()
            for client in clients:
                client.close()

    run(body())


def test_a_plain_handle_stream_and_the_peer_address(run: Runner) -> None:
    async def body() -> None:
        seen: list[Any] = []

        class Greeter(TCPServer):
            def handle_stream(self, stream: IOStream, address: Any) -> None:
                seen.append(address)
                stream.write(b"hi\n")
                stream.close()

        sock, port = bind_unused_port()
        server = Greeter()
        server.add_sockets([sock])
        client = await connect(port)
        try:
            assert await client.read_until_close() == b"hi\n"
            assert seen == [client.socket.getsockname()] if client.socket else seen
            assert seen[0][0] == "127.0.0.1"
        finally:
            server.stop()
            client.close()

    run(body())


def test_errors_in_handle_stream_are_logged_and_the_server_keeps_serving(run: Runner) -> None:
    async def body() -> None:
        class Faulty(TCPServer):
            calls = 0

            async def handle_stream(self, stream: IOStream, address: Any) -> None:
                Faulty.calls += 1
                await stream.read_bytes(1)
                stream.close()
                raise ZeroDivisionError("in the coroutine")

        class FaultySync(TCPServer):
            def handle_stream(self, stream: IOStream, address: Any) -> None:
                raise ZeroDivisionError("at once")

        sock, port = bind_unused_port()
        server = Faulty()
        server.add_socket(sock)
        sock2, port2 = bind_unused_port()
        server2 = FaultySync()
        server2.add_socket(sock2)
        try:
            with ExpectLog(app_log, "Exception in callback") as log:
                for _ in range(2):
                    client = await connect(port)
                    client.write(b"x")
                    await client.read_until_close()
                client = await connect(port2)
                await client.read_until_close()  # the failed stream was closed
                while log.matched_count < 3:
                    await asyncio.sleep(0.005)
            assert Faulty.calls == 2
        finally:
            server.stop()
            server2.stop()

    run(body())


def test_tls_server_streams_handshake_in_the_background(
    run: Runner, server_context: ssl.SSLContext, client_context: ssl.SSLContext
) -> None:
    async def body() -> None:
        handshakes: list[bool] = []

        class Secure(TCPServer):
            async def handle_stream(self, stream: IOStream, address: Any) -> None:
                assert isinstance(stream, SSLIOStream)
                await stream.wait_for_handshake()
                handshakes.append(stream.socket.cipher() is not None)
                await stream.write(await stream.read_until(b"\n"))
                stream.close()

        sock, port = bind_unused_port()
        server = Secure(ssl_options=server_context)
        server.add_socket(sock)
        client = SSLIOStream(socket.socket(), ssl_options=client_context)
        try:
            await client.connect(("127.0.0.1", port), server_hostname="localhost")
            await client.write(b"over tls\n")
            assert await client.read_until(b"\n") == b"over tls\n"
            assert handshakes == [True]
        finally:
            server.stop()
            client.close()

    run(body())


def test_ssl_options_as_a_dict_are_checked_when_the_server_is_made(tmp_path: Any) -> None:
    with pytest.raises(KeyError, match="certfile"):
        TCPServer(ssl_options={"keyfile": "x"})
    with pytest.raises(ValueError, match="does not exist"):
        TCPServer(ssl_options={"certfile": str(tmp_path / "missing.pem")})


def test_stop_closes_the_listening_sockets_and_is_idempotent(run: Runner) -> None:
    async def body() -> None:
        server = LineEcho()
        server.listen(0, "127.0.0.1")
        (sock,) = server._sockets.values()
        port = sock.getsockname()[1]
        client = await connect(port)
        client.close()
        server.stop()
        server.stop()
        assert sock.fileno() == -1
        with pytest.raises(StreamClosedError):
            await connect(port)

    run(body())


def test_stop_inside_handle_stream_does_not_break_the_accept_loop(run: Runner) -> None:
    async def body() -> None:
        class StopOnFirst(TCPServer):
            async def handle_stream(self, stream: IOStream, address: Any) -> None:
                self.stop()
                await stream.read_until_close()

        sock, port = bind_unused_port()
        server = StopOnFirst()
        server.add_socket(sock)
        clients = [IOStream(socket.socket()) for _ in range(20)]
        results = await asyncio.gather(
            *(c.connect(("127.0.0.1", port)) for c in clients), return_exceptions=True
        )
        assert any(not isinstance(r, BaseException) for r in results)
        for client in clients:
            client.close()

    run(body())


def test_bind_then_start_and_start_twice(run: Runner) -> None:
    async def body() -> None:
        server = LineEcho()
        server.bind(0, "127.0.0.1")
        port = server._pending_sockets[0].getsockname()[1]
        server.start()
        with pytest.raises(RuntimeError, match="twice"):
            server.start()
        server.bind(0, "127.0.0.1")  # after start: served at once
        client = await connect(port)
        try:
            await client.write(b"ping\n")
            assert await client.read_until(b"\n") == b"ping\n"
        finally:
            client.close()
            server.stop()

    run(body())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="forks (Linux)")
def test_start_with_processes_forks_servers_that_each_serve() -> None:
    code = textwrap.dedent(
        """
        import signal, sys
        signal.alarm(20)
        from squall.ioloop import IOLoop
        from squall.iostream import StreamClosedError
        from squall.process import task_id
        from squall.tcpserver import TCPServer

        class Who(TCPServer):
            async def handle_stream(self, stream, address):
                await stream.write(f"{task_id()}\\n".encode())
                stream.close()

        server = Who()
        server.bind(int(sys.argv[1]), address="127.0.0.1")
        server.start(2)
        IOLoop.current().start()
        """
    )
    (sock,) = bind_sockets(0, "127.0.0.1")
    port = sock.getsockname()[1]
    sock.close()
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        seen: set[str] = set()
        deadline = time.monotonic() + 15
        while seen != {"0", "1"} and time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=2) as conn:
                    with conn.makefile("rb") as answer:
                        seen.add(answer.readline().strip().decode())
            except OSError:
                if proc.poll() is not None:
                    break
                time.sleep(0.02)  # polling for the children to listen
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
        _, errors = proc.communicate(timeout=15)
    assert seen == {"0", "1"}, errors
    assert proc.returncode == 0, errors
