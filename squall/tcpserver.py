"""A non-blocking, single-threaded TCP server (Tornado's ``tornado.tcpserver``).

Subclass ``TCPServer`` and override ``handle_stream``::

    class EchoServer(TCPServer):
        async def handle_stream(self, stream, address):
            while True:
                try:
                    line = await stream.read_until(b"\\n")
                except StreamClosedError:
                    break
                await stream.write(line)

    server = EchoServer()
    server.listen(8888)
    IOLoop.current().start()

Three ways to start, as with ``HTTPServer``: ``listen(port)`` (one process); ``bind(port)``
then ``start(n)`` (fork ``n`` processes, Tornado's semantics, see ``squall.process``); or
``bind_sockets`` + ``fork_processes`` + ``add_sockets`` for full control.
"""

from __future__ import annotations

import asyncio
import errno
import socket
import ssl
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from squall import gen
from squall._net import accept_handler
from squall._streams.sockets import IOStream, SSLIOStream
from squall.ioloop import IOLoop
from squall.log import app_log, gen_log
from squall.netutil import bind_sockets, ssl_options_to_context

__all__ = ["TCPServer"]

_DEFAULT_BACKLOG = 128
# accept() handed us a connection the peer has already abandoned: nothing to serve.
_GONE_ERRNOS = frozenset({errno.ECONNABORTED, errno.EINVAL, errno.ENOTCONN, errno.ECONNRESET})


class TCPServer:
    """Accepts TCP connections and hands each to ``handle_stream(stream, address)``.

    ``ssl_options`` (an ``ssl.SSLContext``, or a dict of ``ssl_wrap_socket`` arguments with a
    ``certfile``; checked here) makes every stream an ``SSLIOStream`` whose handshake runs in
    the background: reads and writes wait for it, ``stream.wait_for_handshake()`` tells when it
    is done. ``max_buffer_size`` and ``read_chunk_size`` are passed to each stream.
    """

    def __init__(
        self,
        ssl_options: Mapping[str, Any] | ssl.SSLContext | None = None,
        max_buffer_size: int | None = None,
        read_chunk_size: int | None = None,
    ) -> None:
        self.ssl_options = ssl_options
        self._ssl_context = (
            ssl_options_to_context(ssl_options, server_side=True)
            if ssl_options is not None
            else None
        )
        self.max_buffer_size = max_buffer_size
        self.read_chunk_size = read_chunk_size
        self._sockets: dict[int, socket.socket] = {}  # fd -> listening socket
        self._handlers: dict[int, Callable[[], None]] = {}  # fd -> removes its accept handler
        self._pending_sockets: list[socket.socket] = []
        self._started = False
        self._stopped = False
        self._tasks: set[asyncio.Future[Any]] = set()  # handle_stream coroutines still running

    def listen(
        self,
        port: int,
        address: str | None = None,
        family: socket.AddressFamily = socket.AF_UNSPEC,
        backlog: int = _DEFAULT_BACKLOG,
        flags: int | None = None,
        reuse_port: bool = False,
    ) -> None:
        """Bind ``port`` on ``address`` (None or "": every interface) and start accepting.

        Single process; call ``IOLoop.current().start()`` (or run the asyncio loop) afterwards.
        The arguments are ``bind_sockets``'s."""
        self.add_sockets(bind_sockets(port, address, family, backlog, flags, reuse_port))

    def add_sockets(self, sockets: list[socket.socket]) -> None:
        """Accept connections on already-listening ``sockets`` (from ``bind_sockets``).

        Uses the current IOLoop (creating one if needed): call it in the process, and on the
        loop, that will serve."""
        io_loop = IOLoop.current()
        for sock in sockets:
            fd = sock.fileno()
            self._sockets[fd] = sock
            self._handlers[fd] = accept_handler(
                sock,
                self._handle_connection,
                io_loop.asyncio_loop,
                lambda on_readable, sock=sock: io_loop.add_handler(  # type: ignore[misc]
                    sock, lambda fd, events: on_readable(), IOLoop.READ
                ),
                lambda sock=sock: io_loop.remove_handler(sock),  # type: ignore[misc]
            )

    def add_socket(self, socket: socket.socket) -> None:
        """Accept connections on one already-listening socket."""
        self.add_sockets([socket])

    def bind(
        self,
        port: int,
        address: str | None = None,
        family: socket.AddressFamily = socket.AF_UNSPEC,
        backlog: int = _DEFAULT_BACKLOG,
        flags: int | None = None,
        reuse_port: bool = False,
    ) -> None:
        """Bind ``port`` on ``address``; accepting starts with :meth:`start`.

        May be called several times before ``start`` (several ports or interfaces); after it,
        the new sockets are served at once."""
        sockets = bind_sockets(port, address, family, backlog, flags, reuse_port)
        if self._started:
            self.add_sockets(sockets)
        else:
            self._pending_sockets.extend(sockets)

    def start(self, num_processes: int | None = 1, max_restarts: int | None = None) -> None:
        """Start accepting on the sockets given to :meth:`bind`.

        ``num_processes=1`` (the default) serves in this process. Any other value forks first
        (``None`` or ``<= 0``: one child per usable CPU) and each child serves on its own, fresh
        event loop; the parent supervises and never returns (see
        :func:`squall.process.fork_processes`). No event loop may exist before forking. On
        SIGTERM or SIGINT a child stops its loop at once (open connections are cut); for a
        graceful stop, register a drain with :func:`squall.process.register_drain`."""
        if self._started:
            raise RuntimeError("TCPServer.start() called twice")
        if num_processes != 1:
            from squall import process  # the process layer only when forking

            process.fork_processes(num_processes, max_restarts)
        self._started = True
        sockets, self._pending_sockets = self._pending_sockets, []
        self.add_sockets(sockets)

    def stop(self) -> None:
        """Stop accepting and close the listening sockets; safe to call twice.

        Connections already handed to ``handle_stream`` are not touched."""
        if self._stopped:
            return
        self._stopped = True
        for fd, sock in self._sockets.items():
            self._handlers.pop(fd)()
            sock.close()
        self._sockets.clear()
        for sock in self._pending_sockets:
            sock.close()
        self._pending_sockets.clear()

    def handle_stream(self, stream: IOStream, address: Any) -> Awaitable[None] | None:
        """Serve one connection: override this.

        ``address`` is the peer's address from ``accept()``. May be a coroutine (or return an
        awaitable); an exception it raises, or its awaitable ends with, is logged on
        ``squall.application``. With ``ssl_options`` the TLS handshake may still be running:
        ``await stream.wait_for_handshake()`` before looking at the peer's certificate."""
        raise NotImplementedError()

    def _handle_connection(self, connection: socket.socket, address: Any) -> None:
        stream: IOStream
        try:
            if self._ssl_context is not None:
                connection = self._ssl_context.wrap_socket(
                    connection, server_side=True, do_handshake_on_connect=False
                )
                stream = SSLIOStream(
                    connection,
                    max_buffer_size=self.max_buffer_size,
                    read_chunk_size=self.read_chunk_size,
                )
            else:
                stream = IOStream(
                    connection,
                    max_buffer_size=self.max_buffer_size,
                    read_chunk_size=self.read_chunk_size,
                )
        except OSError as exc:  # ssl.SSLError included
            connection.close()
            if exc.errno not in _GONE_ERRNOS and not isinstance(exc, ssl.SSLEOFError):
                gen_log.warning("Cannot serve a connection from %s: %s", address, exc)
            return
        try:
            result = self.handle_stream(stream, address)
        except Exception:
            app_log.error("Exception in callback %r", self.handle_stream, exc_info=True)
            stream.close()
            return
        if result is not None:
            future = gen.convert_yielded(result)
            self._tasks.add(future)
            future.add_done_callback(self._handled)

    def _handled(self, future: asyncio.Future[Any]) -> None:
        self._tasks.discard(future)
        if not future.cancelled() and (exc := future.exception()) is not None:
            app_log.error("Exception in callback %r", self.handle_stream, exc_info=exc)
