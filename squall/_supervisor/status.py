"""What the master shows on its metrics bind besides ``/metrics``: health and a live page.

- ``/livez``: 200 while the master runs its loop (it answers: it is alive).
- ``/readyz``: 200 when at least one worker is READY and not draining and the master is not
  shutting down; else 503. Point load balancers and Kubernetes readiness probes here.
- ``/`` (``/status``): a page that shows the workers (pid, generation, uptime, requests, req/s,
  in flight, loop lag, heartbeat age, last-request age, restarts and why) and recent events,
  refreshed every second from ``/status.json`` by ``/status.js``. It is served with a strict
  Content-Security-Policy (no inline code, nothing from elsewhere: its script and style come
  from this listener) and ``X-Frame-Options: DENY``.

:class:`EventLog` keeps the master's own log lines (restarts, watchdog kills, reloads ...) for
the page. Standard library only; no asyncio (the master imports this module).
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from squall._supervisor.metrics import STATUS_CLASSES, MasterMetrics
from squall._supervisor.slots import Child, Slot

__all__ = [
    "CSP",
    "EventLog",
    "Route",
    "Snapshot",
    "observe_rate",
    "routes",
]

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
MAX_EVENTS = 100
RATE_WINDOW = 0.9  # seconds between two rate samples, at least
_ASSETS = Path(__file__).with_name("status_page")
_SECURITY = (
    f"Content-Security-Policy: {CSP}\r\n"
    "X-Content-Type-Options: nosniff\r\nX-Frame-Options: DENY\r\n"
    "Referrer-Policy: no-referrer\r\nCache-Control: no-store\r\n"
).encode()

#: A route's answer: (status, content type, body, extra header lines).
Answer = tuple[int, str, bytes, bytes]
Route = Callable[[], Answer]


class EventLog(logging.Handler):
    """Keeps the last ``MAX_EVENTS`` INFO+ lines this process (the master) logged."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.pid = os.getpid()
        self.events: deque[dict[str, Any]] = deque(maxlen=MAX_EVENTS)

    def emit(self, record: logging.LogRecord) -> None:
        """Keep the record's first line (the master's own records only)."""
        if record.process != self.pid:
            return
        try:
            message = record.getMessage().split("\n", 1)[0][:400]
        except Exception:  # a malformed record: the log itself reports it
            return
        stamp = datetime.fromtimestamp(record.created).astimezone()
        self.events.append(
            {
                "time": stamp.isoformat(timespec="seconds"),
                "level": record.levelname,
                "message": message,
            }
        )


def observe_rate(child: Child, now: float) -> None:
    """Update ``child.rate`` (requests/s, smoothed) from its served count at a heartbeat."""
    mark = child.rate_mark
    served = child.stats.served
    if mark is None:
        child.rate_mark = (now, served)
        return
    elapsed = now - mark[0]
    if elapsed < RATE_WINDOW:
        return
    sample = max(0, served - mark[1]) / elapsed
    child.rate = sample if child.rate == 0.0 else 0.5 * child.rate + 0.5 * sample
    child.rate_mark = (now, served)


@dataclass
class Snapshot:
    """What the page shows, gathered by the master when asked."""

    description: str
    master_pid: int
    started: float  # the master's monotonic start
    state: str
    generation: int
    slots: Iterable[Slot]
    children: Iterable[Child]
    metrics: MasterMetrics
    events: Iterable[dict[str, Any]]

    def to_json(self, now: float) -> dict[str, Any]:
        """The JSON document of ``/status.json``."""
        slots = {slot.index: slot for slot in self.slots}
        workers: list[dict[str, Any]] = []
        rate = 0.0
        served = self.metrics.retired_served
        statuses = list(self.metrics.retired_statuses)
        for child in sorted(self.children, key=lambda c: (c.slot, c.started)):
            stats = child.stats
            served += stats.served
            statuses = [a + b for a, b in zip(statuses, stats.statuses, strict=True)]
            slot = slots.get(child.slot)
            state = "draining" if child.draining else "ready" if child.ready_at else "booting"
            rate += child.rate
            workers.append(
                {
                    "slot": child.slot,
                    "pid": child.pid,
                    "generation": child.generation,
                    "state": state,
                    "uptime": round(now - child.started, 1),
                    "requests": stats.served,
                    "rate": round(child.rate, 1),
                    "inflight": stats.inflight,
                    "lag": round(stats.lag, 4),
                    "heartbeat_age": round(now - child.last_beat, 2),
                    "last_request_age": _last_request_age(child, now),
                    "restarts": slot.restarts if slot is not None else 0,
                    "restart_cause": slot.last_cause if slot is not None else "",
                }
            )
        return {
            "description": self.description,
            "master": {
                "pid": self.master_pid,
                "uptime": round(now - self.started, 1),
                "state": self.state,
                "generation": self.generation,
                "ready": sum(1 for w in workers if w["state"] == "ready"),
            },
            "totals": {
                "requests": served,
                "rate": round(rate, 1),
                "statuses": dict(zip(STATUS_CLASSES, statuses, strict=True)),
                "restarts": dict(self.metrics.restarts),
                "reload_failures": self.metrics.reload_failures,
            },
            "workers": workers,
            "events": list(self.events)[::-1],
        }


def _last_request_age(child: Child, now: float) -> float | None:
    idle = child.stats.idle
    if idle < 0 or not math.isfinite(idle):
        return None
    return round(idle + (now - child.last_beat), 1)


def _asset(name: str) -> bytes:
    return (_ASSETS / name).read_bytes()


def routes(
    snapshot: Callable[[], Snapshot], ready: Callable[[], int], alive: Callable[[], bool]
) -> dict[str, Route]:
    """The routes of the metrics bind besides ``/metrics``.

    ``ready()`` counts the workers serving (0 while shutting down); ``alive()`` is False once
    the master stops."""

    def livez() -> Answer:
        if alive():
            return 200, "text/plain; charset=utf-8", b"alive\n", b""
        return 503, "text/plain; charset=utf-8", b"stopping\n", b""

    def readyz() -> Answer:
        count = ready()
        if count:
            return 200, "text/plain; charset=utf-8", f"ready: {count} worker(s)\n".encode(), b""
        return 503, "text/plain; charset=utf-8", b"not ready\n", b""

    def page() -> Answer:
        return 200, "text/html; charset=utf-8", _asset("index.html"), _SECURITY

    def script() -> Answer:
        return 200, "text/javascript; charset=utf-8", _asset("status.js"), _SECURITY

    def style() -> Answer:
        return 200, "text/css; charset=utf-8", _asset("status.css"), _SECURITY

    def icon() -> Answer:
        return 200, "image/svg+xml", _asset("favicon.svg"), _SECURITY

    def data() -> Answer:
        body = json.dumps(snapshot().to_json(time.monotonic()), separators=(",", ":"))
        return 200, "application/json", body.encode(), _SECURITY

    return {
        "/livez": livez,
        "/readyz": readyz,
        "/": page,
        "/status": page,
        "/status.js": script,
        "/status.css": style,
        "/status.json": data,
        "/favicon.svg": icon,
        "/favicon.ico": icon,
    }
