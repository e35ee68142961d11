"""A non-blocking TCP connection factory (Tornado's ``tornado.tcpclient``).

    stream = await TCPClient().connect("example.com", 443, ssl_options=ssl.create_default_context())

``connect`` resolves the host, races its IPv4 and IPv6 addresses (Happy Eyeballs), optionally
upgrades the connection to TLS, and returns an ``IOStream`` (an ``SSLIOStream`` with TLS).
"""

from __future__ import annotations

import asyncio
import datetime
import functools
import socket
import ssl
from collections.abc import Awaitable, Mapping
from typing import Any, TypeVar, cast

from squall._streams.connector import Connector as _Connector
from squall._streams.connector import format_addr as _format_addr
from squall._streams.resolver import Resolver
from squall._streams.sockets import IOStream
from squall.ioloop import IOLoop

__all__ = ["TCPClient"]

_T = TypeVar("_T")


class TCPClient:
    """Opens TCP connections; ``TCPClient(resolver=None)``.

    A resolver given is used and left open by ``close()``; without one the client makes a
    ``Resolver()`` (the configured default) and closes it in ``close()``.
    """

    def __init__(self, resolver: Resolver | None = None) -> None:
        if resolver is not None:
            self.resolver, self._own_resolver = resolver, False
        else:
            self.resolver, self._own_resolver = Resolver(), True

    def close(self) -> None:
        """Close the resolver if the client made it."""
        if self._own_resolver:
            self.resolver.close()

    async def connect(
        self,
        host: str,
        port: int,
        af: socket.AddressFamily | int = socket.AF_UNSPEC,
        ssl_options: Mapping[str, Any] | ssl.SSLContext | None = None,
        max_buffer_size: int | None = None,
        source_ip: str | None = None,
        source_port: int | None = None,
        timeout: float | datetime.timedelta | None = None,  # noqa: ASYNC109 - Tornado's API
    ) -> IOStream:
        """Connect to ``host:port``; return the connected stream.

        ``af`` restricts the address family. With ``ssl_options`` (an ``ssl.SSLContext`` or a
        dict of ``ssl_wrap_socket`` arguments) the connection is upgraded to TLS, verifying
        ``host``, and an ``SSLIOStream`` is returned. ``source_ip``/``source_port`` bind the
        local end (an address of the wrong family is skipped for another). ``timeout``
        (seconds or a ``timedelta``) bounds the whole connect: resolving, connecting and the
        TLS handshake; past it, TimeoutError says which step timed out. Connection errors
        raise the last attempt's OSError; cancelling closes every attempt.
        """
        io_loop = IOLoop.current()
        deadline = None
        if timeout is not None:
            seconds = (
                timeout.total_seconds() if isinstance(timeout, datetime.timedelta) else timeout
            )
            deadline = io_loop.time() + seconds
        addrinfo = await _until(
            self.resolver.resolve(host, port, af), deadline, f"Timeout while resolving {host}"
        )
        connector = _Connector(
            addrinfo,
            functools.partial(
                self._create_stream,
                max_buffer_size,
                source_ip=source_ip,
                source_port=source_port,
            ),
        )
        stream: IOStream
        _, _, stream = await connector.start(connect_timeout=deadline)
        if ssl_options is not None:
            handshake = stream.start_tls(False, ssl_options=ssl_options, server_hostname=host)
            stream = await _until(
                cast("asyncio.Future[IOStream]", handshake),
                deadline,
                f"Timeout during TLS handshake with {_format_addr((host, port))}",
            )
        return stream

    def _create_stream(
        self,
        max_buffer_size: int | None,
        af: int,
        addr: Any,
        source_ip: str | None = None,
        source_port: int | None = None,
    ) -> tuple[IOStream, asyncio.Future[IOStream]]:
        """One connection attempt: a socket of family ``af`` (bound to the source address if
        one is given) and its ``connect`` future. Raises OSError if the socket cannot be made
        or bound (the connector then tries the next address)."""
        sock = socket.socket(af, socket.SOCK_STREAM)
        try:
            if source_ip is not None or source_port:
                wildcard = "::" if af == socket.AF_INET6 else "0.0.0.0"
                sock.bind((source_ip or wildcard, source_port or 0))
            stream = IOStream(sock, max_buffer_size=max_buffer_size)
        except BaseException:
            sock.close()
            raise
        return stream, stream.connect(addr)


async def _until(awaitable: Awaitable[_T], deadline: float | None, message: str) -> _T:
    """Await ``awaitable`` until ``deadline`` (an ``IOLoop.time()``): TimeoutError(message)
    past it, after cancelling what was awaited."""
    if deadline is None:
        return await awaitable
    remaining = max(deadline - IOLoop.current().time(), 0.0)
    try:
        return await asyncio.wait_for(awaitable, remaining)
    except TimeoutError:
        raise TimeoutError(message) from None
