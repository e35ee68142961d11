"""The server side of the WebSocket opening handshake (RFC 6455 §4.2), over ``websockets``.

:func:`upgrade_error` answers "is this a WebSocket upgrade at all?" with Tornado's messages;
:func:`accept` validates the rest of the request (version, key, extensions) with the sans-IO
``ServerProtocol`` of the ``websockets`` package and returns it, already OPEN, together with
the headers of the ``101`` response. Nothing here writes to a socket or knows about handlers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from websockets.datastructures import Headers
from websockets.exceptions import InvalidHandshake, InvalidHeaderValue, InvalidProtocol
from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory
from websockets.http11 import Request
from websockets.protocol import OPEN
from websockets.server import ServerProtocol

from squall._ws.codec import CODEC_LOG, ServerCodec

__all__ = ["SUPPORTED_VERSION", "Handshake", "HandshakeError", "accept", "upgrade_error"]

SUPPORTED_VERSION = "13"  # RFC 6455; the drafts' 7 and 8 are not spoken by any browser now
_MISSING = "Missing/Invalid WebSocket headers"
# Tornado's defaults for permessage-deflate (its gzip level and zlib's default memLevel).
_DEFAULT_LEVEL = 6
_DEFAULT_MEM_LEVEL = 8


class HandshakeError(Exception):
    """The request cannot be upgraded: answer ``status`` with ``message`` (and ``headers``)."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


class Handshake:
    """An accepted handshake: the OPEN codec and the headers of the ``101`` response."""

    __slots__ = ("codec", "headers")

    def __init__(self, codec: ServerProtocol, headers: list[tuple[str, str]]) -> None:
        self.codec = codec
        self.headers = headers


def upgrade_error(upgrade: str, connection: str) -> str | None:
    """Why a request is not a WebSocket upgrade (Tornado's 400 messages), or None if it is.

    ``upgrade`` (the Upgrade header) must be ``websocket`` in any case; ``connection`` (the
    Connection header) must list ``upgrade``."""
    if upgrade.lower() != "websocket":
        return 'Can "Upgrade" only to "WebSocket".'
    if "upgrade" not in [token.strip().lower() for token in connection.split(",")]:
        return '"Connection" must be "Upgrade".'
    return None


def compression_factory(options: Mapping[str, Any]) -> ServerPerMessageDeflateFactory:
    """A permessage-deflate offer from Tornado-style ``get_compression_options()`` values.

    ``compression_level`` (default 6) and ``mem_level`` (default 8) tune zlib; the window
    sizes and context takeover follow what the client asks for (RFC 7692)."""
    settings = {
        "level": options.get("compression_level", _DEFAULT_LEVEL),
        "memLevel": options.get("mem_level", _DEFAULT_MEM_LEVEL),
    }
    return ServerPerMessageDeflateFactory(compress_settings=settings)


def accept(
    version: str,
    headers: Iterable[tuple[str, str]],
    *,
    compression: Mapping[str, Any] | None = None,
    max_message_size: int | None = 10 * 1024 * 1024,
) -> Handshake:
    """Validate an upgrade request that passed :func:`upgrade_error`; negotiate extensions.

    ``version`` is the request's HTTP version, ``headers`` its header pairs. ``compression``
    (None: off) enables permessage-deflate when the client offers it. Raises
    :class:`HandshakeError`: 426 with ``Sec-WebSocket-Version: 13`` for a missing or other
    version, 400 for a missing or malformed key or a malformed extension offer."""
    pairs = Headers(list(headers))
    versions = pairs.get_all("Sec-WebSocket-Version")
    if versions != [SUPPORTED_VERSION]:
        offered = ", ".join(versions) or "none"
        raise HandshakeError(
            426,
            f"Unsupported Sec-WebSocket-Version ({offered}): this server speaks version 13",
            {"Sec-WebSocket-Version": SUPPORTED_VERSION},
        )
    if "Sec-WebSocket-Key" not in pairs:
        raise HandshakeError(400, _MISSING)
    factories = None if compression is None else [compression_factory(compression)]
    codec = ServerCodec(
        extensions=factories, state=OPEN, max_size=max_message_size, logger=CODEC_LOG
    )
    try:
        accept_value, extensions, _ = codec.process_request(Request("/", pairs, protocol=version))
    except InvalidProtocol:
        raise HandshakeError(400, f"WebSocket needs HTTP/1.1, not {version}") from None
    except InvalidHeaderValue as exc:
        raise HandshakeError(400, f"{_MISSING}: {exc}") from None
    except InvalidHandshake as exc:
        raise HandshakeError(400, f"Invalid WebSocket handshake: {exc}") from None
    response = [
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Accept", accept_value),
    ]
    if extensions is not None:
        response.append(("Sec-WebSocket-Extensions", extensions))
    return Handshake(codec, response)
