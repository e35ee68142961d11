"""The listening side of a server: sockets, accept loop, live connections, graceful stop.

:class:`Server` serves already-bound sockets on one asyncio loop with a factory of
:class:`~squall._http1.HTTP1Protocol`. It knows nothing of handlers or processes; the
``HTTPServer`` facade wires it to a delegate, and the supervisor forks around it.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from typing import Any

from squall._http1 import HTTP1Params, HTTP1Protocol, ServerState
from squall._malloc import tune_malloc
from squall._proxyproto import ProxyProtocolGate
from squall.httputil import HTTPServerConnectionDelegate
from squall.log import gen_log

__all__ = ["Server"]


class Server:
    """Serves HTTP/1.1 on a set of listening sockets, on one event loop.

    With ``proxy_protocol`` each connection first goes through a
    :class:`~squall._proxyproto.ProxyProtocolGate` (the client's address from a PROXY header)."""

    def __init__(
        self,
        delegate: HTTPServerConnectionDelegate,
        params: HTTP1Params,
        ssl_context: ssl.SSLContext | None = None,
        *,
        proxy_protocol: bool = False,
    ) -> None:
        if proxy_protocol and ssl_context is not None:
            raise ValueError("the PROXY protocol in front of TLS is not supported")
        self._proxy_protocol = proxy_protocol
        self._delegate = delegate
        self._params = params
        self._ssl = ssl_context
        self._loop: asyncio.AbstractEventLoop | None = None
        self._state: ServerState | None = None
        self._servers: list[asyncio.AbstractServer] = []
        self._sockets: list[socket.socket] = []
        self._pending: set[asyncio.Future[Any]] = set()
        self._stopped = False

    @property
    def sockets(self) -> list[socket.socket]:
        """The listening sockets handed to this server."""
        return list(self._sockets)

    @property
    def state(self) -> ServerState | None:
        """The live-connection registry (None until the first socket is added)."""
        return self._state

    def _make_protocol(self) -> asyncio.Protocol:
        if self._proxy_protocol:
            return ProxyProtocolGate(self._make_http, self._params.header_timeout)
        return self._make_http()

    def _make_http(self) -> HTTP1Protocol:
        assert self._state is not None  # set before any socket is served
        return HTTP1Protocol(self._delegate, self._params, self._state, tls=self._ssl is not None)

    def add_sockets(self, sockets: list[socket.socket], loop: asyncio.AbstractEventLoop) -> None:
        """Start accepting on ``sockets`` with ``loop`` (now if idle, else on its next turn)."""
        if self._loop is None:
            tune_malloc()  # once per process, before the first request allocates
            self._loop = loop
            self._state = ServerState(loop, self._params.shortest_timeout)
        elif loop is not self._loop:
            raise RuntimeError("A server serves on one event loop; this one already has another")
        self._stopped = False
        running = loop.is_running()
        created: list[asyncio.AbstractServer] = []
        for sock in sockets:
            self._sockets.append(sock)
            if running:
                task = loop.create_task(self._serve(sock))
                self._pending.add(task)
                task.add_done_callback(self._pending.discard)
            else:
                # Nothing is accepted until the loop runs (as in Tornado): a connection queued
                # now must not be served inside listen(), before the code after it has run,
                # nor while the next socket's server is being created.
                server = loop.run_until_complete(self._serve(sock, start_serving=False))
                if server is not None:
                    created.append(server)
        if created:
            loop.call_soon(self._start_serving, created)

    async def _serve(
        self, sock: socket.socket, start_serving: bool = True
    ) -> asyncio.AbstractServer | None:
        if self._stopped:
            return None
        assert self._loop is not None
        server = await self._loop.create_server(
            self._make_protocol,
            sock=sock,
            ssl=self._ssl,
            backlog=sock_backlog(sock),
            start_serving=start_serving,
        )
        if self._stopped:
            server.close()
            return None
        self._servers.append(server)
        return server

    def _start_serving(self, servers: list[asyncio.AbstractServer]) -> None:
        """The loop runs now: start accepting (on the servers not stopped meanwhile)."""
        for server in servers:
            if server in self._servers:
                task = asyncio.ensure_future(server.start_serving())
                self._pending.add(task)
                task.add_done_callback(self._pending.discard)

    def stop(self) -> None:
        """Stop accepting and close the listening sockets; open connections carry on."""
        self._stopped = True
        for task in list(self._pending):
            task.cancel()
        for server in self._servers:
            server.close()
        self._servers.clear()
        for sock in self._sockets:
            if sock.fileno() != -1:
                sock.close()
        self._sockets.clear()

    async def drain(self, timeout: float) -> bool:  # noqa: ASYNC109 - Tornado-style API
        """Graceful stop: stop accepting, close idle connections, let requests in flight finish.

        Connections still open after ``timeout`` seconds are closed. Returns True if every
        connection finished by itself."""
        self.stop()
        state = self._state
        if state is None:
            return True
        state.shutdown_all()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while state.connections and loop.time() < deadline:
            await state.wait_changed(deadline - loop.time())
        clean = not state.connections
        self._close_connections(state)
        return clean

    async def close_all_connections(self) -> None:
        """Close every connection now (idle or not) and wait until they are gone."""
        state = self._state
        if state is None:
            return
        self._close_connections(state)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 5.0
        while state.connections and loop.time() < deadline:
            await state.wait_changed(deadline - loop.time())

    @staticmethod
    def _close_connections(state: ServerState) -> None:
        for conn in list(state.connections):
            transport: Any = getattr(conn, "_transport", None)
            if transport is not None and not transport.is_closing():
                transport.close()
        state.close()


def sock_backlog(sock: socket.socket) -> int:
    """The backlog to pass along when serving an already-listening socket."""
    # The socket is already listening with the backlog it was bound with; asyncio calls
    # listen() again with this value, so keep it generous.
    return socket.SOMAXCONN if hasattr(socket, "SOMAXCONN") else 128


_ = gen_log
