"""WebSocket protocol layer: RFC 6455 over the sans-IO codec of ``websockets``.

- ``handshake``: validates an upgrade request, negotiates permessage-deflate, gives the codec;
- ``session``: the message layer of a connection (codec, reassembly, the delegate's inbox),
  sans-IO, with ``assemble`` (fragments and UTF-8) and ``inbox`` (one delegate call at a time);
- ``protocol``: ``WebSocketProtocol``, the session on its asyncio transport, with ``flow``
  (write back-pressure) and ``keepalive`` (ping, pong and close timers);
- ``delegate``: the errors and the interfaces the framework implements;
- ``client``: Tornado's ``websocket_connect`` over the ``websockets`` client.

Nothing here knows about handlers or HTTP/1.1.
"""

from __future__ import annotations
