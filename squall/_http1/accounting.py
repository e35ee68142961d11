"""Which bytes each limit counts, and the bookkeeping of the limits that need byte positions.

No verdict of the protocol depends on where a read ends: every counter charges a message only
for its own bytes, so the same byte stream split at any points is served the same way. Most
counters are charged in the parser callbacks (``protocol.py``) from what the parser reports;
the two that need positions inside a read are kept here, by :class:`ReadAccount`, after each
``feed_data`` (with the framing walker of ``framing.py``).

Counters and deadlines (which bytes each one counts)
----------------------------------------------------
- ``ex.head_size``: the request target (every ``on_url`` piece), plus name + value (trailing
  whitespace removed) + 4 for each header field. Content, so the same for any split. Over
  ``max_header_size``: 414 while still in the target, else 431. The field count
  (``len(ex.raw_headers)``) over ``max_headers``: 431.
- ``ReadAccount.head_bytes``: the bytes of a head still open at the end of a read (httptools
  buffers an unfinished field where we cannot see it, so this bounds its memory). Charged only
  with the head's own bytes: the whole read when the read lies inside the head or began with
  it; from the head's first byte when the head began after another message in the same read
  (found by the framing walker). Over ``2 * max_header_size + 64 KiB``: 431. A complete head
  is judged by ``head_size`` alone.
- ``ex.trailer_size`` / ``ex.trailer_count``: a chunked body's trailer fields, measured like
  the head and bounded by the same limits (431); the fields are then dropped.
- ``ex.body_received``: body bytes after chunked decoding (``on_body``), against
  ``max_body_size`` once the delegate has had its say (``DELIVER_BODY``): 413. A declared
  Content-Length is checked before any body byte; so is ``ex.body_promised``, the sum of the
  chunk sizes read so far (framing walker), the moment a chunk-size line promises too much.
- chunk-size line: its bytes (size digits and extensions, framing walker), at most
  ``framing.MAX_CHUNK_LINE`` (4 KiB) per chunk: 400.
- inflated bytes: out of the gzip decoder (``decompress=True``, ``inflate.py``), at most
  ``max_body_size``: 413; the wire bytes are bounded by ``body_received`` as well. A body that
  is not gzip, has bytes after a gzip member that are not another member, or ends inside a
  member: 400.
- read-ahead: ``body_received`` of a request queued behind the one being served; past
  ``4 * chunk_size`` reading pauses until it is dispatched.
- ``ex.line_chunk`` (the version fast path) counts nothing: it is the read a request began at
  the first byte of, used only when the head also ends in that read, and then the request line
  it compares is the parser's own; otherwise the parser is asked.
- the upgrade tail: the bytes after an upgrade request (and reads held while suspended);
  reading pauses at once, so at most one read is held.
- deadlines: the head's runs from its first byte (or from the connection for the first
  request), the body's from the end of the head, extended by ``body_received /
  body_min_rate``, the idle one from the end of the last response: time and body bytes, never
  reads.
"""

from __future__ import annotations

from collections import deque
from itertools import islice
from typing import TYPE_CHECKING

from squall._http1.exchange import HTTP1Exchange
from squall._http1.framing import FramingMismatch, FramingWalker, Refusal
from squall._http1.phases import READ_BODY
from squall.log import app_log

if TYPE_CHECKING:
    from squall._http1.refusals import Rejection

__all__ = ["ReadAccount"]


class ReadAccount:
    """The position-dependent counters of one connection, carried from read to read.

    The protocol calls :meth:`after_read` after a read that left a message open or held
    chunked framing (never after a read of whole body-less requests: the hot path), and
    :meth:`walk` alone for the bytes before an upgrade. Both return the :class:`Refusal` of a
    request that broke a limit, for the protocol to answer."""

    __slots__ = ("_head_limit", "head_bytes", "head_tail", "method_part", "walker", "walker_due")

    def __init__(self, max_header_size: int) -> None:
        self._head_limit = 2 * max_header_size + 65536
        self.head_bytes = 0  # bytes of the open head (the protocol resets it when one begins)
        self.head_tail = b""  # the last bytes of a read that left a head open
        # The bytes of an open head before its request target: a method cut by the end of a
        # read (llhttp refuses a method it does not know only at a later byte).
        self.method_part = b""
        self.walker: FramingWalker | None = None  # kept while inside a chunked body
        self.walker_due = False  # a chunked head was parsed in this read

    def after_read(
        self,
        data: bytes,
        before: HTTP1Exchange | None,
        received: int,
        queue: deque[HTTP1Exchange | Rejection],
        queued: int,
        cur: HTTP1Exchange | None,
        remote_ip: str,
    ) -> Refusal | None:
        """Check the limits that need byte positions; charge an open head for its bytes.

        ``before`` is the message the read began in (None: it began between messages),
        ``received`` its body bytes then (-1: it was in its head), ``queue[queued:]`` the
        requests the parser began in this read, ``cur`` the one it is in now."""
        open_head = cur if cur is not None and cur.reading < READ_BODY else None
        # Where an open head began is known without the walker when the read lies wholly
        # inside it, or began with it (``line_chunk``: the first request of a read that began
        # between messages).
        began_inside = (
            open_head is not None and open_head is not before and open_head.line_chunk is None
        )
        walker = None
        if self.walker is not None or self.walker_due or began_inside:
            walker, refusal = self.walk(data, before, received, queue, queued, remote_ip)
            if refusal is not None:
                return refusal
        if open_head is None:
            return None
        if not open_head.url:
            self._keep_method_part(data, open_head, before, began_inside, walker)
        open_head.line_chunk = None  # a head split over reads: the parser gives the version
        # The last bytes of the head so far, where the framing walker may find the start of
        # its end mark (bytes of an earlier message before it can never complete one).
        tail = data[-3:]
        if open_head is before:
            tail = (self.head_tail + tail)[-3:]
        self.head_tail = tail
        if not began_inside:
            charge = len(data)
        elif walker is not None and walker.head_start >= 0:
            charge = len(data) - walker.head_start
        else:
            charge = 0  # never reached unless the walker lost track: undercount, never over
        # httptools buffers an unfinished field itself: bound what one head may cost us.
        self.head_bytes += charge
        if self.head_bytes > self._head_limit:
            return Refusal(open_head, 431, "Request header fields too large")
        return None

    def _keep_method_part(
        self,
        data: bytes,
        open_head: HTTP1Exchange,
        before: HTTP1Exchange | None,
        began_inside: bool,
        walker: FramingWalker | None,
    ) -> None:
        """The read ended before the request target of ``open_head``: keep its bytes so far
        (a prefix of a method llhttp knows, or one such method and spaces), in case llhttp
        refuses the method at a byte of a later read (``protocol.py``, extension methods)."""
        start = 0
        if began_inside:
            start = walker.head_start if walker is not None else -1
        # Where the head began is unknown only if the walker lost track: a NUL, which no
        # method holds, then makes that path refuse the request rather than misname it.
        part = data[start:] if start >= 0 else b"\x00"
        if open_head is before:
            part = self.method_part + part
        self.method_part = part if len(part) <= 256 else b"\x00"

    def locate(
        self,
        data: bytes,
        before: HTTP1Exchange | None,
        received: int,
        queue: deque[HTTP1Exchange | Rejection],
        queued: int,
        target: HTTP1Exchange,
        remote_ip: str,
    ) -> tuple[int, Refusal | None]:
        """Where in ``data`` the message ``target`` begins (-1 if the walker cannot tell),
        and the refusal of a request before it that broke a limit. Only for a read the
        parser refused at ``target`` (its method): the walk stops there."""
        walker, refusal = self.walk(data, before, received, queue, queued, remote_ip, stop=target)
        self.walker = None  # the parser starts afresh at ``target``
        if refusal is not None or walker is None or walker.ex is not target:
            return -1, refusal
        return walker.head_start, None

    def walk(
        self,
        data: bytes,
        before: HTTP1Exchange | None,
        received: int,
        queue: deque[HTTP1Exchange | Rejection],
        queued: int,
        remote_ip: str,
        *,
        upgrade: bool = False,
        stop: HTTP1Exchange | None = None,
    ) -> tuple[FramingWalker | None, Refusal | None]:
        """Follow the framing of ``data`` (see framing.py): the walker (None when it could
        not follow; it logs why) and the refusal of a request that broke its limits."""
        self.walker_due = False
        walker = self.walker
        if walker is None:
            if before is None:
                walker = FramingWalker.at_boundary()
            elif received < 0:
                walker = FramingWalker.in_head(before, self.head_tail)
            elif before.transfer_encoding:
                return None, None  # a chunked body the walker lost track of earlier
            else:
                walker = FramingWalker.in_length(before, before.content_length - received)
        new = [e for e in islice(queue, queued, None) if isinstance(e, HTTP1Exchange)]
        try:
            refusal = walker.walk(data, iter(new), check=not upgrade and stop is None, stop=stop)
        except FramingMismatch as exc:
            self.walker = None
            app_log.error(
                "HTTP/1.1 framing walker lost track on a connection from %s (%s): chunk limits "
                "are not checked for the request",
                remote_ip,
                exc,
            )
            return None, None
        self.walker = walker if walker.in_chunked_body and refusal is None else None
        return walker, refusal
