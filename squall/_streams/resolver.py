"""Name resolution for TCPClient: Tornado's configurable ``Resolver`` and its implementations.

``Resolver()`` makes the configured implementation (``Resolver.configure(...)``), by default
``DefaultLoopResolver``: the event loop's ``getaddrinfo`` (a thread pool), with numeric
addresses answered at once without leaving the loop. Every implementation's
``resolve(host, port, family)`` returns an awaitable list of ``(family, address)`` pairs, the
``address`` being what ``socket.connect`` takes for that family; a failed lookup raises an
``OSError`` (``socket.gaierror``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import socket
from collections.abc import Awaitable, Mapping
from typing import Any

from squall.concurrent import dummy_executor
from squall.ioloop import IOLoop
from squall.util import Configurable

__all__ = [
    "BlockingResolver",
    "DefaultExecutorResolver",
    "DefaultLoopResolver",
    "ExecutorResolver",
    "OverrideResolver",
    "Resolver",
    "ThreadedResolver",
]

Addresses = list[tuple[int, Any]]

# getaddrinfo() with a str host imports encodings.idna on first use; importing it here, on the
# main thread, keeps a resolver thread from waiting on an import lock held by the main thread.
"".encode("idna")


def _resolve_addr(host: str, port: int, family: int = socket.AF_UNSPEC) -> Addresses:
    """Blocking ``getaddrinfo`` for a stream socket, as ``(family, address)`` pairs."""
    infos = socket.getaddrinfo(host, port, family, socket.SOCK_STREAM)
    return [(int(af), address) for af, _, _, _, address in infos]


def _numeric(host: str, port: int, family: int) -> Addresses | None:
    """The answer for a numeric address (no lookup needed), else None."""
    try:
        infos = socket.getaddrinfo(host, port, family, socket.SOCK_STREAM, 0, socket.AI_NUMERICHOST)
    except (socket.gaierror, UnicodeError, ValueError):
        return None
    return [(int(af), address) for af, _, _, _, address in infos]


class Resolver(Configurable):
    """Looks up host names; ``Resolver()`` makes the configured implementation.

    Choose one for the process with ``Resolver.configure("squall.netutil.ThreadedResolver")``
    (a class or its dotted name, plus keyword arguments for it). Implementations:
    ``DefaultLoopResolver`` (the default), ``DefaultExecutorResolver``, ``ThreadedResolver``,
    ``BlockingResolver``, ``ExecutorResolver`` and ``OverrideResolver`` (a mapping in front of
    another resolver). Subclass it and override ``resolve`` for your own.
    """

    @classmethod
    def configurable_base(cls) -> type[Configurable]:
        """``Resolver`` itself."""
        return Resolver

    @classmethod
    def configurable_default(cls) -> type[Configurable]:
        """``DefaultLoopResolver``."""
        return DefaultLoopResolver

    def resolve(self, host: str, port: int, family: int = socket.AF_UNSPEC) -> Awaitable[Addresses]:
        """Resolve ``host``; an awaitable list of ``(family, address)`` pairs.

        ``family`` AF_INET or AF_INET6 restricts the answer to that family. Raises OSError
        (``socket.gaierror``) when the name does not resolve.
        """
        raise NotImplementedError()

    def close(self) -> None:
        """Release what the resolver holds (its executor); it must not be used afterwards."""


class DefaultLoopResolver(Resolver):
    """The event loop's ``getaddrinfo`` (asyncio's and uvloop's both use a thread pool)."""

    async def resolve(self, host: str, port: int, family: int = socket.AF_UNSPEC) -> Addresses:
        """Resolve ``host`` without blocking the loop; numeric addresses need no thread."""
        numeric = _numeric(host, port, family)
        if numeric is not None:
            return numeric
        infos = await asyncio.get_running_loop().getaddrinfo(
            host, port, family=family, type=socket.SOCK_STREAM
        )
        return [(int(af), address) for af, _, _, _, address in infos]


class DefaultExecutorResolver(Resolver):
    """``socket.getaddrinfo`` in the IOLoop's default executor (``IOLoop.run_in_executor``)."""

    async def resolve(self, host: str, port: int, family: int = socket.AF_UNSPEC) -> Addresses:
        """Resolve ``host`` in the IOLoop's default thread pool."""
        return await IOLoop.current().run_in_executor(None, _resolve_addr, host, port, family)


class ExecutorResolver(Resolver):
    """``socket.getaddrinfo`` in a given ``concurrent.futures`` executor.

    ``ExecutorResolver(executor=None, close_executor=True)``: with no executor the lookup runs
    in the calling thread and blocks the loop (that is ``BlockingResolver``); ``close()`` shuts
    the executor down when ``close_executor``. Kept for compatibility (Tornado deprecates it):
    prefer the default resolver.
    """

    executor: concurrent.futures.Executor | None

    def initialize(
        self,
        executor: concurrent.futures.Executor | None = None,
        close_executor: bool = True,
    ) -> None:
        """Use ``executor`` (None: run lookups in the calling thread)."""
        if executor is not None:
            self.executor, self.close_executor = executor, close_executor
        else:
            self.executor, self.close_executor = dummy_executor, False

    def close(self) -> None:
        """Shut the executor down if this resolver owns it."""
        if self.close_executor and self.executor is not None:
            self.executor.shutdown()
        self.executor = None

    def resolve(
        self, host: str, port: int, family: int = socket.AF_UNSPEC
    ) -> asyncio.Future[Addresses]:
        """Resolve ``host`` in the executor; a future of the pairs."""
        if self.executor is None:
            raise RuntimeError("resolve() on a closed resolver")
        return IOLoop.current().run_in_executor(self.executor, _resolve_addr, host, port, family)


class BlockingResolver(ExecutorResolver):
    """``socket.getaddrinfo`` in the calling thread: blocks the loop. Kept for compatibility."""

    def initialize(self) -> None:  # type: ignore[override]  # takes no arguments
        """No executor: lookups run inline."""
        super().initialize()


class ThreadedResolver(ExecutorResolver):
    """``socket.getaddrinfo`` in a thread pool shared by every ThreadedResolver of the process.

    ``ThreadedResolver(num_threads=10)``: the pool is made by the first one (``num_threads``
    of later ones is ignored) and made again in a forked child. Kept for compatibility: the
    default resolver does the same with the loop's own pool.
    """

    _threadpool: concurrent.futures.ThreadPoolExecutor | None = None
    _threadpool_pid: int | None = None

    def initialize(self, num_threads: int = 10) -> None:  # type: ignore[override]
        """Use the shared pool (made now if needed)."""
        threadpool = ThreadedResolver._create_threadpool(num_threads)
        super().initialize(executor=threadpool, close_executor=False)

    @classmethod
    def _create_threadpool(cls, num_threads: int) -> concurrent.futures.ThreadPoolExecutor:
        pid = os.getpid()
        if ThreadedResolver._threadpool_pid != pid:
            ThreadedResolver._threadpool = None  # inherited through fork: its threads are gone
        if ThreadedResolver._threadpool is None:
            ThreadedResolver._threadpool = concurrent.futures.ThreadPoolExecutor(num_threads)
            ThreadedResolver._threadpool_pid = pid
        return ThreadedResolver._threadpool


class OverrideResolver(Resolver):
    """Answers from a mapping first, then asks another resolver.

    ``OverrideResolver(resolver, mapping)``: ``mapping`` keys are a host name, a
    ``(host, port)`` pair, or a ``(host, port, family)`` triple; values are the host name, or
    the ``(host, port)`` pair, to resolve instead. The most specific key wins. For tests, and
    for sending a name to another address without touching DNS.
    """

    def initialize(self, resolver: Resolver, mapping: Mapping[Any, Any]) -> None:
        """Keep ``resolver`` and ``mapping``."""
        self.resolver = resolver
        self.mapping = mapping

    def close(self) -> None:
        """Close the resolver behind."""
        self.resolver.close()

    def resolve(self, host: str, port: int, family: int = socket.AF_UNSPEC) -> Awaitable[Addresses]:
        """Resolve the mapped name (or ``host`` itself) with the resolver behind."""
        if (host, port, family) in self.mapping:
            host, port = self.mapping[(host, port, family)]
        elif (host, port) in self.mapping:
            host, port = self.mapping[(host, port)]
        elif host in self.mapping:
            host = self.mapping[host]
        return self.resolver.resolve(host, port, family)
