"""Cookies at handler level over real sockets: cookies/get_cookie, set_cookie attributes,
invalid cookies (500), clear_cookie, and signed cookies (with the secure aliases and
key-versioned secrets) making a round trip through the client."""

from __future__ import annotations

import calendar
import datetime
import email.utils
import json
import time
from http.cookies import SimpleCookie
from typing import Any

from squall.httpclient import HTTPResponse
from squall.testing import AsyncHTTPTestCase, ExpectLog
from squall.web import Application, RequestHandler, create_signed_value

SECRET = "0123456789abcdef-secret"


def set_cookies(response: HTTPResponse) -> list[str]:
    values: list[str] = response.headers.get_list("Set-Cookie")
    return values


def cookie_value(response: HTTPResponse, name: str) -> str:
    """The value of cookie ``name`` as the response set it (unquoted)."""
    jar: SimpleCookie = SimpleCookie()
    for header in set_cookies(response):
        jar.load(header)
    return jar[name].value


def attributes(header: str) -> dict[str, str]:
    """The attributes of one Set-Cookie header, lower-cased names (flags map to "")."""
    out = {}
    for piece in header.split(";")[1:]:
        name, _, value = piece.strip().partition("=")
        out[name.lower()] = value
    return out


def expires_epoch(header: str) -> float:
    parsed = email.utils.parsedate(attributes(header)["expires"])
    assert parsed is not None
    return calendar.timegm(parsed)


class ReadCookiesHandler(RequestHandler):
    def get(self) -> None:
        self.write(
            {
                "names": sorted(self.cookies),
                "a": self.get_cookie("a"),
                "missing": self.get_cookie("missing"),
                "default": self.get_cookie("missing", "fallback"),
                "morsel_a": self.cookies["a"].value if "a" in self.cookies else None,
            }
        )


class SetCookieHandler(RequestHandler):
    def get(self, kind: str) -> None:
        if kind == "plain":
            self.set_cookie("plain", "value")
        elif kind == "all":
            self.set_cookie(
                "full",
                "v",
                domain="example.com",
                path="/sub",
                max_age=120,
                httponly=True,
                secure=True,
                samesite="Lax",
            )
        elif kind == "expires":
            self.set_cookie("exp", "v", expires=datetime.datetime(2031, 2, 3, 4, 5, 6))
        elif kind == "expires-ts":
            self.set_cookie("exp", "v", expires=1700000000)
        elif kind == "expires-days":
            self.set_cookie("days", "v", expires_days=2)
        elif kind == "bytes":
            self.set_cookie("bytes", b"raw")
        elif kind == "twice":
            self.set_cookie("same", "first")
            self.set_cookie("same", "second")
            self.set_cookie("other", "kept")
        elif kind == "bad-value":
            self.set_cookie("bad", "has\x00nul")
        elif kind == "bad-space":
            self.set_cookie("bad", "has space")
        elif kind == "bad-domain":
            self.set_cookie("bad", "v", domain="example.com;evil=1")
        elif kind == "bad-name":
            self.set_cookie("bad;name", "v")
        elif kind == "clear":
            self.clear_cookie("gone")
        elif kind == "clear-path":
            self.clear_cookie("gone", path="/p", domain="example.com")
        elif kind == "set-then-clear":
            self.set_cookie("flip", "v")
            self.clear_cookie("flip")
        self.write("handler-output")


class SignedHandler(RequestHandler):
    def get(self, action: str) -> None:
        if action == "set":
            self.set_signed_cookie("user", "alice")
        elif action == "set-secure-alias":
            self.set_secure_cookie("user", "bob")
        elif action == "set-v1":
            self.set_signed_cookie("user", "carol", version=1)
        elif action == "set-bytes":
            self.set_signed_cookie("user", b"\x00\xffbin")
        elif action == "set-session":
            self.set_signed_cookie("user", "dave", expires_days=None)
        elif action == "create":
            self.write(self.create_signed_value("user", "made"))
            return
        value = self.get_signed_cookie("user")
        alias = self.get_secure_cookie("user")
        self.write(
            {
                "value": None if value is None else value.decode("latin-1"),
                "alias": None if alias is None else alias.decode("latin-1"),
                "key_version": self.get_signed_cookie_key_version("user"),
                "min_v2": None
                if (v2 := self.get_signed_cookie("user", min_version=2)) is None
                else v2.decode("latin-1"),
            }
        )


class MaxAgeHandler(RequestHandler):
    def get(self) -> None:
        value = self.get_signed_cookie("user", max_age_days=float(self.get_argument("days")))
        self.write({"value": None if value is None else value.decode()})


class CookiesTest(AsyncHTTPTestCase):
    def get_app(self) -> Application:
        return Application(
            [
                ("/read", ReadCookiesHandler),
                (r"/set/([\w-]+)", SetCookieHandler),
                (r"/signed/([\w-]+)", SignedHandler),
                ("/max-age", MaxAgeHandler),
            ],
            cookie_secret=SECRET,
        )

    def signed(self, action: str, cookie: str | None = None) -> dict[str, Any]:
        headers = {"Cookie": cookie} if cookie is not None else {}
        response = self.fetch(f"/signed/{action}", headers=headers)
        assert response.code == 200, response.body
        result: dict[str, Any] = json.loads(response.body)
        return result

    # -- reading -------------------------------------------------------------------------------

    def test_request_cookies_are_readable(self) -> None:
        response = self.fetch("/read", headers={"Cookie": 'a=1; b="quoted value"; c='})
        got = json.loads(response.body)
        assert got == {
            "names": ["a", "b", "c"],
            "a": "1",
            "missing": None,
            "default": "fallback",
            "morsel_a": "1",
        }

    def test_no_cookie_header_means_no_cookies(self) -> None:
        got = json.loads(self.fetch("/read").body)
        assert got["names"] == []
        assert got["a"] is None

    # -- set_cookie ----------------------------------------------------------------------------

    def test_set_cookie_defaults_to_path_slash(self) -> None:
        headers = set_cookies(self.fetch("/set/plain"))
        assert headers == ["plain=value; Path=/"]

    def test_set_cookie_with_every_attribute(self) -> None:
        (header,) = set_cookies(self.fetch("/set/all"))
        assert header.startswith("full=v;")
        attrs = attributes(header)
        assert attrs["domain"] == "example.com"
        assert attrs["path"] == "/sub"
        assert attrs["max-age"] == "120"
        assert attrs["samesite"] == "Lax"
        assert "httponly" in attrs
        assert "secure" in attrs

    def test_set_cookie_expires_datetime_and_timestamp(self) -> None:
        (header,) = set_cookies(self.fetch("/set/expires"))
        assert attributes(header)["expires"] == "Mon, 03 Feb 2031 04:05:06 GMT"
        (header,) = set_cookies(self.fetch("/set/expires-ts"))
        assert expires_epoch(header) == 1700000000

    def test_set_cookie_expires_days_is_relative_to_now(self) -> None:
        before = time.time()
        (header,) = set_cookies(self.fetch("/set/expires-days"))
        after = time.time()
        expires = expires_epoch(header)
        assert before + 2 * 86400 - 1 <= expires <= after + 2 * 86400 + 1

    def test_set_cookie_accepts_bytes(self) -> None:
        assert cookie_value(self.fetch("/set/bytes"), "bytes") == "raw"

    def test_setting_a_cookie_twice_sends_the_last_value_once(self) -> None:
        headers = set_cookies(self.fetch("/set/twice"))
        assert [h.split(";")[0] for h in headers] == ["same=second", "other=kept"]

    def test_invalid_cookies_raise_and_become_500(self) -> None:
        for kind in ("bad-value", "bad-space", "bad-domain", "bad-name"):
            with ExpectLog("squall.application", f"Uncaught exception GET /set/{kind}"):
                response = self.fetch(f"/set/{kind}")
            assert response.code == 500, kind
            assert set_cookies(response) == [], kind
            assert b"handler-output" not in response.body

    # -- clear_cookie --------------------------------------------------------------------------

    def test_clear_cookie_expires_it_in_the_past(self) -> None:
        (header,) = set_cookies(self.fetch("/set/clear"))
        assert header.startswith("gone=;") or header.startswith('gone="";')
        assert expires_epoch(header) < time.time() - 300 * 86400
        assert attributes(header)["path"] == "/"

    def test_clear_cookie_uses_the_given_path_and_domain(self) -> None:
        (header,) = set_cookies(self.fetch("/set/clear-path"))
        attrs = attributes(header)
        assert attrs["path"] == "/p"
        assert attrs["domain"] == "example.com"

    def test_clear_after_set_sends_only_the_clearing_cookie(self) -> None:
        (header,) = set_cookies(self.fetch("/set/set-then-clear"))
        assert expires_epoch(header) < time.time()

    # -- signed cookies ------------------------------------------------------------------------

    def round_trip(self, action: str) -> dict[str, Any]:
        response = self.fetch(f"/signed/{action}")
        (header,) = set_cookies(response)
        signed = cookie_value(response, "user")
        assert signed.startswith("2|") or action == "set-v1"
        return self.signed("read", f"user={signed}") | {"header": header, "raw": signed}

    def test_signed_cookie_round_trips_over_http(self) -> None:
        got = self.round_trip("set")
        assert got["value"] == "alice"
        assert got["alias"] == "alice"
        assert got["key_version"] == 0  # v2 always records one; a plain secret is key 0
        assert got["min_v2"] == "alice"

    def test_signed_cookie_defaults_to_thirty_days(self) -> None:
        got = self.round_trip("set")
        assert abs(expires_epoch(got["header"]) - (time.time() + 30 * 86400)) < 5

    def test_signed_cookie_without_expiry_is_a_session_cookie(self) -> None:
        got = self.round_trip("set-session")
        assert got["value"] == "dave"
        assert "expires" not in attributes(got["header"])

    def test_secure_cookie_alias_round_trips(self) -> None:
        assert self.round_trip("set-secure-alias")["value"] == "bob"

    def test_version_1_signed_cookie_round_trips_unless_v2_is_required(self) -> None:
        got = self.round_trip("set-v1")
        assert got["value"] == "carol"
        assert got["min_v2"] is None

    def test_binary_values_round_trip(self) -> None:
        assert self.round_trip("set-bytes")["value"] == "\x00\xffbin"

    def test_tampered_signed_cookie_reads_as_none(self) -> None:
        signed = self.round_trip("set")["raw"]
        tampered = signed[:-1] + ("0" if signed[-1] != "0" else "1")
        assert self.signed("read", f"user={tampered}")["value"] is None
        # A value re-encoded by someone else, keeping the old signature: also None.
        parts = signed.split("|")
        parts[4] = parts[4].split(":")[0] + ":" + "Ym9i"  # base64 of "bob", wrong length
        assert self.signed("read", "user=" + "|".join(parts))["value"] is None

    def test_cookie_signed_with_another_secret_or_name_reads_as_none(self) -> None:
        foreign = create_signed_value("other secret", "user", "mallory").decode()
        assert self.signed("read", f"user={foreign}")["value"] is None
        renamed = create_signed_value(SECRET, "admin", "mallory").decode()
        assert self.signed("read", f"user={renamed}")["value"] is None

    def test_absent_and_garbage_signed_cookies_read_as_none(self) -> None:
        assert self.signed("read")["value"] is None
        assert self.signed("read", "user=garbage")["value"] is None

    def test_create_signed_value_matches_the_module_function_format(self) -> None:
        made = self.fetch("/signed/create").body
        assert made.startswith(b"2|1:0|10:")
        assert self.signed("read", f"user={made.decode()}")["value"] == "made"

    def test_max_age_days_rejects_old_cookies(self) -> None:
        old = create_signed_value(SECRET, "user", "old", clock=lambda: time.time() - 3 * 86400)
        cookie = {"Cookie": f"user={old.decode()}"}
        assert json.loads(self.fetch("/max-age?days=5", headers=cookie).body)["value"] == "old"
        assert json.loads(self.fetch("/max-age?days=2", headers=cookie).body)["value"] is None


class KeyVersionTest(AsyncHTTPTestCase):
    """A dict cookie_secret with key_version: sign with the current key, read any known one."""

    SECRETS = {0: "old-secret-0123456789", 1: "new-secret-0123456789"}

    def get_app(self) -> Application:
        return Application(
            [(r"/signed/([\w-]+)", SignedHandler)], cookie_secret=self.SECRETS, key_version=1
        )

    def test_signed_cookie_uses_the_current_key_version_and_round_trips(self) -> None:
        response = self.fetch("/signed/set")
        signed = cookie_value(response, "user")
        assert signed.startswith("2|1:1|")
        got = json.loads(self.fetch("/signed/read", headers={"Cookie": f"user={signed}"}).body)
        assert got["value"] == "alice"
        assert got["key_version"] == 1

    def test_cookie_signed_with_an_older_key_still_reads(self) -> None:
        old = create_signed_value(self.SECRETS, "user", "legacy", key_version=0).decode()
        got = json.loads(self.fetch("/signed/read", headers={"Cookie": f"user={old}"}).body)
        assert got["value"] == "legacy"
        assert got["key_version"] == 0

    def test_cookie_signed_with_an_unknown_key_version_reads_as_none(self) -> None:
        unknown = create_signed_value({7: "x" * 20}, "user", "who", key_version=7).decode()
        got = json.loads(self.fetch("/signed/read", headers={"Cookie": f"user={unknown}"}).body)
        assert got["value"] is None


class NoSecretTest(AsyncHTTPTestCase):
    def get_app(self) -> Application:
        return Application([(r"/signed/([\w-]+)", SignedHandler)])

    def test_signed_cookies_without_cookie_secret_are_a_500_naming_the_setting(self) -> None:
        with ExpectLog("squall.application", "Uncaught exception") as log:
            response = self.fetch("/signed/set")
        assert response.code == 500
        assert log.logged_stack
