"""squall's HTTP client: Tornado's ``httpclient``/``simple_httpclient`` on squall's streams.

``messages.py`` holds what a caller handles (``HTTPRequest``, ``HTTPResponse``, the errors),
``base.py`` the configurable ``AsyncHTTPClient`` and the blocking ``HTTPClient``,
``simple.py`` ``SimpleAsyncHTTPClient`` (the queue, ``max_clients``, the timeouts and the idle
connections), ``exchange.py`` one request on one connection (redirects, authentication,
the request body, the response), ``pool.py`` the keep-alive connections, ``tls.py`` the TLS
settings of a request and ``digest.py`` HTTP Digest authentication (RFC 7616).
"""
