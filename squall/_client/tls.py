"""The TLS settings of an HTTPS request: what ``TCPClient.connect`` gets as ``ssl_options``.

A request's ``ssl_options`` (an ``ssl.SSLContext`` or a dict of ``ssl.wrap_socket``
arguments) is used as given. Otherwise the context is built from ``validate_cert``,
``ca_certs``, ``client_cert`` and ``client_key``, once per distinct combination: loading a CA
bundle takes milliseconds, far more than the rest of a request.
"""

from __future__ import annotations

import ssl
import threading
from collections import OrderedDict
from typing import Any, Final

__all__ = ["client_ssl_options"]

_CACHE_SIZE: Final = 32
_contexts: OrderedDict[tuple[bool, str | None, str | None, str | None], ssl.SSLContext]
_contexts = OrderedDict()
_lock = threading.Lock()  # clients on several threads' loops share the cache


def _build(
    validate: bool, ca_certs: str | None, client_cert: str | None, client_key: str | None
) -> ssl.SSLContext:
    if validate:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca_certs)
    else:
        # Nothing is verified, so no CA bundle is loaded (see netutil's ssl_options_to_context).
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if client_cert is not None:
        context.load_cert_chain(client_cert, client_key)
    return context


def client_ssl_options(
    ssl_options: Any,
    validate_cert: bool,
    ca_certs: str | None,
    client_cert: str | None,
    client_key: str | None,
) -> Any:
    """The ``ssl_options`` to connect with: the request's own, else a (cached) context.

    Raises ``OSError``/``ssl.SSLError`` if ``ca_certs`` or the client certificate cannot be
    loaded (the request fails with it, naming the file)."""
    if ssl_options is not None:
        return ssl_options
    key = (bool(validate_cert), ca_certs, client_cert, client_key)
    with _lock:
        context = _contexts.get(key)
        if context is not None:
            _contexts.move_to_end(key)
            return context
    context = _build(*key)
    with _lock:
        _contexts[key] = context
        if len(_contexts) > _CACHE_SIZE:
            _contexts.popitem(last=False)
    return context
