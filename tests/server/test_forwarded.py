"""Who may set ``remote_ip``: the trust rules of ``squall._http1.context`` (property tests over
forwarding chains), the PROXY protocol parser (round trips, and arbitrary bytes), and
``HTTPServer(xheaders=True, trusted_downstream=...)`` over real sockets."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import socket
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from squall._http1.context import ConnectionContext, TrustedProxies
from squall._http1.params import HTTP1Params
from squall._proxyproto import ProxyHeaderError, parse_header
from squall.httpserver import HTTPServer
from squall.httputil import HTTPHeaders
from squall.web import Application, RequestHandler
from tests.conftest import Runner

PUBLIC = st.ip_addresses(v=4, network="198.51.100.0/24") | st.ip_addresses(
    v=6, network="2001:db8::/48"
)
PROXIES = st.ip_addresses(v=4, network="10.0.0.0/8")


def context_for(peer: str) -> ConnectionContext:
    return ConnectionContext((peer, 40000), "http")


def apply(peer: str, headers: dict[str, str], params: HTTP1Params) -> ConnectionContext:
    context = context_for(peer)
    context.apply_xheaders(HTTPHeaders(headers), params)
    return context


TRUST = HTTP1Params(
    xheaders=True, forwarded_allow_ips=TrustedProxies.parse("127.0.0.1, 10.0.0.0/8")
)


@given(
    spoofed=st.lists(PUBLIC | PROXIES, max_size=4),
    client=PUBLIC,
    proxies=st.lists(PROXIES, max_size=4),
    header=st.sampled_from(["xff", "forwarded"]),
)
def test_the_client_is_the_first_untrusted_hop_from_the_right(
    spoofed: list[ipaddress.IPv4Address | ipaddress.IPv6Address],
    client: ipaddress.IPv4Address | ipaddress.IPv6Address,
    proxies: list[ipaddress.IPv4Address],
    header: str,
) -> None:
    """Whatever the client wrote to the left of its own address, it cannot pick its address."""
    chain = [str(ip) for ip in [*spoofed, client, *proxies]]
    if header == "xff":
        headers = {"X-Forwarded-For": ", ".join(chain)}
    else:
        headers = {
            "Forwarded": ", ".join(f'for="[{ip}]"' if ":" in ip else f"for={ip}" for ip in chain)
        }
    assert apply("127.0.0.1", headers, TRUST).remote_ip == str(client)
    # From a peer that is not trusted, nothing of it is believed.
    assert apply("203.0.113.9", headers, TRUST).remote_ip == "203.0.113.9"


@given(junk=st.text(max_size=60))
def test_any_header_value_leaves_a_valid_address(junk: str) -> None:
    if any(c in junk for c in "\r\n\x00"):
        junk = "x"
    for name in (
        "X-Forwarded-For",
        "X-Real-Ip",
        "Forwarded",
        "X-Forwarded-Proto",
        "X-Forwarded-Host",
    ):
        context = apply("127.0.0.1", {name: junk}, TRUST)
        ipaddress.ip_address(context.remote_ip)
        assert context.protocol in ("http", "https")


def test_proto_and_host_follow_the_clients_hop_and_are_checked() -> None:
    headers = {
        "Forwarded": 'for=198.51.100.7;proto=https;host="shop.example", for=10.0.0.2;proto=http',
    }
    context = HTTPHeaders(headers)
    ctx = context_for("127.0.0.1")
    ctx.apply_xheaders(context, TRUST)
    assert (ctx.remote_ip, ctx.protocol, context["Host"]) == (
        "198.51.100.7",
        "https",
        "shop.example",
    )
    bad_host = HTTPHeaders({"X-Forwarded-Host": "evil.example/../x y"})
    context_for("127.0.0.1").apply_xheaders(bad_host, TRUST)
    assert "Host" not in bad_host
    ctx = apply("127.0.0.1", {"X-Forwarded-Proto": "gopher"}, TRUST)
    assert ctx.protocol == "http"
    ctx.unapply_xheaders()
    assert (ctx.remote_ip, ctx.protocol) == ("127.0.0.1", "http")


def test_trust_lists_parse_addresses_networks_and_star() -> None:
    trust = TrustedProxies.parse(" 127.0.0.1 , 10.0.0.0/8, ::1 ,2001:db8::/32")
    assert "127.0.0.1" in trust and "10.255.0.1" in trust and "::1" in trust
    assert "0:0:0:0:0:0:0:1" in trust and "2001:db8::5" in trust
    assert "127.0.0.2" not in trust and "not an ip" not in trust
    assert "203.0.113.1" in TrustedProxies.parse("*")
    assert "127.0.0.1" not in TrustedProxies.parse("")
    for bad in ("10.0.0.0/33", "proxy.local", "1.2.3"):
        with pytest.raises(ValueError, match="is not an IP address or a CIDR network"):
            TrustedProxies.parse(bad)


def test_unix_socket_peers_are_trusted() -> None:
    context = ConnectionContext("", "http")
    context.apply_xheaders(HTTPHeaders({"X-Real-Ip": "198.51.100.3"}), HTTP1Params(xheaders=True))
    assert context.remote_ip == "198.51.100.3"


# -- the PROXY protocol ------------------------------------------------------------------------


@given(source=st.ip_addresses(), port=st.integers(0, 65535), version=st.sampled_from([1, 2]),
       tail=st.binary(max_size=40))  # fmt: skip
def test_proxy_headers_round_trip(
    source: ipaddress.IPv4Address | ipaddress.IPv6Address, port: int, version: int, tail: bytes
) -> None:
    v6 = source.version == 6
    if version == 1:
        family = "TCP6" if v6 else "TCP4"
        dest = "::1" if v6 else "127.0.0.1"
        header = f"PROXY {family} {source} {dest} {port} 443\r\n".encode()
    else:
        dest_bytes = ipaddress.ip_address("::1" if v6 else "127.0.0.1").packed
        body = source.packed + dest_bytes + struct.pack("!HH", port, 443) + b"\x00\x01\x02"  # TLV
        header = (
            b"\r\n\r\n\x00\r\nQUIT\n"
            + bytes([0x21, 0x21 if v6 else 0x11])
            + struct.pack("!H", len(body))
            + body
        )
    parsed = parse_header(header + tail)
    assert parsed is not None and parsed.size == len(header) and parsed.version == version
    assert parsed.source == (str(source), port)
    for cut in range(len(header)):  # any prefix: wait for more
        assert parse_header(header[:cut]) is None


@settings(max_examples=300)
@given(data=st.binary(max_size=120))
def test_arbitrary_bytes_are_a_header_an_incomplete_one_or_a_clear_error(data: bytes) -> None:
    try:
        parse_header(data)
    except ProxyHeaderError:
        pass


# -- HTTPServer(xheaders=True, trusted_downstream=...) over real sockets -----------------------


class InfoHandler(RequestHandler):
    def get(self) -> None:
        self.write({"remote_ip": self.request.remote_ip, "protocol": self.request.protocol})


async def fetch_info(port: int, source: str, headers: dict[str, str]) -> dict[str, str]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
    extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    writer.write(f"GET / HTTP/1.1\r\nHost: t\r\n{extra}Connection: close\r\n\r\n".encode())
    data = await reader.read()
    writer.close()
    return json.loads(data.partition(b"\r\n\r\n")[2])  # type: ignore[no-any-return]


def test_http_server_applies_the_same_trust_rules(run: Runner[None]) -> None:
    async def body() -> None:
        app = Application([(r"/", InfoHandler)])
        default = HTTPServer(app, xheaders=True)
        listed = HTTPServer(app, xheaders=True, trusted_downstream=["127.0.0.2"])
        explicit = HTTPServer(app, xheaders=True, forwarded_allow_ips="127.0.0.3")
        ports = []
        for server in (default, listed, explicit):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sock.listen(16)
            sock.setblocking(False)
            server.add_sockets([sock])
            ports.append(sock.getsockname()[1])
        spoof = {"X-Forwarded-For": "198.51.100.1", "X-Forwarded-Proto": "https"}
        try:
            assert await fetch_info(ports[0], "127.0.0.1", spoof) == {
                "remote_ip": "198.51.100.1",
                "protocol": "https",
            }
            assert (await fetch_info(ports[0], "127.0.0.2", spoof))["remote_ip"] == "127.0.0.2"
            # trusted_downstream (Tornado's) adds trusted proxies, skipped in the chain too.
            chain = {"X-Forwarded-For": "198.51.100.1, 127.0.0.2"}
            assert (await fetch_info(ports[1], "127.0.0.2", chain))["remote_ip"] == "198.51.100.1"
            # forwarded_allow_ips replaces the default 127.0.0.1.
            assert (await fetch_info(ports[2], "127.0.0.1", spoof))["remote_ip"] == "127.0.0.1"
            assert (await fetch_info(ports[2], "127.0.0.3", spoof))["remote_ip"] == "198.51.100.1"
        finally:
            for server in (default, listed, explicit):
                await server.drain(1)

    run(body())
