"""What an exchange may use of its connection: the public section of ``HTTP1Protocol``.

:class:`~squall._http1.protocol.HTTP1Protocol` derives from :class:`ExchangeOwner`, and
:class:`~squall._http1.exchange.HTTP1Exchange` holds its connection as one and uses nothing
else of it. The section is declared here, below both, so that neither module imports the
other (not even for type checking), and it is a concrete (native) class rather than a
``typing.Protocol``, so that the compiled build calls these members directly.

It holds what every exchange of a connection shares (the output, flow control, the deadline,
the parameters, the context) and names what an exchange asks of the protocol:
:meth:`~ExchangeOwner.exchange_finished`, :meth:`~ExchangeOwner.abort_response`,
:meth:`~ExchangeOwner.fail_request` and :meth:`~ExchangeOwner.hand_over`, and for Tornado code
that reaches the connection itself :meth:`~ExchangeOwner.connection_stream` and
:meth:`~ExchangeOwner.detach_stream`. The protocol in
turn changes an exchange only through its public members: the parser's record of the request,
its phases (``phases.py``), ``abandon()``, ``release()`` and ``connection_lost()``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from squall._http1.context import ConnectionContext
from squall._http1.flow import FlowControl
from squall._http1.params import HTTP1Params
from squall._http1.state import DEADLINE_NONE, ServerState
from squall.httputil import HTTPConnection

__all__ = ["ExchangeOwner"]


class ExchangeOwner(asyncio.Protocol):
    """An HTTP/1.1 connection as its exchanges see it (implemented by ``HTTP1Protocol``).

    Attributes an exchange reads: ``params`` (the server's :class:`HTTP1Params`), ``state``
    (its :class:`ServerState`: the Date line, the loop), ``flow`` (write back-pressure),
    ``context`` (client address and scheme), ``server_text`` (the ``Server:`` line, or ""),
    ``draining`` (the server is shutting down: no keep-alive). The parser callbacks
    (``record.py``) also move ``deadline`` and ``deadline_kind``."""

    __slots__ = (
        "_out",
        "_transport",
        "context",
        "deadline",
        "deadline_kind",
        "draining",
        "flow",
        "params",
        "server_text",
        "state",
    )

    def __init__(self, params: HTTP1Params, state: ServerState) -> None:
        self.params = params
        self.state = state
        self.flow = FlowControl(state.loop)
        server = params.server_header
        self.server_text = f"Server: {server}\r\n" if server else ""
        self.context = ConnectionContext(None, "http")
        self.draining = False
        #: When the current deadline passes (0.0: none), and what it is for (``state.py``).
        self.deadline = 0.0
        self.deadline_kind = DEADLINE_NONE
        self._transport: Any = None
        # The output of the current ``data_received`` (or resumed Task), written once at its
        # end; None outside of one, when bytes are written at once.
        self._out: list[bytes] | None = None

    def send(self, data: bytes) -> None:
        """Send ``data`` to the client, after everything sent before it.

        While the protocol is serving a read, the bytes join its one write at the end;
        otherwise they are written now. After the connection closed they are dropped (writers
        learn of it from ``flow``)."""
        out = self._out
        if out is not None:
            out.append(data)
        elif self._transport is not None and not self.flow.closed:
            self._transport.write(data)

    def set_deadline(self, kind: int, when: float) -> None:
        """Set the connection's deadline: ``kind`` (``state.DEADLINE_*``) at loop time
        ``when``."""
        self.deadline_kind = kind
        self.deadline = when

    def transport_info(self, name: str) -> Any:
        """The transport's ``get_extra_info(name)``; None once it is closed or handed over."""
        transport = self._transport
        return None if transport is None else transport.get_extra_info(name)

    def is_closing(self) -> bool:
        """True once the connection is closed, closing, or handed over."""
        transport = self._transport
        return transport is None or self.flow.closed or bool(transport.is_closing())

    def close_connection(self) -> None:
        """Close the connection once everything sent so far (this read's output too) is out."""
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        out = self._out
        if out:
            transport.write(b"".join(out))
            out.clear()
        transport.close()

    def connection_stream(self) -> Any:
        """The connection's IOStream face (``stream.ConnectionStream``), made on first use;
        None once the connection was handed over (an upgrade, ``detach()``)."""
        raise NotImplementedError()

    def detach_stream(self, ex: HTTPConnection) -> Any:
        """Stop all HTTP processing on the connection and return an IOStream that owns its
        socket (Tornado's ``detach()``, ``takeover.py``); ``ex`` is the request being served.
        Raises RuntimeError when the connection cannot be handed over whole."""
        raise NotImplementedError()

    def exchange_finished(self, ex: HTTPConnection) -> None:
        """The application finished the response of ``ex``: serve the next request, or
        close the connection (when the response or the request says so)."""
        raise NotImplementedError()

    def abort_response(self) -> None:
        """The application broke the response's framing (a bad header, a wrong length): the
        exchange is abandoned and the connection closes once the bytes so far are out."""
        raise NotImplementedError()

    def fail_request(self, status: int, message: str) -> None:
        """The active request cannot go on: answer ``status`` if nothing was written yet,
        abandon the exchange and close."""
        raise NotImplementedError()

    def hand_over(self, protocol: asyncio.BaseProtocol) -> None:
        """Give the transport, and the bytes read after the upgrade request, to
        ``protocol`` (after a ``101`` response); raises ``RuntimeError`` once closed."""
        raise NotImplementedError()
