"""Where messages lie inside a read: the byte positions httptools parses but does not report.

httptools hands the protocol what it parsed (start line, fields, body bytes) but never *where*
in a read it found it, and llhttp reads chunk-size lines and their extensions without any
callback at all. Two limits need those positions (see the counters in ``accounting.py``):

- a chunk-size line (size digits and extensions) is bounded at :data:`MAX_CHUNK_LINE` bytes;
- a chunk size promising more body than ``max_body_size`` allows is refused when its line is
  read, before the chunk's data arrives;

and one more is exact only with them: the bytes of a request head that began in the middle of
a read (after the end of another message).

:class:`FramingWalker` follows, after ``feed_data`` returned, the framing llhttp has *just
accepted* in the same bytes: it never decides what is valid (llhttp did), it only measures.
Because llhttp is strict (CRLF line ends; a head ends at the first empty line; a chunk-size
line holds no LF; chunk data is exactly its size, then CRLF), finding those landmarks is exact
and cheap: a ``find`` per head, chunk-size line and trailer section; body bytes are skipped by
arithmetic. If the walker ever disagrees with what the parser reported, that is our bug: it
raises :class:`FramingMismatch` and the protocol stops walking (the parser stays the authority).

Rules:

1. The walker runs only for reads that need it (a chunked body, or a head left open by a read
   that began inside another message): a read holding one whole body-less request never
   reaches it.
2. It never looks back: state carried between reads is a mode, a count and at most three
   bytes of a possible end-of-head mark.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Final

from squall._http1.errors import FramingMismatch
from squall._http1.params import body_too_large
from squall._http1.phases import DELIVER_BODY, READ_BODY, READ_DONE

if TYPE_CHECKING:
    from squall._http1.exchange import HTTP1Exchange

__all__ = ["MAX_CHUNK_LINE", "FramingMismatch", "FramingWalker", "Refusal"]

#: Bytes of one chunk-size line (size digits and extensions, without its CRLF).
MAX_CHUNK_LINE: Final = 4096

# Modes: between messages, in a head, in a Content-Length body, in a chunk-size line, in chunk
# data (and its CRLF), in the trailer section after the last chunk.
BOUNDARY: Final = 0
HEAD: Final = 1
LENGTH: Final = 2
SIZE_LINE: Final = 3
CHUNK_DATA: Final = 4
TRAILERS: Final = 5

_END: Final = b"\r\n\r\n"  # the empty line that ends a head or a trailer section
_HEX: Final = b"0123456789abcdefABCDEF"


class Refusal:
    """A request the walker's limits refuse: answer ``status`` and close."""

    __slots__ = ("ex", "message", "status")

    def __init__(self, ex: HTTP1Exchange, status: int, message: str) -> None:
        self.ex = ex
        self.status = status
        self.message = message


class FramingWalker:
    """Follows message boundaries through reads (see the module docstring).

    Create it in the state of the connection at the start of a read (:meth:`at_boundary`,
    :meth:`in_head`, :meth:`in_length`), then call :meth:`walk` with each read."""

    __slots__ = (
        "digits",
        "digits_done",
        "ex",
        "head_start",
        "line_len",
        "mode",
        "promised",
        "remaining",
        "tail",
    )

    def __init__(self, mode: int, ex: HTTP1Exchange | None, remaining: int, tail: bytes) -> None:
        self.mode = mode
        self.ex = ex
        self.remaining = remaining  # body bytes left (LENGTH), data + CRLF left (CHUNK_DATA)
        self.tail = tail  # the last bytes (at most 3) of an unfinished head or trailer section
        self.digits = b""  # the size digits of the chunk-size line being read
        self.digits_done = False
        self.line_len = 0  # bytes of the chunk-size line so far, its CR included
        self.promised = 0  # body bytes promised by the chunk sizes of this message so far
        self.head_start = -1  # where, in the last read, the unfinished head began (-1: before)

    @classmethod
    def at_boundary(cls) -> FramingWalker:
        """The read starts between messages."""
        return cls(BOUNDARY, None, 0, b"")

    @classmethod
    def in_head(cls, ex: HTTP1Exchange, tail: bytes) -> FramingWalker:
        """The read continues the head of ``ex``, whose last bytes so far were ``tail``."""
        return cls(HEAD, ex, 0, tail[-3:])

    @classmethod
    def in_length(cls, ex: HTTP1Exchange, remaining: int) -> FramingWalker:
        """The read continues the Content-Length body of ``ex``, ``remaining`` bytes to go."""
        return cls(LENGTH, ex, remaining, b"") if remaining > 0 else cls.at_boundary()

    @property
    def in_chunked_body(self) -> bool:
        """Whether the walk stopped inside a chunked body (its state must be kept)."""
        return self.mode >= SIZE_LINE

    def walk(
        self,
        data: bytes,
        later: Iterator[HTTP1Exchange],
        *,
        check: bool = True,
        stop: HTTP1Exchange | None = None,
    ) -> Refusal | None:
        """Follow ``data``; ``later`` yields the messages the parser began in it, in order.

        Returns the first limit a request broke (the rest of the read does not matter then),
        else None. Raises :class:`FramingMismatch` when the parser reported something else
        (``check=False`` skips the comparison at the end: a read cut short by an upgrade, where
        llhttp marks the upgrade request complete without reading its body). With ``stop``
        the walk ends where that message begins (``head_start``; -1 if it was not reached):
        the parser refused it, so nothing after its first byte is followed."""
        n = len(data)
        pos = 0
        self.head_start = -1
        while pos < n:
            mode = self.mode
            if mode == BOUNDARY:
                # llhttp skips empty lines before a request line.
                while pos < n and data[pos] in (13, 10):
                    pos += 1
                if pos == n:
                    break
                ex = next(later, None)
                if ex is None:
                    raise FramingMismatch("a request began that the parser did not report")
                self.ex = ex
                self.mode = HEAD
                self.tail = b""
                self.head_start = pos
                if ex is stop:
                    return None
            elif mode == HEAD:
                end = self._find_end(data, pos)
                if end < 0:
                    break
                pos = end
                self.head_start = -1
                self._start_body()
            elif mode == LENGTH or mode == CHUNK_DATA:
                take = min(self.remaining, n - pos)
                pos += take
                self.remaining -= take
                if self.remaining == 0:
                    self.mode = BOUNDARY if mode == LENGTH else SIZE_LINE
            elif mode == SIZE_LINE:
                pos, refusal = self._size_line(data, pos)
                if refusal is not None:
                    return refusal
            else:  # TRAILERS
                end = self._find_end(data, pos)
                if end < 0:
                    break
                pos = end
                self.mode = BOUNDARY
        if check:
            self._check_end(later)
        return None

    def _find_end(self, data: bytes, pos: int) -> int:
        """The position after the empty line that ends the current section, or -1.

        An end mark may have begun in the bytes before ``pos`` (``tail``); when none is found,
        ``tail`` keeps the last bytes for the next read."""
        tail = self.tail
        if tail:
            for k in (3, 2, 1):
                if tail.endswith(_END[:k]) and data.startswith(_END[k:], pos):
                    return pos + 4 - k
        i = data.find(_END, pos)
        if i >= 0:
            return i + 4
        n = len(data)
        self.tail = (tail + data[max(pos, n - 3) :])[-3:]
        return -1

    def _start_body(self) -> None:
        """The head of ``ex`` ended: walk its body the way the parser frames it."""
        ex = self.ex
        if ex is None or ex.reading < READ_BODY:
            raise FramingMismatch("a head ended where the parser saw none end")
        if ex.transfer_encoding:  # validate_head let only "chunked" through
            self.mode = SIZE_LINE
            self.promised = 0
            self._new_line()
        elif ex.content_length > 0:
            self.mode = LENGTH
            self.remaining = ex.content_length
        else:
            self.mode = BOUNDARY

    def _new_line(self) -> None:
        self.digits = b""
        self.digits_done = False
        self.line_len = 0

    def _size_line(self, data: bytes, pos: int) -> tuple[int, Refusal | None]:
        """Measure a chunk-size line from ``pos``; returns where the walk goes on."""
        ex = self.ex
        if ex is None:
            raise FramingMismatch("a chunked body outside any request")
        i = data.find(b"\n", pos)
        stop = len(data) if i < 0 else i
        self.line_len += stop - pos
        if self.line_len > MAX_CHUNK_LINE + 1:  # + 1: the CR before the LF is counted
            return stop, Refusal(ex, 400, "Bad Request: chunk extensions too long")
        if not self.digits_done:
            piece = data[pos:stop]
            run = len(piece) - len(piece.lstrip(_HEX))
            self.digits += piece[:run]
            self.digits_done = run < len(piece)
        if i < 0:
            return stop, None
        if not self.digits:
            raise FramingMismatch("a chunk-size line without a size")
        size = int(self.digits, 16)
        self._new_line()
        if size == 0:
            self.mode = TRAILERS
            self.tail = b"\r\n"  # the line's own CRLF may begin the trailer section's end
            return i + 1, None
        self.promised += size
        self.mode = CHUNK_DATA
        self.remaining = size + 2  # the data, then CRLF
        ex.body_promised = self.promised
        if self.promised > ex.max_body_size and ex.delivery >= DELIVER_BODY:
            return i + 1, Refusal(ex, 413, body_too_large(bool(ex.transfer_encoding)))
        return i + 1, None

    def _check_end(self, later: Iterator[HTTP1Exchange]) -> None:
        """At the end of a read the walker and the parser must be in the same place."""
        if next(later, None) is not None:
            raise FramingMismatch("the parser began a request the walker did not find")
        ex = self.ex
        if ex is None:
            return
        if self.mode == HEAD:
            if ex.reading >= READ_BODY:
                raise FramingMismatch("the parser finished a head the walker did not")
        elif self.mode == BOUNDARY:
            if ex.reading != READ_DONE:
                raise FramingMismatch("a request ended where the parser saw none end")
        elif ex.reading == READ_DONE:
            raise FramingMismatch("the parser finished a body the walker did not")
