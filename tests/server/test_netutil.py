"""Tests for squall.netutil / squall._net over real sockets."""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import select
import socket
import ssl
import stat
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from squall import _net, netutil
from squall.netutil import (
    add_accept_handler,
    bind_sockets,
    bind_unix_socket,
    is_valid_ip,
    ssl_options_to_context,
    ssl_wrap_socket,
)

Track = Callable[[Any], Any]


def _ipv6_loopback_works() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


HAS_IPV6 = _ipv6_loopback_works()
needs_ipv6 = pytest.mark.skipif(not HAS_IPV6, reason="no working IPv6 loopback on this host")
needs_reuse_port = pytest.mark.skipif(
    not hasattr(socket, "SO_REUSEPORT"), reason="platform has no SO_REUSEPORT"
)


@pytest.fixture
def track() -> Iterator[Track]:
    """Register sockets (one or a list) to be closed at teardown; returns what it was given."""
    opened: list[socket.socket] = []

    def add(socks: Any) -> Any:
        opened.extend(socks if isinstance(socks, list) else [socks])
        return socks

    yield add
    for sock in opened:
        sock.close()


def _uvloop_factory() -> asyncio.AbstractEventLoop:
    uvloop = pytest.importorskip("uvloop")
    loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    return loop


@pytest.fixture(params=["asyncio", "uvloop"])
def run(request: pytest.FixtureRequest) -> Callable[[Any], Any]:
    """Run a coroutine to completion on a fresh asyncio or uvloop loop."""
    factory = asyncio.new_event_loop if request.param == "asyncio" else _uvloop_factory

    def runner(coro: Any) -> Any:
        with asyncio.Runner(loop_factory=factory) as r:
            return r.run(asyncio.wait_for(coro, 10))

    return runner


def _assert_listening_socket(sock: socket.socket) -> None:
    assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN) == 1
    assert sock.getblocking() is False
    assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR) != 0
    if sock.family == socket.AF_INET6:
        assert sock.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY) == 1


def _ports(socks: list[socket.socket]) -> set[int]:
    return {s.getsockname()[1] for s in socks}


def _connect(sock: socket.socket) -> socket.socket:
    host, port = sock.getsockname()[:2]
    host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
    return socket.create_connection((host, port), timeout=5)


# ---------------------------------------------------------------- bind_sockets


@pytest.mark.parametrize("address", [None, ""])
def test_bind_sockets_port_zero_on_all_interfaces_gives_same_port_on_every_family(
    track: Track, address: str | None
) -> None:
    socks = track(bind_sockets(0, address))
    expected = {socket.AF_INET, socket.AF_INET6} if HAS_IPV6 else {socket.AF_INET}
    assert {s.family for s in socks} == expected
    assert len(socks) == len(expected)
    assert [s.family for s in socks] == sorted(s.family for s in socks)
    assert {s.getsockname()[0] for s in socks} <= {"0.0.0.0", "::"}
    (port,) = _ports(socks)
    assert port != 0
    for sock in socks:
        _assert_listening_socket(sock)
        _connect(sock).close()


def test_bind_sockets_localhost_binds_every_address_it_resolves_to(track: Track) -> None:
    resolved = {
        info[4][0]
        for info in socket.getaddrinfo("localhost", 0, 0, socket.SOCK_STREAM)
        if info[0] == socket.AF_INET or (HAS_IPV6 and tuple(info[4])[3] == 0)
    }
    socks = track(bind_sockets(0, "localhost"))
    assert {s.getsockname()[0] for s in socks} == resolved
    assert len(_ports(socks)) == 1
    for sock in socks:
        _assert_listening_socket(sock)


def test_bind_sockets_family_inet_restricts_to_ipv4(track: Track) -> None:
    socks = track(bind_sockets(0, None, family=socket.AF_INET))
    assert [(s.family, s.getsockname()[0]) for s in socks] == [(socket.AF_INET, "0.0.0.0")]


@needs_ipv6
def test_bind_sockets_family_inet6_restricts_to_ipv6(track: Track) -> None:
    socks = track(bind_sockets(0, None, family=socket.AF_INET6))
    assert [(s.family, s.getsockname()[0]) for s in socks] == [(socket.AF_INET6, "::")]
    _assert_listening_socket(socks[0])


def test_bind_sockets_explicit_ip_binds_that_address_only(track: Track) -> None:
    (sock,) = track(bind_sockets(0, "127.0.0.1", backlog=5))
    assert sock.getsockname()[0] == "127.0.0.1"
    _connect(sock).close()


def test_bind_sockets_explicit_port_is_used(track: Track) -> None:
    (probe,) = track(bind_sockets(0, "127.0.0.1"))
    port = probe.getsockname()[1]
    probe.close()
    (sock,) = track(bind_sockets(port, "127.0.0.1"))
    assert sock.getsockname()[1] == port


@needs_reuse_port
def test_bind_sockets_reuse_port_lets_two_socket_lists_share_a_port(track: Track) -> None:
    first = track(bind_sockets(0, "127.0.0.1", reuse_port=True))
    port = first[0].getsockname()[1]
    second = track(bind_sockets(port, "127.0.0.1", reuse_port=True))
    assert _ports(first) == _ports(second) == {port}
    assert second[0].getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) != 0


def test_bind_sockets_same_port_twice_without_reuse_port_fails(track: Track) -> None:
    (first,) = track(bind_sockets(0, "127.0.0.1"))
    with pytest.raises(OSError) as info:
        track(bind_sockets(first.getsockname()[1], "127.0.0.1"))
    assert info.value.errno == errno.EADDRINUSE


def test_bind_sockets_reuse_port_without_platform_support_raises(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delattr(socket, "SO_REUSEPORT", raising=False)
    with pytest.raises(ValueError, match="the platform doesn't support SO_REUSEPORT"):
        bind_sockets(0, "127.0.0.1", reuse_port=True)


def _fake_getaddrinfo(
    monkeypatch: pytest.MonkeyPatch, *sockaddrs: tuple[Any, ...]
) -> list[tuple[Any, ...]]:
    calls: list[tuple[Any, ...]] = []

    def fake(*args: Any) -> list[tuple[Any, ...]]:
        calls.append(args)
        return [
            (socket.AF_INET6 if ":" in a[0] else socket.AF_INET, socket.SOCK_STREAM, 6, "", a)
            for a in sockaddrs
        ]

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    return calls


def test_bind_sockets_makes_one_socket_per_distinct_address(
    track: Track, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _fake_getaddrinfo(monkeypatch, ("127.0.0.1", 0), ("127.0.0.1", 0))
    socks = track(bind_sockets(0, "example.test", flags=socket.AI_ADDRCONFIG))
    assert len(socks) == 1
    assert calls == [
        (
            "example.test",
            0,
            socket.AF_UNSPEC,
            socket.SOCK_STREAM,
            0,
            socket.AI_PASSIVE | socket.AI_ADDRCONFIG,
        )
    ]


@needs_ipv6
def test_bind_sockets_localhost_skips_scoped_link_local_aliases(
    track: Track, monkeypatch: pytest.MonkeyPatch
) -> None:
    # macOS answers localhost with fe80::1%lo0 too; binding it would fail. IPv4 comes first.
    _fake_getaddrinfo(monkeypatch, ("::1", 0, 0, 0), ("fe80::1", 0, 0, 1), ("127.0.0.1", 0))
    socks = track(bind_sockets(0, "localhost"))
    assert [s.getsockname()[0] for s in socks] == ["127.0.0.1", "::1"]


@pytest.mark.parametrize("port", [-1, 65536, 100000])
def test_bind_sockets_port_out_of_range_raises_value_error(port: int) -> None:
    with pytest.raises(ValueError, match="0..65535"):
        bind_sockets(port, "127.0.0.1")


@pytest.mark.parametrize("port", ["8001", True, 1.5])
def test_bind_sockets_non_int_port_raises_type_error(port: Any) -> None:
    with pytest.raises(TypeError, match="port must be an int"):
        bind_sockets(port, "127.0.0.1")


@needs_ipv6
def test_bind_sockets_failure_closes_sockets_already_bound(track: Track) -> None:
    # Take the IPv6 side of a port only; binding both families there must fail on IPv6 and
    # must not leave the IPv4 socket behind.
    (v6,) = track(bind_sockets(0, "::"))
    port = v6.getsockname()[1]
    with pytest.raises(OSError) as info:
        track(bind_sockets(port, None))
    assert info.value.errno == errno.EADDRINUSE
    (v4,) = track(bind_sockets(port, "0.0.0.0"))  # fails with EADDRINUSE if one leaked
    assert v4.getsockname()[1] == port


@needs_ipv6
def test_bind_sockets_port_zero_retries_when_second_family_port_is_taken(
    track: Track, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_bind_one = _net._bind_one
    clashes: list[tuple[Any, ...]] = []

    def clash_once(af: int, sockaddr: tuple[Any, ...], *args: Any) -> socket.socket | None:
        if sockaddr[1] != 0 and not clashes:
            clashes.append(sockaddr)
            raise OSError(errno.EADDRINUSE, "Address already in use")
        return real_bind_one(af, sockaddr, *args)

    monkeypatch.setattr(_net, "_bind_one", clash_once)
    socks = track(bind_sockets(0, None))
    assert len(clashes) == 1
    assert len(socks) == 2
    assert len(_ports(socks)) == 1


@needs_ipv6
def test_bind_sockets_port_zero_gives_up_after_repeated_clashes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real_bind_one = _net._bind_one
    made: list[socket.socket] = []

    def always_clash(af: int, sockaddr: tuple[Any, ...], *args: Any) -> socket.socket | None:
        if sockaddr[1] != 0:
            raise OSError(errno.EADDRINUSE, "Address already in use")
        sock = real_bind_one(af, sockaddr, *args)
        assert sock is not None
        made.append(sock)
        return sock

    monkeypatch.setattr(_net, "_bind_one", always_clash)
    with pytest.raises(OSError) as info:
        bind_sockets(0, None)
    assert info.value.errno == errno.EADDRINUSE
    assert len(made) == _net._PORT_ZERO_ATTEMPTS
    assert all(sock.fileno() == -1 for sock in made)  # every attempt closed its socket


# ---------------------------------------------------------------- add_accept_handler


def test_accepted_connection_exchanges_bytes(run: Callable[[Any], Any], track: Track) -> None:
    (listener,) = track(bind_sockets(0, "127.0.0.1"))

    async def main() -> None:
        loop = asyncio.get_running_loop()
        accepted: asyncio.Future[tuple[socket.socket, Any]] = loop.create_future()
        remove = add_accept_handler(listener, lambda c, a: accepted.set_result((track(c), a)))
        reader, writer = await asyncio.open_connection(*listener.getsockname())
        try:
            conn, address = await accepted
            assert address == writer.get_extra_info("sockname")
            conn.setblocking(False)
            writer.write(b"ping")
            assert await loop.sock_recv(conn, 4) == b"ping"
            await loop.sock_sendall(conn, b"pong")
            assert await reader.readexactly(4) == b"pong"
        finally:
            remove()
            writer.close()
            await writer.wait_closed()

    run(main())


def test_ioloop_remove_handler_removes_an_accept_handler_as_in_tornado(
    run: Callable[[Any], Any], track: Track
) -> None:
    from squall.ioloop import IOLoop

    (listener,) = track(bind_sockets(0, "127.0.0.1"))

    async def main() -> None:
        loop = asyncio.get_running_loop()
        add_accept_handler(listener, lambda c, a: None)
        IOLoop.current().remove_handler(listener.fileno())
        # The descriptor is free again: a second handler may register (it would raise if not).
        accepted: asyncio.Future[socket.socket] = loop.create_future()
        remove = add_accept_handler(listener, lambda c, a: accepted.set_result(track(c)))
        try:
            with _connect(listener):
                await accepted
        finally:
            remove()

    run(main())


def test_remove_function_stops_accepting_and_keeps_socket_open(
    run: Callable[[Any], Any], track: Track
) -> None:
    (listener,) = track(bind_sockets(0, "127.0.0.1"))
    seen: list[Any] = []

    async def main() -> None:
        remove = add_accept_handler(listener, lambda c, a: seen.append(track(c)))
        track(_connect(listener))
        while not seen:
            await asyncio.sleep(0.001)
        remove()
        remove()  # a second call is harmless
        track(_connect(listener))
        # The connection is queued: had the handler stayed registered, the loop iterations
        # below would take it.
        assert select.select([listener], [], [], 5)[0]
        for _ in range(5):
            await asyncio.sleep(0)
        conn, _ = listener.accept()
        track(conn)

    run(main())
    assert len(seen) == 1
    assert listener.fileno() != -1


def test_callback_that_removes_the_handler_stops_the_current_batch(
    run: Callable[[Any], Any], track: Track
) -> None:
    (listener,) = track(bind_sockets(0, "127.0.0.1"))
    for _ in range(3):
        track(_connect(listener))
    seen: list[socket.socket] = []

    async def main() -> None:
        removers: list[Callable[[], None]] = []

        def on_connection(conn: socket.socket, address: Any) -> None:
            seen.append(track(conn))
            removers[0]()

        removers.append(add_accept_handler(listener, on_connection))
        while not seen:
            await asyncio.sleep(0.001)
        for _ in range(5):
            await asyncio.sleep(0)

    run(main())
    assert len(seen) == 1
    listener.setblocking(True)
    listener.settimeout(5)
    track([listener.accept()[0], listener.accept()[0]])  # the other two are still queued


def test_accept_handler_takes_at_most_128_connections_per_readiness_event(
    run: Callable[[Any], Any], track: Track
) -> None:
    (listener,) = track(bind_sockets(0, "127.0.0.1", backlog=512))
    clients = [track(_connect(listener)) for _ in range(130)]
    batches: list[int] = []
    seen: list[socket.socket] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        done = loop.create_future()

        def on_connection(conn: socket.socket, address: Any) -> None:
            if not seen:  # runs once the first batch has returned control to the loop
                loop.call_soon(lambda: batches.append(len(seen)))
            seen.append(track(conn))
            if len(seen) == len(clients):
                done.set_result(None)

        remove = add_accept_handler(listener, on_connection)
        await done
        remove()

    run(main())
    assert batches == [128]


class _FlakySocket(socket.socket):
    """A listening socket whose first accept() fails with a chosen error."""

    error: OSError | None = None

    def accept(self) -> tuple[socket.socket, Any]:
        error, self.error = self.error, None
        if error is not None:
            raise error
        return super().accept()


def _flaky_listener(error: OSError) -> _FlakySocket:
    sock = _FlakySocket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    sock.setblocking(False)
    sock.error = error
    return sock


def test_accept_handler_skips_aborted_connections(run: Callable[[Any], Any], track: Track) -> None:
    listener = track(_flaky_listener(ConnectionAbortedError(errno.ECONNABORTED, "aborted")))
    seen: list[Any] = []

    async def main() -> None:
        remove = add_accept_handler(listener, lambda c, a: seen.append(track(c)))
        track(_connect(listener))
        while not seen:
            await asyncio.sleep(0.001)
        remove()

    run(main())
    assert listener.error is None and len(seen) == 1


def test_accept_handler_pauses_when_out_of_file_descriptors(
    run: Callable[[Any], Any],
    track: Track,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(_net, "ACCEPT_RETRY_DELAY", 0.05)
    listener = track(_flaky_listener(OSError(errno.EMFILE, "Too many open files")))
    seen: list[Any] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        remove = add_accept_handler(listener, lambda c, a: seen.append(track(c)))
        track(_connect(listener))
        started = loop.time()
        while not seen:
            await asyncio.sleep(0.001)
        assert loop.time() - started >= 0.04  # accepted only after the pause
        remove()

    with caplog.at_level(logging.ERROR, logger="squall.general"):
        run(main())
    assert len(seen) == 1
    assert [r.getMessage() for r in caplog.records if "pausing accept" in r.getMessage()]


def test_accept_handler_removed_during_pause_does_not_resume(
    track: Track, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(_net, "ACCEPT_RETRY_DELAY", 0.01)
    listener = track(_flaky_listener(OSError(errno.EMFILE, "Too many open files")))
    seen: list[Any] = []

    async def main() -> None:
        remove = add_accept_handler(listener, lambda c, a: seen.append(track(c)))
        track(_connect(listener))
        while listener.error is not None:  # until the failing accept() has happened
            await asyncio.sleep(0.001)
        remove()
        await asyncio.sleep(0.05)

    with caplog.at_level(logging.ERROR, logger="squall.general"):
        asyncio.run(main())
    assert seen == []


def test_add_accept_handler_uses_the_threads_event_loop_when_none_is_running(
    track: Track,
) -> None:
    (listener,) = track(bind_sockets(0, "127.0.0.1"))
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        accepted = loop.create_future()
        remove = add_accept_handler(listener, lambda c, a: accepted.set_result(track(c)))
        track(_connect(listener))
        loop.run_until_complete(asyncio.wait_for(accepted, 5))
        remove()
    finally:
        asyncio.set_event_loop(None)
        loop.close()


def test_add_accept_handler_without_any_loop_raises_runtime_error(track: Track) -> None:
    (listener,) = track(bind_sockets(0, "127.0.0.1"))
    errors: list[BaseException] = []

    def in_thread() -> None:  # a fresh thread has no event loop
        try:
            add_accept_handler(listener, lambda c, a: None)
        except RuntimeError as exc:
            errors.append(exc)

    thread = threading.Thread(target=in_thread)
    thread.start()
    thread.join(5)
    assert len(errors) == 1 and "pass loop=" in str(errors[0])


def test_add_accept_handler_accepts_an_explicit_loop(track: Track) -> None:
    (listener,) = track(bind_sockets(0, "127.0.0.1"))
    loop = asyncio.new_event_loop()
    try:
        accepted = loop.create_future()
        remove = add_accept_handler(listener, lambda c, a: accepted.set_result(track(c)), loop=loop)
        track(_connect(listener))
        loop.run_until_complete(asyncio.wait_for(accepted, 5))
        remove()
    finally:
        loop.close()


# ---------------------------------------------------------------- Unix sockets


def _unix_roundtrip(listener: socket.socket, address: str | bytes, track: Track) -> None:
    client = track(socket.socket(socket.AF_UNIX, socket.SOCK_STREAM))
    client.settimeout(5)
    client.connect(address)
    assert select.select([listener], [], [], 5)[0]
    conn, _ = listener.accept()
    track(conn)
    conn.settimeout(5)
    client.sendall(b"hello")
    assert conn.recv(5) == b"hello"


def test_bind_unix_socket_accepts_a_client(tmp_path: Path, track: Track) -> None:
    path = str(tmp_path / "s.sock")
    listener = track(bind_unix_socket(path))
    assert listener.getblocking() is False
    assert stat.S_ISSOCK(os.stat(path).st_mode)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    _unix_roundtrip(listener, path, track)


def test_bind_unix_socket_applies_mode(tmp_path: Path, track: Track) -> None:
    path = tmp_path / "s.sock"
    track(bind_unix_socket(path, mode=0o660))
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o660


def test_bind_unix_socket_replaces_a_stale_socket_file(tmp_path: Path, track: Track) -> None:
    path = str(tmp_path / "s.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as dead:
        dead.bind(path)  # closing leaves the file behind, like a crashed server
    listener = track(bind_unix_socket(path))  # binding over the old file would be EADDRINUSE
    _unix_roundtrip(listener, path, track)


def test_bind_unix_socket_refuses_a_regular_file(tmp_path: Path) -> None:
    path = tmp_path / "not-a-socket"
    path.write_text("keep me")
    with pytest.raises(ValueError, match="exists and is not a socket"):
        bind_unix_socket(str(path))
    assert path.read_text() == "keep me"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="abstract sockets are Linux-only")
def test_bind_unix_socket_supports_linux_abstract_names(track: Track) -> None:
    name = f"\0squall-test-{uuid.uuid4().hex}"
    listener = track(bind_unix_socket(name))
    assert listener.getsockname() == name.encode()
    _unix_roundtrip(listener, name, track)


# ---------------------------------------------------------------- set_nodelay


def test_set_nodelay_toggles_tcp_nodelay(track: Track) -> None:
    (listener,) = track(bind_sockets(0, "127.0.0.1"))
    client = track(_connect(listener))
    _net.set_nodelay(client, True)
    assert client.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    _net.set_nodelay(client, False)
    assert client.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0


def test_set_nodelay_ignores_unix_and_closed_sockets() -> None:
    left, right = socket.socketpair(socket.AF_UNIX)
    with left, right:
        _net.set_nodelay(left, True)
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    tcp.close()
    _net.set_nodelay(tcp, True)


# ---------------------------------------------------------------- is_valid_ip


@pytest.mark.parametrize(
    "ip", ["127.0.0.1", "4.4.4.4", "::1", "2620:0:1cfe:face:b00c::3", "::ffff:10.0.0.1"]
)
def test_is_valid_ip_accepts_numeric_addresses(ip: str) -> None:
    assert is_valid_ip(ip) is True


@pytest.mark.parametrize(
    "ip",
    ["", "localhost", "www.example.com", "4.4.4.4<", "\x00", "127.0.0.1\x00x", "::1::", "\ud800"],
)
def test_is_valid_ip_rejects_everything_else(ip: str) -> None:
    assert is_valid_ip(ip) is False


# ---------------------------------------------------------------- TLS


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    folder = tmp_path_factory.mktemp("tls")
    files = {name: str(folder / f"{name}.pem") for name in ("combined", "chain", "key", "ca")}
    cert.private_key_and_cert_chain_pem.write_to_path(files["combined"])
    cert.cert_chain_pems[0].write_to_path(files["chain"])
    cert.private_key_pem.write_to_path(files["key"])
    ca.cert_pem.write_to_path(files["ca"])
    return {**files, "trustme_ca": ca}


def _client_context(tls_files: dict[str, Any]) -> ssl.SSLContext:
    context = ssl.create_default_context()
    tls_files["trustme_ca"].configure_trust(context)
    return context


def test_ssl_options_to_context_returns_a_context_unchanged() -> None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    assert ssl_options_to_context(context) is context


def test_ssl_options_to_context_requires_certfile_for_a_server() -> None:
    with pytest.raises(KeyError, match="certfile"):
        ssl_options_to_context({"keyfile": "x.key"})


@pytest.mark.parametrize("key", ["certfile", "keyfile", "ca_certs"])
def test_ssl_options_to_context_rejects_a_missing_file(
    key: str, tmp_path: Path, tls_files: dict[str, Any]
) -> None:
    missing = str(tmp_path / "nope.pem")
    options = {"certfile": tls_files["combined"], key: missing}
    with pytest.raises(ValueError) as info:
        ssl_options_to_context(options)
    assert str(info.value) == f"{key} {missing!r} does not exist"


def test_ssl_options_to_context_rejects_unknown_keys(tls_files: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"\['ca_cert', 'verify'\]"):
        ssl_options_to_context({"certfile": tls_files["combined"], "ca_cert": 1, "verify": 2})


def test_ssl_options_to_context_rejects_other_types() -> None:
    with pytest.raises(TypeError, match="SSLContext or a dict"):
        ssl_options_to_context([("certfile", "x")])  # type: ignore[arg-type]


def test_ssl_options_to_context_builds_a_server_context(tls_files: dict[str, Any]) -> None:
    context = ssl_options_to_context(
        {
            "certfile": tls_files["chain"],
            "keyfile": tls_files["key"],
            "cert_reqs": ssl.CERT_OPTIONAL,
            "ca_certs": tls_files["ca"],
            "ciphers": "ECDHE+AESGCM",
        }
    )
    assert context.protocol == ssl.PROTOCOL_TLS_SERVER
    assert context.verify_mode == ssl.CERT_OPTIONAL
    assert context.options & ssl.OP_NO_COMPRESSION
    assert context.cert_store_stats()["x509_ca"] == 1
    tls12 = [c["name"] for c in context.get_ciphers() if c["protocol"] != "TLSv1.3"]
    assert tls12 and all(n.startswith("ECDHE-") and "-GCM-" in n for n in tls12)


def test_ssl_options_to_context_builds_a_client_context() -> None:
    context = ssl_options_to_context({"cert_reqs": ssl.CERT_NONE}, server_side=False)
    assert context.protocol == ssl.PROTOCOL_TLS_CLIENT
    assert context.verify_mode == ssl.CERT_NONE and context.check_hostname is False


def test_tls_server_context_from_options_serves_a_verified_client(
    run: Callable[[Any], Any], track: Track, tls_files: dict[str, Any]
) -> None:
    (listener,) = track(bind_sockets(0, "127.0.0.1"))
    server_context = ssl_options_to_context({"certfile": tls_files["combined"]})

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(await reader.readexactly(5))
        await writer.drain()
        writer.close()

    async def main() -> None:
        server = await asyncio.start_server(echo, sock=listener, ssl=server_context)
        async with server:
            reader, writer = await asyncio.open_connection(
                "127.0.0.1",
                listener.getsockname()[1],
                ssl=_client_context(tls_files),
                server_hostname="localhost",
            )
            writer.write(b"hello")
            assert await reader.readexactly(5) == b"hello"
            writer.close()
            await writer.wait_closed()

    run(main())


def test_ssl_wrap_socket_wraps_both_ends_of_a_connection(tls_files: dict[str, Any]) -> None:
    left, right = socket.socketpair()
    left.settimeout(5)
    right.settimeout(5)
    received: list[bytes] = []

    def serve() -> None:
        with ssl_wrap_socket(left, {"certfile": tls_files["combined"]}) as server:
            assert server.server_side
            received.append(server.recv(5))

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        with ssl_wrap_socket(
            right, _client_context(tls_files), server_hostname="localhost"
        ) as client:
            assert not client.server_side
            assert client.getpeercert() is not None
            client.sendall(b"hello")
            thread.join(5)
    finally:
        left.close()
        right.close()
    assert received == [b"hello"]


def test_netutil_reexports_the_core_functions() -> None:
    for name in netutil.__all__:
        assert getattr(netutil, name).__doc__
    assert netutil.bind_sockets is _net.bind_sockets
