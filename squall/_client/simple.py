"""``SimpleAsyncHTTPClient``: the default ``AsyncHTTPClient``, on squall's own streams.

Requests beyond ``max_clients`` wait in ``queue`` (FIFO); one that waits longer than its
``connect_timeout`` (or ``request_timeout``, if smaller) fails with
``HTTPTimeoutError("Timeout in request queue")``. Each running request is an
``_HTTPConnection`` (``exchange.py``) in ``active``. Connections are kept alive between
requests to the same server (``pool.py``), unlike Tornado's client, which opens one per
request.
"""

from __future__ import annotations

import collections
import functools
from collections.abc import Callable
from typing import Any, Final

from squall import version as _version
from squall._client.base import AsyncHTTPClient, set_default_client
from squall._client.exchange import _HTTPConnection
from squall._client.messages import HTTPResponse, HTTPTimeoutError, _RequestProxy
from squall._client.pool import ConnectionPool
from squall._streams.resolver import OverrideResolver, Resolver
from squall.log import gen_log
from squall.tcpclient import TCPClient

__all__ = ["SimpleAsyncHTTPClient"]

#: Seconds an idle keep-alive connection may wait for its next request.
IDLE_TIMEOUT: Final = 30.0


class SimpleAsyncHTTPClient(AsyncHTTPClient):
    """The default HTTP client (Tornado's ``simple_httpclient``, with keep-alive).

    ``initialize`` arguments (pass them to ``AsyncHTTPClient(...)``, ``configure`` or this
    class):

    - ``max_clients`` (10): requests running at once; more wait in ``queue``.
    - ``hostname_mapping``: ``{host: other_host}`` or ``{(host, port): (other_host,
      other_port)}``, consulted before DNS (an ``OverrideResolver``).
    - ``max_buffer_size`` (100 MiB): a connection's read buffer.
    - ``resolver``: a ``squall.netutil.Resolver`` (default: a new ``Resolver()``, closed with
      the client; one given is left open).
    - ``defaults``: default ``HTTPRequest`` options.
    - ``max_header_size`` (64 KiB) and ``max_body_size`` (``max_buffer_size``): the largest
      response head and body accepted; a body larger fails the request (599), with or
      without ``streaming_callback``. The body limit counts decoded bytes for gzip.
    - ``max_idle_connections`` (``max_clients``): keep-alive connections kept for reuse;
      0 opens a new connection for every request, as Tornado does.
    """

    max_clients: int
    queue: collections.deque[tuple[object, _RequestProxy, Callable[[HTTPResponse], None]]]
    active: dict[object, tuple[_RequestProxy, Callable[[HTTPResponse], None]]]
    waiting: dict[object, tuple[_RequestProxy, Callable[[HTTPResponse], None], Any]]
    #: The User-Agent sent when a request names none.
    default_user_agent = f"squall/{_version}"

    def initialize(  # type: ignore[override]  # Tornado's signature
        self,
        max_clients: int = 10,
        hostname_mapping: dict[Any, Any] | None = None,
        max_buffer_size: int = 104857600,
        resolver: Resolver | None = None,
        defaults: dict[str, Any] | None = None,
        max_header_size: int | None = None,
        max_body_size: int | None = None,
        max_idle_connections: int | None = None,
    ) -> None:
        """Set the client up (see the class docstring for the arguments)."""
        super().initialize(defaults=defaults)
        if max_clients < 1:
            raise ValueError(f"max_clients must be at least 1, got {max_clients}")
        self.max_clients = max_clients
        self.queue = collections.deque()
        self.active = {}
        self.waiting = {}
        self.max_buffer_size = max_buffer_size
        self.max_header_size = max_header_size
        self.max_body_size = max_body_size
        if resolver is not None:
            self.resolver, self.own_resolver = resolver, False
        else:
            self.resolver, self.own_resolver = Resolver(), True
        if hostname_mapping is not None:
            self.resolver = OverrideResolver(resolver=self.resolver, mapping=hostname_mapping)
        self.tcp_client = TCPClient(resolver=self.resolver)
        idle = max_clients if max_idle_connections is None else max_idle_connections
        self._pool = ConnectionPool(idle, IDLE_TIMEOUT)

    def close(self) -> None:
        """Close the idle connections and the resolver the client made; requests under way
        finish. Calling it again does nothing."""
        if self._closed:
            return
        super().close()
        self._pool.close()
        if self.own_resolver:
            self.resolver.close()
        self.tcp_client.close()

    def fetch_impl(  # type: ignore[override]  # it receives the request through the proxy
        self, request: _RequestProxy, callback: Callable[[HTTPResponse], None]
    ) -> None:
        """Run ``request`` now, or queue it behind ``max_clients`` running requests."""
        key = object()
        self.queue.append((key, request, callback))
        timeout_handle = None
        if len(self.active) >= self.max_clients:
            timeout = min(
                (t for t in (request.connect_timeout, request.request_timeout) if t), default=0
            )
            if timeout:
                timeout_handle = self.io_loop.asyncio_loop.call_later(
                    timeout, functools.partial(self._on_timeout, key, "in request queue")
                )
        self.waiting[key] = (request, callback, timeout_handle)
        self._process_queue()
        if self.queue:
            gen_log.debug(
                "max_clients limit reached, request queued. %d active, %d queued requests.",
                len(self.active),
                len(self.queue),
            )

    def _process_queue(self) -> None:
        while self.queue and len(self.active) < self.max_clients:
            key, request, callback = self.queue.popleft()
            if key not in self.waiting:
                continue
            self._remove_timeout(key)
            self.active[key] = (request, callback)
            release_callback = functools.partial(self._release_fetch, key)
            self._handle_request(request, release_callback, callback)

    def _connection_class(self) -> type[_HTTPConnection]:
        """The class that runs one request (a subclass may return its own)."""
        return _HTTPConnection

    def _handle_request(
        self,
        request: _RequestProxy,
        release_callback: Callable[[], None],
        final_callback: Callable[[HTTPResponse], None],
    ) -> None:
        self._connection_class()(
            self,
            request,
            release_callback,
            final_callback,
            self.max_buffer_size,
            self.tcp_client,
            self.max_header_size,
            self.max_body_size,
        )

    def _release_fetch(self, key: object) -> None:
        del self.active[key]
        self._process_queue()

    def _remove_timeout(self, key: object) -> None:
        if key in self.waiting:
            _, _, timeout_handle = self.waiting.pop(key)
            if timeout_handle is not None:
                timeout_handle.cancel()

    def _on_timeout(self, key: object, info: str | None = None) -> None:
        """A queued request waited too long: it fails with HTTPTimeoutError."""
        request, callback, _ = self.waiting.pop(key)
        self.queue.remove((key, request, callback))
        message = f"Timeout {info}" if info else "Timeout"
        response = HTTPResponse(
            request,
            599,
            error=HTTPTimeoutError(message),
            request_time=self.io_loop.time() - request.start_time,
            start_time=request.start_time,
        )
        self.io_loop.add_callback(callback, response)


# The default implementation of AsyncHTTPClient() (base.py cannot import this module).
set_default_client(SimpleAsyncHTTPClient)
