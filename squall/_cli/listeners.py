"""Where ``squall serve`` listens: TCP, a unix socket, inherited descriptors.

- TCP on ``--host``/``--port`` (all the addresses a host name resolves to);
- ``--unix-socket PATH`` with ``--unix-socket-mode`` (default 0660) and
  ``--unix-socket-group``, so that a proxy running as another user can connect;
- ``--reuse-port``: bound, never listening placeholders that reserve the port while each
  worker listens on its own ``SO_REUSEPORT`` socket;
- ``--fd N``, or systemd socket activation: ``LISTEN_FDS`` descriptors from 3 on, when
  ``LISTEN_PID`` is this process (the variables are then removed, so that nothing forked
  later mistakes them for its own).
"""

from __future__ import annotations

import os
import socket
import stat

from squall.netutil import bind_sockets, bind_unix_socket

__all__ = ["SD_LISTEN_FDS_START", "describe", "inherited", "placeholders", "systemd_sockets"]

SD_LISTEN_FDS_START = 3


def describe(sock: socket.socket) -> str:
    """``http://127.0.0.1:8000``, ``http://[::1]:8000`` or ``unix:/run/app.sock``."""
    if sock.family == socket.AF_UNIX:
        return f"unix:{sock.getsockname()}"
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def bind_tcp(host: str, port: int, backlog: int) -> list[socket.socket]:
    """Listening sockets on every address of ``host``."""
    return bind_sockets(port, host, backlog=backlog)


def bind_unix(path: str, mode: int, group: int | None, backlog: int) -> socket.socket:
    """A listening unix socket at ``path`` with ``mode`` and, when given, ``group``."""
    sock = bind_unix_socket(path, mode=mode, backlog=backlog)
    if group is not None and not path.startswith("\0"):
        try:
            os.chown(path, -1, group)
        except OSError:
            sock.close()
            raise
    return sock


def placeholders(host: str, port: int) -> list[socket.socket]:
    """Bound, never listening SO_REUSEPORT sockets: they reserve the port (and pick it, for
    port 0) while each worker listens on its own socket."""
    socks: list[socket.socket] = []
    try:
        for family, kind, proto, _, address in socket.getaddrinfo(
            host or None, port, socket.AF_UNSPEC, socket.SOCK_STREAM, 0, socket.AI_PASSIVE
        ):
            sock = socket.socket(family, kind, proto)
            socks.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind((address[0], port, *address[2:]))
            port = sock.getsockname()[1]
    except OSError:
        for sock in socks:
            sock.close()
        raise
    return socks


def inherited(fd: int) -> socket.socket:
    """The listening stream socket on descriptor ``fd``.

    Raises ValueError saying what is wrong: not open, not a socket, not a stream socket, not
    listening."""
    try:
        mode = os.fstat(fd).st_mode
    except OSError:
        raise ValueError(f"file descriptor {fd} is not open") from None
    if not stat.S_ISSOCK(mode):
        raise ValueError(f"file descriptor {fd} is not a socket")
    sock = socket.socket(fileno=fd)
    if sock.type != socket.SOCK_STREAM:
        sock.detach()
        raise ValueError(f"file descriptor {fd} is not a stream (TCP or unix) socket")
    if not sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
        sock.detach()
        raise ValueError(f"the socket on file descriptor {fd} is not listening")
    sock.setblocking(False)
    return sock


def systemd_sockets() -> list[socket.socket] | None:
    """The sockets systemd passed (socket activation), or None when there are none for us.

    Raises ValueError for malformed ``LISTEN_FDS``/``LISTEN_PID`` values or descriptors that
    are not listening sockets."""
    count_text = os.environ.get("LISTEN_FDS")
    pid_text = os.environ.get("LISTEN_PID")
    if not count_text:
        return None
    if pid_text and pid_text.strip() != str(os.getpid()):
        return None  # meant for another process (our parent, say)
    try:
        count = int(count_text)
    except ValueError:
        raise ValueError(f"LISTEN_FDS={count_text!r} is not a number") from None
    for name in ("LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"):
        os.environ.pop(name, None)
    return [inherited(SD_LISTEN_FDS_START + i) for i in range(count)]
