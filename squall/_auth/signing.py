"""OAuth 1.0 request signing, RFC 5849 §3.4: the signature base string and HMAC-SHA1.

Sans-IO: strings in, strings out. The same rules sign requests for ``_OAUTH_VERSION`` "1.0"
and "1.0a" (the versions differ in where the callback and verifier travel, not in signing).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
import urllib.parse
from collections.abc import Mapping

from squall.escape import utf8


def percent_encode(value: str | bytes) -> str:
    """RFC 5849 §3.6: UTF-8, then every octet but ALPHA / DIGIT / "-" / "." / "_" / "~" as %XX."""
    return urllib.parse.quote(utf8(value), safe="-._~")


def base_string_uri(url: str) -> str:
    """RFC 5849 §3.4.1.2: lower-case scheme and host, default port dropped, no query."""
    parts = urllib.parse.urlsplit(url)
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    port = parts.port
    if port is not None and (scheme, port) not in (("http", 80), ("https", 443)):
        host = f"{host}:{port}"
    return f"{scheme}://{host}{parts.path or '/'}"


def signature_base_string(method: str, url: str, params: Mapping[str, str]) -> str:
    """RFC 5849 §3.4.1: method, base string URI and normalized parameters, each encoded.

    The parameters are the query of ``url`` (form-decoded) plus ``params`` (the oauth_*
    protocol parameters and any body parameters), less ``oauth_signature``; §3.4.1.3.2 sorts
    them by encoded name, then encoded value."""
    query = urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query, keep_blank_values=True)
    pairs = [*query, *params.items()]
    encoded = sorted(
        (percent_encode(name), percent_encode(value))
        for name, value in pairs
        if name != "oauth_signature"
    )
    normalized = "&".join(f"{name}={value}" for name, value in encoded)
    parts = (method.upper(), base_string_uri(url), normalized)
    return "&".join(percent_encode(part) for part in parts)


def hmac_sha1_signature(
    method: str, url: str, params: Mapping[str, str], client_secret: str, token_secret: str
) -> str:
    """RFC 5849 §3.4.2: base64 of HMAC-SHA1 over the base string, keyed by both secrets."""
    key = f"{percent_encode(client_secret)}&{percent_encode(token_secret)}"
    base = signature_base_string(method, url, params)
    digest = hmac.new(key.encode("ascii"), base.encode("ascii"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def protocol_parameters(consumer_key: str, token: str | None) -> dict[str, str]:
    """The oauth_* parameters every signed request carries (RFC 5849 §3.1)."""
    params = {
        "oauth_consumer_key": consumer_key,
        "oauth_signature_method": "HMAC-SHA1",
        "oauth_timestamp": str(int(time.time())),
        "oauth_nonce": secrets.token_hex(16),
        "oauth_version": "1.0",
    }
    if token is not None:
        params["oauth_token"] = token
    return params


def as_text(value: object) -> str:
    """A parameter value as text: bytes are UTF-8, anything else goes through str()."""
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8")
    return str(value)
