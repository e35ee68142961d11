"""OAuth 1.0 request signing, RFC 5849 §3.4: the signature base string and HMAC-SHA1.

Sans-IO: strings in, strings out. The same rules sign requests for ``_OAUTH_VERSION`` "1.0"
and "1.0a" (the versions differ in where the callback and verifier travel, not in signing).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time
import urllib.parse
from collections.abc import Mapping

# RFC 5849 §3.6 leaves ALPHA / DIGIT / "-" / "." / "_" / "~" as they are. Most values (keys,
# nonces, timestamps) are made of nothing else and come back as they are; in the others, each
# run of other characters is escaped at once. (urllib.parse.quote walks every byte in Python,
# which made signing slower than Tornado's: bench/auth_sign.py.)
_UNRESERVED_TEXT = re.compile(r"[A-Za-z0-9\-._~]*")
_RESERVED_RUN = re.compile(r"[^A-Za-z0-9\-._~]+")
_RESERVED_RUN_BYTES = re.compile(rb"[^A-Za-z0-9\-._~]+")


def _escape_run(match: re.Match[str]) -> str:
    return "".join([f"%{octet:02X}" for octet in match[0].encode("utf-8")])


def _escape_run_bytes(match: re.Match[bytes]) -> bytes:
    return b"".join([b"%%%02X" % octet for octet in match[0]])


def percent_encode(value: str | bytes) -> str:
    """RFC 5849 §3.6: UTF-8, then every octet but ALPHA / DIGIT / "-" / "." / "_" / "~" as %XX."""
    if isinstance(value, bytes):
        return _RESERVED_RUN_BYTES.sub(_escape_run_bytes, value).decode("ascii")
    if _UNRESERVED_TEXT.fullmatch(value):
        return value
    return _RESERVED_RUN.sub(_escape_run, value)


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
    # Encoded once already, it holds only unreserved characters, "%", "=" and "&": encoding it
    # again (§3.4.1.1, item 5) is escaping those three, "%" first.
    twice = normalized.replace("%", "%25").replace("=", "%3D").replace("&", "%26")
    return f"{percent_encode(method.upper())}&{percent_encode(base_string_uri(url))}&{twice}"


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
