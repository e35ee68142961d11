"""IOStream (a socket) and SSLIOStream (a socket speaking TLS) over BaseIOStream.

The two share a module because each needs the other: SSLIOStream is an IOStream, and
``IOStream.start_tls`` builds an SSLIOStream.
"""

from __future__ import annotations

import asyncio
import os
import socket as _socket
import ssl
from collections.abc import Mapping
from typing import Any

from squall._net import set_nodelay, ssl_wrap_socket
from squall._streams.base import BaseIOStream, _retrieve
from squall._streams.errors import StreamClosedError
from squall.log import gen_log

__all__ = ["IOStream", "SSLIOStream", "SSLOptions", "default_context"]

SSLOptions = Mapping[str, Any] | ssl.SSLContext


class IOStream(BaseIOStream):
    """A stream over a non-blocking socket (TCP or Unix).

    Pass a connected socket (from ``accept()``), or a new one and then call :meth:`connect`::

        stream = IOStream(socket.socket())
        await stream.connect(("example.com", 80))
        await stream.write(b"GET / HTTP/1.0\\r\\nHost: example.com\\r\\n\\r\\n")
        header_data = await stream.read_until(b"\\r\\n\\r\\n")

    The socket is made non-blocking; the stream owns it and closes it. ``stream.socket`` is
    the socket (None once the stream is closed).
    """

    socket: _socket.socket

    def __init__(self, socket: _socket.socket, *args: Any, **kwargs: Any) -> None:
        self.socket = socket
        self.socket.setblocking(False)
        super().__init__(*args, **kwargs)
        self._fd = socket.fileno()
        try:
            socket.getpeername()
        except OSError:
            self._connected = False  # watched once connect() has succeeded
        else:
            self._update_watch()

    def fileno(self) -> _socket.socket | None:
        """The socket (it has ``fileno()``), or None once closed."""
        return self.socket

    def close_fd(self) -> None:
        """Close the socket; ``stream.socket`` becomes None."""
        self.socket.close()
        self.socket = None  # type: ignore[assignment]  # Tornado's contract: None once closed

    def get_fd_error(self) -> Exception | None:
        """The socket's pending error (SO_ERROR) as an OSError."""
        code = self.socket.getsockopt(_socket.SOL_SOCKET, _socket.SO_ERROR)
        return OSError(code, os.strerror(code))

    def _take_fd_error(self) -> bool:
        code = self.socket.getsockopt(_socket.SOL_SOCKET, _socket.SO_ERROR)
        if code:
            self.error = OSError(code, os.strerror(code))
        return code != 0

    def read_from_fd(self, buf: bytearray | memoryview) -> int | None:
        """``recv_into``: the bytes read, 0 at end of file, None when nothing is there."""
        try:
            return self.socket.recv_into(buf)
        except BlockingIOError:
            return None

    def write_to_fd(self, data: memoryview) -> int:
        """``send``: the bytes the kernel took."""
        return self.socket.send(data)

    def connect(self, address: Any, server_hostname: str | None = None) -> asyncio.Future[IOStream]:
        """Connect the stream's socket to ``address``; resolve with the stream once connected.

        ``address`` is what ``socket.connect`` takes; resolve host names first (a name here
        is looked up synchronously). Writes made before the connection completes are sent
        once it does, and their futures resolve after this one. On failure the stream closes
        and the future fails with StreamClosedError (the cause in ``stream.error``).
        ``server_hostname`` is for TLS streams (SSLIOStream) and ignored here.
        """
        if self._closed:
            raise StreamClosedError(real_error=self.error)
        if self._connecting or self._connect_future is not None:
            raise RuntimeError("connect() is already in progress on this stream")
        self._connecting = True
        future: asyncio.Future[IOStream] = self._loop.create_future()
        self._connect_future = future
        try:
            self.socket.connect(address)
        except BlockingIOError:
            pass  # EINPROGRESS: the socket becomes writable when the attempt ends
        except Exception as exc:
            # Address lookup errors (gaierror) and refusals Unix sockets report at once.
            self.close(exc_info=exc)
            return future
        self._update_watch()
        return future

    def _handle_connect(self) -> None:
        code = self.socket.getsockopt(_socket.SOL_SOCKET, _socket.SO_ERROR)
        if code:
            self.close(exc_info=OSError(code, os.strerror(code)))  # ConnectionRefusedError...
            return
        self._connecting = False
        self._connected = True
        self._on_connected()

    def _on_connected(self) -> None:
        """The TCP connection is up: resolve ``connect()``, then send what was written."""
        future, self._connect_future = self._connect_future, None
        if future is not None and not future.done():
            future.set_result(self)
        self._flush()

    def set_nodelay(self, value: bool) -> None:
        """Set TCP_NODELAY: True sends small writes at once instead of coalescing them.

        Ignored for non-TCP sockets and on a closed stream."""
        if self.socket is not None:
            set_nodelay(self.socket, value)

    def start_tls(
        self,
        server_side: bool,
        ssl_options: SSLOptions | None = None,
        server_hostname: str | None = None,
    ) -> asyncio.Future[SSLIOStream]:
        """Upgrade this connection to TLS (STARTTLS); resolve with a new SSLIOStream.

        This stream must be idle (no read or write pending, nothing buffered) and is unusable
        afterwards: use the returned stream, which takes over the socket and the close
        callback. ``ssl_options`` is an ``ssl.SSLContext`` or a dict of ``ssl_wrap_socket``
        arguments; by default a client verifies the server against the system's CAs (give
        ``server_hostname``), and a server needs options with a certificate. The future fails
        with the TLS error if the handshake does; cancelling it closes the connection.
        """
        if (
            self._read_future is not None
            or self._write_futures
            or self._connect_future is not None
            or self._closed
            or self._read_buffer
            or self._write_buffer
        ):
            raise ValueError("IOStream is not idle; cannot convert to SSL")
        if ssl_options is None:
            ssl_options = default_context(server_side)
        sock, self.socket = self.socket, None  # type: ignore[assignment]  # handed over
        self._unwatch()
        self._closed = True  # without closing the socket, which the new stream now owns
        callback, self._close_callback = self._close_callback, None
        wrapped = ssl_wrap_socket(
            sock,
            ssl_options,
            server_hostname=server_hostname,
            server_side=server_side,
            do_handshake_on_connect=False,
        )
        stream = SSLIOStream(
            wrapped,
            ssl_options=ssl_options,
            max_buffer_size=self.max_buffer_size,
            read_chunk_size=self.read_chunk_size,
            max_write_buffer_size=self.max_write_buffer_size,
        )
        stream.set_close_callback(callback)
        future = stream.wait_for_handshake()
        future.add_done_callback(lambda done: stream.close() if done.cancelled() else None)
        return future

    def _describe(self) -> str:
        try:
            peer = self.socket.getpeername() if self.socket is not None else None
        except OSError:
            peer = None
        return f"fd {self._fd} ({peer})" if peer else f"fd {self._fd}"


_default_contexts: dict[bool, ssl.SSLContext] = {}


def default_context(server_side: bool) -> ssl.SSLContext:
    """``ssl.create_default_context`` for a client (verifies the server against the system's
    CAs and its host name) or a server (no certificate: give your own options); made once."""
    context = _default_contexts.get(server_side)
    if context is None:
        purpose = ssl.Purpose.CLIENT_AUTH if server_side else ssl.Purpose.SERVER_AUTH
        context = _default_contexts[server_side] = ssl.create_default_context(purpose)
    return context


class SSLIOStream(IOStream):
    """An IOStream that speaks TLS.

    Give it a socket that is not connected yet and call ``connect(address,
    server_hostname=...)``: the future resolves once the TLS handshake is done. Or give it a
    connected socket already wrapped with ``ssl_wrap_socket(..., do_handshake_on_connect=False)``
    (what ``TCPServer`` does): the handshake starts at once and ``wait_for_handshake()`` tells
    when it is over. Writes made before the handshake completes are sent after it.

    ``ssl_options`` is an ``ssl.SSLContext`` or a dict of ``ssl_wrap_socket`` arguments; the
    default verifies the server against the system's CAs. A failed handshake is logged
    (except a peer that just went away) and closes the stream; the pending connect or
    handshake future fails with the ``ssl.SSLError``.
    """

    socket: ssl.SSLSocket
    _may_buffer = True

    def __init__(self, *args: Any, ssl_options: SSLOptions | None = None, **kwargs: Any) -> None:
        self._ssl_options = ssl_options if ssl_options is not None else default_context(False)
        self._ssl_accepting = True
        self._handshake_wants_write = True  # the first step runs when the socket is writable
        self._server_hostname: str | None = None
        self._ssl_connect_future: asyncio.Future[Any] | None = None
        super().__init__(*args, **kwargs)
        if self._connected and not isinstance(self.socket, ssl.SSLSocket):
            self._unwatch()
            raise ValueError(
                "SSLIOStream got a connected socket that is not wrapped in TLS: wrap it with "
                "ssl_wrap_socket(sock, options, server_side=..., do_handshake_on_connect=False) "
                "first, or use IOStream(sock).start_tls(...)"
            )

    def connect(self, address: Any, server_hostname: str | None = None) -> asyncio.Future[Any]:
        """Connect to ``address`` and do the TLS handshake; resolve with the stream.

        ``server_hostname`` is the name to verify the server's certificate against (and to
        send in SNI); required when the options check host names (the default does). The
        future fails with the ``ssl.SSLError`` of a failed handshake.
        """
        self._server_hostname = server_hostname
        connected = super().connect(address)
        connected.add_done_callback(_retrieve)
        return self.wait_for_handshake()

    def _on_connected(self) -> None:
        future, self._connect_future = self._connect_future, None
        try:
            self.socket = ssl_wrap_socket(
                self.socket,
                self._ssl_options,
                server_hostname=self._server_hostname,
                server_side=False,
                do_handshake_on_connect=False,
            )
        except Exception as exc:  # e.g. check_hostname without a server_hostname
            self.close(exc_info=exc)
            return
        if future is not None and not future.done():
            future.set_result(self)
        self._handshake_step()

    def wait_for_handshake(self) -> asyncio.Future[Any]:
        """Resolve with the stream once the TLS handshake is complete.

        For streams made from an accepted socket, to know when the handshake is over (the
        peer's certificate, ``stream.socket.getpeercert()``, is only available then). Reads
        and writes need not wait for it. Raises RuntimeError when already waiting.
        """
        if self._ssl_connect_future is not None:
            raise RuntimeError("Already waiting")
        future: asyncio.Future[Any] = self._loop.create_future()
        if not self._ssl_accepting:
            future.set_result(self)
        elif self._closed:
            future.set_exception(self._handshake_error())
            _retrieve(future)
        else:
            self._ssl_connect_future = future
        return future

    def _handshake_step(self) -> None:
        try:
            self.socket.do_handshake()
        except ssl.SSLWantReadError:
            self._handshake_wants_write = False
        except ssl.SSLWantWriteError:
            self._handshake_wants_write = True
        except ssl.SSLError as exc:
            # A peer that closes mid-handshake (a port scan, a health check) is not news.
            if not isinstance(exc, ssl.SSLEOFError | ssl.SSLZeroReturnError):
                gen_log.warning("SSL Error on %s: %s", self._describe(), exc)
            self.close(exc_info=exc)
            return
        except OSError as exc:  # reset, or the socket closed under us
            self.close(exc_info=exc)
            return
        else:
            self._handshake_done()
            return
        self._update_watch()

    def _handshake_done(self) -> None:
        self._ssl_accepting = False
        future, self._ssl_connect_future = self._ssl_connect_future, None
        if future is not None and not future.done():
            future.set_result(self)
        try:
            self._flush()
        except Exception as exc:
            gen_log.warning("error on write: %s", exc)
            self.close(exc_info=exc)
        if self._closed:
            return
        if self._read_future is not None:
            self._handle_read()  # the peer's first records may have come with its Finished
        else:
            self._update_watch()

    def _handshake_error(self) -> BaseException:
        error = self.error
        return error if isinstance(error, Exception) else StreamClosedError(real_error=error)

    def _signal_handshake_closed(self) -> None:
        future, self._ssl_connect_future = self._ssl_connect_future, None
        if future is not None and not future.done():
            future.set_exception(self._handshake_error())
            _retrieve(future)

    def _fd_has_buffered(self) -> bool:
        return not self._ssl_accepting and self.socket.pending() > 0

    def read_from_fd(self, buf: bytearray | memoryview) -> int | None:
        """Read decrypted bytes: the count, 0 at end of file, None when none are ready."""
        try:
            if self._ssl_accepting:
                return None
            return self.socket.recv_into(buf, len(buf))
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError):
            return None
        finally:
            del buf

    def write_to_fd(self, data: memoryview) -> int:
        """Encrypt and send some of ``data``; 0 when TLS must wait for the socket."""
        try:
            return self.socket.send(data)
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            return 0
        finally:
            del data
