"""Per-connection facts a request reads (client address, scheme), with ``xheaders`` support."""

from __future__ import annotations

import ipaddress
from typing import Any

from squall.httputil import HTTPHeaders

__all__ = ["ConnectionContext"]


class ConnectionContext:
    """Per-connection facts a request reads: ``remote_ip``, ``protocol``, ``address``.

    With ``xheaders`` the proxy headers override ``remote_ip``/``protocol`` for one request
    and the originals come back when it ends."""

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

    def apply_xheaders(self, headers: HTTPHeaders, trusted: frozenset[str]) -> None:
        """Take the client address and scheme from proxy headers (``xheaders=True``)."""
        ip = headers.get("X-Forwarded-For", self.remote_ip)
        # The last address not added by a trusted proxy of ours is the client.
        for candidate in reversed(ip.split(",")):
            ip = candidate.strip()
            if ip not in trusted:
                break
        ip = headers.get("X-Real-Ip", ip)
        if _is_valid_ip(ip):
            self.remote_ip = ip
        scheme = headers.get("X-Scheme") or headers.get("X-Forwarded-Proto")
        if scheme:
            scheme = scheme.split(",")[-1].strip()
            if scheme in ("http", "https"):
                self.protocol = scheme

    def unapply_xheaders(self) -> None:
        """Restore the connection's own address and scheme after a request."""
        self.remote_ip = self._orig_remote_ip
        self.protocol = self._orig_protocol


def _is_valid_ip(ip: str) -> bool:
    if not ip or "\x00" in ip:
        return False
    try:
        ipaddress.ip_address(ip)
    except ValueError:
        return False
    return True
