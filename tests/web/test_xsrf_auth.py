"""XSRF protection and authentication over real sockets: the xsrf_cookies setting, masked
tokens, xsrf_form_html, every way of submitting the token and Tornado's 403 messages;
current_user, get_login_url and @authenticated."""

from __future__ import annotations

import asyncio
import binascii
import json
import re
import time
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import quote

from squall.httpclient import HTTPResponse
from squall.testing import AsyncHTTPTestCase, ExpectLog
from squall.web import Application, RequestHandler, authenticated


def unmask(token: str) -> bytes:
    """The raw token inside a v2 masked token (or a v1 hex one)."""
    if not token.startswith("2|"):
        return binascii.a2b_hex(token)
    _, mask_hex, masked_hex, _ = token.split("|")
    mask, masked = binascii.a2b_hex(mask_hex), binascii.a2b_hex(masked_hex)
    return bytes(b ^ mask[i % 4] for i, b in enumerate(masked))


def response_cookie(response: HTTPResponse, name: str) -> str | None:
    jar: SimpleCookie = SimpleCookie()
    for header in response.headers.get_list("Set-Cookie"):
        jar.load(header)
    return jar[name].value if name in jar else None


class FormHandler(RequestHandler):
    """GET shows the token twice and the form field; the other verbs answer "accepted"."""

    def get(self) -> None:
        self.write(
            {
                "token": self.xsrf_token.decode(),
                "again": self.xsrf_token.decode(),
                "form": self.xsrf_form_html(),
            }
        )

    def accepted(self) -> None:
        self.write("accepted")

    post = put = delete = patch = accepted

    def options(self) -> None:
        self.write("options ok")

    def head(self) -> None:
        pass


class NoTokenGetHandler(RequestHandler):
    def get(self) -> None:
        self.write("no token used")


class LoggedInFormHandler(FormHandler):
    def get_current_user(self) -> Any:
        return "someone"


class SkipCheckHandler(RequestHandler):
    def check_xsrf_cookie(self) -> None:
        self.application.settings["skipped"] = True

    def post(self) -> None:
        self.write("no check")


class XSRFTest(AsyncHTTPTestCase):
    def get_app(self) -> Application:
        return Application(
            [
                ("/form", FormHandler),
                ("/plain", NoTokenGetHandler),
                ("/logged-in", LoggedInFormHandler),
                ("/skip", SkipCheckHandler),
            ],
            xsrf_cookies=True,
        )

    # Every request names its cookies explicitly: squall's AsyncHTTPClient (httpx underneath)
    # would otherwise replay cookies from earlier responses, which Tornado's client never does.
    NO_COOKIES = {"Cookie": "unrelated=1"}

    def get_token(self, path: str = "/form") -> tuple[str, str, HTTPResponse]:
        """(the token from the page, the _xsrf cookie value, the response) for a new visitor."""
        response = self.fetch(path, headers=self.NO_COOKIES)
        got = json.loads(response.body)
        cookie = response_cookie(response, "_xsrf")
        assert cookie is not None
        return got["token"], cookie, response

    def post(self, body: str = "", headers: dict[str, str] | None = None) -> HTTPResponse:
        return self.fetch(
            "/form", method="POST", body=body, headers=self.NO_COOKIES | (headers or {})
        )

    # -- tokens --------------------------------------------------------------------------------

    def test_xsrf_token_is_masked_v2_and_sets_the_cookie(self) -> None:
        token, cookie, response = self.get_token()
        assert re.fullmatch(r"2\|[0-9a-f]{8}\|[0-9a-f]{32}\|\d+", token)
        assert re.fullmatch(r"2\|[0-9a-f]{8}\|[0-9a-f]{32}\|\d+", cookie)
        assert len(unmask(token)) == 16
        assert unmask(token) == unmask(cookie)
        assert abs(int(token.split("|")[3]) - time.time()) < 5
        (header,) = response.headers.get_list("Set-Cookie")
        assert "Path=/" in header

    def test_xsrf_token_is_stable_within_one_request(self) -> None:
        got = json.loads(self.fetch("/form").body)
        assert got["again"] == got["token"]

    def test_xsrf_token_differs_each_request_but_the_raw_token_is_the_same(self) -> None:
        first, cookie, _ = self.get_token()
        response = self.fetch("/form", headers={"Cookie": f"_xsrf={cookie}"})
        second = json.loads(response.body)["token"]
        assert second != first
        assert unmask(second) == unmask(first) == unmask(cookie)
        # A valid cookie is not sent again.
        assert response.headers.get_list("Set-Cookie") == []

    def test_a_fresh_visitor_gets_a_fresh_raw_token(self) -> None:
        first, _, _ = self.get_token()
        second, _, _ = self.get_token()
        assert unmask(first) != unmask(second)

    def test_xsrf_form_html_is_a_hidden_input_with_the_token(self) -> None:
        got = json.loads(self.fetch("/form").body)
        assert got["form"] == f'<input type="hidden" name="_xsrf" value="{got["token"]}"/>'

    def test_get_that_never_reads_the_token_sets_no_cookie(self) -> None:
        response = self.fetch("/plain")
        assert response.headers.get_list("Set-Cookie") == []

    def test_logged_in_user_gets_a_thirty_day_cookie(self) -> None:
        _, _, response = self.get_token("/logged-in")
        (header,) = response.headers.get_list("Set-Cookie")
        assert "expires=" in header.lower()
        _, _, anonymous = self.get_token()
        assert "expires=" not in anonymous.headers["Set-Cookie"].lower()

    # -- submitting ----------------------------------------------------------------------------

    def test_post_with_form_field_and_cookie_is_accepted(self) -> None:
        token, cookie, _ = self.get_token()
        response = self.post(f"_xsrf={quote(token)}", {"Cookie": f"_xsrf={cookie}"})
        assert response.code == 200
        assert response.body == b"accepted"

    def test_token_in_the_query_string_is_accepted(self) -> None:
        token, cookie, _ = self.get_token()
        response = self.fetch(
            f"/form?_xsrf={quote(token)}",
            method="POST",
            body="",
            headers={"Cookie": f"_xsrf={cookie}"},
        )
        assert response.body == b"accepted"

    def test_x_xsrftoken_and_x_csrftoken_headers_are_accepted(self) -> None:
        token, cookie, _ = self.get_token()
        for header in ("X-XSRFToken", "X-CSRFToken"):
            response = self.post("", {"Cookie": f"_xsrf={cookie}", header: token})
            assert response.body == b"accepted", header

    def test_a_differently_masked_token_for_the_same_cookie_is_accepted(self) -> None:
        _, cookie, _ = self.get_token()
        response = self.fetch("/form", headers={"Cookie": f"_xsrf={cookie}"})
        remasked = json.loads(response.body)["token"]
        response = self.post("", {"Cookie": f"_xsrf={cookie}", "X-XSRFToken": remasked})
        assert response.body == b"accepted"

    def test_v1_hex_tokens_are_still_accepted(self) -> None:
        raw = "0123456789abcdef0123456789abcdef"
        response = self.post("", {"Cookie": f"_xsrf={raw}", "X-XSRFToken": raw})
        assert response.body == b"accepted"

    def test_every_unsafe_method_is_checked(self) -> None:
        for method in ("POST", "PUT", "PATCH", "DELETE"):
            body = None if method == "DELETE" else ""
            with ExpectLog("squall.general", f"403 {method} /form"):
                response = self.fetch("/form", method=method, body=body, headers=self.NO_COOKIES)
            assert response.code == 403, method

    def test_get_head_and_options_are_exempt(self) -> None:
        assert self.fetch("/form").code == 200
        assert self.fetch("/form", method="HEAD").code == 200
        assert self.fetch("/form", method="OPTIONS").body == b"options ok"

    # -- failures ------------------------------------------------------------------------------

    def test_missing_token_is_403_with_tornados_message(self) -> None:
        _, cookie, _ = self.get_token()
        with ExpectLog(
            "squall.general", r"403 POST /form \(127\.0\.0\.1\): '_xsrf' argument missing from POST"
        ):
            response = self.post("a=1", {"Cookie": f"_xsrf={cookie}"})
        assert response.code == 403
        assert b"accepted" not in response.body

    def test_badly_formatted_token_is_403_invalid_format(self) -> None:
        _, cookie, _ = self.get_token()
        with ExpectLog("squall.general", r"403 POST .*'_xsrf' argument has invalid format"):
            response = self.post("", {"Cookie": f"_xsrf={cookie}", "X-XSRFToken": "2|zz|zz|1"})
        assert response.code == 403

    def test_token_not_matching_the_cookie_is_403_mismatch(self) -> None:
        _, cookie, _ = self.get_token()
        other, _, _ = self.get_token()
        with ExpectLog("squall.general", r"403 POST .*XSRF cookie does not match POST argument"):
            response = self.post("", {"Cookie": f"_xsrf={cookie}", "X-XSRFToken": other})
        assert response.code == 403

    def test_token_without_a_cookie_is_403_mismatch(self) -> None:
        token, _, _ = self.get_token()
        with ExpectLog("squall.general", r"403 POST .*XSRF cookie does not match POST argument"):
            response = self.post("", {"X-XSRFToken": token})
        assert response.code == 403

    def test_overridden_check_xsrf_cookie_replaces_the_check(self) -> None:
        response = self.fetch("/skip", method="POST", body="")
        assert response.body == b"no check"
        assert self._app.settings["skipped"] is True

    def test_unknown_url_post_is_404_not_403(self) -> None:
        assert self.fetch("/nowhere", method="POST", body="").code == 404


class XSRFSettingsTest(AsyncHTTPTestCase):
    def get_app(self) -> Application:
        return Application(
            [("/form", FormHandler)],
            xsrf_cookies=True,
            xsrf_cookie_name="csrf",
            xsrf_cookie_version=1,
            xsrf_cookie_kwargs={"httponly": True, "path": "/form"},
        )

    def test_cookie_name_version_and_kwargs_settings(self) -> None:
        response = self.fetch("/form")
        token = json.loads(response.body)["token"]
        assert re.fullmatch(r"[0-9a-f]{32}", token)
        (header,) = response.headers.get_list("Set-Cookie")
        assert header.startswith(f"csrf={token};")
        assert "HttpOnly" in header
        assert "Path=/form" in header
        ok = self.fetch(
            "/form",
            method="POST",
            body="",
            headers={"Cookie": f"csrf={token}", "X-XSRFToken": token},
        )
        assert ok.body == b"accepted"


class XSRFOffTest(AsyncHTTPTestCase):
    def get_app(self) -> Application:
        return Application([("/form", FormHandler)])

    def test_without_the_setting_posts_are_not_checked(self) -> None:
        assert self.fetch("/form", method="POST", body="").body == b"accepted"


# -- authentication ------------------------------------------------------------------------------


class UserHandler(RequestHandler):
    """get_current_user reads the ``user`` cookie and counts its calls."""

    def get_current_user(self) -> Any:
        self.application.settings["lookups"].append(self.request.path)
        return self.get_cookie("user")


class LazyUserHandler(UserHandler):
    def get(self) -> None:
        if self.get_argument("touch", None):
            self.write({"first": self.current_user, "second": self.current_user})
        else:
            self.write({"untouched": True})


class AssignedUserHandler(UserHandler):
    async def prepare(self) -> None:
        await asyncio.sleep(0)
        self.current_user = "assigned-in-prepare"

    @authenticated
    def get(self) -> None:
        self.write({"user": self.current_user})


class PrivateHandler(UserHandler):
    @authenticated
    def get(self) -> None:
        self.write(f"hello {self.current_user}")

    @authenticated
    def post(self) -> None:
        self.write(f"posted by {self.current_user}")

    @authenticated
    def head(self) -> None:
        pass


class AsyncPrivateHandler(UserHandler):
    @authenticated
    async def get(self) -> None:
        await asyncio.sleep(0)
        self.write(f"async hello {self.current_user}")


class CustomLoginHandler(UserHandler):
    def get_login_url(self) -> str:
        return "/custom-login"

    @authenticated
    def get(self) -> None:
        self.write("never")


class LoginUrlHandler(RequestHandler):
    def get(self) -> None:
        self.write(self.get_login_url())


class AuthTest(AsyncHTTPTestCase):
    login_url = "/login"

    def get_app(self) -> Application:
        return Application(
            [
                ("/lazy", LazyUserHandler),
                ("/assigned", AssignedUserHandler),
                ("/private", PrivateHandler),
                ("/async-private", AsyncPrivateHandler),
                ("/custom", CustomLoginHandler),
                ("/login-url", LoginUrlHandler),
            ],
            login_url=self.login_url,
            lookups=[],
        )

    @property
    def lookups(self) -> list[str]:
        lookups: list[str] = self._app.settings["lookups"]
        return lookups

    def test_current_user_is_looked_up_lazily_and_once(self) -> None:
        got = json.loads(self.fetch("/lazy").body)
        assert got == {"untouched": True}
        assert self.lookups == []
        got = json.loads(self.fetch("/lazy?touch=1", headers={"Cookie": "user=ann"}).body)
        assert got == {"first": "ann", "second": "ann"}
        assert self.lookups == ["/lazy"]

    def test_current_user_assigned_in_prepare_wins_without_a_lookup(self) -> None:
        got = json.loads(self.fetch("/assigned").body)
        assert got == {"user": "assigned-in-prepare"}
        assert self.lookups == []

    def test_authenticated_lets_a_logged_in_user_through(self) -> None:
        response = self.fetch("/private", headers={"Cookie": "user=ann"})
        assert response.body == b"hello ann"
        response = self.fetch("/private", method="POST", body="", headers={"Cookie": "user=ann"})
        assert response.body == b"posted by ann"

    def test_authenticated_works_on_async_methods(self) -> None:
        assert self.fetch("/async-private", headers={"Cookie": "user=ann"}).body == (
            b"async hello ann"
        )
        response = self.fetch("/async-private", follow_redirects=False)
        assert response.code == 302

    def test_authenticated_get_redirects_to_login_with_next(self) -> None:
        response = self.fetch("/private?a=1&b=2", follow_redirects=False)
        assert response.code == 302
        assert response.headers["Location"] == "/login?next=%2Fprivate%3Fa%3D1%26b%3D2"

    def test_authenticated_head_redirects_too(self) -> None:
        response = self.fetch("/private", method="HEAD", follow_redirects=False)
        assert response.code == 302
        assert response.headers["Location"] == "/login?next=%2Fprivate"

    def test_authenticated_post_is_403(self) -> None:
        with ExpectLog("squall.general", ".*", required=False):
            response = self.fetch("/private", method="POST", body="", follow_redirects=False)
        assert response.code == 403
        assert "Location" not in response.headers

    def test_get_login_url_returns_the_setting(self) -> None:
        assert self.fetch("/login-url").body == self.login_url.encode()

    def test_get_login_url_override_is_used(self) -> None:
        response = self.fetch("/custom", follow_redirects=False)
        assert response.headers["Location"] == "/custom-login?next=%2Fcustom"


class AbsoluteLoginUrlTest(AuthTest):
    login_url = "https://auth.example.com/login"

    def test_authenticated_get_redirects_to_login_with_next(self) -> None:
        response = self.fetch("/private?a=1", follow_redirects=False)
        assert response.code == 302
        full = f"http://127.0.0.1:{self.get_http_port()}/private?a=1"
        assert response.headers["Location"] == f"{self.login_url}?next={quote(full, safe='')}"

    def test_authenticated_head_redirects_too(self) -> None:
        response = self.fetch("/private", method="HEAD", follow_redirects=False)
        full = f"http://127.0.0.1:{self.get_http_port()}/private"
        assert response.headers["Location"] == f"{self.login_url}?next={quote(full, safe='')}"


class LoginUrlWithQueryTest(AuthTest):
    login_url = "/login?from=app"

    def test_authenticated_get_redirects_to_login_with_next(self) -> None:
        response = self.fetch("/private?a=1", follow_redirects=False)
        assert response.code == 302
        assert response.headers["Location"] == "/login?from=app"

    def test_authenticated_head_redirects_too(self) -> None:
        response = self.fetch("/private", method="HEAD", follow_redirects=False)
        assert response.headers["Location"] == "/login?from=app"


class NoLoginUrlTest(AsyncHTTPTestCase):
    def get_app(self) -> Application:
        return Application([("/private", PrivateHandler)], lookups=[])

    def test_authenticated_without_login_url_is_a_500(self) -> None:
        with ExpectLog("squall.application", "Uncaught exception GET /private") as log:
            response = self.fetch("/private", follow_redirects=False)
        assert response.code == 500
        assert log.logged_stack
