"""Generate tests/web/vectors/cookie_vectors.json from real Tornado (the compatibility oracle).

squall's signed cookies, Set-Cookie headers and XSRF tokens must be byte-compatible with
Tornado's, so that cookies already issued by Tornado apps keep working. This script runs
Tornado as a black box with fixed secrets and a fixed clock and records what it produces
and what it accepts; tests/web/test_cookies_signing.py replays the file against squall.

Tornado is NOT a squall dependency and this script never ships in the package. Regenerate
the vectors in a throwaway virtualenv outside the repository:

    python3.11 -m venv /tmp/tornado-venv
    /tmp/tornado-venv/bin/pip install tornado
    /tmp/tornado-venv/bin/python scripts/make_cookie_vectors.py

The output is deterministic except for the XSRF masks (fresh random bytes on every call, by
design) and the dates of headers that Tornado computes from the current time, which are
stored as the ``<DATE>`` placeholder plus the offset in days from "now".
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import json
import logging
import pathlib
import re
import sys
import warnings
from collections.abc import Callable
from typing import Any
from unittest import mock

import tornado
import tornado.httputil
import tornado.web

OUT = pathlib.Path(__file__).resolve().parent.parent / "tests/web/vectors/cookie_vectors.json"
CLOCK = 1700000000.75  # the fixed "now" of every signed-value vector
DAY = 86400
SECRET = "a fixed test secret, not a real one"
SECRETS: dict[int, str] = {0: "key zero", 3: "key three", 7: "key seven"}
MASK = bytes.fromhex("01020304")  # the fixed XSRF mask of the hand-made v2 cookies
DATE_RE = re.compile(r"[A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT")

# (name, value, how to pass the value: "str" or "bytes")
SAMPLES: list[tuple[str, bytes, str]] = [
    ("session", b"user-42", "str"),
    ("prefs", "café ☕ naïve".encode(), "str"),
    ("blob", bytes(range(256)), "bytes"),
    ("empty", b"", "str"),
    ("sésame", b"unicode cookie name", "str"),
    ("a", b"x" * 1000, "bytes"),
]


def clock_at(now: float) -> Callable[[], float]:
    return lambda: now


def as_arg(raw: bytes, kind: str) -> str | bytes:
    return raw.decode() if kind == "str" else raw


def b64(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode()


def signed_vectors() -> list[dict[str, Any]]:
    """Tornado's signed values, and whether Tornado itself decodes each one again."""
    vectors: list[dict[str, Any]] = []
    # A non-ASCII name is also signed as bytes: Tornado's v2 length prefix counts the
    # characters of a str name but the bytes of a bytes name, and only the latter decodes.
    samples = [(name, "str", raw, kind) for name, raw, kind in SAMPLES]
    samples.append(("sésame", "bytes", b"unicode cookie name", "str"))
    plans: list[tuple[Any, int, int | None]] = [(SECRET, version, None) for version in (1, 2)]
    plans += [(SECRETS, 2, key_version) for key_version in SECRETS]
    plans.append((SECRET, 2, 9))  # a plain secret with a key_version still records it
    for name, name_type, raw, kind in samples:
        for secret, version, key_version in plans:
            name_arg: Any = name.encode() if name_type == "bytes" else name
            signed = tornado.web.create_signed_value(
                secret, name_arg, as_arg(raw, kind), version, clock_at(CLOCK), key_version
            )
            again = tornado.web.decode_signed_value(secret, name, signed, clock=clock_at(CLOCK))
            vectors.append(
                {"secret": secret, "name": name, "name_type": name_type}
                | {"value_b64": b64(raw), "value_type": kind, "version": version}
                | {"key_version": key_version, "signed": signed.decode()}
                | {"tornado_decodes_b64": b64(again)}
                | {"key_version_read": tornado.web.get_signature_key_version(signed)}
            )
    return vectors


def v1_with_stamp(name: str, value: bytes, stamp: bytes) -> str:
    """Craft a correctly signed v1 value with an arbitrary timestamp field (leading zero)."""
    encoded = base64.b64encode(value)
    mac = hmac.new(SECRET.encode(), name.encode() + encoded + stamp, hashlib.sha1)
    return b"|".join([encoded, stamp, mac.hexdigest().encode()]).decode()


def decode_cases() -> list[dict[str, Any]]:
    """Inputs (good and bad) with Tornado's verdict for each."""

    def make(version: int, now: float = CLOCK, name: str = "n", value: str = "v") -> str:
        return tornado.web.create_signed_value(
            SECRET, name, value, version=version, clock=clock_at(now)
        ).decode()

    v1, v2 = make(1), make(2)
    keyed = tornado.web.create_signed_value(
        SECRETS, "n", "v", clock=clock_at(CLOCK), key_version=3
    ).decode()
    flip = {"0": "1", "1": "0"}
    cases: list[tuple[str, Any, str, dict[str, Any]]] = [
        ("v1 fresh", SECRET, v1, {}),
        ("v2 fresh", SECRET, v2, {}),
        ("v1 tampered signature", SECRET, v1[:-1] + flip.get(v1[-1], "0"), {}),
        ("v2 tampered signature", SECRET, v2[:-1] + flip.get(v2[-1], "0"), {}),
        ("v2 tampered value", SECRET, v2.replace("1:v", "1:w").replace("4:dg==", "4:dw=="), {}),
        ("v1 tampered timestamp", SECRET, v1.replace("|1700000000|", "|1700000001|"), {}),
        ("v1 wrong secret", "other secret", v1, {}),
        ("v2 wrong secret", "other secret", v2, {}),
        ("v1 wrong name", SECRET, v1, {"name": "other"}),
        ("v2 wrong name", SECRET, v2, {"name": "other"}),
        ("v1 at max age", SECRET, v1, {"clock": 1700000000 + 31 * DAY}),
        ("v2 at max age", SECRET, v2, {"clock": 1700000000 + 31 * DAY}),
        ("v1 expired", SECRET, v1, {"clock": 1700000000 + 31 * DAY + 1}),
        ("v2 expired", SECRET, v2, {"clock": 1700000000 + 31 * DAY + 1}),
        ("v2 short max_age_days", SECRET, v2, {"clock": CLOCK + 2 * DAY, "max_age_days": 1}),
        ("v2 fractional max_age_days", SECRET, v2, {"clock": CLOCK + 3600, "max_age_days": 0.5}),
        ("v1 31 days ahead", SECRET, make(1, now=CLOCK + 31 * DAY), {}),
        ("v1 too far ahead", SECRET, make(1, now=CLOCK + 31 * DAY + 1), {}),
        ("v2 far ahead", SECRET, make(2, now=CLOCK + 100 * DAY), {}),
        ("v1 leading zero", SECRET, v1_with_stamp("n", b"v", b"01700000000"), {}),
        ("v1 good crafted", SECRET, v1_with_stamp("n", b"v", b"1700000000"), {}),
        ("v1 below min_version 2", SECRET, v1, {"min_version": 2}),
        ("v2 at min_version 2", SECRET, v2, {"min_version": 2}),
        ("keyed with dict", SECRETS, keyed, {}),
        ("keyed key missing", {0: "key zero"}, keyed, {}),
        ("keyed with plain secret", "key three", keyed, {}),
        ("unkeyed with dict having key 0", {0: SECRET}, v2, {}),
        ("v1 with dict secret", SECRETS, v1, {}),
        ("empty", SECRET, "", {}),
        ("garbage", SECRET, "not a signed value", {}),
        ("v2 truncated", SECRET, v2[:20], {}),
        ("v2 bad length", SECRET, "2|1:0|99:1700000000|1:n|4:dg==|" + "0" * 64, {}),
        ("v2 no fields", SECRET, "2|", {}),
        ("version 3", SECRET, "3|" + v2[2:], {}),
        ("version 1000", SECRET, "1000|" + v2[2:], {}),
        ("leading zero version", SECRET, "02|" + v2[2:], {}),
        ("v1 two parts", SECRET, "dg==|1700000000", {}),
        ("v1 four parts", SECRET, v1 + "|x", {}),
        ("non-ascii", SECRET, "2|1:0|é", {}),
    ]
    vectors = []
    for label, secret, signed, options in cases:
        name = options.get("name", "n")
        now = options.get("clock", CLOCK)
        kwargs = {k: v for k, v in options.items() if k in ("max_age_days", "min_version")}
        raises = None
        try:
            result = tornado.web.decode_signed_value(
                secret, name, signed, clock=clock_at(now), **kwargs
            )
        except AssertionError as exc:  # Tornado asserts on v1 + dict secret; squall says None
            result, raises = None, type(exc).__name__
        vectors.append(
            {"label": label, "secret": secret, "name": name, "signed": signed, "clock": now}
            | {"options": kwargs, "result_b64": b64(result), "tornado_raises": raises}
            | {"key_version": tornado.web.get_signature_key_version(signed)}
        )
    return vectors


class _Handler(tornado.web.RequestHandler):
    def get(self) -> None:
        pass


def handler(cookie: str | None = None, **settings: Any) -> tornado.web.RequestHandler:
    app = tornado.web.Application([], cookie_secret=SECRET, xsrf_cookies=True, **settings)
    headers = tornado.httputil.HTTPHeaders({"Host": "example.com"})
    if cookie is not None:
        headers["Cookie"] = cookie
    start = tornado.httputil.RequestStartLine("POST", "/", "HTTP/1.1")
    request = tornado.httputil.HTTPServerRequest(
        headers=headers, start_line=start, connection=mock.Mock()
    )
    return _Handler(app, request)


def new_cookies(h: tornado.web.RequestHandler) -> list[str]:
    # Tornado internals, allowed here only: the Set-Cookie values the handler would send.
    return [m.OutputString(None) for m in getattr(h, "_new_cookie", {}).values()]


def encode_expires(value: Any) -> Any:
    if isinstance(value, datetime.datetime):
        return {"datetime": value.isoformat()}
    if isinstance(value, datetime.date):
        return {"date": value.isoformat()}
    if isinstance(value, tuple):
        return {"tuple": list(value)}
    if isinstance(value, str):
        return {"string": value}
    return {"timestamp": value}


def set_cookie_vectors() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    when = datetime.datetime(2030, 1, 2, 3, 4, 5)
    plus2 = datetime.timezone(datetime.timedelta(hours=2))
    cases: list[tuple[str, str, dict[str, Any]]] = [
        ("a", "b", {}),
        ("session", "2|1:0|10:1700000000|7:session|4:dg==|abc", {}),
        ("q", 'say"hi"', {}),
        ("q", "a;b,c\\d", {}),
        ("u", "café", {}),
        ("d", "\x7f", {}),
        ("e", "", {}),
        ("$dollar", "x", {}),
        ("full", "v", dict(domain="example.com", expires=when, path="/app", max_age=3600)),
        ("flags", "v", dict(httponly=True, secure=True, samesite="Lax")),
        ("strict", "v", dict(samesite="Strict", secure=True)),
        ("none", "v", dict(samesite="None", secure=True)),
        ("ts", "v", dict(expires=1893553445)),
        ("tsf", "v", dict(expires=1893553445.9)),
        ("tuple", "v", dict(expires=(2030, 1, 2, 3, 4, 5, 0, 0, 0))),
        ("aware", "v", dict(expires=when.replace(tzinfo=plus2))),
        ("both", "v", dict(expires=when, expires_days=5)),
        ("zero", "v", dict(expires=0, max_age=0)),
        ("nopath", "v", dict(path=None)),
        ("emptypath", "v", dict(path="", domain="")),
        ("pathchars", "v", dict(path='/a,b"c')),
        ("maxagef", "v", dict(max_age=5.5)),
        ("maxages", "v", dict(max_age="7")),
        ("neg", "v", dict(max_age=-1)),
        ("truthy", "v", dict(httponly=1, secure="yes")),
    ]
    out: list[dict[str, Any]] = []
    for name, value, kwargs in cases:
        h = handler()
        h.set_cookie(name, value, **kwargs)
        [header] = new_cookies(h)
        out.append({"name": name, "value": value, "kwargs": _jsonable(kwargs), "header": header})
    out.append(_bytes_case())
    # Extra keyword arguments become Morsel attributes, with a DeprecationWarning (6.3+).
    extras: list[dict[str, Any]] = [dict(comment="hi"), dict(Comment="hi", samesite="Lax")]
    for kwargs in [*extras, {"max-age": 5}]:
        h = handler()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            h.set_cookie("extra", "v", **kwargs)
        [header] = new_cookies(h)
        warned = any(issubclass(w.category, DeprecationWarning) for w in caught)
        out.append(
            {"name": "extra", "value": "v", "kwargs": kwargs, "header": header} | {"warns": warned}
        )
    # Tornado computes these dates from the current time: record them with a placeholder.
    timed: list[tuple[str, str, dict[str, Any], int]] = [
        ("set", "days", dict(expires_days=30), 30),
        ("set", "days0", dict(expires_days=0, path="/x"), 0),
        ("clear", "gone", {}, -365),
        ("clear", "gone", dict(path="/p", domain="example.com"), -365),
        ("clear", "gone", dict(secure=True, samesite="None", httponly=True), -365),
        ("clear", "gone", dict(expires_days=3), -365),
    ]
    for method, name, kwargs, days in timed:
        h = handler()
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            if method == "set":
                h.set_cookie(name, "v", **kwargs)
            else:
                h.clear_cookie(name, **kwargs)
        [header] = new_cookies(h)
        out.append(
            {"method": method, "name": name, "kwargs": kwargs, "days_from_now": days}
            | {"header": DATE_RE.sub("<DATE>", header)}
        )
    return out, set_cookie_errors()


def _bytes_case() -> dict[str, Any]:
    h = handler()
    h.set_cookie(b"bn", b"bv")  # type: ignore[arg-type]  # Tornado accepts bytes at run time
    return {"name_b64": b64(b"bn"), "value_b64": b64(b"bv"), "kwargs": {}} | {
        "header": new_cookies(h)[0]
    }


def _jsonable(kwargs: dict[str, Any]) -> dict[str, Any]:
    return {k: encode_expires(v) if k == "expires" else v for k, v in kwargs.items()}


def set_cookie_errors() -> list[dict[str, Any]]:
    cases: list[tuple[str, str, dict[str, Any]]] = [
        ("a", "b c", {}),
        ("a", "b\t", {}),
        ("a", "b\x00", {}),
        ("a", "\n", {}),
        ("a b", "c d", {}),
        ("a b", "c", {}),
        ("a;", "c", {}),
        ("a\x7f", "c", {}),
        ("a=", "c", {}),
        ("", "c", {}),
        ("é", "c", {}),
        ("expires", "c", {}),
        ("Path", "c", {}),
        ("a", "c", dict(domain="x;y")),
        ("a", "c", dict(domain="x y")),
        ("a", "c", dict(path="/a\x7fb")),
        ("a", "c", dict(path="/a\nb")),
        ("a", "c", dict(samesite="Lax;")),
        ("a", "c d", dict(domain="x;y")),
        ("a", "c", dict(expires="tomorrow")),
        ("a", "c", dict(expires=datetime.date(2030, 1, 2))),
    ]
    out = []
    for name, value, kwargs in cases:
        try:
            handler().set_cookie(name, value, **kwargs)
        except Exception as exc:
            error = type(exc).__name__
        else:
            raise AssertionError(f"Tornado accepted {name!r}={value!r} {kwargs}")
        out.append({"name": name, "value": value, "kwargs": _jsonable(kwargs), "error": error})
    return out


def xsrf_vectors() -> dict[str, Any]:
    raw_tokens = [bytes(range(16)), bytes.fromhex("ff" * 16), b"\x80" * 16]
    issued = []
    for token in raw_tokens:
        for cookie in (token.hex(), f"2|01020304|{_xor(token, MASK).hex()}|1700000000"):
            for version in (1, 2):
                h = handler(cookie=f"_xsrf={cookie}", xsrf_cookie_version=version)
                form = h.xsrf_token.decode()
                issued.append(
                    {"cookie": cookie, "token_hex": token.hex(), "form": form}
                    | {"output_version": version, "sets_cookie": new_cookies(h)}
                )
    # A brand-new token: Tornado issues the cookie and the masked form value.
    h = handler()
    form = h.xsrf_token.decode()
    [set_cookie] = new_cookies(h)
    fresh = {"form": form, "set_cookie": set_cookie}
    decode: list[dict[str, Any]] = []
    inputs = [
        "",
        "abc",
        "zz",
        "00ff",
        "0A0b",
        "héllo",
        "2|0a0b0c0d|0102|123",
        "2|0A0B0C0D|0102| 7",
        "2|0a0b0c0d|0102|-5",
        "2|0a0b0c0d||5",
        "2|0a0b0c0d|0102|12.5",
        "2|0a0b0c0d|0102",
        "2|0a0b0c0d|0102|1|2",
        "2|zz|0102|1",
        "2||0102|1",
        "2|0a0b|0102|1",
        "2|0a0b0c0d0e|0102|1",
        "2|0a0b0c0d|01023|1",
        "3|a|b|c",
        "1|abcd",
        "02|0a0b0c0d|0102|1",
    ]
    for text in inputs:
        parsed_version, raw, stamp = handler()._decode_xsrf_token(text)
        decode.append(
            {"input": text, "version": parsed_version, "token_b64": b64(raw)}
            | {"timestamp": "now" if parsed_version == 1 else stamp}
        )
    checks: list[dict[str, Any]] = []
    good = f"2|01020304|{_xor(bytes(range(16)), MASK).hex()}|1700000000"
    pairs: list[tuple[str | None, str | None]] = [
        (bytes(range(16)).hex(), good),
        (good, bytes(range(16)).hex()),
        (good, None),
        (good, ""),
        (good, "2|zz|00|1"),
        (good, "garbage"),
        (good, "00" * 16),
        (None, good),
    ]
    for cookie_value, field in pairs:
        headers = f"_xsrf={cookie_value}" if cookie_value is not None else None
        h = handler(cookie=headers)
        if field is not None:
            h.request.headers["X-Xsrftoken"] = field
        try:
            h.check_xsrf_cookie()
            verdict = None
        except tornado.web.HTTPError as exc:
            verdict = f"{exc.status_code} {exc.log_message}"
        checks.append({"cookie": cookie_value, "field": field, "error": verdict})
    return {"issued": issued, "fresh": fresh, "decode": decode, "check": checks}


def _xor(data: bytes, mask: bytes) -> bytes:
    return bytes(b ^ mask[i % 4] for i, b in enumerate(data))


def main() -> None:
    logging.getLogger("tornado.general").setLevel(logging.ERROR)  # expected rejections
    set_cookie, set_cookie_errors_ = set_cookie_vectors()
    vectors = {
        "about": "Produced by scripts/make_cookie_vectors.py from real Tornado; do not edit.",
        "tornado_version": tornado.version,
        "python_version": sys.version.split()[0],
        "clock": CLOCK,
        "signed": signed_vectors(),
        "decode": decode_cases(),
        "set_cookie": set_cookie,
        "set_cookie_errors": set_cookie_errors_,
        "xsrf": xsrf_vectors(),
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(vectors, indent=1, ensure_ascii=False, default=_json_default)
    OUT.write_text(text + "\n", encoding="utf-8")
    print(f"wrote {OUT}")


def _json_default(value: Any) -> Any:
    raise TypeError(f"not JSON: {value!r}")


if __name__ == "__main__":
    main()
