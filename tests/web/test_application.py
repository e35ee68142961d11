"""Application over real sockets: rule forms, virtual hosts, reverse_url, listen, the access
log and log_function, settings (debug and what it implies, default handler, gzip alias,
static files), add_transform and the legacy callable interface."""

from __future__ import annotations

import json
import logging
import socket
from pathlib import Path
from typing import Any

import pytest

from squall.httpserver import HTTPServer
from squall.httputil import HTTPHeaders, HTTPMessageDelegate, HTTPServerRequest
from squall.testing import AsyncHTTPTestCase, ExpectLog, gen_test
from squall.web import (
    Application,
    ErrorHandler,
    GZipContentEncoding,
    HTTPError,
    OutputTransform,
    RequestHandler,
    StaticFileHandler,
    URLSpec,
    stream_request_body,
    url,
)
from tests.helpers.raw_http import RawClient, request

ACCESS_LINE = r"{status} {method} {uri} \(127\.0\.0\.1\) \d+\.\d\dms$"


class NameHandler(RequestHandler):
    """Answers with its name, its init kwargs, path args and a reverse_url."""

    def initialize(self, name: str = "plain", **kwargs: Any) -> None:
        self.name = name
        self.kwargs = kwargs

    def get(self, *args: str, **kwargs: str) -> None:
        self.write(
            {
                "name": self.name,
                "init": self.kwargs,
                "args": list(args),
                "kwargs": kwargs,
                "settings_seen": self.settings.get("marker"),
            }
        )


class StatusHandler(RequestHandler):
    def get(self, code: str) -> None:
        if code == "500":
            raise HTTPError(500)
        self.set_status(int(code))


class ReverseHandler(RequestHandler):
    def get(self) -> None:
        self.write(
            {
                "user": self.reverse_url("user", 42),
                "named": self.reverse_url("named", "a b", "c/d"),
                "plain": self.reverse_url("plain"),
            }
        )


class CustomNotFound(RequestHandler):
    def initialize(self, message: str) -> None:  # type: ignore[override]
        self.message = message

    def prepare(self) -> None:
        self.set_status(404)
        self.finish(self.message)


class BigTextHandler(RequestHandler):
    def get(self) -> None:
        self.set_header("Content-Type", "text/plain")
        self.write("compressible text " * 200)


class HeaderTransform(OutputTransform):
    def transform_first_chunk(
        self, status_code: int, headers: HTTPHeaders, chunk: bytes, finishing: bool
    ) -> tuple[int, HTTPHeaders, bytes]:
        headers["X-Transformed"] = self.request.path
        return status_code, headers, chunk.upper()


class _Collect(logging.Handler):
    """Keeps the records it is given."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


class ApplicationTest(AsyncHTTPTestCase):
    def get_app(self) -> Application:
        app = Application(
            [
                ("/two", NameHandler),
                ("/three", NameHandler, {"name": "three", "extra": 3}),
                (r"/user/(\d+)", NameHandler, {"name": "user"}, "user"),
                url(r"/url/(?P<a>[^/]+)/(?P<b>[^/]+)", NameHandler, {"name": "url"}, name="named"),
                URLSpec("/spec", NameHandler, {"name": "spec"}, name="plain"),
                ("/dotted", "squall.web.RedirectHandler", {"url": "/two"}),
                (r"/status/(\d+)", StatusHandler),
                ("/reverse", ReverseHandler),
                (r"/path/(.*)", NameHandler, {"name": "path"}),
                ("/big", BigTextHandler),
            ],
            marker="app-settings",
        )
        app.add_handlers(
            r"api\.example\.com",
            [
                ("/two", NameHandler, {"name": "api-two"}),
                ("/only-api", NameHandler, {"name": "api"}),
            ],
        )
        app.add_handlers(r"(www\.)?other\.org", [("/two", NameHandler, {"name": "other-two"})])
        return app

    def get_json(self, path: str, **kwargs: Any) -> dict[str, Any]:
        response = self.fetch(path, **kwargs)
        assert response.code == 200, (response.code, response.body)
        result: dict[str, Any] = json.loads(response.body)
        return result

    # -- rules ---------------------------------------------------------------------------------

    def test_two_item_tuple_rule(self) -> None:
        got = self.get_json("/two")
        assert got["name"] == "plain"
        assert got["settings_seen"] == "app-settings"

    def test_three_item_tuple_rule_passes_kwargs_to_initialize(self) -> None:
        got = self.get_json("/three")
        assert got["name"] == "three"
        assert got["init"] == {"extra": 3}

    def test_four_item_tuple_rule_is_named_and_passes_groups(self) -> None:
        got = self.get_json("/user/7")
        assert got["name"] == "user"
        assert got["args"] == ["7"]

    def test_url_and_urlspec_rules(self) -> None:
        got = self.get_json("/url/x/y")
        assert got["name"] == "url"
        assert got["kwargs"] == {"a": "x", "b": "y"}
        assert self.get_json("/spec")["name"] == "spec"

    def test_handler_named_by_a_dotted_string(self) -> None:
        response = self.fetch("/dotted", follow_redirects=False)
        assert response.code == 301
        assert response.headers["Location"] == "/two"

    def test_patterns_are_anchored_at_both_ends(self) -> None:
        assert self.fetch("/two/extra").code == 404
        assert self.fetch("/xtwo").code == 404

    def test_path_arguments_are_percent_decoded_and_plus_stays(self) -> None:
        assert self.get_json("/path/a%2Bb+c%20d")["args"] == ["a+b+c d"]

    def test_bad_utf8_in_a_path_argument_is_400(self) -> None:
        with ExpectLog("squall", ".*", required=False):
            assert self.fetch("/path/%C3%28").code == 400

    def test_bad_rules_are_refused_when_added(self) -> None:
        with pytest.raises(ValueError):
            Application([("/only-a-pattern",)])
        with pytest.raises(TypeError):
            Application(["/not-a-rule"])

    # -- virtual hosts -------------------------------------------------------------------------

    def test_add_handlers_serves_rules_for_a_host_pattern(self) -> None:
        assert self.get_json("/two", headers={"Host": "api.example.com"})["name"] == "api-two"
        assert self.get_json("/two", headers={"Host": "API.Example.COM:8080"})["name"] == "api-two"
        assert self.get_json("/two", headers={"Host": "www.other.org"})["name"] == "other-two"
        assert self.get_json("/only-api", headers={"Host": "api.example.com"})["name"] == "api"

    def test_other_hosts_get_the_default_rules(self) -> None:
        assert self.get_json("/two", headers={"Host": "elsewhere.net"})["name"] == "plain"
        assert self.get_json("/two")["name"] == "plain"
        assert self.fetch("/only-api", headers={"Host": "elsewhere.net"}).code == 404

    def test_host_pattern_must_match_the_whole_host(self) -> None:
        assert self.get_json("/two", headers={"Host": "api.example.com.evil"})["name"] == "plain"

    # -- reverse_url ---------------------------------------------------------------------------

    def test_reverse_url_from_application_and_handler(self) -> None:
        app: Application = self._app
        assert app.reverse_url("user", 42) == "/user/42"
        assert app.reverse_url("plain") == "/spec"
        got = self.get_json("/reverse")
        assert got == {"user": "/user/42", "named": "/url/a%20b/c/d", "plain": "/spec"}

    def test_reverse_url_of_an_unknown_name_is_key_error(self) -> None:
        with pytest.raises(KeyError):
            self._app.reverse_url("nope")

    # -- access log ----------------------------------------------------------------------------

    def test_access_log_levels_and_format(self) -> None:
        cases = [
            ("200", logging.INFO),
            ("302", logging.INFO),
            ("399", logging.INFO),
            ("404", logging.WARNING),
            ("499", logging.WARNING),
            ("500", logging.ERROR),
            ("503", logging.ERROR),
        ]
        for code, level in cases:
            line = ACCESS_LINE.format(status=code, method="GET", uri=f"/status/{code}")
            with ExpectLog("squall.access", line, level=level):
                response = self.fetch(f"/status/{code}", follow_redirects=False)
            assert response.code == int(code)

    def test_access_log_line_names_method_uri_with_query_and_ip(self) -> None:
        line = ACCESS_LINE.format(status="200", method="GET", uri=r"/two\?a=1&b=2")
        with ExpectLog("squall.access", line, level=logging.INFO):
            self.fetch("/two?a=1&b=2")

    def test_unmatched_route_logs_a_404_warning(self) -> None:
        line = ACCESS_LINE.format(status="404", method="POST", uri="/missing")
        with ExpectLog("squall.access", line, level=logging.WARNING):
            assert self.fetch("/missing", method="POST", body="").code == 404

    def test_access_log_uses_the_squall_access_logger(self) -> None:
        handler = _Collect()
        records = handler.records
        logger = logging.getLogger("squall.access")
        old_level = logger.level
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        try:
            self.fetch("/two")
        finally:
            logger.removeHandler(handler)
            logger.setLevel(old_level)
        (record,) = records
        assert record.name == "squall.access"
        assert record.levelno == logging.INFO
        assert record.msg == "%d %s %.2fms"
        assert isinstance(record.args, tuple)
        assert record.args[:2] == (200, "GET /two (127.0.0.1)")

    def test_access_log_follows_level_changes_between_requests(self) -> None:
        """The per-level answer is cached (squall reads logging's own cache); turning the
        access log off and on again while serving takes effect at the next request."""
        handler = _Collect()
        records = handler.records
        logger = logging.getLogger("squall.access")
        old_level = logger.level
        logger.addHandler(handler)
        try:
            logger.setLevel(logging.WARNING)
            self.fetch("/two")
            self.fetch("/two")
            assert records == []
            logger.setLevel(logging.INFO)
            self.fetch("/two")
            assert [r.levelno for r in records] == [logging.INFO]
            logger.disabled = True
            self.fetch("/two")
            assert len(records) == 1
        finally:
            logger.disabled = False
            logger.removeHandler(handler)
            logger.setLevel(old_level)

    # -- listen --------------------------------------------------------------------------------

    @gen_test
    async def test_listen_returns_a_serving_http_server(self) -> None:
        app = Application([("/two", NameHandler, {"name": "listened"})])
        server = app.listen(0, "127.0.0.1")
        try:
            assert isinstance(server, HTTPServer)
            (sock,) = server.sockets
            assert sock.family == socket.AF_INET
            port = sock.getsockname()[1]
            response = await self.http_client.fetch(f"http://127.0.0.1:{port}/two")
            assert json.loads(response.body)["name"] == "listened"
        finally:
            server.stop()
            await server.close_all_connections()

    @gen_test
    async def test_listen_passes_server_options(self) -> None:
        app = Application([("/two", NameHandler)])
        server = app.listen(0, "127.0.0.1", max_body_size=10)
        try:
            port = server.sockets[0].getsockname()[1]
            with ExpectLog("squall.general", ".*", required=False):
                response = await self.http_client.fetch(
                    f"http://127.0.0.1:{port}/two", method="POST", body="x" * 100, raise_error=False
                )
            assert response.code == 413
        finally:
            server.stop()
            await server.close_all_connections()

    # -- transforms ----------------------------------------------------------------------------

    def test_no_transform_by_default(self) -> None:
        response = self.fetch(
            "/big", headers={"Accept-Encoding": "gzip"}, decompress_response=False
        )
        assert "Content-Encoding" not in response.headers
        assert self._app.transforms == []


class TransformTest(AsyncHTTPTestCase):
    def get_app(self) -> Application:
        app = Application([("/two", NameHandler)])
        app.add_transform(HeaderTransform)
        return app

    def test_add_transform_rewrites_every_response(self) -> None:
        response = self.fetch("/two")
        assert response.headers["X-Transformed"] == "/two"
        assert b'"NAME": "PLAIN"' in response.body

    def test_transforms_see_error_pages_too(self) -> None:
        response = self.fetch("/nowhere")
        assert response.code == 404
        assert response.headers["X-Transformed"] == "/nowhere"
        assert b"404: NOT FOUND" in response.body


class ExplicitTransformsTest(AsyncHTTPTestCase):
    def get_app(self) -> Application:
        return Application([("/big", BigTextHandler)], transforms=[], compress_response=True)

    def test_explicit_transforms_list_replaces_the_defaults(self) -> None:
        response = self.fetch(
            "/big", headers={"Accept-Encoding": "gzip"}, decompress_response=False
        )
        assert "Content-Encoding" not in response.headers


class GzipAliasTest(AsyncHTTPTestCase):
    def get_app(self) -> Application:
        return Application([("/big", BigTextHandler)], gzip=True)

    def test_gzip_setting_is_an_alias_of_compress_response(self) -> None:
        assert self._app.settings["compress_response"] is True
        assert self._app.transforms == [GZipContentEncoding]
        response = self.fetch(
            "/big", headers={"Accept-Encoding": "gzip"}, decompress_response=False
        )
        assert response.headers["Content-Encoding"] == "gzip"


class DefaultHandlerTest(AsyncHTTPTestCase):
    def get_app(self) -> Application:
        return Application(
            [("/two", NameHandler)],
            default_handler_class=CustomNotFound,
            default_handler_args={"message": "custom not found page"},
        )

    def test_default_handler_class_answers_unmatched_routes(self) -> None:
        response = self.fetch("/missing")
        assert response.code == 404
        assert response.body == b"custom not found page"
        assert self.fetch("/two").code == 200


class DefaultHostTest(AsyncHTTPTestCase):
    def get_app(self) -> Application:
        app = Application(default_host="main.example")
        app.add_handlers(r"main\.example", [("/two", NameHandler, {"name": "main"})])
        app.add_handlers(r"api\.example", [("/two", NameHandler, {"name": "api"})])
        return app

    def test_unknown_hosts_fall_back_to_the_default_host_rules(self) -> None:
        assert json.loads(self.fetch("/two", headers={"Host": "api.example"}).body)["name"] == "api"
        got = json.loads(self.fetch("/two", headers={"Host": "unknown.example"}).body)
        assert got["name"] == "main"


class LogFunctionTest(AsyncHTTPTestCase):
    def get_app(self) -> Application:
        self.logged: list[tuple[int, str]] = []

        def log_function(handler: RequestHandler) -> None:
            self.logged.append((handler.get_status(), handler.request.uri or ""))

        return Application([(r"/status/(\d+)", StatusHandler)], log_function=log_function)

    def test_log_function_replaces_the_access_log(self) -> None:
        with ExpectLog("squall.access", ".*", required=False, level=logging.INFO) as log:
            self.fetch("/status/200")
            self.fetch("/status/404")
        assert not log.matched
        assert self.logged == [(200, "/status/200"), (404, "/status/404")]


class StaticSettingsTest(AsyncHTTPTestCase):
    def get_app(self) -> Application:
        self.root = Path(self.tmp_dir())
        (self.root / "hello.txt").write_text("static hello")
        (self.root / "favicon.ico").write_bytes(b"icon")
        (self.root / "robots.txt").write_text("User-agent: *")
        (self.root / "sub").mkdir()
        (self.root / "sub" / "index.html").write_text("sub index")
        return Application([(r"/(.*)", NameHandler, {"name": "catch-all"})], **self.settings())

    def tmp_dir(self) -> str:
        import tempfile

        self._tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self._tmp.cleanup)
        return self._tmp.name

    def settings(self) -> dict[str, Any]:
        return {"static_path": str(self.root)}

    def test_static_rules_are_prepended_before_a_catch_all(self) -> None:
        response = self.fetch("/static/hello.txt")
        assert response.body == b"static hello"
        assert response.headers["Content-Type"].startswith("text/plain")
        assert self.fetch("/favicon.ico").body == b"icon"
        assert self.fetch("/robots.txt").body == b"User-agent: *"
        assert json.loads(self.fetch("/other").body)["name"] == "catch-all"

    def test_static_url_points_at_the_prefix_with_a_version(self) -> None:
        class UrlHandler(RequestHandler):
            def get(self) -> None:
                self.write(self.static_url("hello.txt"))

        self._app.add_handlers(r".*", [("/static-url", UrlHandler)])
        target = self.fetch("/static-url").body.decode()
        assert target.startswith(self.prefix() + "hello.txt?v=")
        assert self.fetch(target).body == b"static hello"

    def prefix(self) -> str:
        return "/static/"


class StaticPrefixAndClassTest(StaticSettingsTest):
    def settings(self) -> dict[str, Any]:
        class TaggedStatic(StaticFileHandler):
            def set_extra_headers(self, path: str) -> None:
                self.set_header("X-Tagged", path)

        return {
            "static_path": str(self.root),
            "static_url_prefix": "/assets/",
            "static_handler_class": TaggedStatic,
            "static_handler_args": {"default_filename": "index.html"},
        }

    def prefix(self) -> str:
        return "/assets/"

    def test_static_rules_are_prepended_before_a_catch_all(self) -> None:
        response = self.fetch("/assets/hello.txt")
        assert response.body == b"static hello"
        assert response.headers["X-Tagged"] == "hello.txt"
        assert self.fetch("/favicon.ico").headers["X-Tagged"] == "favicon.ico"
        # The default prefix is now an ordinary path for the catch-all.
        assert json.loads(self.fetch("/static/hello.txt").body)["name"] == "catch-all"

    def test_static_handler_args_reach_the_handler(self) -> None:
        assert self.fetch("/assets/sub/").body == b"sub index"


def test_debug_implies_its_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[bool] = []
    monkeypatch.setattr("squall.autoreload.start", lambda: started.append(True))
    app = Application(debug=True)
    assert app.settings["serve_traceback"] is True
    assert app.settings["compiled_template_cache"] is False
    assert app.settings["static_hash_cache"] is False
    assert app.settings["autoreload"] is True
    assert started == [True]


def test_explicit_settings_win_over_debug(monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[bool] = []
    monkeypatch.setattr("squall.autoreload.start", lambda: started.append(True))
    app = Application(
        debug=True,
        autoreload=False,
        compiled_template_cache=True,
        static_hash_cache=True,
        serve_traceback=False,
    )
    assert app.settings["serve_traceback"] is False
    assert app.settings["compiled_template_cache"] is True
    assert app.settings["static_hash_cache"] is True
    assert app.settings["autoreload"] is False
    assert started == []


def test_no_debug_implies_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[bool] = []
    monkeypatch.setattr("squall.autoreload.start", lambda: started.append(True))
    app = Application(cookie_secret="s")
    assert app.settings == {"cookie_secret": "s"}
    assert started == []


def test_autoreload_alone_starts_the_reloader(monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[bool] = []
    monkeypatch.setattr("squall.autoreload.start", lambda: started.append(True))
    Application(autoreload=True)
    assert started == [True]


def test_compress_response_wins_over_gzip_alias() -> None:
    app = Application(gzip=True, compress_response=False)
    assert app.settings["compress_response"] is False
    assert app.transforms == []


def test_find_handler_returns_a_delegate_with_the_class_kwargs_and_groups() -> None:
    # Tornado's Router interface: a message delegate (the dispatcher, route chosen).
    app = Application([(r"/u/(\d+)", NameHandler, {"name": "u"})])
    req = HTTPServerRequest(method="GET", uri="/u/5", headers=HTTPHeaders({"Host": "x"}))
    found: Any = app.find_handler(req)
    assert isinstance(found, HTTPMessageDelegate)
    route = (found.handler_class, found.handler_kwargs, found.path_args, found.path_kwargs)
    assert route == (NameHandler, {"name": "u"}, ["5"], {})
    assert found.request is req
    missing: Any = app.find_handler(HTTPServerRequest(method="GET", uri="/nope"))
    assert (missing.handler_class, missing.handler_kwargs) == (ErrorHandler, {"status_code": 404})


class FilesHandler(RequestHandler):
    def post(self) -> None:
        self.write(
            {
                "files": {k: [f.filename for f in v] for k, v in self.request.files.items()},
                "args": {k: len(v) for k, v in self.request.body_arguments.items()},
            }
        )


@stream_request_body
class LegacyStreamHandler(RequestHandler):
    def prepare(self) -> None:
        self.chunks: list[bytes] = []

    def data_received(self, chunk: bytes) -> None:
        self.chunks.append(chunk)

    def post(self) -> None:
        self.write({"chunks": [c.decode() for c in self.chunks]})


class LegacyCallableTest(AsyncHTTPTestCase):
    """Application(request): the old interface, used through a plain-callable HTTPServer."""

    def get_app(self) -> Application:
        return Application(
            [
                ("/two", NameHandler, {"name": "legacy"}),
                ("/files", FilesHandler),
                ("/stream", LegacyStreamHandler),
            ]
        )

    def get_http_server(self) -> HTTPServer:
        app: Application = self._app
        return HTTPServer(lambda req: app(req))

    def test_application_is_callable_with_a_request(self) -> None:
        assert json.loads(self.fetch("/two").body)["name"] == "legacy"
        assert self.fetch("/nowhere").code == 404

    def test_legacy_call_parses_a_multipart_body_once(self) -> None:
        body = (
            b'--B\r\nContent-Disposition: form-data; name="f"; filename="a.txt"\r\n\r\n'
            b'data\r\n--B\r\nContent-Disposition: form-data; name="x"\r\n\r\n1\r\n--B--\r\n'
        )
        response = self.fetch(
            "/files",
            method="POST",
            body=body,
            headers={"Content-Type": "multipart/form-data; boundary=B"},
        )
        assert json.loads(response.body) == {"files": {"f": ["a.txt"]}, "args": {"x": 1}}

    def test_legacy_call_feeds_a_streaming_handler_the_whole_body(self) -> None:
        response = self.fetch("/stream", method="POST", body="all at once")
        assert json.loads(response.body) == {"chunks": ["all at once"]}


class KeepAliveTest(AsyncHTTPTestCase):
    def get_app(self) -> Application:
        return Application([("/two", NameHandler), (r"/status/(\d+)", StatusHandler)])

    @gen_test
    async def test_many_requests_share_one_connection(self) -> None:
        client = await RawClient.connect(self.get_http_port())
        try:
            await client.send(request("GET", "/two") * 3 + request("GET", "/status/404"))
            responses = [await client.read_response() for _ in range(4)]
        finally:
            await client.close()
        assert [r.status for r in responses] == [200, 200, 200, 404]
        assert all(json.loads(r.body)["name"] == "plain" for r in responses[:3])


class ParseBodyConfigSettingTest(AsyncHTTPTestCase):
    """The parse_body_config setting, and the query-field limit on the dispatcher's path."""

    def get_app(self) -> Application:
        from squall.httputil import ParseBodyConfig, ParseMultipartConfig, ParseUrlEncodedConfig

        config = ParseBodyConfig(
            multipart=ParseMultipartConfig(max_parts=1),
            urlencoded=ParseUrlEncodedConfig(max_arguments=2),
        )
        return Application([("/files", FilesHandler)], parse_body_config=config)

    def post_files(self, parts: int) -> Any:
        body = b"".join(
            b'--B\r\nContent-Disposition: form-data; name="f%d"\r\n\r\nx\r\n' % i
            for i in range(parts)
        )
        return self.fetch(
            "/files",
            method="POST",
            body=body + b"--B--\r\n",
            headers={"Content-Type": "multipart/form-data; boundary=B"},
        )

    def test_the_application_config_limits_its_form_bodies(self) -> None:
        assert json.loads(self.post_files(1).body)["args"] == {"f0": 1}
        with ExpectLog("squall.general", "Malformed request body.*too many parts", level=20):
            assert self.post_files(2).code == 400
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        ok = self.fetch("/files", method="POST", body=b"a=1&b=2", headers=form)
        assert json.loads(ok.body)["args"] == {"a": 1, "b": 1}
        with ExpectLog("squall.general", "Malformed request body.*Max number of fields", level=20):
            assert (
                self.fetch("/files", method="POST", body=b"a=1&b=2&c=3", headers=form).code == 400
            )

    @gen_test
    async def test_a_query_over_the_default_field_limit_gets_400(self) -> None:
        client = await RawClient.connect(self.get_http_port())
        try:
            query = "&".join(["a=1"] * 1001)
            with ExpectLog(
                "squall.general", "Malformed HTTP request: Max number of fields", level=20
            ):
                await client.send(request("POST", f"/files?{query}"))
                response = await client.read_response()
            assert response.status == 400
            await client.send(request("POST", "/files?a=1"))
            assert json.loads((await client.read_response()).body)["args"] == {}
        finally:
            await client.close()
