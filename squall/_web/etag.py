"""ETags: the default ETag of a response body, and the ``If-None-Match`` comparison.

``RequestHandler`` gives every 200 response to GET or HEAD the ETag :func:`body_etag` computes
(the quoted SHA-1 hex digest of the body) and answers 304 when the request's ``If-None-Match``
:func:`matches` it. ``StaticFileHandler`` brings its own ETag (the content's SHA-512, its
``compute_etag``) and compares it with the same :func:`matches`.

Pure functions, compiled with the handler (``squall._compiled``): the handler's fast path calls
them for every GET response, and a call between compiled modules is a C call.
"""

from __future__ import annotations

import hashlib
import re
from typing import Final

__all__ = ["body_etag", "matches"]

# One entity tag of an If-None-Match list: "*", or an optionally weak quoted tag.
_ETAG_SPLIT: Final = re.compile(r'\*|(?:W/)?"[^"]*"')
_sha1: Final = hashlib.sha1


def body_etag(chunks: list[bytes]) -> str:
    """The default ETag of a body given as its chunks: the quoted SHA-1 hex digest."""
    if len(chunks) == 1:
        return f'"{_sha1(chunks[0]).hexdigest()}"'
    hasher = _sha1()
    for chunk in chunks:
        hasher.update(chunk)
    return f'"{hasher.hexdigest()}"'


def matches(etag: str, if_none_match: str) -> bool:
    """Whether ``etag`` matches an ``If-None-Match`` value: RFC 9110 §13.1.2 weak comparison.

    ``*`` matches any ETag; ``W/"x"`` and ``"x"`` match each other; text between the entity
    tags of the list (commas, spaces, anything malformed) is skipped."""
    ours = etag[2:] if etag.startswith("W/") else etag
    for candidate in _ETAG_SPLIT.findall(if_none_match):
        if candidate == "*":
            return True
        if (candidate[2:] if candidate.startswith("W/") else candidate) == ours:
            return True
    return False
