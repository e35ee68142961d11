"""HTTP/1.1 over an IOStream: what ``squall.http1connection`` and the HTTP client run on.

``wire.py`` is sans-IO (message heads in and out, body framing rules), ``connection.py`` is
``HTTP1Connection`` (one message exchange, client or server side, over a stream),
``server.py`` is ``HTTP1ServerConnection`` (the request loop of one server connection) and
``gzip.py`` decodes ``Content-Encoding: gzip`` with bounded memory. squall's HTTP server does
not use this package: it has its own protocol layer on asyncio transports (``squall._http1``).
"""
