"""The verb methods a handler has not defined: one function, answering 405.

``RequestHandler``'s ``head``, ``get``, ``post``, ``delete``, ``patch``, ``put`` and
``options`` are the very function :func:`unimplemented_method` (also its
``_unimplemented_method``) until a subclass defines them, as in Tornado: code checks
``type(handler).post is RequestHandler._unimplemented_method`` to learn which methods a
handler implements. Why a module of its own: the handler is compiled in the compiled build
(``squall._compiled``), where a method defined in the class is a native method, one object
per name; a plain Python function set as a class attribute is one object under every name
(and binds like any method).
"""

from __future__ import annotations

from typing import Any

from squall._types import MaybeAwaitable
from squall._web.errors import HTTPError

__all__ = ["unimplemented_method"]


def unimplemented_method(self: Any, *args: Any, **kwargs: Any) -> MaybeAwaitable:
    """A verb method the handler does not define: the request is answered 405.

    Every verb of ``RequestHandler`` (``head``, ``get``, ``post``, ``delete``, ``patch``,
    ``put``, ``options``) is this very function until a subclass defines it, so
    ``type(handler).post is RequestHandler._unimplemented_method`` tells whether a handler
    implements POST (applications check "every implemented method is authenticated" so). The
    405 lists the implemented methods in ``Allow``."""
    raise HTTPError(405)
