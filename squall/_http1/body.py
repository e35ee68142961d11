"""The request body path: the body's limit, and its delivery to the delegate in pieces.

The parser callbacks record body bytes as they arrive (``ex.body_pending``, counted in
``ex.body_received``). Once the delegate has had its say about the head (``DELIVER_BODY`` in
``phases.py``: a streaming handler may change the limit in ``prepare``), :func:`over_limit`
decides whether the body may come at all (413 otherwise, before ``100 Continue`` is sent:
:func:`wants_continue`), and :func:`deliver_body` hands what was read to ``data_received``,
in pieces of at most ``chunk_size`` bytes, until the delegate asks to wait.

Gzip is never seen here: the delegate of a gzip body is the wrapper of ``inflate.py``, which
gets these pieces like any other delegate.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

from squall._http1.flow import settled
from squall._http1.phases import READ_DONE
from squall.httputil import message_data_received

if TYPE_CHECKING:
    from squall._http1.exchange import HTTP1Exchange

__all__ = ["deliver_body", "over_limit", "wants_continue"]


def over_limit(ex: HTTP1Exchange) -> bool:
    """Whether the body of ``ex`` is known to be larger than its ``max_body_size``: by its
    Content-Length, by the bytes read so far, or by the chunk sizes read so far."""
    limit = ex.max_body_size
    return ex.content_length > limit or ex.body_received > limit or ex.body_promised > limit


def wants_continue(ex: HTTP1Exchange) -> bool:
    """Whether the client of ``ex`` waits for ``100 Continue`` before it sends the body."""
    return (
        ex.expect_continue
        and not ex.body_pending
        and ex.reading != READ_DONE
        and ex.version == "HTTP/1.1"
    )


def deliver_body(ex: HTTP1Exchange, chunk_size: int) -> Awaitable[Any] | None:
    """Hand the body bytes of ``ex`` read so far to its delegate, ``chunk_size`` at most at a
    time; None once all are delivered.

    When the delegate returns an awaitable that is not already settled, delivery stops and the
    awaitable is returned (what is left of the piece waits in ``ex.body_rest``). An exception
    of the delegate propagates. A request that failed (its ``msg`` is None) gets nothing more:
    what it still had pending is dropped."""
    pending = ex.body_pending
    while True:
        piece = ex.body_rest
        if piece:
            ex.body_rest = b""
        elif pending:
            piece = pending.pop(0)
        else:
            return None
        size = len(piece)
        start = 0
        while start < size:
            part = piece if size <= chunk_size else piece[start : start + chunk_size]
            start += chunk_size
            msg = ex.msg
            if msg is None:
                pending.clear()
                return None
            result = message_data_received(msg, part)
            if result is not None and not settled(result):
                if start < size:
                    ex.body_rest = piece[start:]
                return result
