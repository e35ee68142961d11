"""Per-connection facts a request reads (client address, scheme), and the proxy trust rules.

How ``xheaders`` works
----------------------
Forwarding headers are believed only from a *trusted peer*: the address the connection comes
from is in ``forwarded_allow_ips`` (default ``127.0.0.1``, or ``SQUALL_FORWARDED_ALLOW_IPS``;
addresses, CIDR networks, ``*`` for any) or in ``trusted_downstream``, or the connection came
over a unix socket (only processes with access to the socket file can connect). From anyone
else they are ignored, so a client cannot pick its own ``remote_ip``.

From a trusted peer, the chain of addresses the request went through is read from RFC 7239
``Forwarded`` (its ``for=`` parameters), else from ``X-Forwarded-For`` followed by
``X-Real-Ip``, and walked *right to left*: each trusted proxy is skipped, and the first address
that is not a trusted proxy is the client. An entry that is not an IP address (``unknown``, an
obfuscated name, garbage) stops the walk and the peer's address stays. The scheme
(``proto=``, ``X-Forwarded-Proto``, ``X-Scheme``) and the host (``host=``,
``X-Forwarded-Host``, which replaces the ``Host`` header) are taken from the same hop when the
lists line up, else from their rightmost value (the one our own proxy wrote).
"""

from __future__ import annotations

import ipaddress
import os
from typing import Any

from squall.httputil import HTTPHeaders

__all__ = ["FORWARDED_ALLOW_IPS_ENV", "ConnectionContext", "TrustedProxies", "default_trust"]

FORWARDED_ALLOW_IPS_ENV = "SQUALL_FORWARDED_ALLOW_IPS"
DEFAULT_ALLOW_IPS = "127.0.0.1"
_SCHEMES = ("http", "https")
_HOST_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._:[]")
_MAX_HOPS = 32  # entries of a forwarding chain looked at, from the right


class TrustedProxies:
    """A set of trusted proxy addresses: single addresses, CIDR networks, or ``*`` (any).

    ``TrustedProxies.parse("127.0.0.1, 10.0.0.0/8, ::1")``; raises ValueError naming the first
    entry that is neither an address nor a network. ``ip in trusted`` answers for an address
    string (anything that is not an IP address is not trusted)."""

    __slots__ = ("_addresses", "_any", "_networks", "spec")

    def __init__(self, entries: tuple[str, ...] = ()) -> None:
        self._any = False
        self._addresses: set[str] = set()
        self._networks: list[Any] = []
        for entry in entries:
            if entry == "*":
                self._any = True
            elif "/" in entry:
                try:
                    self._networks.append(ipaddress.ip_network(entry, strict=False))
                except ValueError:
                    raise ValueError(f"{entry!r} is not an IP address or a CIDR network") from None
            else:
                try:
                    self._addresses.add(str(ipaddress.ip_address(entry)))
                except ValueError:
                    raise ValueError(f"{entry!r} is not an IP address or a CIDR network") from None
        #: The entries as given, for messages and equality.
        self.spec: tuple[str, ...] = entries

    @staticmethod
    def parse(text: str) -> TrustedProxies:
        """Parse a comma-separated list (spaces allowed); an empty list trusts nobody."""
        return TrustedProxies(tuple(e.strip() for e in text.split(",") if e.strip()))

    def __contains__(self, ip: object) -> bool:
        if self._any:
            return True
        if not isinstance(ip, str):
            return False
        if ip in self._addresses:
            return True
        if not self._networks and "::" not in ip:
            return False
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return False
        if str(address) in self._addresses:
            return True
        return any(address in network for network in self._networks)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TrustedProxies) and set(self.spec) == set(other.spec)

    def __hash__(self) -> int:
        return hash(frozenset(self.spec))

    def __repr__(self) -> str:
        return f"TrustedProxies({', '.join(self.spec)!r})"


_default: list[TrustedProxies] = []


def default_trust() -> TrustedProxies:
    """``SQUALL_FORWARDED_ALLOW_IPS`` (read once per process), else ``127.0.0.1``.

    A malformed variable raises ValueError naming it."""
    if not _default:
        raw = os.environ.get(FORWARDED_ALLOW_IPS_ENV, "").strip() or DEFAULT_ALLOW_IPS
        try:
            _default.append(TrustedProxies.parse(raw))
        except ValueError as exc:
            raise ValueError(f"{FORWARDED_ALLOW_IPS_ENV}={raw!r}: {exc}") from None
    return _default[0]


class ConnectionContext:
    """Per-connection facts a request reads: ``remote_ip``, ``protocol``, ``address``.

    With ``xheaders`` the proxy headers override ``remote_ip``/``protocol`` (and ``Host``) for
    one request, following the trust rules of the module docstring; the originals come back
    when it ends."""

    __slots__ = ("_orig_protocol", "_orig_remote_ip", "address", "protocol", "remote_ip")

    def __init__(self, address: Any, protocol: str) -> None:
        self.address = address
        if isinstance(address, tuple) and address:
            self.remote_ip: str = str(address[0])
        else:
            self.remote_ip = "0.0.0.0"  # unix socket: no peer address
        self.protocol = protocol
        self._orig_remote_ip = self.remote_ip
        self._orig_protocol = protocol

    def apply_xheaders(self, headers: HTTPHeaders, params: Any) -> None:
        """Take the client address, scheme and host from the proxy headers of a trusted peer.

        ``params`` is the server's ``HTTP1Params`` (``forwarded_allow_ips``, None for the
        process default, and ``trusted_downstream``); a bare set of addresses (Tornado's
        ``trusted_downstream``) is accepted too, with the default trust."""
        allowed: TrustedProxies | None = getattr(params, "forwarded_allow_ips", None)
        if allowed is None:
            allowed = default_trust()
        downstream = getattr(params, "trusted_downstream", params)
        if not isinstance(downstream, (frozenset, set)):
            downstream = frozenset()
        if not self._peer_trusted(allowed, downstream):
            return
        forwarded = headers.get("Forwarded")
        if forwarded:
            fors, protos, hosts = _parse_forwarded(forwarded)
        else:
            fors = _split(headers.get("X-Forwarded-For", ""))
            real = headers.get("X-Real-Ip")
            if real and (not fors or fors[-1] != real.strip()):
                fors.append(real.strip())
            protos = _split(headers.get("X-Scheme") or headers.get("X-Forwarded-Proto") or "")
            hosts = _split(headers.get("X-Forwarded-Host", ""))
        hop = self._walk(fors, allowed, downstream)
        scheme = _pick(protos, hop, len(fors)).lower()
        if scheme in _SCHEMES:
            self.protocol = scheme
        host = _pick(hosts, hop, len(fors))
        if host and len(host) <= 255 and all(c in _HOST_CHARS for c in host):
            headers["Host"] = host

    def _peer_trusted(self, allowed: TrustedProxies, downstream: frozenset[str] | set[str]) -> bool:
        if not isinstance(self.address, tuple):
            return True  # a unix socket: its file's permissions say who may connect
        ip = self._orig_remote_ip
        return ip in allowed or ip in downstream

    def _walk(
        self, chain: list[str], allowed: TrustedProxies, downstream: frozenset[str] | set[str]
    ) -> int:
        """Set ``remote_ip`` from ``chain``; return the index of the client's hop (-1: none)."""
        index = len(chain) - 1
        last = max(-1, index - _MAX_HOPS)
        while index > last:
            ip = _strip_port(chain[index])
            if not _is_valid_ip(ip):
                return -1
            if ip not in allowed and ip not in downstream:
                self.remote_ip = ip
                return index
            index -= 1
        if chain and index == -1:  # every hop was a trusted proxy: the first one is the client
            self.remote_ip = _strip_port(chain[0])
            return 0
        return -1

    def unapply_xheaders(self) -> None:
        """Restore the connection's own address and scheme after a request."""
        self.remote_ip = self._orig_remote_ip
        self.protocol = self._orig_protocol


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def _pick(values: list[str], hop: int, hops: int) -> str:
    """The value for the client's hop when the lists line up, else the rightmost one."""
    if not values:
        return ""
    if 0 <= hop < len(values) and len(values) == hops:
        return values[hop]
    return values[-1]


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
        return value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    return value


def _parse_forwarded(value: str) -> tuple[list[str], list[str], list[str]]:
    """RFC 7239: the ``for``, ``proto`` and ``host`` of each element, in order.

    An element without ``for`` gets an empty entry (which stops the walk); ``proto`` and
    ``host`` lists line up with the elements (empty where an element has none)."""
    fors: list[str] = []
    protos: list[str] = []
    hosts: list[str] = []
    for element in _split_outside_quotes(value, ","):
        params: dict[str, str] = {}
        for pair in _split_outside_quotes(element, ";"):
            name, sep, raw = pair.partition("=")
            if sep:
                params[name.strip().lower()] = _unquote(raw)
        fors.append(params.get("for", ""))
        protos.append(params.get("proto", ""))
        hosts.append(params.get("host", ""))
    if not any(protos):
        protos = []
    if not any(hosts):
        hosts = []
    return fors, protos, hosts


def _split_outside_quotes(value: str, sep: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    escaped = False
    for char in value:
        if escaped:
            escaped = False
        elif char == "\\" and quoted:
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == sep and not quoted:
            parts.append("".join(current).strip())
            current = []
            continue
        current.append(char)
    if current:
        parts.append("".join(current).strip())
    return [part for part in parts if part]


def _strip_port(entry: str) -> str:
    """``[2001:db8::1]:4711`` -> ``2001:db8::1``; ``192.0.2.1:80`` -> ``192.0.2.1``."""
    if entry.startswith("["):
        end = entry.find("]")
        return entry[1:end] if end > 0 else entry
    if entry.count(":") == 1:
        return entry.partition(":")[0]
    return entry


def _is_valid_ip(ip: str) -> bool:
    if not ip or "\x00" in ip:
        return False
    try:
        ipaddress.ip_address(ip)
    except ValueError:
        return False
    return True
