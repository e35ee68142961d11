"""What the WebSocket protocol calls and is called through: errors and two small interfaces.

:class:`WebSocketDelegate` is implemented by the framework for a handler;
:class:`ConnectionRegistry` is the server's live-connection registry (its drain closes us).
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, Protocol

__all__ = ["ConnectionRegistry", "WebSocketClosedError", "WebSocketDelegate", "WebSocketError"]


class WebSocketError(Exception):
    """Base class of WebSocket errors."""


class WebSocketClosedError(WebSocketError):
    """The WebSocket is closed (or closing): the message cannot be sent."""


class WebSocketDelegate(Protocol):
    """What a :class:`~squall._ws.protocol.WebSocketProtocol` calls, one call at a time."""

    def opened(self) -> Awaitable[None] | None:
        """The connection is open; an awaitable holds back messages until it resolves."""

    def message_received(self, message: str | bytes) -> Awaitable[None] | None:
        """A whole message (str for text, bytes for binary); may return an awaitable."""

    def ping_received(self, data: bytes) -> None:
        """A ping arrived (the codec has already answered it)."""

    def pong_received(self, data: bytes) -> None:
        """A pong arrived."""

    def closed(self) -> None:
        """The connection is gone; called exactly once."""

    def log_exception(self, exc: BaseException) -> None:
        """One of the calls above (or its awaitable) raised ``exc``; the connection fails."""


class ConnectionRegistry(Protocol):
    """The server's live-connection registry, which drains connections on shutdown."""

    draining: bool

    def add(self, conn: Any) -> None:
        """Register ``conn``."""

    def discard(self, conn: Any) -> None:
        """Forget ``conn``."""
