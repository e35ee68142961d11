"""The sans-IO codecs of both ends: ``websockets``' protocol objects, adjusted where squall's
session takes over or where Tornado's behaviour is the contract.

- A ping is handed to the session unanswered: the session answers it (and while a pong is
  still waiting to be written, answers only the most recent of further pings).
- A close frame in the middle of a fragmented message ends the connection normally: RFC 6455
  §5.4 lets control frames interleave with fragments (the unfinished message is dropped).
- A message over the size limit closes with 1009 and the reason ``"message too big"``.
- The codecs' own log lines go to ``squall.general``, warnings and errors only.

Nothing here writes to a socket.
"""

from __future__ import annotations

import logging

from websockets.client import ClientProtocol
from websockets.frames import CLOSE, PING, CloseCode, Frame
from websockets.protocol import Protocol
from websockets.server import ServerProtocol

from squall.log import gen_log

__all__ = ["CODEC_LOG", "TOO_BIG_REASON", "ClientCodec", "ServerCodec"]

#: The close reason of a 1009 (message over the size limit), as Tornado words it.
TOO_BIG_REASON = "message too big"


class _CodecLog(logging.LoggerAdapter):  # type: ignore[type-arg]  # generic only in typeshed
    """The codec's logger: its per-connection INFO chatter is dropped, warnings and errors
    reach ``squall.general`` (the ``websockets`` loggers stay quiet for squall users)."""

    def isEnabledFor(self, level: int) -> bool:
        """Only WARNING and above, and only if ``squall.general`` would emit them."""
        return level >= logging.WARNING and self.logger.isEnabledFor(level)


CODEC_LOG = _CodecLog(gen_log, {})


class _Codec(Protocol):
    """What both ends change in ``websockets.protocol.Protocol`` (see the module docstring)."""

    def recv_frame(self, frame: Frame) -> None:
        """Process one incoming frame; a ping becomes an event for the session to answer."""
        if frame.opcode is PING:
            self.events.append(frame)
            return
        if frame.opcode is CLOSE:
            self.current_size = None
        super().recv_frame(frame)

    def fail(self, code: CloseCode | int, reason: str = "") -> None:
        """Fail the connection (a 1009 gets Tornado's reason)."""
        if code == CloseCode.MESSAGE_TOO_BIG:
            reason = TOO_BIG_REASON
        super().fail(code, reason)


class ServerCodec(_Codec, ServerProtocol):
    """The server end's codec (built OPEN by :func:`squall._ws.handshake.accept`)."""


class ClientCodec(_Codec, ClientProtocol):
    """The client end's codec: CONNECTING until the ``101`` has been parsed."""
