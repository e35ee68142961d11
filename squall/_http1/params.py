"""Parameters of the HTTP/1.1 protocol layer, and its client-error class.

One frozen object per server, shared by every connection: the protocol never reads the
application's settings or global options.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from squall._http1.context import TrustedProxies
from squall.httputil import HTTPInputError

__all__ = ["HTTP1Params", "RequestRejected", "body_too_large"]

KiB = 1024
MiB = 1024 * KiB


@dataclass(frozen=True, slots=True)
class HTTP1Params:
    """Limits, timeouts and switches of the HTTP/1.1 protocol (one instance per server).

    Defaults are safe for a server facing the internet:

    - ``max_header_size`` (64 KiB): start line plus headers; beyond it ``431`` (``414`` when the
      request target alone is too long).
    - ``max_headers`` (100): more header fields get ``431``.
    - ``max_body_size`` (100 MiB): a larger body gets ``413``, checked against Content-Length
      before any byte of the body is read, and accumulated for chunked or gzip bodies.
    - ``header_timeout`` (10 s): a connection that has not delivered a complete request head
      by then is closed (slowloris), including one that never sends a byte.
    - ``body_timeout`` (None): a total time for reading a body, when set; by default a
      minimum-rate rule applies instead: ``body_start_timeout`` (20 s) to start, extended by
      one second per ``body_min_rate`` (500) bytes received.
    - ``idle_connection_timeout`` (75 s): an idle keep-alive connection is closed.
    - ``chunk_size`` (64 KiB): the largest body piece handed to ``data_received``.
    - ``max_pipelined`` (32): complete requests queued behind the one being served before the
      connection stops reading.
    """

    no_keep_alive: bool = False
    xheaders: bool = False
    trusted_downstream: frozenset[str] = field(default_factory=frozenset)
    forwarded_allow_ips: TrustedProxies | None = None  # None: context.default_trust()
    protocol: str | None = None
    decompress: bool = False
    chunk_size: int = 64 * KiB
    max_header_size: int = 64 * KiB
    max_headers: int = 100
    max_body_size: int = 100 * MiB
    header_timeout: float = 10.0
    body_timeout: float | None = None
    body_start_timeout: float = 20.0
    body_min_rate: float = 500.0
    idle_connection_timeout: float = 75.0
    max_pipelined: int = 32
    write_buffer_high: int = 256 * KiB
    server_header: str = ""

    def __post_init__(self) -> None:
        for name in ("chunk_size", "max_header_size", "max_headers", "max_body_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        for name in ("header_timeout", "idle_connection_timeout", "body_start_timeout"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or value <= 0:
                raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")
        if self.body_timeout is not None and self.body_timeout <= 0:
            raise ValueError(f"body_timeout must be positive or None, got {self.body_timeout!r}")

    @property
    def shortest_timeout(self) -> float:
        """The smallest timeout in force, which sets how often timers are checked."""
        values = [self.header_timeout, self.idle_connection_timeout, self.body_start_timeout]
        if self.body_timeout is not None:
            values.append(self.body_timeout)
        return min(values)


class RequestRejected(HTTPInputError):
    """A request our own checks refused (a limit, a missing Host, an unknown coding).

    Raised inside parser callbacks on purpose: the protocol recognises it behind httptools'
    ``HttpParserCallbackError`` and answers ``status_code`` instead of treating it as a bug."""


def body_too_large(chunked: bool) -> str:
    """The 413 message for a body over ``max_body_size``, naming how it was framed (a declared
    Content-Length, or a chunked stream): the words operators and Tornado's log checks use."""
    if chunked:
        return "Content Too Large: chunked body too large"
    return "Content Too Large: Content-Length too long"
