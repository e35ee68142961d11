"""SSLIOStream: an IOStream over TLS, with the handshake driven by readiness callbacks."""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

from squall._net import ssl_wrap_socket
from squall._streams.base import _retrieve
from squall._streams.errors import StreamClosedError
from squall._streams.sockets import IOStream, SSLOptions
from squall.log import gen_log

__all__ = ["SSLIOStream", "default_context"]

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
