"""Tornado's ``detach()``: the connection's socket handed to the application as an IOStream.

``request.connection.detach()`` (and ``RequestHandler.detach()``) end all HTTP processing on
the connection and return a :class:`squall.iostream.IOStream` that owns its socket
(``HTTP1Protocol.detach_stream``). The stream comes from the stream layer
(``squall._streams.handover``), imported here only when an application asks: the protocol layer
runs no stream code otherwise (``tests/test_layers.py`` names this one import).

The stream must carry on exactly where HTTP stopped, so what the protocol already read and did
not give the application is put back first (:func:`unread_bytes`): the part of the request body
not delivered yet, and after an upgrade or CONNECT request the bytes that followed it. What
cannot be put back refuses the hand-over with RuntimeError (:func:`refusal`), before anything
changes: the parser has taken apart a request read ahead (a pipelined one) or the framing of a
chunked body, or ``detach()`` is called inside ``data_received`` (the rest of the piece being
delivered is not recorded anywhere). A TLS connection is handed over through a relay (the
stream layer's ``tlsrelay``): the TLS session stays in the transport.
"""

from __future__ import annotations

from typing import Any

from squall._http1.exchange import HTTP1Exchange
from squall._http1.phases import DELIVER_BODY, READ_DONE

__all__ = ["refusal", "take_socket", "unread_bytes"]


def refusal(ex: HTTP1Exchange, read_ahead: bool, processing: bool) -> str | None:
    """Why the connection of ``ex`` cannot be handed over whole, or None if it can.

    ``read_ahead``: the protocol holds bytes of a later request; ``processing``: the protocol
    is inside a delegate call."""
    if read_ahead:
        return (
            "Cannot detach(): the client already sent another request on this connection "
            "(pipelining), which the server has read; detach before the client sends more"
        )
    if ex.transfer_encoding and (ex.reading != READ_DONE or ex.body_pending or ex.body_rest):
        return (
            "Cannot detach() with a chunked request body not delivered yet: the server has "
            "taken its framing apart; read the body first (or detach in a request without one)"
        )
    if processing and ex.delivery == DELIVER_BODY and not ex.waiting:
        return (
            "Cannot detach() inside data_received(): call it in headers_received(), or once "
            "the body has been read"
        )
    return None


def unread_bytes(ex: HTTP1Exchange, tail: bytes) -> bytes:
    """The bytes read and not given to the application, in order: what is left of the body of
    ``ex`` (a Content-Length body; see :func:`refusal` for chunked ones), then ``tail`` (what
    followed an upgrade request). ``ex`` is not changed."""
    return ex.body_rest + b"".join(ex.body_pending) + tail


def take_socket(transport: Any, data: bytes) -> Any:
    """An IOStream owning the socket of ``transport``, with ``data`` readable first (the
    transport is closed; see ``squall._streams.handover``)."""
    from squall._streams.handover import take_over  # the stream layer, only when asked

    return take_over(transport, data)
