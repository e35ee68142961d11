"""Cookie helpers for RequestHandler: Set-Cookie values and signed values.

Pure functions, byte-compatible with Tornado's formats (tests/web/vectors holds the proof).
Rule: input from a peer never raises (a malformed cookie decodes to None); misuse by the
application (a bad secret, an unknown version) raises with a message."""

from __future__ import annotations

import base64
import binascii
import calendar
import datetime
import hashlib
import hmac
import re
import time
import warnings
from collections.abc import Callable, Mapping
from http.cookies import CookieError, SimpleCookie
from typing import Any

from squall._util import http_date
from squall.log import gen_log

Secret = str | bytes | Mapping[int, str | bytes]
Expires = float | tuple[int, ...] | time.struct_time | datetime.datetime

_DAY = 86400  # seconds
_BAD_VALUE = re.compile(r"[\x00-\x20]")
_BAD_ATTRIBUTE = re.compile(r"[\x00-\x20\x7f;]")
#: A leading "N|" names the format version of a signed value or an XSRF token. The
#: whole-value match (no DOTALL) is part of the format: a value with an inner newline is read
#: as v1, exactly as Tornado reads it.
VERSION_PREFIX = re.compile(rb"([1-9][0-9]*)\|.*$")


def to_bytes(value: str | bytes) -> bytes:
    """``value`` as UTF-8 bytes (surrogatepass: a str with lone surrogates, as surrogateescape
    decoding makes, still gives bytes instead of raising)."""
    return value.encode("utf-8", "surrogatepass") if isinstance(value, str) else value


def _epoch(when: Expires) -> float:
    if isinstance(when, int | float):
        return when
    if isinstance(when, tuple):  # time.struct_time is a tuple too
        return calendar.timegm(when)
    if isinstance(when, datetime.datetime):  # naive means UTC; aware is converted
        return calendar.timegm(when.utctimetuple())
    raise TypeError(f"unknown timestamp type: {when!r} (use a timestamp, time tuple or datetime)")


def format_set_cookie(
    name: str | bytes,
    value: str | bytes,
    *,
    domain: str | None = None,
    expires: Expires | None = None,
    path: str | None = "/",
    expires_days: float | None = None,
    max_age: int | None = None,
    httponly: bool = False,
    secure: bool = False,
    samesite: str | None = None,
    **kwargs: Any,
) -> str:
    """Return the Set-Cookie header value that Tornado's ``set_cookie`` would send.

    ``http.cookies`` quotes the value; ``expires`` (timestamp, time tuple or datetime) becomes
    an IMF-fixdate; ``expires_days`` means now plus that many days unless ``expires`` is set.
    Falsy attributes are left out. A control character or space in the value raises
    ValueError; one (or ``;``) in the name or an attribute raises CookieError, as do reserved
    names. Extra ``kwargs`` become Morsel attributes and warn (DeprecationWarning)."""
    name = name.decode() if isinstance(name, bytes) else name
    value = value.decode() if isinstance(value, bytes) else value
    if _BAD_VALUE.search(value):
        raise ValueError(f"Invalid cookie {name!r}: {value!r} (no spaces or control characters)")
    attributes = {"name": name, "domain": domain, "path": path, "samesite": samesite, **kwargs}
    for attr, attr_value in attributes.items():
        if attr_value is None or (attr in kwargs and not isinstance(attr_value, str)):
            continue
        if not isinstance(attr_value, str):
            raise TypeError(f"Cookie attribute {attr} must be a str, not {attr_value!r}")
        if _BAD_ATTRIBUTE.search(attr_value):
            raise CookieError(f"Invalid cookie attribute {attr}={attr_value!r} for cookie {name!r}")
    jar: SimpleCookie = SimpleCookie()
    jar[name] = value  # raises CookieError for reserved and non-ASCII names
    morsel = jar[name]
    if expires_days is not None and not expires:
        expires = time.time() + expires_days * _DAY
    settings = {
        "domain": domain,
        "expires": http_date(_epoch(expires)) if expires else None,
        "path": path,
        "max-age": str(int(max_age)) if max_age else None,
        "httponly": httponly,
        "secure": secure,
        "samesite": samesite,
    }
    for key, setting in settings.items():
        if setting:  # Morsel.OutputString sorts the attributes itself
            morsel[key] = setting
    if kwargs:
        warnings.warn(
            f"Deprecated arguments to set_cookie: {set(kwargs)} (should be lowercase)",
            DeprecationWarning,
            stacklevel=3,  # the caller of RequestHandler.set_cookie
        )
        for key, attr_value in kwargs.items():
            morsel[key] = attr_value
    return morsel.OutputString()


def format_clear_cookie(
    name: str | bytes, *, path: str | None = "/", domain: str | None = None, **kwargs: Any
) -> str:
    """Return a Set-Cookie value that deletes cookie ``name``: empty, expired a year ago.

    ``path`` and ``domain`` (and ``secure``, ``samesite``...) must match the ones the cookie
    was set with, or the browser keeps it. ``expires`` and ``max_age`` raise TypeError, as in
    Tornado 6.3+; ``expires_days`` is accepted and ignored."""
    if "expires" in kwargs or "max_age" in kwargs:
        raise TypeError("clear_cookie() takes no expires or max_age (it expires a year ago)")
    expires = time.time() - 365 * _DAY
    return format_set_cookie(name, "", path=path, domain=domain, expires=expires, **kwargs)


def _key(secret: object) -> bytes:
    if isinstance(secret, str | bytes):
        return to_bytes(secret)
    raise TypeError(
        f"cookie_secret must be str or bytes, or a dict {{key_version: secret}}; got {secret!r:.40}"
    )


def _hexmac(key: bytes, data: bytes, digest: Callable[[], Any]) -> bytes:
    return hmac.new(key, data, digest).hexdigest().encode()


def _version(raw: bytes) -> int:
    match = VERSION_PREFIX.match(raw)
    # Above 999 the digits are a v1 base64 payload that happens to look like a version.
    return 1 if match is None or int(match.group(1)) > 999 else int(match.group(1))


def create_signed_value(
    secret: Secret,
    name: str | bytes,
    value: str | bytes,
    version: int | None = None,
    clock: Callable[[], float] | None = None,
    key_version: int | None = None,
) -> bytes:
    """Sign ``value`` for cookie ``name`` and return the Tornado-format signed value.

    ``version`` 2 (the default) signs with HMAC-SHA256 and records ``key_version`` (0 if
    None); version 1 is the legacy HMAC-SHA1 format. A dict secret (key rotation) needs
    version 2 and a ``key_version`` among its keys, else ValueError. ``clock`` (default
    ``time.time``) gives the time; its integer part is the timestamp."""
    version = 2 if version is None else version
    if isinstance(secret, Mapping):
        if version != 2 or key_version is None or key_version not in secret:
            raise ValueError(
                f"A dict cookie_secret needs version 2 and a key_version among its keys "
                f"{sorted(secret)}; got version={version}, key_version={key_version!r}"
            )
        secret = secret[key_version]
    key, stamp = _key(secret), str(int((clock or time.time)())).encode()
    encoded = base64.b64encode(to_bytes(value))
    if version == 1:
        signature = _hexmac(key, to_bytes(name) + encoded + stamp, hashlib.sha1)
        return b"|".join([encoded, stamp, signature])
    if version != 2:
        raise ValueError(f"Unsupported version {version} (signed values come in versions 1 and 2)")
    # Lengths count bytes (Tornado counts characters of a str name, and then cannot read
    # its own value back if the name is not ASCII).
    fields = [str(key_version or 0).encode(), stamp, to_bytes(name), encoded]
    signed = b"|".join([b"2", *(b"%d:%s" % (len(field), field) for field in fields), b""])
    return signed + _hexmac(key, signed, hashlib.sha256)


def _split_v2(raw: bytes) -> tuple[int, bytes, bytes, bytes, bytes] | None:
    """Split ``2|key_version|timestamp|name|value|signature``: each field is ``len:bytes``."""
    rest, fields = raw[2:], []
    try:
        for _ in range(4):
            length, _colon, rest = rest.partition(b":")
            size = int(length)
            if size < 0 or rest[size : size + 1] != b"|":
                return None
            fields.append(rest[:size])
            rest = rest[size + 1 :]
        return int(fields[0]), fields[1], fields[2], fields[3], rest
    except ValueError:
        return None


def _verify(secret: Secret, name: bytes, raw: bytes, version: int) -> tuple[int, bytes] | None:
    """Return the timestamp and base64 payload of a value signed by ``secret``, else None."""
    if version == 1:
        parts = raw.split(b"|")
        if len(parts) != 3 or isinstance(secret, Mapping):
            return None
        encoded, stamp, signature = parts
        expected = _hexmac(_key(secret), name + encoded + stamp, hashlib.sha1)
        if stamp.startswith(b"0"):
            return None
    else:
        fields = _split_v2(raw)
        if fields is None:
            return None
        key_version, stamp, signed_name, encoded, signature = fields
        if isinstance(secret, Mapping) and key_version not in secret:
            return None
        key = _key(secret[key_version] if isinstance(secret, Mapping) else secret)
        expected = _hexmac(key, raw[: len(raw) - len(signature)], hashlib.sha256)
        if signed_name != name:
            return None
    if not hmac.compare_digest(signature, expected) or not stamp.strip().isdigit():
        return None
    return int(stamp), encoded


def decode_signed_value(
    secret: Secret,
    name: str | bytes,
    value: str | bytes | None,
    max_age_days: float = 31,
    clock: Callable[[], float] | None = None,
    min_version: int | None = None,
) -> bytes | None:
    """Check a signed value made for cookie ``name`` and return the original bytes, or None.

    None: missing, malformed, tampered, another name, older than ``max_age_days``, v1 stamped
    over 31 days ahead or with a leading zero, an unknown key_version, a version below
    ``min_version`` (default 1), or v1 with a dict secret. A bad secret or ``min_version``
    above 2 raise."""
    for key in secret.values() if isinstance(secret, Mapping) else [secret]:
        _key(key)  # misconfiguration raises even when the value would be rejected anyway
    if min_version is not None and min_version > 2:
        raise ValueError(f"Unsupported min_version {min_version} (use 1 or 2)")
    raw = b"" if value is None else to_bytes(value)
    version = _version(raw)
    if value is None or version < (min_version or 1) or version > 2:
        return None
    verified = _verify(secret, to_bytes(name), raw, version)
    now = (clock or time.time)()
    if verified is None or verified[0] < now - max_age_days * _DAY:
        return None
    if version == 1 and verified[0] > now + 31 * _DAY:  # v1 only: not from the future
        # A v1 signature does not separate value from timestamp: digits moved from one to
        # the other keep it valid, so a far-future stamp means tampering (Tornado logs it).
        gen_log.warning("Cookie timestamp in future; possible tampering %r", value)
        return None
    try:
        return base64.b64decode(verified[1])
    except binascii.Error:
        return None


def get_signature_key_version(value: str | bytes) -> int | None:
    """Return the key_version a v2 signed value claims (unverified), or None for v1/malformed."""
    raw = to_bytes(value)
    fields = _split_v2(raw) if _version(raw) >= 2 else None
    return None if fields is None else fields[0]
