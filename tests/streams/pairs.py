"""Connected stream pairs over real loopback sockets, for the stream tests."""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from squall import netutil
from squall.iostream import IOStream, SSLIOStream
from squall.testing import bind_unused_port


@asynccontextmanager
async def tcp_pair(**kwargs: Any) -> AsyncIterator[tuple[IOStream, IOStream]]:
    """A connected (server side, client side) pair of IOStreams over loopback TCP."""
    listener, port = bind_unused_port()
    accepted: asyncio.Future[IOStream] = asyncio.get_running_loop().create_future()

    def on_connection(connection: socket.socket, address: Any) -> None:
        if not accepted.done():
            accepted.set_result(IOStream(connection, **kwargs))

    remove = netutil.add_accept_handler(listener, on_connection)
    client = IOStream(socket.socket(), **kwargs)
    try:
        await client.connect(("127.0.0.1", port))
        server = await accepted
    finally:
        remove()
        listener.close()
    try:
        yield server, client
    finally:
        server.close()
        client.close()


@asynccontextmanager
async def tls_pair(
    server_context: ssl.SSLContext, client_context: ssl.SSLContext, **kwargs: Any
) -> AsyncIterator[tuple[SSLIOStream, SSLIOStream]]:
    """A connected (server side, client side) pair of SSLIOStreams, handshake done."""
    listener, port = bind_unused_port()
    accepted: asyncio.Future[SSLIOStream] = asyncio.get_running_loop().create_future()

    def on_connection(connection: socket.socket, address: Any) -> None:
        wrapped = server_context.wrap_socket(
            connection, server_side=True, do_handshake_on_connect=False
        )
        accepted.set_result(SSLIOStream(wrapped, **kwargs))

    remove = netutil.add_accept_handler(listener, on_connection)
    client = SSLIOStream(socket.socket(), ssl_options=client_context, **kwargs)
    try:
        await client.connect(("127.0.0.1", port), server_hostname="localhost")
        server = await accepted
        await server.wait_for_handshake()
    finally:
        remove()
        listener.close()
    try:
        yield server, client
    finally:
        server.close()
        client.close()
