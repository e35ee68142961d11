"""Upgrade requests: the hand-off of the transport, and upgrade requests with a body.

A request that asks to switch protocols (``Connection: upgrade``, or CONNECT) stops the parser:
httptools reports where the request ended and does not parse what follows, which belongs to
the new protocol if the application answers ``101`` and calls ``upgrade()``. The protocol
holds those bytes (the upgrade tail, and reads held while suspended) and either gives them to
the new protocol with the transport (:func:`switch_protocol`) or, when the application answers
normally, parses them as HTTP again.

httptools also skips the body of any request asking to upgrade, but a connection cannot switch
protocols before the body is read (and only body-less requests are upgraded here). Such a
request is served as a normal one: its body is read by a fresh parser (:func:`body_parser`).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Protocol

import httptools

if TYPE_CHECKING:
    from squall._http1.exchange import HTTP1Exchange
    from squall._http1.state import ServerState

__all__ = ["ParserCallbacks", "body_parser", "switch_protocol"]


class ParserCallbacks(Protocol):
    """The httptools callbacks of a request parser (``HTTP1Protocol`` implements them)."""

    def on_message_begin(self) -> None:
        """A message begins."""

    def on_url(self, url: bytes) -> None:
        """A piece of the request target."""

    def on_header(self, name: bytes, value: bytes) -> None:
        """A header (or trailer) field."""

    def on_headers_complete(self) -> None:
        """The head is complete."""

    def on_body(self, body: bytes) -> None:
        """A piece of the body."""

    def on_message_complete(self) -> None:
        """The message is complete."""


def body_parser(callbacks: ParserCallbacks, ex: HTTP1Exchange) -> Any:
    """A parser that reads the body of ``ex`` (an upgrade request the parser stopped at), then
    the requests after it, into ``callbacks``.

    It is primed with a head of the same framing, which :class:`_SkipOneHead` hides."""
    if ex.transfer_encoding:
        framing = b"Transfer-Encoding: chunked"
    else:
        framing = b"Content-Length: %d" % ex.content_length
    parser = httptools.HttpRequestParser(_SkipOneHead(callbacks))
    parser.feed_data(b"PUT / HTTP/1.1\r\n" + framing + b"\r\n\r\n")
    return parser


def switch_protocol(
    transport: Any,
    protocol: asyncio.BaseProtocol,
    state: ServerState,
    tail: bytes,
    *,
    eof: bool,
    paused: bool,
) -> None:
    """Give ``transport`` to ``protocol``, with ``tail`` (the bytes read after the upgrade).

    ``eof``: the peer half-closed before the hand-off (the new protocol hears it too);
    ``paused``: reading was paused, and is resumed for the new protocol."""
    transport.set_protocol(protocol)
    register = getattr(protocol, "register_with", None)
    if register is not None:
        # A protocol that can be drained (the WebSocket one) takes the connection's place in
        # the registry, so that drain() reaches it; it discards itself when it closes.
        register(state)
    protocol.connection_made(transport)
    if tail and isinstance(protocol, asyncio.Protocol):
        protocol.data_received(tail)
    if eof:
        if not (isinstance(protocol, asyncio.Protocol) and protocol.eof_received()):
            transport.close()
    elif paused:
        transport.resume_reading()


class _SkipOneHead:
    """Parser callbacks that ignore the head of the first message, then forward everything."""

    __slots__ = ("_skip", "_target")

    def __init__(self, target: ParserCallbacks) -> None:
        self._target = target
        self._skip = True

    def on_message_begin(self) -> None:
        if not self._skip:
            self._target.on_message_begin()

    def on_url(self, url: bytes) -> None:
        if not self._skip:
            self._target.on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        if not self._skip:
            self._target.on_header(name, value)

    def on_headers_complete(self) -> None:
        if not self._skip:
            self._target.on_headers_complete()

    def on_body(self, body: bytes) -> None:
        self._target.on_body(body)

    def on_message_complete(self) -> None:
        self._skip = False
        self._target.on_message_complete()
