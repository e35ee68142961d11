"""The parser's callbacks: each request is recorded into a new exchange, and nothing else.

httptools calls these while ``feed_data`` runs (rule 2 of ``protocol.py``): they record the
start line, the raw header fields, the body pieces and the reading phase into an
:class:`~squall._http1.exchange.HTTP1Exchange`, queue it in arrival order and move the
connection's deadline; or they raise :class:`RequestRejected` for a request our checks refuse
(``head.py`` holds the head rules, ``accounting.py`` says what each counter charges). A
:class:`Recorder` gets what it needs passed in (the connection as an ``ExchangeOwner``, the
queue, the read account) and has no way to reach a delegate: the protocol replays what was
recorded once ``feed_data`` has returned.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any, Final

import httptools

from squall._http1.accounting import ReadAccount
from squall._http1.exchange import HTTP1Exchange
from squall._http1.head import STAND_IN, VERSIONS, classify_header, note_header, validate_head
from squall._http1.owner import ExchangeOwner
from squall._http1.params import RequestRejected, body_too_large
from squall._http1.phases import DELIVER_BODY, READ_BODY, READ_DONE, READ_HEAD
from squall._http1.state import DEADLINE_BODY, DEADLINE_HEAD, DEADLINE_NONE
from squall._http1.upgrade import body_parser

if TYPE_CHECKING:
    from squall._http1.refusals import Rejection

__all__ = ["Recorder", "method_wait"]

_METHOD_NAMES: Final = {
    m.encode(): m for m in ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS")
}
# Raw header name -> its lower-cased form if the protocol tracks it, else None (see head.py).
_CLASSIFIED: Final[dict[bytes, bytes | None]] = {}
_UNSEEN: Final = b"\x00"


class Recorder:
    """The httptools callbacks of one connection, and its parser.

    ``cur`` is the request being parsed (also the last one queued), ``chunk`` the read being
    fed while a request may still begin at its first byte (set by the protocol around
    ``feed_data``), ``account`` the counters kept from read to read."""

    __slots__ = (
        "_loop",
        "_max_header_size",
        "_max_headers",
        "_owner",
        "_params",
        "_queue",
        "account",
        "chunk",
        "cur",
        "extension",
        "parser",
    )

    def __init__(self, owner: ExchangeOwner, queue: deque[HTTP1Exchange | Rejection]) -> None:
        params = owner.params
        # None once the connection is gone (close()): the Recorder and its connection refer
        # to each other, and so do the Recorder and its parser.
        self._owner: ExchangeOwner | None = owner
        self._params = params
        self._loop = owner.state.loop
        self._queue = queue
        self._max_header_size = params.max_header_size
        self._max_headers = params.max_headers
        self.account = ReadAccount(params.max_header_size)
        self.cur: HTTP1Exchange | None = None
        self.chunk: bytes | None = None
        self.parser: Any = None
        # The name of the extension method the next request parsed as ``STAND_IN`` has
        # (``protocol.py``, extension methods): llhttp knows a fixed list of methods.
        self.extension: str | None = None

    def new_parser(self) -> None:
        """Start parsing afresh (a new connection, or after an upgrade answered normally)."""
        self.parser = httptools.HttpRequestParser(self)
        self.account.walker = None

    def close(self) -> None:
        """The connection is gone: let go of the parser, the request being parsed and the
        connection, so that reference counting frees them (no cycle is left for the
        collector). Nothing is fed after this."""
        self.parser = None
        self.cur = None
        self._owner = None

    def read_body_of(self, ex: HTTP1Exchange) -> None:
        """Record the body of ``ex``, an upgrade request the parser stopped at without reading
        its body, then the requests after it (``upgrade.body_parser``)."""
        ex.reading = READ_BODY  # httptools marked it complete without reading the body
        self.cur = ex
        self.parser = body_parser(self, ex)

    def is_head(self, ex: HTTP1Exchange | None) -> bool:
        """Whether ``ex``, perhaps still in its head, is a HEAD request (as far as known)."""
        if ex is None or not ex.url:
            return False  # the method was not read (or not read whole)
        if ex.reading != READ_HEAD:
            return ex.method == "HEAD"
        return bool(self.parser.get_method() == b"HEAD")

    # -- the callbacks -----------------------------------------------------------------------

    def on_message_begin(self) -> None:
        owner = self._owner
        assert owner is not None  # close() comes after the last feed_data
        ex = HTTP1Exchange(owner)
        ex.line_chunk = self.chunk  # only the first request of a read starts at its first byte
        self.chunk = None
        self.cur = ex
        self._queue.append(ex)
        self.account.head_bytes = 0
        if owner.deadline_kind != DEADLINE_HEAD:
            owner.set_deadline(DEADLINE_HEAD, self._loop.time() + self._params.header_timeout)

    def on_url(self, url: bytes) -> None:
        ex = self.cur
        assert ex is not None  # httptools always calls on_message_begin first
        ex.url += url
        ex.head_size += len(url)
        if ex.head_size > self._max_header_size:
            raise RequestRejected("Request-URI Too Long", 414)

    def on_header(self, name: bytes, value: bytes) -> None:
        ex = self.cur
        assert ex is not None
        if ex.reading != READ_HEAD:
            self._on_trailer(ex, name, value)
            return
        # llhttp drops leading whitespace only; a field value excludes trailing OWS too
        # (RFC 9112 §5.1). rstrip returns the same object when there is nothing to strip.
        if value and value[-1] in (32, 9):  # most values end in neither: no method call
            value = value.rstrip(b" \t")
        raw = ex.raw_headers
        raw.append((name, value))
        ex.head_size += len(name) + len(value) + 4
        if ex.head_size > self._max_header_size or len(raw) > self._max_headers:
            if len(raw) > self._max_headers:
                raise RequestRejected("Request Header Fields Too Large: too many fields", 431)
            raise RequestRejected("Request Header Fields Too Large", 431)
        tracked = _CLASSIFIED.get(name, _UNSEEN)
        if tracked is _UNSEEN:
            tracked = classify_header(name)
            if len(_CLASSIFIED) < 4096:  # a peer inventing names cannot grow it without bound
                _CLASSIFIED[name] = tracked
        if tracked is not None:
            note_header(ex, tracked, value)

    def _on_trailer(self, ex: HTTP1Exchange, name: bytes, value: bytes) -> None:
        """A field of a chunked body's trailer section: bounded like the head, then dropped.

        RFC 9110 §6.5.1: trailer fields are not merged into the header section (the delegate
        has seen the headers already, or will, depending on where a read ended); none of them
        changes how the request is framed or served."""
        ex.trailer_size += len(name) + len(value) + 4
        ex.trailer_count += 1
        if ex.trailer_size > self._max_header_size or ex.trailer_count > self._max_headers:
            raise RequestRejected("Request Header Fields Too Large: trailer section", 431)

    def on_headers_complete(self) -> None:
        ex = self.cur
        owner = self._owner
        assert ex is not None and owner is not None
        parser = self.parser
        method = parser.get_method()
        version: str | None = None
        chunk = ex.line_chunk
        if chunk is not None:
            # The request began at the first byte of ``chunk``: if that is the whole request
            # line with HTTP/1.1, the parser read the same. (get_http_version formats a string.)
            ex.line_chunk = None
            if chunk.startswith(b"".join([method, b" ", ex.url, b" HTTP/1.1\r\n"])):
                version = "HTTP/1.1"
        if version is None:
            version = VERSIONS.get(parser.get_http_version())
            if version is None:
                raise RequestRejected("HTTP Version Not Supported", 505)
        ex.version = version
        ex.method = _METHOD_NAMES.get(method) or self._method_name(method)
        # llhttp reports an upgrade only for CONNECT or with "Connection: upgrade": skip the
        # call (one per request) when neither is there.
        tokens = ex.connection_tokens  # usually empty: skip the method call then
        ex.is_upgrade = (
            (bool(tokens) and tokens.find(b"upgrade") >= 0) or ex.method == "CONNECT"
        ) and parser.should_upgrade()
        params = self._params
        validate_head(ex, version, params.no_keep_alive)
        ex.reading = READ_BODY
        account = self.account
        account.head_bytes = 0
        if ex.has_body:
            if ex.transfer_encoding:
                account.walker_due = True  # chunk-size lines are measured after this read
            now = self._loop.time()
            ex.body_started_at = now
            timeout = ex.body_timeout
            if timeout is None:
                timeout = params.body_start_timeout
            owner.set_deadline(DEADLINE_BODY, now + timeout)
        else:
            owner.set_deadline(DEADLINE_NONE, 0.0)

    def _method_name(self, method: bytes) -> str:
        """The name of a method outside the common seven: the extension method ``STAND_IN``
        stands in for (once), else the method as llhttp read it."""
        name = self.extension
        if name is not None and method == STAND_IN:
            self.extension = None
            return name
        return method.decode("ascii")

    def on_body(self, body: bytes) -> None:
        ex = self.cur
        assert ex is not None
        ex.body_pending.append(body)
        ex.body_received += len(body)
        if ex.body_received > ex.max_body_size and ex.delivery >= DELIVER_BODY:
            raise RequestRejected(body_too_large(bool(ex.transfer_encoding)), 413)
        if ex.body_timeout is None:
            params = self._params
            owner = self._owner
            assert owner is not None
            owner.deadline = (
                ex.body_started_at
                + params.body_start_timeout
                + ex.body_received / params.body_min_rate
            )

    def on_message_complete(self) -> None:
        ex = self.cur
        owner = self._owner
        assert ex is not None and owner is not None
        ex.reading = READ_DONE
        self.cur = None
        owner.set_deadline(DEADLINE_NONE, 0.0)


def method_wait() -> Any:
    """A parser that holds a connection's place while an extension method is cut by the end
    of a read: it has refused a byte, and llhttp keeps refusing every read after that as it
    refuses a method it does not know, without a callback. So the protocol's
    extension-method path (``protocol.py``) reads the method on, from
    ``ReadAccount.method_part`` and the new bytes, until the space after it arrives; then a
    real parser takes over. (No class of its own: a new type on the import path changes
    CPython's type-attribute cache layout for every request.)"""
    parser = httptools.HttpRequestParser(None)
    try:
        parser.feed_data(b"\x00")
    except httptools.HttpParserInvalidMethodError:
        return parser
    raise AssertionError("llhttp accepted a NUL as a method")  # pragma: no cover
