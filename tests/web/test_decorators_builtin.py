"""Decorators and built-in handlers over real sockets: removeslash, addslash,
stream_request_body's type check, RedirectHandler, ErrorHandler and FallbackHandler."""

from __future__ import annotations

from typing import Any

import pytest

from squall.httputil import HTTPHeaders, HTTPServerRequest, ResponseStartLine
from squall.testing import AsyncHTTPTestCase, ExpectLog, gen_test
from squall.web import (
    Application,
    ErrorHandler,
    FallbackHandler,
    RedirectHandler,
    RequestHandler,
    addslash,
    removeslash,
    stream_request_body,
)
from tests.helpers.raw_http import RawClient, request


class RemoveSlashHandler(RequestHandler):
    @removeslash
    def get(self) -> None:
        self.write(f"removeslash saw {self.request.path}")

    @removeslash
    def post(self) -> None:
        self.write("posted")

    @removeslash
    def head(self) -> None:
        pass


class AddSlashHandler(RequestHandler):
    @addslash
    def get(self) -> None:
        self.write(f"addslash saw {self.request.path}")

    @addslash
    def post(self) -> None:
        self.write("posted")

    @addslash
    def head(self) -> None:
        pass


class AsyncAddSlashHandler(RequestHandler):
    @addslash
    async def get(self) -> None:
        self.write("async addslash")


class OnFinishRecorder(FallbackHandler):
    def on_finish(self) -> None:
        self.application.settings["fallback_finished"].append(self.request.path)


def raw_fallback(request: HTTPServerRequest) -> None:
    """A fallback that answers through the connection itself, as a WSGI container does."""
    assert request.connection is not None
    body = f"fallback for {request.method} {request.uri}".encode()
    headers = HTTPHeaders({"Content-Type": "text/plain", "Content-Length": str(len(body))})
    headers.add("X-Fallback", "raw")
    request.connection.write_headers(ResponseStartLine("HTTP/1.1", 202, "Accepted"), headers, body)
    request.connection.finish()


class DecoratorsBuiltinTest(AsyncHTTPTestCase):
    def get_app(self) -> Application:
        return Application(
            [
                (r"/rs/*", RemoveSlashHandler),
                (r"/", RemoveSlashHandler),
                (r"/as/?", AddSlashHandler),
                (r"/async-as/?", AsyncAddSlashHandler),
                (r"/old/(\d+)", RedirectHandler, {"url": "/new/{0}"}),
                (r"/temp/(?P<slug>\w+)", RedirectHandler, {"url": "/t/{slug}", "permanent": False}),
                ("/away", RedirectHandler, {"url": "http://example.com/x?keep=1"}),
                ("/gone", ErrorHandler, {"status_code": 410}),
                ("/teapot", ErrorHandler, {"status_code": 418}),
                (r"/fallback/.*", OnFinishRecorder, {"fallback": raw_fallback}),
            ],
            fallback_finished=[],
            xsrf_cookies=True,
        )

    # -- removeslash ---------------------------------------------------------------------------

    def test_removeslash_redirects_get_permanently(self) -> None:
        response = self.fetch("/rs/", follow_redirects=False)
        assert response.code == 301
        assert response.headers["Location"] == "/rs"

    def test_removeslash_strips_every_trailing_slash_and_keeps_the_query(self) -> None:
        response = self.fetch("/rs///?a=1&b=%20", follow_redirects=False)
        assert response.code == 301
        assert response.headers["Location"] == "/rs?a=1&b=%20"

    def test_removeslash_head_redirects(self) -> None:
        response = self.fetch("/rs/", method="HEAD", follow_redirects=False)
        assert response.code == 301
        assert response.headers["Location"] == "/rs"

    def test_removeslash_other_methods_are_404(self) -> None:
        response = self.fetch("/rs/", method="POST", body="", headers={"X-XSRFToken": "x"})
        # (The XSRF check runs first and refuses before the decorator can say 404.)
        assert response.code == 403
        response = self.fetch("/rs", method="POST", body="", headers={"X-XSRFToken": "x"})
        assert response.code == 403

    def test_removeslash_without_slash_runs_the_method(self) -> None:
        assert self.fetch("/rs").body == b"removeslash saw /rs"

    def test_removeslash_never_redirects_the_root(self) -> None:
        response = self.fetch("/", follow_redirects=False)
        assert response.code == 200
        assert response.body == b"removeslash saw /"

    # -- addslash ------------------------------------------------------------------------------

    def test_addslash_redirects_get_permanently_and_keeps_the_query(self) -> None:
        response = self.fetch("/as", follow_redirects=False)
        assert response.code == 301
        assert response.headers["Location"] == "/as/"
        response = self.fetch("/as?x=1", follow_redirects=False)
        assert response.headers["Location"] == "/as/?x=1"

    def test_addslash_head_redirects(self) -> None:
        response = self.fetch("/as", method="HEAD", follow_redirects=False)
        assert response.code == 301
        assert response.headers["Location"] == "/as/"

    def test_addslash_with_slash_runs_the_method(self) -> None:
        assert self.fetch("/as/").body == b"addslash saw /as/"

    def test_addslash_on_an_async_method(self) -> None:
        assert self.fetch("/async-as", follow_redirects=False).code == 301
        assert self.fetch("/async-as/").body == b"async addslash"

    def test_redirects_are_followed_to_the_handler(self) -> None:
        assert self.fetch("/as").body == b"addslash saw /as/"
        assert self.fetch("/rs/").body == b"removeslash saw /rs"

    # -- RedirectHandler -----------------------------------------------------------------------

    def test_redirect_handler_formats_positional_groups_permanently(self) -> None:
        response = self.fetch("/old/42", follow_redirects=False)
        assert response.code == 301
        assert response.headers["Location"] == "/new/42"

    def test_redirect_handler_formats_named_groups_and_can_be_temporary(self) -> None:
        response = self.fetch("/temp/hello", follow_redirects=False)
        assert response.code == 302
        assert response.headers["Location"] == "/t/hello"

    def test_redirect_handler_copies_the_query(self) -> None:
        response = self.fetch("/old/7?a=1&a=2&b=x+y", follow_redirects=False)
        assert response.headers["Location"] == "/new/7?a=1&a=2&b=x+y"

    def test_redirect_handler_copies_utf8_query_values_without_mangling(self) -> None:
        response = self.fetch("/old/7?q=%C3%A9t%C3%A9", follow_redirects=False)
        assert response.headers["Location"] == "/new/7?q=%C3%A9t%C3%A9"

    def test_redirect_handler_appends_to_a_target_query(self) -> None:
        response = self.fetch("/away?extra=2", follow_redirects=False)
        assert response.headers["Location"] == "http://example.com/x?keep=1&extra=2"

    def test_redirect_handler_without_a_query_adds_none(self) -> None:
        response = self.fetch("/away", follow_redirects=False)
        assert response.headers["Location"] == "http://example.com/x?keep=1"

    # -- ErrorHandler --------------------------------------------------------------------------

    def test_error_handler_sends_its_status_for_any_method(self) -> None:
        assert self.fetch("/gone").code == 410
        assert self.fetch("/teapot").code == 418
        assert self.fetch("/gone", method="DELETE").code == 410

    def test_error_handler_skips_the_xsrf_check(self) -> None:
        response = self.fetch("/gone", method="POST", body="")
        assert response.code == 410
        assert response.body == b"<html><title>410: Gone</title><body>410: Gone</body></html>"

    # -- FallbackHandler -----------------------------------------------------------------------

    def test_fallback_writes_a_raw_response_through_the_connection(self) -> None:
        response = self.fetch("/fallback/some/where?x=1")
        assert response.code == 202
        assert response.reason == "Accepted"
        assert response.body == b"fallback for GET /fallback/some/where?x=1"
        assert response.headers["X-Fallback"] == "raw"
        assert response.headers["Content-Type"] == "text/plain"
        assert self._app.settings["fallback_finished"] == ["/fallback/some/where"]

    def test_fallback_is_still_behind_the_xsrf_check(self) -> None:
        # As in Tornado: FallbackHandler does not opt out of check_xsrf_cookie.
        with ExpectLog("squall.general", "403 POST /fallback/m"):
            response = self.fetch("/fallback/m", method="POST", body="")
        assert response.code == 403
        assert b"fallback for" not in response.body


def test_stream_request_body_refuses_a_non_handler_class() -> None:
    with pytest.raises(TypeError):
        stream_request_body(object)  # type: ignore[type-var]


def test_stream_request_body_marks_the_class_and_returns_it() -> None:
    class Plain(RequestHandler):
        pass

    decorated: Any = stream_request_body(Plain)
    assert decorated is Plain
    assert Plain._stream_request_body is True
    assert RequestHandler._stream_request_body is False


class CatchAllRemoveSlash(RequestHandler):
    @removeslash
    def get(self) -> None:
        self.write("catch-all removeslash")


class CatchAllAddSlash(RequestHandler):
    @addslash
    def get(self) -> None:
        self.write("catch-all addslash")


class OpenRedirectTest(AsyncHTTPTestCase):
    """A slash redirect must never send the browser to another site: a path that starts
    with two slashes is refused with 403, as in Tornado."""

    def get_app(self) -> Application:
        return Application([(r"/.*/", CatchAllRemoveSlash), (r"/.*", CatchAllAddSlash)])

    @gen_test
    async def check(self, path: str) -> None:
        client = await RawClient.connect(self.get_http_port())
        try:
            with ExpectLog("squall.general", ".*cannot redirect path with two initial slashes"):
                await client.send(request("GET", path))
                response = await client.read_response()
        finally:
            await client.close()
        assert response.status == 403, path
        assert response.header("Location") is None, path

    def test_ordinary_paths_still_redirect(self) -> None:
        assert self.fetch("/a/b/", follow_redirects=False).headers["Location"] == "/a/b"
        assert self.fetch("/a/b", follow_redirects=False).headers["Location"] == "/a/b/"

    def test_removeslash_never_redirects_to_a_protocol_relative_url(self) -> None:
        for path in ("//evil.example/", "///evil.example//", "/\\evil.example/"):
            self.check(path)

    def test_addslash_never_redirects_to_a_protocol_relative_url(self) -> None:
        for path in ("//evil.example", "/\\evil.example"):
            self.check(path)


class RedirectTargetTest(AsyncHTTPTestCase):
    """RedirectHandler's path substitutions cannot change the target's scheme or host."""

    def get_app(self) -> Application:
        return Application(
            [
                (r"/any/(.*)", RedirectHandler, {"url": "{0}"}),
                (r"/moved(.*)", RedirectHandler, {"url": "https://example.com{0}"}),
                (r"/(.*)/target", RedirectHandler, {"url": "/{0}/destination"}),
                (r"/hostless/(.*)", RedirectHandler, {"url": "https://{0}"}),
                (r"/schemeonly/(.*)", RedirectHandler, {"url": "https:{0}"}),
                (r"/braces/(.*)", RedirectHandler, {"url": "/{{x}}/{0}"}),
                (r"/(.*?)/(.*?)/(.*)", RedirectHandler, {"url": "/{1}/{0}/{2}"}),
            ]
        )

    def location(self, path: str) -> str:
        response = self.fetch(path, follow_redirects=False)
        assert response.code == 301, (path, response.code)
        return str(response.headers["Location"])

    def refused(self, path: str, why: str = "cannot change the scheme or netloc") -> None:
        with ExpectLog("squall.general", f".*Redirect URL {why}"):
            response = self.fetch(path, follow_redirects=False)
        assert response.code == 400, path
        assert "Location" not in response.headers

    def test_ordinary_substitutions_redirect(self) -> None:
        assert self.location("/a/b/c") == "/b/a/c"
        assert self.location("/a/example.com/b") == "/example.com/a/b"
        assert self.location("/moved/x") == "https://example.com/x"
        assert self.location("/ok/target?x=1") == "/ok/destination?x=1"
        assert self.location("/any/foo/bar") == "foo/bar"
        assert self.location("/braces/v") == "/{x}/v"
        # Non-ASCII text, slash look-alikes included, is a path: sent as UTF-8.
        assert self.location("/any/%EF%BC%8F%EF%BC%8Fexample.com") == (
            "\uff0f\uff0fexample.com".encode().decode("latin-1")
        )

    def test_substitutions_cannot_make_a_protocol_relative_url(self) -> None:
        for path in (
            "/a//example.com/a/b",
            "/a/%5Cexample.com/b",
            "/a/%09/example.com/b",
            "/a////example.com/b",
            "/a/%2F%2F%5Cexample.com/b",
            "/%2Fevil.com/target",
            "/%5C%5Cevil.com/target",
            "/%09//evil.com/target",
            "/%2Fevil.com/target?x=1",
            "/any/%5C%5Cevil.com/",
            "/any////evil.com/",
        ):
            self.refused(path)

    def test_substitutions_cannot_supply_or_extend_the_host_or_scheme(self) -> None:
        for path in (
            "/hostless/evil.com",
            "/hostless//evil.com",
            "/schemeonly/evil.com",
            "/schemeonly/evil.com?x=1",
            "/schemeonly////evil.com",
            "/moved.evil.com/x",
            "/moved@evil.com/x",
            "/moved:8080/x",
            "/any/https://evil.com/",
            "/any/javascript:alert(1)",
            "/any/%20%20//evil.com",
        ):
            self.refused(path)

    def test_control_characters_are_refused(self) -> None:
        for path in ("/any/%0Afoo", "/any/a%00b"):
            self.refused(path, "contains invalid characters")


class NoXSRFDecoratorsTest(AsyncHTTPTestCase):
    def get_app(self) -> Application:
        return Application(
            [
                (r"/rs/*", RemoveSlashHandler),
                (r"/as/?", AddSlashHandler),
                (r"/fallback/.*", FallbackHandler, {"fallback": raw_fallback}),
            ]
        )

    def test_fallback_serves_every_method_and_keeps_the_connection_usable(self) -> None:
        for method in ("POST", "GET", "PUT", "DELETE", "GET"):
            body = "data" if method in ("POST", "PUT") else None
            response = self.fetch("/fallback/m", method=method, body=body)
            assert response.code == 202, method
            assert response.body == f"fallback for {method} /fallback/m".encode()

    def test_removeslash_other_methods_are_404(self) -> None:
        assert self.fetch("/rs/", method="POST", body="").code == 404
        assert self.fetch("/rs", method="POST", body="").body == b"posted"

    def test_addslash_other_methods_are_404(self) -> None:
        assert self.fetch("/as", method="POST", body="").code == 404
        assert self.fetch("/as/", method="POST", body="").body == b"posted"
