"""Socket helpers with Tornado's ``tornado.netutil`` names.

Listening sockets (``bind_sockets``, ``bind_unix_socket``), accepting (``add_accept_handler``),
address checks (``is_valid_ip``), TLS (``ssl_options_to_context``, ``ssl_wrap_socket``), and
name resolution: the configurable ``Resolver`` and its implementations ``DefaultLoopResolver``
(the default), ``DefaultExecutorResolver``, ``ThreadedResolver``, ``BlockingResolver``,
``ExecutorResolver`` and ``OverrideResolver``. The implementations live in ``squall._net`` and
``squall._streams.resolver``.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable

from squall import _net
from squall._net import (
    AcceptCallback,
    bind_sockets,
    bind_unix_socket,
    is_valid_ip,
    ssl_options_to_context,
    ssl_wrap_socket,
)
from squall._streams.resolver import (
    BlockingResolver,
    DefaultExecutorResolver,
    DefaultLoopResolver,
    ExecutorResolver,
    OverrideResolver,
    Resolver,
    ThreadedResolver,
    _resolve_addr,
)
from squall.ioloop import IOLoop

__all__ = [
    "BlockingResolver",
    "DefaultExecutorResolver",
    "DefaultLoopResolver",
    "ExecutorResolver",
    "OverrideResolver",
    "Resolver",
    "ThreadedResolver",
    "_resolve_addr",
    "add_accept_handler",
    "bind_sockets",
    "bind_unix_socket",
    "is_valid_ip",
    "ssl_options_to_context",
    "ssl_wrap_socket",
]


def add_accept_handler(
    sock: socket.socket,
    callback: AcceptCallback,
    *,
    loop: asyncio.AbstractEventLoop | None = None,
) -> Callable[[], None]:
    """Call ``callback(connection, address)`` for each connection accepted on ``sock``.

    Returns a function that stops accepting (the socket stays open). Without ``loop`` the
    handler is registered with the current IOLoop (the running loop's, else this thread's), as
    in Tornado, so ``IOLoop.current().remove_handler(sock)`` also removes it; RuntimeError if
    there is no loop at all. With ``loop`` (an asyncio loop) it uses ``loop.add_reader``.
    Each readiness event accepts up to 128 connections; ECONNABORTED is skipped; when out of
    file descriptors or memory it logs an error and pauses accepting for a second.
    """
    if loop is not None:
        return _net.add_accept_handler(sock, callback, loop=loop)
    io_loop = IOLoop.current(instance=False)
    if io_loop is None:
        raise RuntimeError(
            "add_accept_handler() found no event loop: call it from a running loop or pass loop=..."
        )
    return _net.accept_handler(
        sock,
        callback,
        io_loop.asyncio_loop,
        lambda on_readable: io_loop.add_handler(
            sock, lambda fd, events: on_readable(), IOLoop.READ
        ),
        lambda: io_loop.remove_handler(sock),
    )
