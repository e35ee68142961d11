"""A worker's scoreboard: the request it started last, readable by the master at any time.

A blocked event loop sends no heartbeat, so it cannot say what blocks it. Before forking a
worker the master maps a small shared page (anonymous ``MAP_SHARED`` memory); the worker writes
into it, without a system call, the label of each request it starts (``"GET /report"``), the
wall-clock time it started and the number in flight, and the number in flight again when one
ends. When the watchdog fires, the master reads the page and names the request in its log line.
With several requests in flight the newest is named (a handler that blocks at once, the usual
case, is the newest); the count says how many there were.

Layout: ``<IHxxd`` (in flight, label length, start time), then the label's UTF-8 bytes.
Standard library only.
"""

from __future__ import annotations

import mmap
import struct
import time
from dataclasses import dataclass

__all__ = ["Running", "Scoreboard"]

SIZE = 256
_HEAD = struct.Struct("<IHxxd")
_MAX_LABEL = SIZE - _HEAD.size


@dataclass(frozen=True, slots=True)
class Running:
    """What the scoreboard says: the newest request's label, its age, requests in flight."""

    label: str
    seconds: float
    inflight: int

    def describe(self) -> str:
        """``GET /block?s=5 running for 3.2 s (1 request in flight)``."""
        plural = "" if self.inflight == 1 else "s"
        return (
            f"{self.label} running for {self.seconds:.1f} s "
            f"({self.inflight} request{plural} in flight)"
        )


class Scoreboard:
    """One worker's shared page (see the module docstring)."""

    __slots__ = ("_map",)

    def __init__(self) -> None:
        self._map = mmap.mmap(-1, SIZE)

    def started(self, label: str, inflight: int) -> None:
        """Record a request that just started (``inflight`` includes it)."""
        data = label.encode("utf-8", "replace")[:_MAX_LABEL]
        page = self._map
        page[_HEAD.size : _HEAD.size + len(data)] = data
        _HEAD.pack_into(page, 0, inflight, len(data), time.time())

    def finished(self, inflight: int) -> None:
        """Record a request's end (``inflight``: how many are left)."""
        struct.pack_into("<I", self._map, 0, inflight)

    def running(self) -> Running | None:
        """The newest request if any is in flight, else None."""
        if self._map.closed:
            return None
        inflight, length, started = _HEAD.unpack_from(self._map, 0)
        if not inflight or not length:
            return None
        label = self._map[_HEAD.size : _HEAD.size + min(length, _MAX_LABEL)]
        seconds = max(0.0, time.time() - started)
        return Running(label.decode("utf-8", "replace"), seconds, inflight)

    def close(self) -> None:
        """Unmap the page (idempotent)."""
        if not self._map.closed:
            self._map.close()
