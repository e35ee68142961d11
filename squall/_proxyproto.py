"""The PROXY protocol (HAProxy's, versions 1 and 2): the client's address before the HTTP bytes.

A load balancer working at the TCP level (HAProxy in ``mode tcp``, AWS NLB, ...) opens its own
connection to us, so the peer address is its own. With ``send-proxy`` (v1, text) or
``send-proxy-v2`` (binary) it first sends one header naming the original client. With
``--proxy-protocol`` every connection must start with such a header: :class:`ProxyProtocolGate`
reads it (within the head timeout), then hands the transport to the HTTP protocol with the
client's address as the connection's ``remote_ip``. A connection without a valid header is
closed: a receiver must never guess (the specification's rule). ``LOCAL`` (v2) and ``UNKNOWN``
(v1), which health checks send, keep the real peer address.

:func:`parse_header` is sans-IO: bytes in, a result out.
"""

from __future__ import annotations

import asyncio
import ipaddress
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from squall._http1.context import ConnectionContext
from squall.log import gen_log

__all__ = ["V2_SIGNATURE", "ProxyHeader", "ProxyHeaderError", "ProxyProtocolGate", "parse_header"]

V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
_V1_MAX = 107  # bytes, CRLF included (the specification's bound)
_V2_MAX = 16 + 65535


class ProxyHeaderError(ValueError):
    """The bytes are not a valid PROXY protocol header."""


@dataclass(frozen=True, slots=True)
class ProxyHeader:
    """A parsed header: ``size`` bytes long; ``source`` is ``(ip, port)`` or None (LOCAL)."""

    size: int
    source: tuple[str, int] | None
    version: int


def parse_header(data: bytes) -> ProxyHeader | None:
    """Parse the header at the start of ``data``; None when more bytes are needed.

    Raises :class:`ProxyHeaderError` for anything that is not a valid v1 or v2 header."""
    if data.startswith(V2_SIGNATURE[: len(data)]) and len(data) < 16:
        return None
    if data.startswith(V2_SIGNATURE):
        return _parse_v2(data)
    if b"PROXY "[: len(data)] == data[:6]:
        if len(data) < 6:
            return None
        return _parse_v1(data)
    raise ProxyHeaderError("the connection did not start with a PROXY protocol header")


def _parse_v1(data: bytes) -> ProxyHeader | None:
    end = data.find(b"\r\n", 0, _V1_MAX)
    if end < 0:
        if len(data) >= _V1_MAX:
            raise ProxyHeaderError("PROXY v1 header longer than 107 bytes")
        return None
    parts = data[:end].decode("ascii", "replace").split(" ")
    if len(parts) >= 2 and parts[1] == "UNKNOWN":
        return ProxyHeader(end + 2, None, 1)
    if len(parts) != 6 or parts[1] not in ("TCP4", "TCP6"):
        raise ProxyHeaderError(f"malformed PROXY v1 header {data[:end]!r}")
    _, family, source, _dest, sport, _dport = parts
    try:
        address = ipaddress.ip_address(source)
        port = int(sport)
    except ValueError:
        raise ProxyHeaderError(f"malformed PROXY v1 address in {data[:end]!r}") from None
    if (address.version == 4) != (family == "TCP4") or not 0 <= port <= 65535:
        raise ProxyHeaderError(f"malformed PROXY v1 address in {data[:end]!r}")
    return ProxyHeader(end + 2, (str(address), port), 1)


def _parse_v2(data: bytes) -> ProxyHeader | None:
    version_command, family, length = struct.unpack_from("!BBH", data, 12)
    if version_command >> 4 != 2 or version_command & 0x0F not in (0, 1):
        raise ProxyHeaderError(f"unsupported PROXY v2 version/command byte {version_command:#x}")
    size = 16 + length
    if len(data) < size:
        return None
    if version_command & 0x0F == 0:  # LOCAL: the proxy's own connection (a health check)
        return ProxyHeader(size, None, 2)
    body = data[16:size]
    if family >> 4 == 1 and len(body) >= 12:  # AF_INET
        source = str(ipaddress.IPv4Address(body[0:4]))
        port = struct.unpack_from("!H", body, 8)[0]
    elif family >> 4 == 2 and len(body) >= 36:  # AF_INET6
        source = str(ipaddress.IPv6Address(body[0:16]))
        port = struct.unpack_from("!H", body, 32)[0]
    elif family >> 4 in (0, 3):  # UNSPEC, AF_UNIX: no IP address to give
        return ProxyHeader(size, None, 2)
    else:
        raise ProxyHeaderError(f"malformed PROXY v2 address block (family {family:#x})")
    return ProxyHeader(size, (source, port), 2)


class ProxyProtocolGate(asyncio.Protocol):
    """Reads the PROXY header of one connection, then hands it to ``factory()``'s protocol.

    The protocol ``factory`` makes must have a ``context`` attribute (a
    :class:`~squall._http1.context.ConnectionContext`), replaced here by one with the client's
    address. A header that is not complete within ``timeout`` seconds closes the connection."""

    def __init__(self, factory: Callable[[], Any], timeout: float) -> None:
        self._factory = factory
        self._timeout = timeout
        self._buffer = b""
        self._transport: Any = None
        self._timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Wait for the header, at most ``timeout`` seconds."""
        self._transport = transport  # uvloop transports are no asyncio.Transport subclass
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(self._timeout, self._expired)

    def data_received(self, data: bytes) -> None:
        """Collect the header; hand over once it is complete."""
        transport = self._transport
        if transport is None:
            return
        self._buffer += data
        try:
            header = parse_header(self._buffer)
        except ProxyHeaderError as exc:
            peer = transport.get_extra_info("peername")
            gen_log.info("Closing a connection from %s: %s", _describe(peer), exc)
            self._close()
            return
        if header is None:
            return
        self._cancel_timer()
        rest = self._buffer[header.size :]
        self._buffer = b""
        self._transport = None
        protocol = self._factory()
        transport.set_protocol(protocol)
        protocol.connection_made(transport)
        if header.source is not None:
            old = protocol.context
            protocol.context = ConnectionContext(header.source, old.protocol)
        if rest and not transport.is_closing():
            protocol.data_received(rest)

    def eof_received(self) -> bool | None:
        """The peer closed before finishing its header: close."""
        self._close()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        """Forget the transport."""
        self._cancel_timer()
        self._transport = None

    def _expired(self) -> None:
        self._timer = None
        if self._transport is not None:
            peer = self._transport.get_extra_info("peername")
            gen_log.info("Timeout reading the PROXY protocol header from %s", _describe(peer))
            self._close()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _close(self) -> None:
        self._cancel_timer()
        if self._transport is not None:
            self._transport.close()
            self._transport = None


def _describe(peer: Any) -> str:
    if isinstance(peer, tuple) and peer:
        return str(peer[0])
    return "a unix socket"
