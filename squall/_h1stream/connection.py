"""``HTTP1Connection``: one HTTP/1.1 message exchange over an IOStream, either side.

A client writes a request with :meth:`HTTP1Connection.write_headers`/``write``/``finish`` and
reads the response with :meth:`HTTP1Connection.read_response`; a server (see ``server.py``)
reads a request with ``read_response`` and writes the response. A new ``HTTP1Connection`` is
made for each exchange on the same stream; the stream outlives it (keep-alive).

How reading works
-----------------
The head is one ``read_until_regex`` bounded by ``max_header_size`` (past it the stream logs
"Unsatisfiable read" and closes). The body is read with ``read_bytes(..., partial=True)``, so
no read waits for more than the peer has sent, and the read buffer never holds more than
``chunk_size`` of body. Chunked bodies are coalesced: the pieces already buffered are joined
and handed over together, before waiting for the network and once ``chunk_size`` is reached,
and the loop yields to the event loop every 64 chunks so that a peer sending thousands of tiny
chunks cannot monopolise it.

Errors: a malformed message (``HTTPInputError``) is logged at INFO on ``squall.general`` as
"Malformed HTTP message from <peer>: <reason>" (a server answers 400 first), the stream is
closed and ``read_response`` returns False. An exception raised by the delegate is logged as
"Uncaught exception" on ``squall.application``, the delegate's ``on_connection_close`` is
called, the stream is closed and ``read_response`` returns False. A stream closed under the
read raises ``StreamClosedError`` out of ``read_response`` (after ``on_connection_close``, if
the head had been delivered).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Final

from squall import gen
from squall._h1stream import wire
from squall._h1stream.gzip import _GzipMessageDelegate
from squall._streams.base import BaseIOStream
from squall._streams.errors import StreamClosedError
from squall._util import date_header_value
from squall.httputil import (
    HTTPConnection,
    HTTPHeaders,
    HTTPInputError,
    HTTPMessageDelegate,
    HTTPOutputError,
    RequestStartLine,
    ResponseStartLine,
    parse_request_start_line,
    parse_response_start_line,
)
from squall.log import app_log, gen_log

__all__ = ["_MAX_1XX_RESPONSES", "HTTP1Connection", "HTTP1ConnectionParameters"]

#: The most informational (1xx) responses read before the final one; more is an error.
_MAX_1XX_RESPONSES: Final = 10
# Chunks read between two yields to the event loop (see "How reading works").
_CHUNKS_PER_YIELD: Final = 64
# The longest chunk-size line accepted, extensions included.
_MAX_CHUNK_LINE: Final = 1024
_CONTINUE: Final = b"HTTP/1.1 100 (Continue)\r\n\r\n"
_BODY_METHODS: Final = frozenset({"POST", "PUT", "PATCH"})


class HTTP1ConnectionParameters:
    """The settings of an :class:`HTTP1Connection` (and of ``HTTP1ServerConnection``).

    ``no_keep_alive``: a server closes the connection after each response. ``chunk_size``:
    the most body bytes handed to the delegate at once (default 64 KiB). ``max_header_size``:
    the longest head read (default 64 KiB). ``header_timeout``/``body_timeout``: seconds to
    wait for a whole head / body (None: no limit). ``max_body_size``: the largest body
    accepted (default: the stream's ``max_buffer_size``). ``decompress``: decode gzip bodies.
    """

    def __init__(
        self,
        no_keep_alive: bool = False,
        chunk_size: int | None = None,
        max_header_size: int | None = None,
        header_timeout: float | None = None,
        max_body_size: int | None = None,
        body_timeout: float | None = None,
        decompress: bool = False,
    ) -> None:
        self.no_keep_alive = no_keep_alive
        self.chunk_size = chunk_size or 65536
        self.max_header_size = max_header_size or 65536
        self.header_timeout = header_timeout
        self.max_body_size = max_body_size
        self.body_timeout = body_timeout
        self.decompress = decompress


class _DelegateFailed(Exception):
    """A delegate method (or what it returned) raised ``error``."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(error)
        self.error = error


class _Done:
    """Stands for a finished future where none is ever awaited (a client's
    ``_finish_future``): ``done()`` is True, ``set_result`` is never reached."""

    def done(self) -> bool:
        return True

    def set_result(self, result: None) -> None:
        raise AssertionError("a client connection has no finish future")


_DONE: Any = _Done()


def _failed_future(error: BaseException) -> asyncio.Future[None]:
    future: asyncio.Future[None] = asyncio.get_event_loop().create_future()
    future.set_exception(error)
    future.exception()  # nobody may look at it: never report it as unretrieved
    return future


class HTTP1Connection(HTTPConnection):
    """One HTTP/1.1 request/response exchange over ``stream``; ``is_client`` picks the side.

    ``params`` is an :class:`HTTP1ConnectionParameters`; ``context`` describes the peer for
    log lines and requests (a server's ``remote_ip``/``protocol``). See the module docstring
    for how reading works and what happens on errors.
    """

    def __init__(
        self,
        stream: BaseIOStream,
        is_client: bool,
        params: HTTP1ConnectionParameters | None = None,
        context: object = None,
    ) -> None:
        self.is_client = is_client
        self.stream: BaseIOStream | None = stream
        self.params = params if params is not None else HTTP1ConnectionParameters()
        self.context = context
        self.no_keep_alive = self.params.no_keep_alive
        self._max_body_size = (
            self.params.max_body_size
            if self.params.max_body_size is not None
            else stream.max_buffer_size
        )
        self._body_timeout = self.params.body_timeout
        self._write_finished = False
        self._read_finished = False
        # A server closes the stream after this exchange (no keep-alive, or a response that
        # went out before the request was read to its end).
        self._disconnect_on_finish = False
        self._request_start_line: RequestStartLine | None = None
        self._response_start_line: ResponseStartLine | None = None
        self._request_headers: HTTPHeaders | None = None
        self._chunking_output = False
        self._expected_content_remaining: int | None = None
        self._pending_write: asyncio.Future[None] | None = None
        self._close_callback: Callable[[], object] | None = None
        # A client's view of the response's framing, for reuse of the stream (keep_alive()).
        self._response_keeps_alive = False
        self._request_connection_tokens: set[str] = set()
        #: The malformed-message error that ended the read, if one did.
        self.input_error: HTTPInputError | None = None
        # Resolved when a server's response is complete (a client never waits on it).
        self._finish_future: asyncio.Future[None] = (
            _DONE if is_client else (stream.io_loop.asyncio_loop.create_future())
        )

    # ---- reading ---------------------------------------------------------------------------

    def read_response(self, delegate: HTTPMessageDelegate) -> Awaitable[bool]:
        """Read one message (a response for a client, a request for a server) into
        ``delegate``; the awaitable gives True if the stream may carry another message."""
        if self.params.decompress:
            delegate = _GzipMessageDelegate(delegate, self.params.chunk_size, self._max_body_size)
        return self._read_message(delegate)

    async def _read_message(self, delegate: HTTPMessageDelegate) -> bool:
        stream = self.stream
        assert stream is not None  # a detached connection reads nothing
        need_delegate_close = False
        try:
            informational = 0
            while True:
                head = await self._read_head(stream)
                if head is None:
                    return False
                first_line, headers = wire.parse_head(head)
                start_line: RequestStartLine | ResponseStartLine
                if self.is_client:
                    start_line = self._response_start_line = parse_response_start_line(first_line)
                else:
                    start_line = parse_request_start_line(first_line)
                    self._request_start_line, self._request_headers = start_line, headers
                    self._disconnect_on_finish = not self._request_keeps_alive(start_line, headers)
                need_delegate_close = True
                if (
                    result := self._call(delegate.headers_received, start_line, headers)
                ) is not None:
                    await self._wait(result)
                if self.stream is None:  # the delegate detached the stream
                    need_delegate_close = False
                    return False
                code = start_line.code if isinstance(start_line, ResponseStartLine) else 0
                if not 100 <= code < 200:
                    break
                if "Content-Length" in headers or "Transfer-Encoding" in headers:
                    raise HTTPInputError(f"Response code {code} cannot have body")
                informational += 1
                if informational > _MAX_1XX_RESPONSES:
                    raise HTTPInputError("Too many 1xx responses")
            if (
                not self.is_client
                and headers.get("Expect", "").lower() == "100-continue"
                and not self._write_finished
            ):
                stream.write(_CONTINUE)
            await self._read_body(start_line, headers, delegate)
            self._read_finished = True
            if not self._write_finished or self.is_client:
                if (result := self._call(delegate.finish)) is not None:
                    await self._wait(result)
                need_delegate_close = False
            if (
                not self.is_client
                and not self._finish_future.done()
                and self.stream is not None
                and not self.stream.closed()
            ):
                # Serve one request at a time: wait for the response before reading on.
                self.stream.set_close_callback(self._on_connection_close)
                await self._finish_future
            if self.is_client:
                return self.stream is not None
            return self.stream is not None and not self.stream.closed()
        except HTTPInputError as exc:
            self.input_error = exc
            gen_log.info("Malformed HTTP message from %s: %s", self.context, exc)
            if not self.is_client and not stream.closed():
                try:
                    await stream.write(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n")
                except StreamClosedError:
                    pass
            self.close()
            return False
        except _DelegateFailed as failure:
            error = failure.error
            app_log.error("Uncaught exception", exc_info=(type(error), error, error.__traceback__))
            self.close()
            return False
        finally:
            if need_delegate_close:
                try:
                    delegate.on_connection_close()
                except Exception:
                    app_log.error("Uncaught exception in on_connection_close", exc_info=True)
            self._clear_callbacks()

    async def _read_head(self, stream: BaseIOStream) -> bytes | None:
        future = stream.read_until_regex(wire.HEAD_END, max_bytes=self.params.max_header_size)
        if self.params.header_timeout is None:
            return await future
        try:
            return await gen.with_timeout(  # type: ignore[no-any-return]
                stream.io_loop.time() + self.params.header_timeout,
                future,
                quiet_exceptions=StreamClosedError,
            )
        except TimeoutError:
            self.close()
            return None

    @staticmethod
    def _call(method: Callable[..., Any], *args: Any) -> Any:
        """Call a delegate method; its errors become :class:`_DelegateFailed` (an
        ``HTTPInputError`` stays one: bad input). Returns what it returned: an awaitable to
        pass to :meth:`_wait`, or None."""
        try:
            return method(*args)
        except (HTTPInputError, _DelegateFailed):
            raise
        except Exception as exc:
            raise _DelegateFailed(exc) from exc

    @staticmethod
    async def _wait(result: Awaitable[Any]) -> None:
        """Await what a delegate method returned, its errors handled as :meth:`_call`'s."""
        try:
            await result
        except (HTTPInputError, _DelegateFailed):
            raise
        except asyncio.CancelledError as exc:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise  # this read itself is being cancelled
            raise _DelegateFailed(exc) from exc
        except Exception as exc:
            raise _DelegateFailed(exc) from exc

    async def _read_body(
        self,
        start_line: RequestStartLine | ResponseStartLine,
        headers: HTTPHeaders,
        delegate: HTTPMessageDelegate,
    ) -> None:
        code = 0
        if isinstance(start_line, ResponseStartLine):
            code = start_line.code
            request = self._request_start_line
            if code == 304 or (request is not None and request.method == "HEAD"):
                self._response_keeps_alive = self._keeps_alive(start_line.version, headers)
                return  # no body, whatever the framing fields say (RFC 9112 §6.3)
        kind, length = wire.body_framing(
            headers,
            is_response=self.is_client,
            code=code,
            max_body_size=self._max_body_size,
        )
        if isinstance(start_line, ResponseStartLine):
            self._response_keeps_alive = kind != wire.UNTIL_CLOSE and self._keeps_alive(
                start_line.version, headers
            )
        if kind == wire.NO_BODY:
            return
        if kind == wire.LENGTH:
            body = self._read_fixed_body(length, delegate)
        elif kind == wire.CHUNKED:
            body = self._read_chunked_body(delegate)
        else:
            body = self._read_until_close(delegate)
        if self._body_timeout is None:
            await body
            return
        assert self.stream is not None
        try:
            await gen.with_timeout(
                self.stream.io_loop.time() + self._body_timeout,
                body,
                quiet_exceptions=StreamClosedError,
            )
        except TimeoutError:
            gen_log.info("Timeout reading body from %s", self.context)
            self.close()
            raise StreamClosedError() from None

    def _delivers(self) -> bool:
        """Body bytes go to the delegate (a server that already answered discards them)."""
        return self.is_client or not self._write_finished

    async def _read_fixed_body(self, length: int, delegate: HTTPMessageDelegate) -> None:
        stream = self.stream
        assert stream is not None
        chunk_size = self.params.chunk_size
        while length > 0:
            data = await stream.read_bytes(min(chunk_size, length), partial=True)
            length -= len(data)
            if self._delivers():
                if (result := self._call(delegate.data_received, data)) is not None:
                    await self._wait(result)

    async def _read_chunked_body(self, delegate: HTTPMessageDelegate) -> None:
        stream = self.stream
        assert stream is not None
        chunk_size, limit = self.params.chunk_size, self._max_body_size
        pending: list[bytes] = []
        pending_size = total = since_yield = 0

        async def deliver() -> None:
            nonlocal pending_size
            data = pending[0] if len(pending) == 1 else b"".join(pending)
            pending.clear()
            pending_size = 0
            if self._delivers():
                if (result := self._call(delegate.data_received, data)) is not None:
                    await self._wait(result)

        while True:
            line_future = stream.read_until(b"\r\n", max_bytes=_MAX_CHUNK_LINE)
            if pending and not line_future.done():
                await deliver()  # hand over what is here before waiting for the network
            size = wire.parse_chunk_size(await line_future)
            if size == 0:
                break
            total += size
            if total > limit:
                raise HTTPInputError("chunked body too large")
            while size:
                data_future = stream.read_bytes(min(size, chunk_size), partial=True)
                if pending and not data_future.done():
                    await deliver()
                data = await data_future
                size -= len(data)
                pending.append(data)
                pending_size += len(data)
                if pending_size >= chunk_size:
                    await deliver()
            end_future = stream.read_bytes(2)
            if pending and not end_future.done():
                await deliver()
            if await end_future != b"\r\n":
                raise HTTPInputError("improperly terminated chunk")
            since_yield += 1
            if since_yield >= _CHUNKS_PER_YIELD:
                since_yield = 0
                await asyncio.sleep(0)
        # The trailer section: fields we do not use, then the empty line.
        trailer_bytes = 0
        while (line := await stream.read_until(b"\r\n", max_bytes=_MAX_CHUNK_LINE)) != b"\r\n":
            trailer_bytes += len(line)
            if trailer_bytes > self.params.max_header_size:
                raise HTTPInputError("chunked body trailer too large")
        if pending:
            await deliver()

    async def _read_until_close(self, delegate: HTTPMessageDelegate) -> None:
        stream = self.stream
        assert stream is not None
        chunk_size, limit, total = self.params.chunk_size, self._max_body_size, 0
        while True:
            try:
                data = await stream.read_bytes(chunk_size, partial=True)
            except StreamClosedError:
                return  # the end of the body
            total += len(data)
            if total > limit:
                raise HTTPInputError("Body too long")
            if (result := self._call(delegate.data_received, data)) is not None:
                await self._wait(result)

    def _keeps_alive(self, version: str, headers: HTTPHeaders) -> bool:
        """Whether a response in ``version`` with ``headers`` leaves the stream reusable."""
        tokens = wire.connection_tokens(headers)
        if version == "HTTP/1.1":
            return "close" not in tokens
        return version == "HTTP/1.0" and "keep-alive" in tokens

    def _request_keeps_alive(self, start_line: RequestStartLine, headers: HTTPHeaders) -> bool:
        """Whether a server may read another request after answering this one."""
        if self.params.no_keep_alive:
            return False
        tokens = wire.connection_tokens(headers)
        if start_line.version == "HTTP/1.1":
            return "close" not in tokens
        if start_line.version == "HTTP/1.0":
            return "keep-alive" in tokens
        return False

    def keep_alive(self) -> bool:
        """For a client, after ``read_response``: True when the request went out whole, the
        response was complete and delimited, and neither side asked to close, so the stream
        may carry another request."""
        stream = self.stream
        return (
            self.is_client
            and self._response_keeps_alive
            and self._read_finished
            and self._write_finished
            and stream is not None
            and not stream.closed()
            and (self._pending_write is None or self._pending_write.done())
            and "close" not in self._request_connection_tokens
        )

    # ---- closing and detaching -------------------------------------------------------------

    def _clear_callbacks(self) -> None:
        self._close_callback = None
        if self.stream is not None:
            self.stream.set_close_callback(None)

    def set_close_callback(self, callback: Callable[[], object] | None) -> None:
        """Call ``callback()`` if the stream closes before this exchange is over (a server's
        request handler uses it to notice a client that went away)."""
        self._close_callback = callback

    def _on_connection_close(self) -> None:
        callback, self._close_callback = self._close_callback, None
        if callback is not None:
            try:
                callback()
            except Exception:
                app_log.error("Uncaught exception in close callback", exc_info=True)
        if not self._finish_future.done():
            self._finish_future.set_result(None)
        self._clear_callbacks()

    def close(self) -> None:
        """Close the stream and end the exchange."""
        if self.stream is not None:
            self.stream.close()
        self._clear_callbacks()
        if not self._finish_future.done():
            self._finish_future.set_result(None)

    def detach(self) -> BaseIOStream:
        """Take the stream over (for a protocol upgrade or a hand-written response): this
        connection forgets it and reads or writes nothing more. Raises RuntimeError if it
        was detached already."""
        self._clear_callbacks()
        stream, self.stream = self.stream, None
        if stream is None:
            raise RuntimeError("HTTP1Connection.detach() called twice")
        if not self._finish_future.done():
            self._finish_future.set_result(None)
        return stream

    def set_body_timeout(self, timeout: float) -> None:
        """Limit the time to read the current message's body (seconds)."""
        self._body_timeout = timeout

    def set_max_body_size(self, max_body_size: int) -> None:
        """Limit the size of the current message's body (bytes)."""
        self._max_body_size = max_body_size

    # ---- writing ---------------------------------------------------------------------------

    def write_headers(
        self,
        start_line: RequestStartLine | ResponseStartLine,
        headers: HTTPHeaders,
        chunk: bytes | None = None,
    ) -> asyncio.Future[None]:
        """Write the start line, ``headers`` and optionally a first body chunk.

        A client gets ``Transfer-Encoding: chunked`` for a POST, PUT or PATCH without a
        Content-Length; a server for an HTTP/1.1 response without one (HEAD, 1xx, 204 and 304
        excepted). A server adds ``Date`` and the ``Connection`` field keep-alive needs.
        Raises ``ValueError`` for a CR or LF in a field. Returns a future resolved once the
        bytes are flushed (failed with StreamClosedError if the stream is closed).
        """
        if self.is_client:
            assert isinstance(start_line, RequestStartLine)
            self._request_start_line = start_line
            first_line = f"{start_line.method} {start_line.path} HTTP/1.1"
            encoding = headers.get("Transfer-Encoding")
            self._chunking_output = (
                start_line.method in _BODY_METHODS
                and "Content-Length" not in headers
                and (encoding is None or encoding.lower() == "chunked")
            )
            if self._chunking_output and encoding is None:
                headers["Transfer-Encoding"] = "chunked"
            self._request_connection_tokens = wire.connection_tokens(headers)
            declared = headers.get("Content-Length")
        else:
            assert isinstance(start_line, ResponseStartLine)
            first_line, declared = self._response_framing(start_line, headers)
            request = self._request_start_line
            if (request is not None and request.method == "HEAD") or start_line.code in (204, 304):
                declared = "0"  # whatever the fields say, no body bytes may follow
        if declared is not None:
            try:
                self._expected_content_remaining = int(declared)
            except ValueError:
                raise HTTPOutputError(f"Invalid Content-Length {declared!r}") from None
        data = wire.format_head(first_line, headers)
        stream = self.stream
        if stream is None or stream.closed():
            return _failed_future(StreamClosedError())
        if chunk:
            data += self._frame(chunk, count=True)
        self._pending_write = future = stream.write(data)
        return future

    def _response_framing(
        self, start_line: ResponseStartLine, headers: HTTPHeaders
    ) -> tuple[str, str | None]:
        """A server's status line; the framing and Connection fields the response needs."""
        request = self._request_start_line
        version = request.version if request is not None else "HTTP/1.1"
        code = start_line.code
        bodiless = code in (204, 304) or 100 <= code < 200
        if request is not None and request.method == "HEAD":
            bodiless = True
        self._chunking_output = (
            version == "HTTP/1.1"
            and not bodiless
            and "Content-Length" not in headers
            and "Transfer-Encoding" not in headers
        )
        if self._chunking_output:
            headers["Transfer-Encoding"] = "chunked"
        elif not bodiless and "Content-Length" not in headers:
            self._disconnect_on_finish = True  # the body ends when the connection does
        if "Date" not in headers:
            headers["Date"] = date_header_value().decode("ascii")
        if self._disconnect_on_finish:
            headers["Connection"] = "close"
        elif version == "HTTP/1.0":
            headers["Connection"] = "keep-alive"
        reason = start_line.reason or "Unknown"
        return f"HTTP/1.1 {code} {reason}", headers.get("Content-Length")

    def _frame(self, chunk: bytes, count: bool) -> bytes:
        if count and self._expected_content_remaining is not None:
            self._expected_content_remaining -= len(chunk)
            if self._expected_content_remaining < 0:
                if self.stream is not None:
                    self.stream.close()
                raise HTTPOutputError("Tried to write more data than Content-Length")
        if self._chunking_output and chunk:
            return wire.chunk_prefix(len(chunk)) + chunk + b"\r\n"
        return chunk

    def write(self, chunk: bytes) -> asyncio.Future[None]:
        """Write a body chunk (framed as a chunk when the body is chunked). Raises
        HTTPOutputError past the declared Content-Length. The future resolves once the bytes
        are flushed (failed with StreamClosedError if the stream is closed)."""
        data = self._frame(chunk, count=True)
        stream = self.stream
        if stream is None or stream.closed():
            return _failed_future(StreamClosedError())
        if not data:
            future: asyncio.Future[None] = stream.io_loop.asyncio_loop.create_future()
            future.set_result(None)
            return future
        self._pending_write = future = stream.write(data)
        return future

    def finish(self) -> None:
        """End the outgoing message (the last chunk, if chunked).

        Raises HTTPOutputError (after closing the stream) if fewer bytes than the declared
        Content-Length were written. A server then waits for the write to flush and either
        closes the stream or lets the next request be read."""
        stream = self.stream
        remaining = self._expected_content_remaining
        if remaining and stream is not None and not stream.closed():
            stream.close()
            raise HTTPOutputError(f"Tried to write {remaining} bytes less than Content-Length")
        if self._chunking_output and stream is not None and not stream.closed():
            self._pending_write = stream.write(wire.LAST_CHUNK)
        self._write_finished = True
        if not self.is_client and not self._read_finished:
            # Answered before the request was read to its end: discard the rest, then close.
            self._disconnect_on_finish = True
        pending = self._pending_write
        if pending is not None and not pending.done():
            pending.add_done_callback(self._finish_request)
        else:
            self._finish_request(None)

    def _finish_request(self, future: asyncio.Future[None] | None) -> None:
        if future is not None and not future.cancelled():
            future.exception()  # a failed flush closes the stream; nothing more to report
        if self.is_client:
            return  # the client reads the response and decides what happens to the stream
        self._clear_callbacks()
        if self._disconnect_on_finish:
            self.close()
            return
        if not self._finish_future.done():
            self._finish_future.set_result(None)
