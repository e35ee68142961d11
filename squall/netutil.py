"""Socket helpers with Tornado's ``tornado.netutil`` names.

The implementations live in ``squall._net``; this module is the public, Tornado-compatible
surface: ``bind_sockets``, ``bind_unix_socket``, ``add_accept_handler``, ``is_valid_ip``,
``ssl_options_to_context`` and ``ssl_wrap_socket``.
"""

from __future__ import annotations

import socket as _socket
import ssl
from collections.abc import Mapping
from typing import Any

from squall._net import (
    add_accept_handler,
    bind_sockets,
    bind_unix_socket,
    is_valid_ip,
    ssl_options_to_context,
)

__all__ = [
    "add_accept_handler",
    "bind_sockets",
    "bind_unix_socket",
    "is_valid_ip",
    "ssl_options_to_context",
    "ssl_wrap_socket",
]


def ssl_wrap_socket(
    socket: _socket.socket,
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
