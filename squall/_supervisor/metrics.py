"""Request metrics: what workers count, what the master adds up, and its /metrics listener.

How this works
--------------
Each worker counts requests served, requests in flight and request durations (a small
histogram with fixed buckets) and sends the *absolute* values for its own process with every
heartbeat and with its ``bye`` (``WorkerStats.fields``): a lost heartbeat loses nothing, the
next one carries everything. The master keeps the last values per live worker
(``WorkerStats.update``) and, when it reaps a worker, adds that worker's final values to a
"retired" accumulator (``MasterMetrics.retire``). Totals (retired + live) therefore only grow,
across recycling, rolling restarts and crashes; only requests a killed worker served after its
last heartbeat are never counted.

``MetricsServer`` answers ``GET /metrics`` with the Prometheus text format (version 0.0.4) from
the master's own selector loop: no thread, no event loop. Each client is read (a bounded head),
answered once and closed; a client slower than ``CLIENT_TIMEOUT`` is dropped.

Rules: standard library and ``squall.log`` only; no asyncio (the master imports this module).
"""

from __future__ import annotations

import errno
import math
import selectors
import socket
import time
from bisect import bisect_left
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from squall.log import gen_log

__all__ = [
    "BUCKETS",
    "CAUSES",
    "CONTENT_TYPE",
    "Histogram",
    "MasterMetrics",
    "MetricsServer",
    "WorkerStats",
    "bind_metrics",
    "parse_bind",
]

# Upper bounds (seconds) of the request-duration buckets; one more bucket counts the rest.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
CAUSES = ("crash", "timeout", "recycle", "reload")  # why a replacement worker was forked
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
MAX_HEAD = 8192  # bytes of request head a /metrics client may send
MAX_CLIENTS = 32  # /metrics connections open at once; more are closed at accept
CLIENT_TIMEOUT = 5.0  # seconds a /metrics client has to send its request and read the answer
ACCEPT_PAUSE = 1.0  # seconds the listener rests after accept() failed (out of descriptors)
_BACKLOG = 64


class Histogram:
    """Counts of observed durations per bucket of ``BUCKETS`` (not cumulative), and their sum."""

    __slots__ = ("counts", "total")

    def __init__(self) -> None:
        self.counts = [0] * (len(BUCKETS) + 1)  # the last one: above the largest bound
        self.total = 0.0

    def observe(self, seconds: float) -> None:
        """Count one duration (a negative one counts as 0)."""
        seconds = max(0.0, seconds)
        self.counts[bisect_left(BUCKETS, seconds)] += 1
        self.total += seconds

    def add(self, other: Histogram) -> None:
        """Add ``other``'s counts and sum to this one."""
        self.counts = [a + b for a, b in zip(self.counts, other.counts, strict=True)]
        self.total += other.total

    def load(self, counts: object, total: object) -> None:
        """Take counts and a sum from a message; values of the wrong shape are ignored.

        A process's counts only grow, so each bucket keeps the larger of old and new."""
        if (
            isinstance(counts, list)
            and len(counts) == len(self.counts)
            and all(type(n) is int and n >= 0 for n in counts)
        ):
            self.counts = [max(a, b) for a, b in zip(self.counts, counts, strict=True)]
        if isinstance(total, int | float) and math.isfinite(total) and total > self.total:
            self.total = float(total)


STATUS_CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx")


@dataclass(eq=False, slots=True)
class WorkerStats:
    """One worker process's counters: its own side, or the master's copy of them.

    ``statuses`` counts responses by status class (1xx..5xx). ``idle`` is, in a message, the
    seconds since the worker's last request ended (-1: none yet); ``last_request`` is the
    worker's own monotonic time of that end (its side only)."""

    served: int = 0
    inflight: int = 0
    lag: float = 0.0
    latency: Histogram = field(default_factory=Histogram)
    statuses: list[int] = field(default_factory=lambda: [0] * len(STATUS_CLASSES))
    idle: float = -1.0
    last_request: float = 0.0

    def count_status(self, status: int) -> None:
        """Count one response of ``status`` in its class (codes outside 100..599 are not)."""
        index = status // 100 - 1
        if 0 <= index < len(STATUS_CLASSES):
            self.statuses[index] += 1

    def fields(self, now: float | None = None) -> dict[str, Any]:
        """The counters as message fields (``hb`` and ``bye``); ``now`` is the worker's
        monotonic clock, for ``idle``."""
        idle = -1.0
        if self.last_request and now is not None:
            idle = round(max(0.0, now - self.last_request), 3)
        return {
            "lag": round(self.lag, 4),
            "inflight": self.inflight,
            "served": self.served,
            "hist": list(self.latency.counts),
            "hsum": round(self.latency.total, 6),
            "st": list(self.statuses),
            "idle": idle,
        }

    def update(self, message: Mapping[str, Any]) -> None:
        """Take the counters in a worker's message; missing or malformed fields are ignored.

        ``served`` never goes down: a process's count only grows."""
        served, inflight, lag = message.get("served"), message.get("inflight"), message.get("lag")
        if type(served) is int and served > self.served:
            self.served = served
        if type(inflight) is int and inflight >= 0:
            self.inflight = inflight
        if isinstance(lag, int | float) and math.isfinite(lag) and lag >= 0:
            self.lag = float(lag)
        self.latency.load(message.get("hist"), message.get("hsum"))
        statuses = message.get("st")
        if (
            isinstance(statuses, list)
            and len(statuses) == len(self.statuses)
            and all(type(n) is int and n >= 0 for n in statuses)
        ):
            self.statuses = [max(a, b) for a, b in zip(self.statuses, statuses, strict=True)]
        idle = message.get("idle")
        if isinstance(idle, int | float) and math.isfinite(idle):
            self.idle = float(idle)


# (slot, generation, pid, counters) of one live worker process
WorkerSeries = tuple[int, int, int, WorkerStats]


class MasterMetrics:
    """The master's accumulators: retired workers' counts, restarts by cause, reload failures."""

    def __init__(self) -> None:
        self.retired_served = 0
        self.retired_latency = Histogram()
        self.retired_statuses = [0] * len(STATUS_CLASSES)
        self.restarts = dict.fromkeys(CAUSES, 0)
        self.reload_failures = 0

    def retire(self, stats: WorkerStats) -> None:
        """Fold the final counters of a reaped worker into the totals."""
        self.retired_served += stats.served
        self.retired_latency.add(stats.latency)
        self.retired_statuses = [
            a + b for a, b in zip(self.retired_statuses, stats.statuses, strict=True)
        ]

    def restarted(self, cause: str) -> None:
        """Count one replacement worker forked because of ``cause`` (one of ``CAUSES``)."""
        self.restarts[cause] = self.restarts.get(cause, 0) + 1

    def render(
        self,
        workers: Iterable[WorkerSeries],
        ready: int,
        ages: Mapping[int, tuple[float, float | None]] | None = None,
    ) -> str:
        """The Prometheus text exposition (format 0.0.4) of every series.

        ``ages`` maps a worker's pid to (seconds since its last heartbeat, seconds since its
        last request ended, None before its first)."""
        live = list(workers)
        ages = ages or {}
        lines: list[str] = []

        def family(name: str, kind: str, help_text: str) -> None:
            lines.append(f"# HELP {name} {help_text}")
            lines.append(f"# TYPE {name} {kind}")

        def per_worker(name: str, value: Callable[[WorkerStats], float]) -> None:
            for slot, generation, pid, stats in live:
                labels = f'worker="{slot}",generation="{generation}",pid="{pid}"'
                lines.append(f"{name}{{{labels}}} {_number(value(stats))}")

        family("squall_requests_total", "counter", "Requests served by each live worker process.")
        per_worker("squall_requests_total", lambda s: s.served)
        family(
            "squall_requests_all_total",
            "counter",
            "Requests served by every worker since the master started, retired ones included.",
        )
        all_served = self.retired_served + sum(stats.served for *_, stats in live)
        lines.append(f"squall_requests_all_total {all_served}")
        family("squall_requests_in_flight", "gauge", "Requests each worker is serving now.")
        per_worker("squall_requests_in_flight", lambda s: s.inflight)
        family(
            "squall_loop_lag_seconds", "gauge", "How late each worker's last heartbeat timer ran."
        )
        per_worker("squall_loop_lag_seconds", lambda s: s.lag)
        latency = Histogram()
        latency.add(self.retired_latency)
        for *_, stats in live:
            latency.add(stats.latency)
        family(
            "squall_request_duration_seconds",
            "histogram",
            "Request durations, from the request line to the last byte, of every worker.",
        )
        cumulative = 0
        for bound, count in zip((*BUCKETS, math.inf), latency.counts, strict=True):
            cumulative += count
            le = _number(bound)
            lines.append(f'squall_request_duration_seconds_bucket{{le="{le}"}} {cumulative}')
        lines.append(f"squall_request_duration_seconds_sum {_number(latency.total)}")
        lines.append(f"squall_request_duration_seconds_count {cumulative}")
        family(
            "squall_responses_total",
            "counter",
            "Responses of every worker (retired ones included) by status class.",
        )
        statuses = list(self.retired_statuses)
        for *_, stats in live:
            statuses = [a + b for a, b in zip(statuses, stats.statuses, strict=True)]
        for name, count in zip(STATUS_CLASSES, statuses, strict=True):
            lines.append(f'squall_responses_total{{status="{name}"}} {count}')
        family(
            "squall_worker_heartbeat_age_seconds",
            "gauge",
            "Seconds since each worker's last heartbeat (a blocked event loop makes it grow).",
        )
        family_ages = [(s, g, p, ages[p]) for s, g, p, _ in live if p in ages]
        for slot, generation, pid, (beat, _) in family_ages:
            labels = f'worker="{slot}",generation="{generation}",pid="{pid}"'
            lines.append(f"squall_worker_heartbeat_age_seconds{{{labels}}} {_number(beat)}")
        family(
            "squall_worker_last_request_age_seconds",
            "gauge",
            "Seconds since each worker last finished a request (absent before its first).",
        )
        for slot, generation, pid, (_, last) in family_ages:
            if last is not None:
                labels = f'worker="{slot}",generation="{generation}",pid="{pid}"'
                lines.append(f"squall_worker_last_request_age_seconds{{{labels}}} {_number(last)}")
        family("squall_workers_ready", "gauge", "Workers that reported READY and are not draining.")
        lines.append(f"squall_workers_ready {ready}")
        family(
            "squall_worker_restarts_total",
            "counter",
            "Replacement workers forked, by cause (crash, timeout, recycle, reload).",
        )
        for cause, count in self.restarts.items():
            lines.append(f'squall_worker_restarts_total{{cause="{cause}"}} {count}')
        family(
            "squall_reload_failures_total",
            "counter",
            "Rolling restarts aborted because a new worker failed to boot.",
        )
        lines.append(f"squall_reload_failures_total {self.reload_failures}")
        return "\n".join(lines) + "\n"


def _number(value: float) -> str:
    if isinstance(value, int):
        return str(value)
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(value)


# -- the listener ------------------------------------------------------------------------------


def parse_bind(spec: str) -> tuple[str, int]:
    """Split ``HOST:PORT`` (``[::1]:9100`` for IPv6) into a host and a port number.

    Raises ValueError saying what is wrong and what is expected."""
    host, sep, port = spec.strip().rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ValueError(
            f"--metrics-bind expects HOST:PORT (like 127.0.0.1:9100 or [::1]:9100), got {spec!r}"
        )
    return host, int(port)


def bind_metrics(spec: str) -> socket.socket:
    """A listening, non-blocking TCP socket on ``HOST:PORT`` (port 0: any free port).

    Raises ValueError for a malformed spec, OSError when the address cannot be bound."""
    host, port = parse_bind(spec)
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, socket.AF_UNSPEC, socket.SOCK_STREAM, 0, socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(_BACKLOG)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


@dataclass(eq=False, slots=True)
class _Client:
    sock: socket.socket
    deadline: float
    head: bytes = b""
    out: bytes | None = None  # the response left to send, once the request is read


class MetricsServer:
    """Serve ``GET /metrics`` on ``sock`` from ``selector``'s loop, one answer per connection.

    ``render()`` makes the body. The selector entries' data are callables taking the event
    mask: the owner's loop calls them. ``HEAD /metrics`` gets the headers only; another method
    gets 405, another path 404, a head over 8 KiB 431. When ``accept()`` fails (out of file
    descriptors) the listener rests for a second. The owner calls :meth:`expire` at least once
    a second, and :meth:`close` at the end."""

    def __init__(
        self,
        sock: socket.socket,
        selector: selectors.BaseSelector,
        render: Callable[[], str],
        routes: Mapping[str, Callable[[], tuple[int, str, bytes, bytes]]] | None = None,
    ) -> None:
        sock.setblocking(False)
        self._sock = sock
        self._sel = selector
        self._render = render
        self._routes = dict(routes or {})
        self._clients: dict[int, _Client] = {}
        self._paused_until: float | None = None
        selector.register(sock, selectors.EVENT_READ, self._on_accept)

    def _on_accept(self, mask: int) -> None:
        for _ in range(MAX_CLIENTS):
            try:
                conn, _ = self._sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno in (errno.ECONNABORTED, errno.EPROTO):
                    continue  # that client gave up already
                # EMFILE and friends: the connection stays queued and the listener readable;
                # rest, or the master's loop would spin.
                gen_log.warning("Metrics listener: accept failed (%s); pausing for 1 s", exc)
                self._sel.unregister(self._sock)
                self._paused_until = time.monotonic() + ACCEPT_PAUSE
                return
            if len(self._clients) >= MAX_CLIENTS:
                conn.close()
                continue
            conn.setblocking(False)
            client = _Client(conn, time.monotonic() + CLIENT_TIMEOUT)
            self._clients[conn.fileno()] = client
            self._sel.register(conn, selectors.EVENT_READ, partial(self._on_client, client))

    def _on_client(self, client: _Client, mask: int) -> None:
        if client.out is None:
            try:
                chunk = client.sock.recv(4096)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                chunk = b""
            if not chunk:
                self._drop(client)
                return
            client.head += chunk
            head = client.head.replace(b"\r\n", b"\n")
            end = head.find(b"\n\n")
            if end >= 0:
                client.out = self._answer(head[:end])
            elif len(client.head) > MAX_HEAD:
                client.out = _response(431, "request head too large\n")
            else:
                return
            self._sel.modify(client.sock, selectors.EVENT_WRITE, partial(self._on_client, client))
        while client.out:
            try:
                sent = client.sock.send(client.out)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                break
            client.out = client.out[sent:]
        self._drop(client, answered=True)

    def _answer(self, head: bytes) -> bytes:
        request_line = head.split(b"\n", 1)[0].split()
        if len(request_line) != 3 or not request_line[2].startswith(b"HTTP/"):
            return _response(400, "bad request\n")
        method, target = request_line[0], request_line[1]
        path = target.split(b"?", 1)[0].decode("latin-1")
        route = self._routes.get(path)
        if path != "/metrics" and route is None:
            return _response(404, "not found: the metrics are at /metrics\n")
        if method not in (b"GET", b"HEAD"):
            return _response(405, "use GET\n", b"Allow: GET, HEAD\r\n")
        try:
            if route is not None:
                status, content_type, data, extra = route()
                response = _response(status, data, extra, content_type)
            else:
                response = _response(200, self._render(), content_type=CONTENT_TYPE)
        except Exception:
            gen_log.error("Answering %s on the metrics bind failed", path, exc_info=True)
            return _response(500, "internal error\n")
        if method == b"HEAD":
            response = response.partition(b"\r\n\r\n")[0] + b"\r\n\r\n"
        return response

    def _drop(self, client: _Client, answered: bool = False) -> None:
        self._clients.pop(client.sock.fileno(), None)
        self._sel.unregister(client.sock)
        if answered:
            try:  # read what the client sent past the head, so that close() sends no RST
                client.sock.shutdown(socket.SHUT_WR)
                while client.sock.recv(4096):
                    pass
            except OSError:
                pass
        client.sock.close()

    def expire(self, now: float) -> None:
        """Drop the clients past their deadline; resume a paused listener."""
        for client in [c for c in self._clients.values() if now >= c.deadline]:
            self._drop(client)
        if self._paused_until is not None and now >= self._paused_until:
            self._paused_until = None
            self._sel.register(self._sock, selectors.EVENT_READ, self._on_accept)

    def close(self) -> None:
        """Stop listening and drop every client."""
        for client in list(self._clients.values()):
            self._drop(client)
        if self._paused_until is None:
            self._sel.unregister(self._sock)
        self._sock.close()

    def close_after_fork(self) -> None:
        """In a forked child: close this process's copies of the sockets, leaving the
        (shared) selector alone."""
        for client in self._clients.values():
            client.sock.close()
        self._clients.clear()
        self._sock.close()


def _response(
    status: int,
    body: str | bytes,
    extra: bytes = b"",
    content_type: str = "text/plain; charset=utf-8",
) -> bytes:
    reasons = {
        200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
        431: "Request Header Fields Too Large", 500: "Internal Server Error",
        503: "Service Unavailable",
    }  # fmt: skip
    data = body.encode() if isinstance(body, str) else body
    head = (
        f"HTTP/1.1 {status} {reasons[status]}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(data)}\r\nConnection: close\r\n"
    ).encode()
    return head + extra + b"\r\n" + data
