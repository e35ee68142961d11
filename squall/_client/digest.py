"""HTTP Digest access authentication (RFC 7616), the client side, sans-IO.

A request with ``auth_mode="digest"`` goes out without credentials; a 401 answer whose
``WWW-Authenticate`` offers a Digest challenge is answered once with :func:`authorization`'s
header. Algorithms MD5, SHA-256 and SHA-512-256 (each also ``-sess``), quality of protection
``auth`` or none (RFC 2069's form); ``auth-int`` alone and ``userhash`` are not supported (the
401 is then returned as it is).
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable
from typing import Final

__all__ = ["authorization", "parse_challenge"]

_PARAM: Final = re.compile(r'([!#$%&\'*+\-.^_`|~0-9A-Za-z]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^,\s]*)')
_SCHEME: Final = re.compile(r"(?:^|,)\s*digest\s+", re.IGNORECASE)
_HASHES: Final[dict[str, Callable[[bytes], str]]] = {
    "MD5": lambda data: hashlib.md5(data).hexdigest(),
    "SHA-256": lambda data: hashlib.sha256(data).hexdigest(),
    "SHA-512-256": lambda data: hashlib.new("sha512_256", data).hexdigest(),
}


def parse_challenge(header: str) -> dict[str, str] | None:
    """The parameters of the Digest challenge in a ``WWW-Authenticate`` value (names lower
    case, quotes removed), or None if it offers no Digest challenge."""
    match = _SCHEME.search(header)
    if match is None:
        return None
    params: dict[str, str] = {}
    for name, value in _PARAM.findall(header[match.end() :]):
        key = name.lower()
        if key in params:
            break  # the next challenge's parameters
        if value.startswith('"'):
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        params[key] = value
    return params if "nonce" in params and "realm" in params else None


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def authorization(
    challenge: dict[str, str],
    method: str,
    uri: str,
    username: str,
    password: str,
    cnonce: str | None = None,
) -> str | None:
    """The ``Authorization`` value answering ``challenge`` for ``method uri``, or None when
    the challenge asks for what is not supported (an unknown algorithm, ``auth-int`` only)."""
    algorithm = challenge.get("algorithm", "MD5")
    base = algorithm.upper().removesuffix("-SESS")
    digest = _HASHES.get(base)
    if digest is None or challenge.get("userhash", "false").lower() == "true":
        return None

    def h(text: str) -> str:
        return digest(text.encode("utf-8"))

    realm, nonce = challenge["realm"], challenge["nonce"]
    cnonce = cnonce if cnonce is not None else os.urandom(16).hex()
    secret = h(f"{username}:{realm}:{password}")
    if algorithm.upper().endswith("-SESS"):
        secret = h(f"{secret}:{nonce}:{cnonce}")
    request = h(f"{method}:{uri}")
    qops = [q.strip().lower() for q in challenge.get("qop", "").split(",") if q.strip()]
    fields = [
        f"username={_quote(username)}",
        f"realm={_quote(realm)}",
        f"nonce={_quote(nonce)}",
        f"uri={_quote(uri)}",
        f"algorithm={algorithm}",
    ]
    if qops:
        if "auth" not in qops:
            return None
        count = "00000001"
        response = h(f"{secret}:{nonce}:{count}:{cnonce}:auth:{request}")
        fields += ["qop=auth", f"nc={count}", f"cnonce={_quote(cnonce)}"]
    else:
        response = h(f"{secret}:{nonce}:{request}")
    fields.append(f"response={_quote(response)}")
    if "opaque" in challenge:
        fields.append(f"opaque={_quote(challenge['opaque'])}")
    return "Digest " + ", ".join(fields)
