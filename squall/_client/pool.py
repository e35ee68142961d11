"""The idle keep-alive connections of one HTTP client.

After a response that leaves its connection reusable (HTTP/1.1 without ``Connection: close``,
a delimited body, the request sent whole), the stream waits here for the next request to the
same destination: same scheme, host, port, address family, local address and TLS settings.
A stream the server closes while idle leaves at once (the stream notices: an idle stream
watches its socket); one idle longer than ``idle_timeout``, or holding bytes nobody asked
for, is closed instead of reused. At most ``max_idle`` streams wait, the oldest going first.
Once the pool is closed (its client was), a stream handed back by a request that was still
under way is closed, never kept.
"""

from __future__ import annotations

import functools
from collections.abc import Hashable
from typing import Any, NamedTuple

from squall._streams.base import BaseIOStream

__all__ = ["ConnectionPool"]


class _Idle(NamedTuple):
    stream: BaseIOStream
    since: float
    # The request's TLS settings object: kept alive, so the id() in the key stays its own.
    ssl_options: Any


class ConnectionPool:
    """Idle streams by destination key (see the module docstring)."""

    def __init__(self, max_idle: int, idle_timeout: float) -> None:
        self.max_idle = max_idle
        self.idle_timeout = idle_timeout
        self._idle: dict[Hashable, list[_Idle]] = {}
        self._count = 0
        self._closed = False

    def __len__(self) -> int:
        return self._count

    def take(self, key: Hashable, now: float) -> tuple[BaseIOStream, float] | None:
        """A reusable idle stream for ``key`` (the most recently used) and how many seconds
        it waited idle, or None."""
        entries = self._idle.get(key)
        while entries:
            entry = entries.pop()
            self._count -= 1
            stream = entry.stream
            stream.set_close_callback(None)
            if stream.closed() or now - entry.since > self.idle_timeout or stream._read_buffer:
                stream.close()
                continue
            if not entries:
                del self._idle[key]
            return stream, now - entry.since
        self._idle.pop(key, None)
        return None

    def give(self, key: Hashable, stream: BaseIOStream, ssl_options: Any, now: float) -> None:
        """Keep ``stream`` for the next request to ``key`` (or close it: pool full, closed)."""
        if stream.closed():
            return
        if self.max_idle <= 0 or self._closed:
            stream.close()
            return
        if self._count >= self.max_idle:
            self._evict_oldest()
        self._idle.setdefault(key, []).append(_Idle(stream, now, ssl_options))
        self._count += 1
        stream.set_close_callback(functools.partial(self._forget, key, stream))

    def _evict_oldest(self) -> None:
        oldest_key, oldest = None, None
        for key, entries in self._idle.items():
            if entries and (oldest is None or entries[0].since < oldest.since):
                oldest_key, oldest = key, entries[0]
        if oldest is not None:
            self._remove(oldest_key, oldest.stream)
            oldest.stream.set_close_callback(None)
            oldest.stream.close()

    def _forget(self, key: Hashable, stream: BaseIOStream) -> None:
        """The server closed an idle stream: drop it."""
        self._remove(key, stream)

    def _remove(self, key: Hashable, stream: BaseIOStream) -> None:
        entries = self._idle.get(key)
        if not entries:
            return
        for index, entry in enumerate(entries):
            if entry.stream is stream:
                del entries[index]
                self._count -= 1
                break
        if not entries:
            del self._idle[key]

    def close(self) -> None:
        """Close every idle stream, and any stream given back from now on."""
        self._closed = True
        idle, self._idle, self._count = self._idle, {}, 0
        for entries in idle.values():
            for entry in entries:
                entry.stream.set_close_callback(None)
                entry.stream.close()
