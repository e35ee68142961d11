"""Listening sockets: TCP over IPv4/IPv6, Unix sockets, accept handlers and TLS contexts.

This is a leaf of the private core: it imports only the standard library. ``squall.netutil``
re-exports it under Tornado's names, and ``_server``/``httpserver`` build on it.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import socket
import ssl
import stat
import warnings
from collections.abc import Callable, Mapping
from typing import Any, Protocol

gen_log = logging.getLogger("squall.general")

# Tornado's default, kept for compatibility. The kernel caps it at net.core.somaxconn, so pass a
# larger backlog (socket.SOMAXCONN or more) for servers that take bursts of connections.
_DEFAULT_BACKLOG = 128  # connections
_PORT_ZERO_ATTEMPTS = 5  # tries to find an ephemeral port that is free on every family
ACCEPT_RETRY_DELAY = 1.0  # seconds to stop accepting after running out of fds or memory
_RESOURCE_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
_SSL_OPTION_KEYS = frozenset(
    {"ssl_version", "certfile", "keyfile", "cert_reqs", "ca_certs", "ciphers"}
)

AcceptCallback = Callable[[socket.socket, Any], None]


# ---------------------------------------------------------------- TCP


def bind_sockets(
    port: int,
    address: str | None = None,
    family: int = socket.AF_UNSPEC,
    backlog: int = _DEFAULT_BACKLOG,
    flags: int | None = None,
    reuse_port: bool = False,
) -> list[socket.socket]:
    """Create listening, non-blocking TCP sockets bound to ``port`` on ``address``.

    ``address`` may be an IP or a hostname; a hostname binds every address it resolves to, and
    ``""`` or None binds all interfaces. One socket is made per distinct address, sorted by
    family (IPv4 first). ``family`` AF_INET or AF_INET6 restricts to that family. ``flags`` are
    added to AI_PASSIVE for getaddrinfo. Port 0 binds the same ephemeral port on every family.

    Each socket has SO_REUSEADDR (not on Windows) and, on IPv6, IPV6_V6ONLY. ``reuse_port=True``
    sets SO_REUSEPORT so several processes can bind the same port; ValueError where the platform
    lacks it. Families the system cannot create (EAFNOSUPPORT), and ``::1`` for "localhost" on
    hosts with half-configured IPv6 (EADDRNOTAVAIL), are skipped. If any other address fails,
    the sockets already made are closed and the error is raised.
    """
    if isinstance(port, bool) or not isinstance(port, int):
        raise TypeError(f"port must be an int, got {type(port).__name__} {port!r}")
    if not 0 <= port <= 65535:
        raise ValueError(f"port must be in 0..65535 (0 picks a free port), got {port}")
    if reuse_port and not hasattr(socket, "SO_REUSEPORT"):
        raise ValueError("the platform doesn't support SO_REUSEPORT")
    host = address or None
    if family == socket.AF_UNSPEC and not socket.has_ipv6:
        family = socket.AF_INET
    infos = socket.getaddrinfo(
        host, port, family, socket.SOCK_STREAM, 0, socket.AI_PASSIVE | (flags or 0)
    )
    addresses: dict[tuple[int, tuple[Any, ...]], None] = {}
    for af, _, _, _, raw_sockaddr in infos:
        sockaddr: tuple[Any, ...] = tuple(raw_sockaddr)
        # macOS resolves localhost to the link-local fe80::1%lo0 as well; it is not loopback.
        if host == "localhost" and af == socket.AF_INET6 and sockaddr[3] != 0:
            continue
        addresses[(int(af), sockaddr)] = None
    ordered = sorted(addresses, key=lambda item: item[0])
    # With port 0 the first socket picks the port; a later family may find it taken: retry.
    for _ in range(_PORT_ZERO_ATTEMPTS - 1 if port == 0 else 0):
        try:
            return _bind_all(ordered, port, backlog, reuse_port, host)
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
    return _bind_all(ordered, port, backlog, reuse_port, host)


def _bind_all(
    addresses: list[tuple[int, tuple[Any, ...]]],
    port: int,
    backlog: int,
    reuse_port: bool,
    host: str | None,
) -> list[socket.socket]:
    sockets: list[socket.socket] = []
    try:
        for af, sockaddr in addresses:
            if port == 0 and sockets:
                sockaddr = (sockaddr[0], sockets[0].getsockname()[1], *sockaddr[2:])
            sock = _bind_one(af, sockaddr, backlog, reuse_port, host)
            if sock is not None:
                sockets.append(sock)
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def _bind_one(
    af: int, sockaddr: tuple[Any, ...], backlog: int, reuse_port: bool, host: str | None
) -> socket.socket | None:
    try:
        sock = socket.socket(af, socket.SOCK_STREAM)
    except OSError as exc:
        if exc.errno == errno.EAFNOSUPPORT:
            return None
        raise
    try:
        if os.name != "nt":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if af == socket.AF_INET6:
            # Without it, "::" would also take the IPv4 port that our AF_INET socket binds.
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.setblocking(False)
        try:
            sock.bind(sockaddr)
        except OSError as exc:
            # Docker-style hosts list ::1 for localhost but have no IPv6 loopback address.
            if exc.errno == errno.EADDRNOTAVAIL and host == "localhost" and sockaddr[0] == "::1":
                sock.close()
                return None
            raise
        sock.listen(backlog)
    except BaseException:
        sock.close()
        raise
    return sock


class _OptionSocket(Protocol):
    @property
    def family(self) -> int: ...

    def setsockopt(self, level: int, optname: int, value: int, /) -> None: ...


def set_nodelay(sock: _OptionSocket, on: bool) -> None:
    """Turn TCP_NODELAY on or off for a connected TCP socket (or a transport's socket).

    Does nothing for non-TCP sockets, and ignores errors: a peer that has already reset the
    connection makes setsockopt fail with EINVAL on some platforms.
    """
    if sock.family not in (socket.AF_INET, socket.AF_INET6):
        return
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1 if on else 0)
    except OSError:
        pass


# ---------------------------------------------------------------- Unix sockets


def bind_unix_socket(
    file: str | os.PathLike[str], mode: int = 0o600, backlog: int = _DEFAULT_BACKLOG
) -> socket.socket:
    """Create a listening, non-blocking Unix socket at ``file`` with permissions ``mode``.

    An existing socket file at the path is removed first (a stale one left by a dead server);
    any other kind of file raises ValueError. A name starting with NUL is a Linux abstract
    socket: it has no file, so nothing is removed or chmod-ed.
    """
    path = os.fspath(file)
    abstract = path.startswith("\0")
    if not abstract:
        try:
            st = os.stat(path)
        except FileNotFoundError:
            pass
        else:
            if not stat.S_ISSOCK(st.st_mode):
                raise ValueError(
                    f"File {path!r} exists and is not a socket; remove it or choose another path"
                )
            os.remove(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        sock.bind(path)
        if not abstract:
            os.chmod(path, mode)
        sock.listen(backlog)
    except BaseException:
        sock.close()
        raise
    return sock


# ---------------------------------------------------------------- accepting


class _AcceptHandler:
    """Accept connections on one listening socket whenever it is reported readable.

    ``watch(on_readable)`` and ``unwatch()`` register with the event loop: the asyncio loop's
    add_reader, or an IOLoop's add_handler (so that ``IOLoop.remove_handler(sock)`` works too).
    """

    __slots__ = ("_sock", "_callback", "_loop", "_removed", "_retry", "_watch", "_unwatch")

    def __init__(
        self,
        sock: socket.socket,
        callback: AcceptCallback,
        loop: asyncio.AbstractEventLoop,
        watch: Callable[[Callable[[], None]], object],
        unwatch: Callable[[], object],
    ) -> None:
        self._sock = sock
        self._callback = callback
        self._loop = loop
        self._removed = False
        self._retry: asyncio.TimerHandle | None = None
        self._watch = watch
        self._unwatch = unwatch
        watch(self._on_readable)

    def _on_readable(self) -> None:
        # At most one backlog's worth per event, so one busy socket cannot starve the loop, and
        # sibling processes sharing the socket get a turn.
        for _ in range(_DEFAULT_BACKLOG):
            if self._removed:  # the callback may have removed us
                return
            try:
                conn, address = self._sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except ConnectionAbortedError:  # the peer gave up while queued
                continue
            except OSError as exc:
                if exc.errno not in _RESOURCE_ERRNOS:
                    raise
                gen_log.error(
                    "Cannot accept on %s (%s); pausing accept for %s s",
                    self._sock.getsockname(),
                    exc,
                    ACCEPT_RETRY_DELAY,
                )
                self._unwatch()
                self._retry = self._loop.call_later(ACCEPT_RETRY_DELAY, self._resume)
                return
            self._callback(conn, address)

    def _resume(self) -> None:
        self._retry = None  # remove() cancels this call, so we are still registered
        self._watch(self._on_readable)

    def remove(self) -> None:
        """Stop accepting; the socket stays open. Calling it again does nothing."""
        if self._removed:
            return
        self._removed = True
        if self._retry is not None:
            self._retry.cancel()
        else:
            self._unwatch()


def add_accept_handler(
    sock: socket.socket,
    callback: AcceptCallback,
    *,
    loop: asyncio.AbstractEventLoop | None = None,
) -> Callable[[], None]:
    """Call ``callback(connection, address)`` for each connection accepted on ``sock``.

    Registers a reader on ``loop``: by default the running loop, else the current thread's
    event loop. Each readiness event accepts up to 128 connections; ECONNABORTED is skipped.
    When out of file descriptors or memory it logs an error and pauses accepting for
    ACCEPT_RETRY_DELAY seconds instead of spinning. Returns a function that removes the
    handler; it does not close the socket.
    """
    if loop is None:
        loop = _current_loop()
    fd = sock.fileno()
    event_loop = loop
    return _AcceptHandler(
        sock,
        callback,
        loop,
        lambda on_readable: event_loop.add_reader(fd, on_readable),
        lambda: event_loop.remove_reader(fd),
    ).remove


def accept_handler(
    sock: socket.socket,
    callback: AcceptCallback,
    loop: asyncio.AbstractEventLoop,
    watch: Callable[[Callable[[], None]], object],
    unwatch: Callable[[], object],
) -> Callable[[], None]:
    """Like ``add_accept_handler`` with the registration given: ``watch(on_readable)`` starts
    the callbacks, ``unwatch()`` stops them. Returns the function that removes the handler."""
    return _AcceptHandler(sock, callback, loop, watch, unwatch).remove


def _current_loop() -> asyncio.AbstractEventLoop:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        pass
    with warnings.catch_warnings():
        # Asking the policy for a loop outside a running one is deprecated on 3.12+.
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            return asyncio.get_event_loop_policy().get_event_loop()
        except RuntimeError:
            raise RuntimeError(
                "add_accept_handler() found no event loop: call it from a running loop or "
                "pass loop=..."
            ) from None


# ---------------------------------------------------------------- addresses and TLS


def is_valid_ip(ip: str) -> bool:
    """Return True if ``ip`` is a numeric IPv4 or IPv6 address (no hostname lookup)."""
    if not ip or "\x00" in ip:
        return False
    try:
        infos = socket.getaddrinfo(
            ip, 0, socket.AF_UNSPEC, socket.SOCK_STREAM, 0, socket.AI_NUMERICHOST
        )
    except socket.gaierror as exc:
        if exc.errno == socket.EAI_NONAME:
            return False
        raise
    except UnicodeError:  # not encodable as a host name, so not an address either
        return False
    return bool(infos)


def ssl_options_to_context(
    ssl_options: Mapping[str, Any] | ssl.SSLContext, server_side: bool = True
) -> ssl.SSLContext:
    """Turn Tornado-style ``ssl_options`` into an ``ssl.SSLContext``.

    A context is returned as is. A dict takes the old ``wrap_socket`` arguments: ssl_version,
    certfile, keyfile, cert_reqs, ca_certs, ciphers; other keys raise ValueError. For a server
    ``certfile`` is required (KeyError), and every file named must exist (ValueError). The
    protocol defaults to PROTOCOL_TLS_SERVER, or PROTOCOL_TLS_CLIENT when not ``server_side``.
    """
    if isinstance(ssl_options, ssl.SSLContext):
        return ssl_options
    if not isinstance(ssl_options, Mapping):
        raise TypeError(
            f"ssl_options must be an ssl.SSLContext or a dict, got {type(ssl_options).__name__}"
        )
    unknown = sorted(set(ssl_options) - _SSL_OPTION_KEYS)
    if unknown:
        raise ValueError(
            f"unknown ssl_options keys {unknown}; allowed: {sorted(_SSL_OPTION_KEYS)} "
            "(build an ssl.SSLContext for anything else)"
        )
    if server_side and "certfile" not in ssl_options:
        raise KeyError('missing key "certfile" in ssl_options: a TLS server needs a certificate')
    for key in ("certfile", "keyfile", "ca_certs"):
        path = ssl_options.get(key)
        if path is not None and not os.path.exists(path):
            raise ValueError(f"{key} {os.fspath(path)!r} does not exist")
    default = ssl.PROTOCOL_TLS_SERVER if server_side else ssl.PROTOCOL_TLS_CLIENT
    context = ssl.SSLContext(ssl_options.get("ssl_version", default))
    if "certfile" in ssl_options:
        context.load_cert_chain(ssl_options["certfile"], ssl_options.get("keyfile"))
    if "cert_reqs" in ssl_options:
        if ssl_options["cert_reqs"] == ssl.CERT_NONE:
            context.check_hostname = False  # must go first, or the next line raises
        context.verify_mode = ssl_options["cert_reqs"]
    if "ca_certs" in ssl_options:
        context.load_verify_locations(ssl_options["ca_certs"])
    elif not server_side and context.verify_mode != ssl.CERT_NONE:
        context.load_default_certs()  # (slow: skipped when nothing will be verified)
    if "ciphers" in ssl_options:
        context.set_ciphers(ssl_options["ciphers"])
    context.options |= ssl.OP_NO_COMPRESSION  # CRIME
    return context


def ssl_wrap_socket(
    socket: socket.socket,
    ssl_options: Mapping[str, Any] | ssl.SSLContext,
    server_hostname: str | None = None,
    server_side: bool | None = None,
    **kwargs: Any,
) -> ssl.SSLSocket:
    """Wrap ``socket`` in TLS using ``ssl_options`` (a dict or an ``ssl.SSLContext``).

    ``server_side`` None means: client mode when ``server_hostname`` is given or the context was
    made with PROTOCOL_TLS_CLIENT, server mode otherwise. Other keyword arguments go to
    ``SSLContext.wrap_socket`` (for example ``do_handshake_on_connect=False``).
    """
    if server_side is None:
        client_context = (
            isinstance(ssl_options, ssl.SSLContext)
            and ssl_options.protocol == ssl.PROTOCOL_TLS_CLIENT
        )
        server_side = server_hostname is None and not client_context
    context = ssl_options_to_context(ssl_options, server_side=server_side)
    return context.wrap_socket(
        socket, server_side=server_side, server_hostname=server_hostname, **kwargs
    )
