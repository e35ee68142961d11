"""The phases of one exchange, as data: what has been read, delivered and written.

An :class:`~squall._http1.exchange.HTTP1Exchange` moves through three independent sequences,
each one ``int`` on the exchange (as h11 keeps each side's state as data). Each only moves
forward, with the two exceptions named below, so a phase is compared with ``<``/``>=``.

Request side, what the parser has read (``ex.reading``, written by ``protocol.py``):

==============  =============================================================================
``READ_HEAD``   inside the head: start line and fields are being recorded
``READ_BODY``   the head is complete and valid; the body (if any) is being read
``READ_DONE``   the whole message has been read
==============  =============================================================================

Request side, what the delegate has been given (``ex.delivery``, written by ``protocol.py``):

=================  ==========================================================================
``DELIVER_NONE``   queued: no delegate yet
``DELIVER_HEAD``   ``start_request`` and ``headers_received`` were called. The body limit is
                   checked when this phase ends (a streaming handler may change it in
                   ``prepare``), and ``100 Continue`` sent if the client asked for it
``DELIVER_BODY``   body pieces go to ``data_received`` as they arrive; the body limit is
                   enforced while reading
``DELIVER_DONE``   ``finish()`` was delivered
=================  ==========================================================================

Response side, what the application has written (``ex.response``, written by ``exchange.py``
alone; the protocol asks for the last one through ``abandon()``):

======================  =====================================================================
``RESPONSE_NONE``       nothing written yet: the protocol may still answer with an error
``RESPONSE_STARTED``    the status line and headers are written; the body is being written
``RESPONSE_DONE``       ``finish()`` was called (or the connection was handed to another
                        protocol by ``upgrade()``)
``RESPONSE_DETACHED``   the application took the connection's socket (Tornado's ``detach()``,
                        ``takeover.py``): writing through the exchange is an error
``RESPONSE_ABANDONED``  the protocol ended the exchange first (a bad body, broken framing, a
                        lost connection): later writes go nowhere and ``finish()`` does nothing
======================  =====================================================================

The two moves backward: an upgrade request with a body goes from ``READ_DONE`` back to
``READ_BODY`` (httptools skips such a body, so it is read again by a fresh parser:
``upgrade.py``); a ``finish()`` the gzip delegate refuses (a body cut short) goes from
``DELIVER_DONE`` back to ``DELIVER_BODY``, so that the application hears
``on_connection_close`` as for any other failed body.

One flag is not a phase: ``ex.waiting``, set while an awaitable the delegate returned is
pending. It can happen in ``DELIVER_HEAD`` or ``DELIVER_BODY`` and does not change which phase
comes next; nothing more is delivered, and reading pauses, until the awaitable resolves.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "DELIVER_BODY",
    "DELIVER_DONE",
    "DELIVER_HEAD",
    "DELIVER_NONE",
    "READ_BODY",
    "READ_DONE",
    "READ_HEAD",
    "RESPONSE_ABANDONED",
    "RESPONSE_DETACHED",
    "RESPONSE_DONE",
    "RESPONSE_NONE",
    "RESPONSE_STARTED",
]

READ_HEAD: Final = 0
READ_BODY: Final = 1
READ_DONE: Final = 2

DELIVER_NONE: Final = 0
DELIVER_HEAD: Final = 1
DELIVER_BODY: Final = 2
DELIVER_DONE: Final = 3

RESPONSE_NONE: Final = 0
RESPONSE_STARTED: Final = 1
RESPONSE_DONE: Final = 2
RESPONSE_DETACHED: Final = 3
RESPONSE_ABANDONED: Final = 4
