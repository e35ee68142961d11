"""The stream layer behind ``squall.iostream``, ``squall.tcpserver`` and ``squall.tcpclient``.

``errors`` and ``buffer`` are leaves (standard library only); ``base`` is the read/write engine
of ``BaseIOStream``; ``sockets`` and ``tls`` are the socket and pipe streams; ``resolver`` and
``connector`` serve ``TCPClient``. The public modules re-export these under Tornado's names.
"""
