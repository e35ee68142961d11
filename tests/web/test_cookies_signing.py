"""squall's cookie helpers against vectors recorded from real Tornado, plus their own rules.

The vectors come from scripts/make_cookie_vectors.py (see its docstring to regenerate).
"""

from __future__ import annotations

import base64
import datetime
import email.utils
import hashlib
import hmac
import json
import logging
import pathlib
import random
import re
import time
from collections.abc import Callable
from http.cookies import CookieError
from typing import Any

import pytest

from squall._web.cookies import (
    create_signed_value,
    decode_signed_value,
    format_clear_cookie,
    format_set_cookie,
    get_signature_key_version,
)
from squall._web.xsrf import (
    XSRF_INVALID_FORMAT,
    XSRF_MISMATCH,
    XSRF_MISSING,
    decode_xsrf_token,
    encode_xsrf_token,
    new_xsrf_token,
    xsrf_tokens_match,
)

VECTORS: dict[str, Any] = json.loads(
    (pathlib.Path(__file__).parent / "vectors" / "cookie_vectors.json").read_text("utf-8")
)
CLOCK: float = VECTORS["clock"]
DAY = 86400
SECRET = "unit secret"
DATE = re.compile(r"expires=([^;]+)")


def clock_at(now: float) -> Callable[[], float]:
    return lambda: now


def secret_of(vector: dict[str, Any]) -> Any:
    """JSON turned the int keys of dict secrets into strings: turn them back."""
    secret = vector["secret"]
    return {int(k): v for k, v in secret.items()} if isinstance(secret, dict) else secret


def value_of(vector: dict[str, Any]) -> str | bytes:
    raw = base64.b64decode(vector["value_b64"])
    return raw.decode() if vector["value_type"] == "str" else raw


def unb64(data: str | None) -> bytes | None:
    return None if data is None else base64.b64decode(data)


def label(vector: dict[str, Any]) -> str:
    return f"v{vector['version']}-{vector['name']}-{vector['name_type']}-{vector['key_version']}"


def bytes_name_twin(vector: dict[str, Any]) -> dict[str, Any]:
    """The same signing, with the name passed to Tornado as bytes."""
    keys = ("name", "secret", "version", "key_version", "value_b64")
    twins: list[dict[str, Any]] = [
        other
        for other in VECTORS["signed"]
        if other["name_type"] == "bytes" and all(other[k] == vector[k] for k in keys)
    ]
    assert len(twins) == 1
    return twins[0]


# -- signed values: Tornado's vectors -----------------------------------------------------


@pytest.mark.parametrize("vector", VECTORS["signed"], ids=label)
def test_squall_decodes_what_tornado_decodes(vector: dict[str, Any]) -> None:
    decoded = decode_signed_value(
        secret_of(vector), vector["name"], vector["signed"], clock=clock_at(CLOCK)
    )
    assert decoded == unb64(vector["tornado_decodes_b64"])


def test_tornado_decodes_nearly_all_of_its_own_vectors() -> None:
    undecodable = [v for v in VECTORS["signed"] if v["tornado_decodes_b64"] is None]
    assert {(v["name"], v["name_type"], v["version"]) for v in undecodable} == {
        ("sésame", "str", 2)
    }
    assert len(VECTORS["signed"]) - len(undecodable) >= 30


@pytest.mark.parametrize("vector", VECTORS["signed"], ids=label)
def test_squall_signs_byte_for_byte_like_tornado(vector: dict[str, Any]) -> None:
    name = vector["name"].encode() if vector["name_type"] == "bytes" else vector["name"]
    signed = create_signed_value(
        secret_of(vector),
        name,
        value_of(vector),
        version=vector["version"],
        clock=clock_at(CLOCK),
        key_version=vector["key_version"],
    )
    if vector["tornado_decodes_b64"] is None:
        # Tornado prefixes a non-ASCII str name with its length in characters and then cannot
        # read the value back; squall always counts bytes, as Tornado does for a bytes name.
        assert signed == bytes_name_twin(vector)["signed"].encode()
        assert decode_signed_value(secret_of(vector), name, signed, clock=clock_at(CLOCK))
    else:
        assert signed == vector["signed"].encode()


@pytest.mark.parametrize("vector", VECTORS["signed"], ids=label)
def test_key_version_read_from_tornado_values(vector: dict[str, Any]) -> None:
    expected = vector["key_version_read"]
    assert get_signature_key_version(vector["signed"]) == expected
    assert get_signature_key_version(vector["signed"].encode()) == expected
    if vector["version"] == 2 and vector["tornado_decodes_b64"] is not None:
        assert expected == (vector["key_version"] or 0)


@pytest.mark.parametrize("case", VECTORS["decode"], ids=lambda case: case["label"])
def test_decode_verdict_matches_tornado(case: dict[str, Any]) -> None:
    result = decode_signed_value(
        secret_of(case),
        case["name"],
        case["signed"],
        clock=clock_at(case["clock"]),
        **case["options"],
    )
    # Where Tornado asserts (a v1 value against a dict secret), squall answers None.
    assert result == unb64(case["result_b64"])
    assert get_signature_key_version(case["signed"]) == case["key_version"]


def test_decode_vectors_cover_both_verdicts() -> None:
    verdicts = {case["result_b64"] is None for case in VECTORS["decode"]}
    assert verdicts == {True, False}


# -- signed values: squall's own rules ----------------------------------------------------


@pytest.mark.parametrize("version", [1, 2])
@pytest.mark.parametrize("value", ["", "plain", "ünïcödé ☃", b"\x00\xff\x80|:=", b"x" * 5000])
def test_signed_value_round_trips(version: int, value: str | bytes) -> None:
    signed = create_signed_value(SECRET, "name", value, version=version)
    expected = value.encode() if isinstance(value, str) else value
    assert decode_signed_value(SECRET, "name", signed) == expected
    assert decode_signed_value(SECRET, "name", signed.decode()) == expected


def test_version_defaults_to_2_and_timestamp_is_the_clock_integer() -> None:
    signed = create_signed_value(SECRET, "n", "v", clock=clock_at(1234567890.999))
    assert signed.startswith(b"2|1:0|10:1234567890|1:n|4:dg==|")
    assert len(signed.rsplit(b"|", 1)[1]) == 64  # hex SHA-256


@pytest.mark.parametrize("version", [1, 2])
def test_every_single_byte_change_is_rejected(version: int) -> None:
    signed = create_signed_value(SECRET, "n", "payload", version=version, clock=clock_at(CLOCK))
    for index in range(len(signed)):
        for replacement in (b"0", b"A", b"|", b":"):
            tampered = signed[:index] + replacement + signed[index + 1 :]
            if tampered != signed:
                assert decode_signed_value(SECRET, "n", tampered, clock=clock_at(CLOCK)) is None


@pytest.mark.parametrize("version", [1, 2])
def test_values_are_bound_to_secret_and_name(version: int) -> None:
    signed = create_signed_value(SECRET, "n", "v", version=version)
    assert decode_signed_value("other", "n", signed) is None
    assert decode_signed_value(SECRET, "m", signed) is None
    assert decode_signed_value(SECRET.encode(), b"n", signed) == b"v"


@pytest.mark.parametrize("version", [1, 2])
def test_expiry_is_max_age_days_after_the_timestamp(version: int) -> None:
    signed = create_signed_value(SECRET, "n", "v", version=version, clock=clock_at(1000.5))

    def at(now: float) -> bytes | None:
        return decode_signed_value(SECRET, "n", signed, clock=clock_at(now))

    assert at(1000 + 31 * DAY) == b"v"
    assert at(1000 + 31 * DAY + 0.5) is None
    short = decode_signed_value(SECRET, "n", signed, max_age_days=1, clock=clock_at(1000 + DAY + 1))
    assert short is None


def test_v1_from_more_than_31_days_ahead_is_rejected_but_v2_is_not(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ahead = clock_at(CLOCK + 31 * DAY + 1)
    v1 = create_signed_value(SECRET, "n", "v", version=1, clock=ahead)
    v2 = create_signed_value(SECRET, "n", "v", version=2, clock=ahead)
    with caplog.at_level(logging.WARNING, logger="squall.general"):
        assert decode_signed_value(SECRET, "n", v1, clock=clock_at(CLOCK)) is None
    # Digits moved from a v1 value into its timestamp keep the signature: logged as tampering.
    assert "Cookie timestamp in future; possible tampering" in caplog.text
    assert decode_signed_value(SECRET, "n", v2, clock=clock_at(CLOCK)) == b"v"


def test_min_version_2_refuses_v1() -> None:
    v1 = create_signed_value(SECRET, "n", "v", version=1)
    v2 = create_signed_value(SECRET, "n", "v", version=2)
    assert decode_signed_value(SECRET, "n", v1, min_version=2) is None
    assert decode_signed_value(SECRET, "n", v2, min_version=2) == b"v"
    assert decode_signed_value(SECRET, "n", v1, min_version=1) == b"v"


def test_v1_value_whose_base64_is_all_digits_is_still_v1() -> None:
    # base64 of these bytes is "1000": the value starts "1000|", which is no version (max 999).
    payload = base64.b64decode("1000")
    signed = create_signed_value(SECRET, "n", payload, version=1)
    assert signed.startswith(b"1000|")
    assert decode_signed_value(SECRET, "n", signed) == payload
    assert get_signature_key_version(signed) is None


def test_unknown_versions_are_refused_even_when_correctly_signed() -> None:
    v2 = create_signed_value(SECRET, "n", "v", clock=clock_at(CLOCK))
    signed = b"3" + v2[1 : v2.rindex(b"|") + 1]
    forged = signed + hmac.new(SECRET.encode(), signed, hashlib.sha256).hexdigest().encode()
    assert decode_signed_value(SECRET, "n", forged, clock=clock_at(CLOCK)) is None


def test_key_rotation_with_a_dict_secret() -> None:
    keys = {1: "old key", 2: "new key"}
    old = create_signed_value(keys, "n", "v", key_version=1)
    new = create_signed_value(keys, "n", "v", key_version=2)
    assert (get_signature_key_version(old), get_signature_key_version(new)) == (1, 2)
    assert decode_signed_value(keys, "n", old) == b"v"
    assert decode_signed_value(keys, "n", new) == b"v"
    assert decode_signed_value({2: "new key"}, "n", old) is None
    assert decode_signed_value({1: "new key"}, "n", new) is None  # key 2 is gone
    assert decode_signed_value("old key", "n", old) == b"v"


def test_v1_value_never_matches_a_dict_secret() -> None:
    v1 = create_signed_value(SECRET, "n", "v", version=1)
    assert decode_signed_value({0: SECRET}, "n", v1) is None


@pytest.mark.parametrize(
    "garbage",
    [
        None,
        "",
        "|",
        "||",
        "2|",
        "2|1:",
        "2|x:0|",
        "2|-1:0|10:1|1:n|4:dg==|",
        "2|1:0|10:1700000000|1:n|4:dg==|",
        "2|1:0|10:1700000000|1:n|4:d===|" + "0" * 64,
        "999|whatever",
        "a|b|c",
        "a|0|c",
        "\x00\xff",
        b"\xff\xfe\x00|\x80",
        "2|1:0|10:1700000000|1:n|99999999999999999999:dg==|",
        "2|1:0|10:1700000000|1:n|4:\udcff\udcfe|",
        "\ud800|\udfff",
    ],
)
def test_malformed_values_decode_to_none_without_raising(garbage: str | bytes | None) -> None:
    assert decode_signed_value(SECRET, "n", garbage) is None
    assert decode_signed_value({0: SECRET}, "n", garbage, min_version=2) is None
    if garbage is not None:
        get_signature_key_version(garbage)


def test_xsrf_decode_never_raises_on_odd_text() -> None:
    assert decode_xsrf_token("2|\udcff|00|1") == (None, None, None)
    assert decode_xsrf_token("\udcff")[:2] == (1, "\udcff".encode("utf-8", "surrogatepass"))


def test_random_bytes_never_raise() -> None:
    rng = random.Random(1234)
    good = create_signed_value(SECRET, "n", "v")
    for _ in range(2000):
        data = bytes(rng.randrange(256) for _ in range(rng.randrange(80)))
        spliced = good[: rng.randrange(len(good))] + data
        for candidate in (data, spliced):
            assert decode_signed_value(SECRET, "n", candidate) in (None, b"v")
            get_signature_key_version(candidate)
            assert decode_xsrf_token(candidate)[0] in (None, 1, 2)


def test_a_bad_secret_type_raises_type_error() -> None:
    with pytest.raises(TypeError, match="cookie_secret must be str or bytes"):
        create_signed_value(123, "n", "v")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="cookie_secret"):
        decode_signed_value(None, "n", "anything")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="cookie_secret"):
        decode_signed_value({0: 5}, "n", "anything")  # type: ignore[dict-item]


def test_misused_versions_raise_value_error() -> None:
    with pytest.raises(ValueError, match="key_version"):
        create_signed_value({0: "k"}, "n", "v")
    with pytest.raises(ValueError, match="key_version"):
        create_signed_value({0: "k"}, "n", "v", key_version=1)
    with pytest.raises(ValueError, match="version 2"):
        create_signed_value({0: "k"}, "n", "v", version=1, key_version=0)
    with pytest.raises(ValueError, match="Unsupported version 3"):
        create_signed_value(SECRET, "n", "v", version=3)
    with pytest.raises(ValueError, match="Unsupported min_version 3"):
        decode_signed_value(SECRET, "n", "v", min_version=3)


# -- Set-Cookie ---------------------------------------------------------------------------


def kwargs_of(vector: dict[str, Any]) -> dict[str, Any]:
    kwargs = dict(vector["kwargs"])
    if "expires" in kwargs:
        [(kind, raw)] = kwargs["expires"].items()
        decoders: dict[str, Callable[[Any], Any]] = {
            "datetime": datetime.datetime.fromisoformat,
            "date": datetime.date.fromisoformat,
            "tuple": tuple,
            "string": str,
            "timestamp": float,
        }
        kwargs["expires"] = decoders[kind](raw)
    return kwargs


FIXED_HEADERS = [v for v in VECTORS["set_cookie"] if "days_from_now" not in v]
TIMED_HEADERS = [v for v in VECTORS["set_cookie"] if "days_from_now" in v]


@pytest.mark.parametrize("vector", FIXED_HEADERS, ids=lambda v: v["header"][:40])
def test_set_cookie_header_equals_tornado(vector: dict[str, Any]) -> None:
    if "name_b64" in vector:
        name: str | bytes = base64.b64decode(vector["name_b64"])
        value: str | bytes = base64.b64decode(vector["value_b64"])
    else:
        name, value = vector["name"], vector["value"]
    if vector.get("warns"):
        with pytest.warns(DeprecationWarning, match="Deprecated arguments to set_cookie"):
            header = format_set_cookie(name, value, **kwargs_of(vector))
    else:
        header = format_set_cookie(name, value, **kwargs_of(vector))
    assert header == vector["header"]


@pytest.mark.parametrize("vector", TIMED_HEADERS, ids=lambda v: v["header"])
def test_time_relative_headers_equal_tornado_and_date_is_now_plus_days(
    vector: dict[str, Any],
) -> None:
    before = int(time.time())
    if vector["method"] == "set":
        header = format_set_cookie(vector["name"], "v", **vector["kwargs"])
    else:
        header = format_clear_cookie(vector["name"], **vector["kwargs"])
    after = time.time()
    [date] = DATE.findall(header)
    assert header.replace(date, "<DATE>") == vector["header"]
    expires = email.utils.parsedate_to_datetime(date).timestamp()
    offset = vector["days_from_now"] * DAY
    assert before + offset <= expires <= after + offset


@pytest.mark.parametrize("vector", VECTORS["set_cookie_errors"], ids=repr)
def test_set_cookie_rejects_what_tornado_rejects(vector: dict[str, Any]) -> None:
    error = {"ValueError": ValueError, "CookieError": CookieError, "TypeError": TypeError}
    with pytest.raises(error[vector["error"]]) as info:
        format_set_cookie(vector["name"], vector["value"], **kwargs_of(vector))
    assert type(info.value) is error[vector["error"]]


def test_error_messages_name_the_cookie() -> None:
    with pytest.raises(ValueError, match=r"^Invalid cookie 'a': 'b c'"):
        format_set_cookie("a", "b c")
    with pytest.raises(CookieError, match=r"Invalid cookie attribute domain='x;y' for cookie 'a'"):
        format_set_cookie("a", "b", domain="x;y")


def test_unknown_extra_attribute_is_a_cookie_error() -> None:
    with pytest.warns(DeprecationWarning), pytest.raises(CookieError, match="foo"):
        format_set_cookie("a", "b", foo="bar")


def test_bytes_attribute_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="domain"):
        format_set_cookie("a", "b", domain=b"example.com")  # type: ignore[arg-type]


def test_clear_cookie_refuses_expires_and_max_age() -> None:
    with pytest.raises(TypeError, match="clear_cookie"):
        format_clear_cookie("a", expires=5)
    with pytest.raises(TypeError, match="clear_cookie"):
        format_clear_cookie("a", max_age=0)


def test_expires_days_is_ignored_when_expires_is_given() -> None:
    when = datetime.datetime(2031, 5, 6, 7, 8, 9, tzinfo=datetime.UTC)
    header = format_set_cookie("a", "b", expires=when, expires_days=-400)
    assert header == "a=b; expires=Tue, 06 May 2031 07:08:09 GMT; Path=/"


# -- XSRF ---------------------------------------------------------------------------------

XSRF = VECTORS["xsrf"]


def test_xsrf_messages_are_tornados() -> None:
    assert XSRF_MISSING == "'_xsrf' argument missing from POST"
    assert XSRF_INVALID_FORMAT == "'_xsrf' argument has invalid format"
    assert XSRF_MISMATCH == "XSRF cookie does not match POST argument"
    seen = {case["error"] for case in XSRF["check"]}
    assert {f"403 {m}" for m in (XSRF_MISSING, XSRF_INVALID_FORMAT, XSRF_MISMATCH)} <= seen


@pytest.mark.parametrize("vector", XSRF["issued"], ids=lambda v: v["form"])
def test_tornado_xsrf_cookies_and_form_tokens_decode_to_the_raw_token(
    vector: dict[str, Any],
) -> None:
    token = bytes.fromhex(vector["token_hex"])
    for text in (vector["cookie"], vector["form"]):
        version, raw, _timestamp = decode_xsrf_token(text)
        assert raw == token
        assert version == (2 if text.startswith("2|") else 1)
    if vector["cookie"].startswith("2|") and vector["output_version"] == 2:
        assert decode_xsrf_token(vector["form"])[2] == 1700000000  # Tornado keeps the cookie's


def test_fresh_tornado_xsrf_cookie_matches_its_form_token() -> None:
    cookie_value = XSRF["fresh"]["set_cookie"].split(";")[0].split("=", 1)[1]
    _, from_cookie, _ = decode_xsrf_token(cookie_value)
    _, from_form, _ = decode_xsrf_token(XSRF["fresh"]["form"])
    assert from_cookie is not None and len(from_cookie) == 16
    assert from_cookie == from_form
    assert format_set_cookie("_xsrf", cookie_value) == XSRF["fresh"]["set_cookie"]


@pytest.mark.parametrize("vector", XSRF["decode"], ids=lambda v: repr(v["input"]))
def test_xsrf_decode_matches_tornado(vector: dict[str, Any]) -> None:
    before = int(time.time())
    version, token, timestamp = decode_xsrf_token(vector["input"])
    after = int(time.time())
    assert (version, token) == (vector["version"], unb64(vector["token_b64"]))
    if vector["timestamp"] == "now":
        assert timestamp is not None and before <= timestamp <= after
    else:
        assert timestamp == vector["timestamp"]


def check_xsrf(cookie: str | None, field: str | None) -> str | None:
    """How RequestHandler.check_xsrf_cookie is meant to compose these helpers."""
    if not field:
        return XSRF_MISSING
    _, token, _ = decode_xsrf_token(field)
    expected = decode_xsrf_token(cookie)[1] if cookie else None
    expected = expected or new_xsrf_token()  # no usable cookie: a fresh token is made
    if not token:
        return XSRF_INVALID_FORMAT
    return None if xsrf_tokens_match(token, expected) else XSRF_MISMATCH


@pytest.mark.parametrize("case", XSRF["check"], ids=lambda c: f"{c['cookie']}-{c['field']}")
def test_xsrf_check_verdicts_match_tornado(case: dict[str, Any]) -> None:
    verdict = check_xsrf(case["cookie"], case["field"])
    assert (None if verdict is None else f"403 {verdict}") == case["error"]


def test_encoded_v2_tokens_are_remasked_every_time_and_decode_back() -> None:
    token = new_xsrf_token()
    assert len(token) == 16 and token != new_xsrf_token()
    encoded = {encode_xsrf_token(token, 1700000000.9) for _ in range(20)}
    assert len(encoded) == 20
    for value in encoded:
        assert re.fullmatch(rb"2\|[0-9a-f]{8}\|[0-9a-f]{32}\|1700000000", value)
        assert decode_xsrf_token(value) == (2, token, 1700000000)
        assert decode_xsrf_token(value.decode()) == (2, token, 1700000000)


def test_v1_token_is_plain_hex() -> None:
    token = bytes(range(16))
    assert encode_xsrf_token(token, 0, version=1) == b"000102030405060708090a0b0c0d0e0f"
    assert decode_xsrf_token(encode_xsrf_token(token, 0, version=1))[:2] == (1, token)
    with pytest.raises(ValueError, match="xsrf cookie version 3"):
        encode_xsrf_token(token, 0, version=3)


def test_xsrf_tokens_match_compares_exactly() -> None:
    assert xsrf_tokens_match(b"\x00" * 16, b"\x00" * 16)
    assert not xsrf_tokens_match(b"\x00" * 16, b"\x00" * 15 + b"\x01")
    assert not xsrf_tokens_match(b"\x00" * 16, b"\x00" * 15)
