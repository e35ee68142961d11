"""The opening handshake: who gets a 101, who gets 400/403/405/426, and what the 101 says."""

from __future__ import annotations

import base64
import hashlib
import logging
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from squall._ws import handshake
from squall.web import Application, HTTPError
from squall.websocket import WebSocketHandler
from tests.conftest import Runner
from tests.ws.wsutil import KEY, RawClient, raw_request, serve

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class Echo(WebSocketHandler):
    def on_message(self, message: str | bytes) -> None:
        self.write_message(message, binary=isinstance(message, bytes))


def upgrade_lines(port: int, *extra: str, method: str = "GET", version: str = "13") -> list[str]:
    lines = [
        f"{method} /ws HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {KEY}",
    ]
    if version:
        lines.append(f"Sec-WebSocket-Version: {version}")
    return lines + list(extra)


# -- the pure helpers ------------------------------------------------------------------------


def test_upgrade_error_names_the_upgrade_header_first() -> None:
    assert handshake.upgrade_error("", "Upgrade") == 'Can "Upgrade" only to "WebSocket".'
    assert handshake.upgrade_error("h2c", "Upgrade") == 'Can "Upgrade" only to "WebSocket".'


def test_upgrade_error_requires_upgrade_among_connection_tokens() -> None:
    assert handshake.upgrade_error("websocket", "keep-alive") == '"Connection" must be "Upgrade".'
    assert handshake.upgrade_error("WebSocket", "keep-alive, Upgrade") is None


def test_accept_computes_the_rfc_6455_accept_value() -> None:
    pairs = [("Sec-WebSocket-Key", KEY), ("Sec-WebSocket-Version", "13")]
    pairs += [("Upgrade", "websocket"), ("Connection", "Upgrade")]
    accepted = handshake.accept("HTTP/1.1", pairs)
    expected = base64.b64encode(hashlib.sha1((KEY + GUID).encode()).digest()).decode()
    assert ("Sec-WebSocket-Accept", expected) in accepted.headers
    assert not any(name == "Sec-WebSocket-Extensions" for name, _ in accepted.headers)


@pytest.mark.parametrize("version", ["", "8", "14"])
def test_accept_refuses_other_versions_with_426_naming_13(version: str) -> None:
    pairs = [("Sec-WebSocket-Key", KEY), ("Upgrade", "websocket"), ("Connection", "Upgrade")]
    if version:
        pairs.append(("Sec-WebSocket-Version", version))
    with pytest.raises(handshake.HandshakeError) as info:
        handshake.accept("HTTP/1.1", pairs)
    assert info.value.status == 426
    assert info.value.headers == {"Sec-WebSocket-Version": "13"}


@pytest.mark.parametrize("key", [None, "short", "not base64 at all!!", base64.b64encode(b"x" * 15)])
def test_accept_refuses_a_missing_or_malformed_key_with_400(key: Any) -> None:
    pairs = [("Sec-WebSocket-Version", "13"), ("Upgrade", "websocket"), ("Connection", "Upgrade")]
    if key is not None:
        pairs.append(("Sec-WebSocket-Key", key.decode() if isinstance(key, bytes) else key))
    with pytest.raises(handshake.HandshakeError) as info:
        handshake.accept("HTTP/1.1", pairs)
    assert info.value.status == 400
    assert "Missing/Invalid WebSocket headers" in info.value.message


# -- over a socket ---------------------------------------------------------------------------


def test_valid_upgrade_gets_101_with_accept_and_no_body_headers(run: Runner[Any]) -> None:
    async def body() -> None:
        async with serve(Application([("/ws", Echo)])) as served:
            raw = await (await RawClient.connect(served.port)).upgrade()
            head = raw.response_head.decode("latin-1").lower()
            await raw.close()
        assert "upgrade: websocket" in head
        assert "connection: upgrade" in head
        assert "sec-websocket-accept: " in head
        for absent in ("content-length", "content-type", "etag", "transfer-encoding"):
            assert absent not in head

    run(body())


def test_access_log_shows_101_for_the_upgrade(
    run: Runner[Any], caplog: pytest.LogCaptureFixture
) -> None:
    async def body() -> None:
        async with serve(Application([("/ws", Echo)])) as served:
            async with connect(served.url(), proxy=None) as ws:
                await ws.send("x")
                assert await ws.recv() == "x"

    with caplog.at_level(logging.INFO, logger="squall.access"):
        run(body())
    assert any(r.getMessage().startswith("101 GET /ws (127.0.0.1)") for r in caplog.records)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["Upgrade: h2c"], 'Can "Upgrade" only to "WebSocket".'),
        (["Connection: keep-alive"], '"Connection" must be "Upgrade".'),
    ],
)
def test_request_that_is_not_an_upgrade_gets_400_with_a_clear_message(
    run: Runner[Any], extra: list[str], message: str
) -> None:
    async def body() -> None:
        async with serve(Application([("/ws", Echo)])) as served:
            lines = ["GET /ws HTTP/1.1", f"Host: 127.0.0.1:{served.port}", *extra]
            if extra[0].startswith("Connection"):
                lines.append("Upgrade: websocket")
            status, _, text = await raw_request(served.port, lines)
        assert status == 400
        assert text.decode() == message

    run(body())


def test_plain_get_without_upgrade_gets_400(run: Runner[Any]) -> None:
    async def body() -> None:
        async with serve(Application([("/ws", Echo)])) as served:
            status, _, text = await raw_request(served.port, ["GET /ws HTTP/1.1", "Host: a"])
        assert status == 400
        assert b"Upgrade" in text

    run(body())


def test_unsupported_version_gets_426_naming_version_13(run: Runner[Any]) -> None:
    async def body() -> None:
        async with serve(Application([("/ws", Echo)])) as served:
            status, headers, text = await raw_request(
                served.port, upgrade_lines(served.port, version="8")
            )
        assert status == 426
        assert headers["sec-websocket-version"] == "13"
        assert b"13" in text

    run(body())


def test_missing_key_gets_400(run: Runner[Any]) -> None:
    async def body() -> None:
        async with serve(Application([("/ws", Echo)])) as served:
            lines = [line for line in upgrade_lines(served.port) if "Key" not in line]
            status, _, text = await raw_request(served.port, lines)
        assert status == 400
        assert text.startswith(b"Missing/Invalid WebSocket headers")

    run(body())


def test_wrong_method_gets_405(run: Runner[Any]) -> None:
    async def body() -> None:
        async with serve(Application([("/ws", Echo)])) as served:
            status, headers, _ = await raw_request(
                served.port, upgrade_lines(served.port, method="POST")
            )
        assert status == 405
        assert headers["allow"] == "GET"

    run(body())


def test_foreign_origin_is_refused_with_403(run: Runner[Any]) -> None:
    async def body() -> None:
        async with serve(Application([("/ws", Echo)])) as served:
            with pytest.raises(InvalidStatus) as info:
                await connect(served.url(), origin="http://evil.example", proxy=None)  # type: ignore[arg-type]
            assert info.value.response.status_code == 403
            assert info.value.response.body == b"Cross origin websockets not allowed"
            same = f"http://127.0.0.1:{served.port}"
            async with connect(served.url(), origin=same, proxy=None) as ws:  # type: ignore[arg-type]
                await ws.send("same origin")
                assert await ws.recv() == "same origin"

    run(body())


def test_check_origin_override_can_allow_any_origin(run: Runner[Any]) -> None:
    class Open(Echo):
        def check_origin(self, origin: str) -> bool:
            return True

    async def body() -> None:
        async with serve(Application([("/ws", Open)])) as served:
            async with connect(served.url(), origin="http://a.example", proxy=None) as ws:  # type: ignore[arg-type]
                await ws.send("ok")
                assert await ws.recv() == "ok"

    run(body())


@pytest.mark.parametrize(
    ("extra", "status"),
    [
        # No Origin: not a browser, accepted.
        ((), 101),
        # The Origin names the Host (any case): same origin.
        (("Origin: HTTP://127.0.0.1:{port}",), 101),
        (("Origin: http://127.0.0.1:{port}/some/path",), 101),
        # Sec-Fetch-Site, when present, decides before the Origin/Host comparison.
        (("Origin: http://proxied.example", "Sec-Fetch-Site: same-origin"), 101),
        (("Origin: http://proxied.example", "Sec-Fetch-Site: none"), 101),
        (("Origin: http://127.0.0.1:{port}", "Sec-Fetch-Site: cross-site"), 403),
        (("Origin: http://sub.example", "Sec-Fetch-Site: same-site"), 403),
        (("Origin: http://evil.example", "Sec-Fetch-Site: Same-Origin"), 403),
        # Not a URL, another host, a trusted origin written differently: refused.
        (("Origin: 127.0.0.1:{port}",), 403),
        (("Origin: null",), 403),
        (("Origin: http://trusted.example/",), 403),
        # Listed in trusted_origins: accepted, also cross-site.
        (("Origin: http://trusted.example",), 101),
        (("Origin: http://trusted.example", "Sec-Fetch-Site: cross-site"), 101),
        # The old draft's header is not an Origin (Tornado 6.6 ignores it too).
        (("Sec-WebSocket-Origin: http://evil.example",), 101),
    ],
)
def test_origin_rules(run: Runner[Any], extra: tuple[str, ...], status: int) -> None:
    async def body() -> None:
        app = Application([("/ws", Echo)], trusted_origins=["http://trusted.example"])
        async with serve(app) as served:
            lines = [line.format(port=served.port) for line in extra]
            raw = await RawClient.connect(served.port, extra=tuple(lines))
            try:
                head = await raw.reader.readuntil(b"\r\n\r\n")
            finally:
                await raw.close()
            assert head.startswith(f"HTTP/1.1 {status} ".encode()), head

    run(body())


def test_check_origin_runs_after_prepare_and_may_use_it(run: Runner[Any]) -> None:
    class Token(Echo):
        def prepare(self) -> None:
            self.authenticated = self.get_argument("token", None) == "secret"

        def check_origin(self, origin: str) -> bool:
            return self.authenticated

    async def body() -> None:
        async with serve(Application([("/ws", Token)])) as served:
            async with connect(
                served.url("/ws?token=secret"),
                origin="http://evil.example",
                proxy=None,  # type: ignore[arg-type]
            ) as ws:
                await ws.send("in")
                assert await ws.recv() == "in"
            with pytest.raises(InvalidStatus) as info:
                await connect(served.url(), origin="http://evil.example", proxy=None)  # type: ignore[arg-type]
            assert info.value.response.status_code == 403

    run(body())


def test_check_trusted_origin_override_is_the_default_check(run: Runner[Any]) -> None:
    class Subdomains(Echo):
        def check_trusted_origin(self, origin: str) -> bool:
            return origin.endswith(".example.com")

    async def body() -> None:
        async with serve(Application([("/ws", Subdomains)])) as served:
            async with connect(served.url(), origin="http://a.example.com", proxy=None) as ws:  # type: ignore[arg-type]
                await ws.send("sub")
                assert await ws.recv() == "sub"
            with pytest.raises(InvalidStatus) as info:
                await connect(served.url(), origin="http://example.org", proxy=None)  # type: ignore[arg-type]
            assert info.value.response.status_code == 403

    run(body())


def test_prepare_can_refuse_before_the_upgrade(run: Runner[Any]) -> None:
    class Guarded(Echo):
        def prepare(self) -> None:
            raise HTTPError(401)

    async def body() -> None:
        async with serve(Application([("/ws", Guarded)])) as served:
            with pytest.raises(InvalidStatus) as info:
                await connect(served.url(), proxy=None)
            assert info.value.response.status_code == 401

    run(body())


def test_subprotocol_selected_by_the_handler_is_answered(run: Runner[Any]) -> None:
    offered: list[list[str]] = []
    chosen: list[str | None] = []

    class Chat(Echo):
        def select_subprotocol(self, subprotocols: list[str]) -> str | None:
            offered.append(subprotocols)
            return "chat.v2" if "chat.v2" in subprotocols else None

        def open(self) -> None:
            chosen.append(self.selected_subprotocol)

    async def body() -> None:
        async with serve(Application([("/ws", Chat)])) as served:
            offer = ["chat.v1", "chat.v2"]
            async with connect(served.url(), subprotocols=offer, proxy=None) as ws:  # type: ignore[arg-type]
                assert ws.subprotocol == "chat.v2"
            async with connect(served.url(), proxy=None) as ws:
                assert ws.subprotocol is None

    run(body())
    assert offered == [["chat.v1", "chat.v2"], []]
    assert chosen == ["chat.v2", None]


def test_selecting_a_subprotocol_the_client_did_not_offer_is_a_500(
    run: Runner[Any], caplog: pytest.LogCaptureFixture
) -> None:
    class Wrong(Echo):
        def select_subprotocol(self, subprotocols: list[str]) -> str | None:
            return "other"

    async def body() -> None:
        async with serve(Application([("/ws", Wrong)])) as served:
            with pytest.raises(InvalidStatus) as info:
                await connect(served.url(), subprotocols=["mine"], proxy=None)  # type: ignore[list-item]
            assert info.value.response.status_code == 500

    with caplog.at_level(logging.ERROR):
        run(body())
    assert any("did not offer" in str(r.exc_info[1]) for r in caplog.records if r.exc_info)


def test_compression_is_negotiated_only_when_the_handler_allows_it(run: Runner[Any]) -> None:
    class Compressed(Echo):
        def get_compression_options(self) -> dict[str, Any] | None:
            return {"compression_level": 9}

    async def body() -> None:
        app = Application([("/plain", Echo), ("/deflate", Compressed)])
        async with serve(app) as served:
            async with connect(served.url("/deflate"), proxy=None) as ws:
                header = (
                    ws.response.headers.get("Sec-WebSocket-Extensions") if ws.response else None
                )
                assert header is not None and header.startswith("permessage-deflate")
                assert [e.name for e in ws.protocol.extensions] == ["permessage-deflate"]
                text = "squall " * 2000
                await ws.send(text)
                assert await ws.recv() == text
            async with connect(served.url("/plain"), proxy=None) as ws:
                assert ws.response is not None
                assert "Sec-WebSocket-Extensions" not in ws.response.headers
                assert ws.protocol.extensions == []

    run(body())


def test_http_methods_raise_after_the_upgrade(run: Runner[Any]) -> None:
    errors: list[str] = []

    class Strict(Echo):
        def open(self) -> None:
            for call in (
                lambda: self.write("x"),
                lambda: self.set_header("X", "1"),
                lambda: self.set_status(200),
                lambda: self.finish(),
                lambda: self.flush(),
            ):
                try:
                    call()
                except RuntimeError as exc:
                    errors.append(str(exc))

    async def body() -> None:
        async with serve(Application([("/ws", Strict)])) as served:
            async with connect(served.url(), proxy=None) as ws:
                await ws.send("x")
                assert await ws.recv() == "x"

    run(body())
    assert errors == ["Method not supported for Web Sockets"] * 5
