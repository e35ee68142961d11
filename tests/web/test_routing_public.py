"""squall.routing over real sockets: routers served by an HTTPServer, nested routers and
applications, every kind of rule target, declining targets, reverse_url through routers,
streaming and form bodies through a router, and the 400/404 answers of the routing layer."""

from __future__ import annotations

import json
from typing import Any

import pytest

import squall
from squall import routing, web
from squall.httputil import (
    HTTPConnection,
    HTTPHeaders,
    HTTPMessageDelegate,
    HTTPServerConnectionDelegate,
    HTTPServerRequest,
    RequestStartLine,
    ResponseStartLine,
)
from squall.routing import (
    AnyMatches,
    DefaultHostMatches,
    HostMatches,
    Matcher,
    PathMatches,
    ReversibleRouter,
    ReversibleRuleRouter,
    Router,
    Rule,
    RuleRouter,
    URLSpec,
)
from squall.testing import AsyncHTTPTestCase, ExpectLog, gen_test
from squall.web import Application, RequestHandler, stream_request_body
from squall.wsgi import WSGIContainer
from tests.helpers.raw_http import RawClient, request


def reply(connection: HTTPConnection, body: bytes, status: int = 200) -> None:
    connection.write_headers(
        ResponseStartLine("HTTP/1.1", status, "OK"),
        HTTPHeaders({"Content-Length": str(len(body))}),
        body,
    )
    connection.finish()


class Answer(HTTPMessageDelegate):
    """A raw message delegate: answers ``body`` once the request has been read."""

    def __init__(self, connection: HTTPConnection, body: bytes) -> None:
        self.connection = connection
        self.body = body
        self.received: list[bytes] = []

    def data_received(self, chunk: bytes) -> None:
        self.received.append(chunk)

    def finish(self) -> None:
        reply(self.connection, self.body + b"|" + b"".join(self.received))


class ServerDelegate(HTTPServerConnectionDelegate):
    """A server-level delegate as a rule target (like an Application or a WSGI server)."""

    def start_request(self, server_conn: object, request_conn: HTTPConnection) -> Answer:
        return Answer(request_conn, b"server-delegate")


class PathRouter(Router):
    """A custom router: answers paths under /custom/, declines the rest."""

    def find_handler(self, request: HTTPServerRequest, **kwargs: Any) -> Any:
        if request.path.startswith("/custom/"):
            assert request.connection is not None
            return Answer(request.connection, request.path.encode())
        return None


class Echo(RequestHandler):
    def initialize(self, label: str = "echo") -> None:
        self.label = label

    def get(self, *args: str, **kwargs: str) -> None:
        self.write({"label": self.label, "args": list(args), "kwargs": kwargs})

    def delete(self) -> None:
        self.write({"label": self.label})

    def post(self, *args: str, **kwargs: str) -> None:
        arguments = {k: [v.decode() for v in vs] for k, vs in self.request.arguments.items()}
        self.write({"label": self.label, "arguments": arguments})


class Named(RequestHandler):
    def get(self, *args: str) -> None:
        self.write(self.reverse_url("user", "a b"))


@stream_request_body
class Upload(RequestHandler):
    def prepare(self) -> None:
        self.size = 0
        self.pieces = 0

    def data_received(self, chunk: bytes) -> None:
        self.size += len(chunk)
        self.pieces += 1

    def put(self) -> None:
        self.write({"size": self.size, "pieces": self.pieces})


def callable_target(request: HTTPServerRequest, **params: Any) -> None:
    assert request.connection is not None
    body = json.dumps(
        {
            "params": {k: v for k, v in params.items()},
            "body": request.body.decode(),
            "arguments": {k: [x.decode() for x in v] for k, v in request.arguments.items()},
        }
    ).encode()
    reply(request.connection, body)


async def async_target(request: HTTPServerRequest) -> None:
    assert request.connection is not None
    reply(request.connection, b"async")


def wsgi_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"wsgi:" + environ["PATH_INFO"].encode()]


class NestedRoutersTest(AsyncHTTPTestCase):
    """A RuleRouter served by HTTPServer, with every kind of target."""

    def get_app(self) -> RuleRouter:
        self.api = Application(
            [(r"/api/user/([^/]+)", Echo, {"label": "api"}), URLSpec("/api/u/(.*)", Echo)],
        )
        self.api.wildcard_router.add_rules([Rule(PathMatches("/api/named"), Named)])
        self.api.add_handlers(".*", [URLSpec(r"/api/users/(\w+)", Echo, name="user")])
        inner = RuleRouter([("/inner/(?P<x>[a-z]+)", callable_target, {"k": "v"})])
        return ReversibleRuleRouter(
            [
                Rule(
                    HostMatches(r"admin\.example"), Application([("/.*", Echo, {"label": "admin"})])
                ),
                Rule(PathMatches("/custom/.*"), PathRouter()),
                Rule(PathMatches("/api/.*"), self.api),
                ("/wsgi/.*", WSGIContainer(wsgi_app)),
                ("/delegate", ServerDelegate()),
                (PathMatches("/call/(\\d+)"), callable_target),
                ("/async", async_target),
                ("/inner/.*", inner),
                ("/stream", Application([("/stream", Upload)])),
                ("/declined/.*", PathRouter()),  # never answers: falls through to the next
                ("/declined/(.*)", callable_target),
            ]
        )

    def json(self, path: str, **kwargs: Any) -> Any:
        response = self.fetch(path, **kwargs)
        assert response.code == 200, (path, response.code, response.body)
        return json.loads(response.body)

    def test_handler_in_a_nested_application_gets_its_groups_and_kwargs(self) -> None:
        assert self.json("/api/user/b%C3%A9a") == {"label": "api", "args": ["béa"], "kwargs": {}}
        assert self.json("/api/u/x") == {"label": "echo", "args": ["x"], "kwargs": {}}

    def test_host_rule_routes_to_an_application_for_that_host(self) -> None:
        got = self.json("/api/user/x", headers={"Host": "admin.example:8080"})
        assert got["label"] == "admin"

    def test_nested_application_reverse_url_reaches_its_host_groups(self) -> None:
        assert self.fetch("/api/named").body == b"/api/users/a%20b"
        assert self.api.reverse_url("user", "z") == "/api/users/z"

    def test_custom_router_answers_and_declines(self) -> None:
        assert self.fetch("/custom/a").body == b"/custom/a|"
        # PathRouter declines /declined/...: the next rule, a callable, answers instead.
        got = self.json("/declined/abc")
        assert got["params"] == {"path_args": ["abc"], "path_kwargs": {}}

    def test_wsgi_container_target(self) -> None:
        response = self.fetch("/wsgi/x")
        assert (response.code, response.body) == (200, b"wsgi:/wsgi/x")

    def test_server_delegate_target_gets_the_body(self) -> None:
        response = self.fetch("/delegate", method="POST", body=b"payload")
        assert response.body == b"server-delegate|payload"

    def test_callable_target_gets_the_request_with_parsed_body_and_path_params(self) -> None:
        got = self.json(
            "/call/42?q=1",
            method="POST",
            body=b"a=b",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert got["params"] == {"path_args": ["42"], "path_kwargs": {}}
        assert got["body"] == "a=b"
        assert got["arguments"] == {"q": ["1"], "a": ["b"]}

    def test_async_callable_target(self) -> None:
        assert self.fetch("/async").body == b"async"

    def test_nested_rule_router_passes_target_kwargs_to_a_callable(self) -> None:
        got = self.json("/inner/abc")
        assert got["params"] == {
            "path_args": [],
            "path_kwargs": {"x": "abc"},
            "target_kwargs": {"k": "v"},
        }

    def test_unmatched_paths_get_404_from_the_router_and_the_applications(self) -> None:
        assert self.fetch("/nothing").code == 404  # no rule: the router's own 404
        assert self.fetch("/inner/123").code == 404  # the nested router declines
        assert self.fetch("/api/missing").code == 404  # the application's ErrorHandler

    def test_streaming_handler_under_a_router_gets_the_body_in_pieces(self) -> None:
        body = b"x" * (3 * 65536 + 17)
        got = self.json("/stream", method="PUT", body=body)
        assert got["size"] == len(body) and got["pieces"] >= 2

    def test_form_body_is_parsed_for_a_handler_under_a_router(self) -> None:
        got = self.json(
            "/api/user/x",
            method="POST",
            body=b"k=1&k=2",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert got["arguments"] == {"k": ["1", "2"]}

    @gen_test
    async def test_keep_alive_connection_serves_several_routed_requests(self) -> None:
        client = await RawClient.connect(self.get_http_port())
        try:
            for path, status in (("/nothing", 404), ("/async", 200), ("/api/u/1", 200)):
                await client.send(request("GET", path))
                response = await client.read_response()
                assert response.status == status, path
        finally:
            await client.close()

    @gen_test
    async def test_query_over_the_field_limit_gets_400_through_the_router(self) -> None:
        client = await RawClient.connect(self.get_http_port())
        try:
            query = "&".join(["a=1"] * 1001)
            with ExpectLog("squall.general", "Malformed HTTP request", level=20):
                await client.send(request("GET", f"/async?{query}"))
                response = await client.read_response()
            assert response.status == 400
            await client.send(request("GET", "/async"))  # the connection carries on
            assert (await client.read_response()).body == b"async"
        finally:
            await client.close()


class ApplicationRuleTargetsTest(AsyncHTTPTestCase):
    """Rules with any matcher and target inside an Application's own handler list."""

    def get_app(self) -> Application:
        class QueryMatches(Matcher):
            def match(self, request: Any) -> dict[str, Any] | None:
                return {} if "special" in request.query else None

        app = Application(
            [
                Rule(QueryMatches(), Echo, {"label": "query"}),
                ("/", Echo),
                (PathMatches("/group/.*"), [("/group/a", Echo, {"label": "a"})]),
                ("/group/b", Echo, {"label": "after-group"}),
                ("/call", callable_target),
                ("/delegate", ServerDelegate()),
                ("/router/.*", PathRouter()),
                ("/router/(.*)", Echo, {"label": "after-router"}),
                ("/custom/(.*)", Echo, {"label": "custom-fallback"}),
            ],
            default_handler_class=Echo,
            default_handler_args={"label": "default"},
        )
        app.add_handlers(r"static\.example", [("/", Echo, {"label": "static-host"})])
        return app

    def label(self, path: str, **kwargs: Any) -> str:
        response = self.fetch(path, **kwargs)
        assert response.code == 200, (path, response.code)
        return str(json.loads(response.body)["label"])

    def test_a_rule_with_any_matcher_comes_first_in_order(self) -> None:
        assert self.label("/?special=1") == "query"
        assert self.label("/") == "echo"

    def test_a_list_target_is_a_nested_group_that_falls_through(self) -> None:
        assert self.label("/group/a") == "a"
        assert self.label("/group/b") == "after-group"

    def test_other_targets_inside_an_application(self) -> None:
        assert json.loads(self.fetch("/call").body)["params"] == {}
        assert self.fetch("/delegate", method="POST", body=b"b").body == b"server-delegate|b"
        assert self.label("/custom/x") == "custom-fallback"

    def test_declined_router_falls_through_to_the_next_rule(self) -> None:
        # "/router/.*" goes to PathRouter, which only answers /custom/...: it declines, and
        # the next rule matching the path answers.
        assert self.label("/router/x") == "after-router"

    def test_host_group_and_default_handler(self) -> None:
        assert self.label("/", headers={"Host": "static.example"}) == "static-host"
        assert self.label("/no/such/path") == "default"


class CustomApplicationRoutingTest(AsyncHTTPTestCase):
    """Tornado's extension points: a subclass's find_handler is honoured, and a custom
    Router may run handlers of an Application through get_handler_delegate."""

    def get_app(self) -> Router:
        class MethodApp(Application):
            def find_handler(self, request: HTTPServerRequest, **kwargs: Any) -> Any:
                if request.method == "DELETE":
                    return self.get_handler_delegate(request, Echo, {"label": "deleted"})
                return super().find_handler(request, **kwargs)

        app = MethodApp([("/", Echo)])

        class ByMethod(ReversibleRouter):
            def find_handler(self, request: HTTPServerRequest, **kwargs: Any) -> Any:
                if request.path == "/raw":
                    return app.get_handler_delegate(
                        request, Echo, {"label": "raw"}, [b"b\xc3\xa9", "s"], {}
                    )
                if request.path == "/bad-bytes":
                    return app.get_handler_delegate(request, Echo, None, [b"\xff"])
                return app.find_handler(request)

            def reverse_url(self, name: str, *args: Any) -> str | None:
                return None

        return ByMethod()

    def test_subclass_find_handler_is_used(self) -> None:
        response = self.fetch("/", method="DELETE")
        assert json.loads(response.body)["label"] == "deleted"
        assert json.loads(self.fetch("/").body)["label"] == "echo"

    def test_get_handler_delegate_decodes_bytes_path_args(self) -> None:
        got = json.loads(self.fetch("/raw").body)
        assert got == {"label": "raw", "args": ["bé", "s"], "kwargs": {}}
        assert self.fetch("/bad-bytes").code == 400


class LegacyCallTest(AsyncHTTPTestCase):
    """Application.__call__ (the plain-callable server interface) with a non-handler route."""

    def get_app(self) -> Any:
        app = Application([("/call", callable_target), ("/h", Echo)])
        return lambda request: app(request)

    def test_legacy_call_routes_to_a_callable_and_a_handler(self) -> None:
        got = json.loads(self.fetch("/call", method="POST", body=b"xyz").body)
        assert got["body"] == "xyz"
        assert json.loads(self.fetch("/h").body)["label"] == "echo"


class DefaultHostOverSocketsTest(AsyncHTTPTestCase):
    def get_app(self) -> Application:
        app = Application(default_host="www.example")
        app.add_handlers(r"www\.example", [("/foo", Echo, {"label": "www"})])
        return app

    def test_default_host_serves_other_hosts_unless_proxied(self) -> None:
        assert json.loads(self.fetch("/foo").body)["label"] == "www"
        assert self.fetch("/foo", headers={"X-Real-Ip": "10.1.2.3"}).code == 404


# ---------- without sockets: the public names and their errors ----------


def test_public_names_match_tornados_module() -> None:
    assert squall.routing is routing
    for name in (
        "Router", "ReversibleRouter", "RuleRouter", "ReversibleRuleRouter", "Rule", "Matcher",
        "AnyMatches", "HostMatches", "DefaultHostMatches", "PathMatches", "URLSpec",
    ):  # fmt: skip
        assert getattr(routing, name).__doc__, name
    assert web.URLSpec is routing.URLSpec and web.Rule is routing.Rule
    assert issubclass(Application, ReversibleRouter)
    assert issubclass(Router, HTTPServerConnectionDelegate)
    assert issubclass(ReversibleRuleRouter, RuleRouter)


def test_matchers_match_requests() -> None:
    def req(uri: str, host: str = "Example.COM:80", **headers: str) -> HTTPServerRequest:
        return HTTPServerRequest("GET", uri, headers=HTTPHeaders({"Host": host, **headers}))

    assert AnyMatches().match(req("/")) == {}
    assert HostMatches("example.com").match(req("/")) == {}
    assert HostMatches("example").match(req("/")) is None  # $ appended
    assert PathMatches("/a/(\\d+)").match(req("/a/1")) == {"path_args": ["1"], "path_kwargs": {}}
    assert PathMatches("/a").match(req("/a")) == {}
    assert PathMatches("/a").match(req("/b")) is None
    assert PathMatches("/a/(?P<n>.*)").reverse("x y") == "/a/x%20y"
    assert Matcher().reverse() is None

    class App:
        default_host: str | None = "main"

    app = App()
    default = DefaultHostMatches(app, HostMatches("main").host_pattern)
    assert default.match(req("/")) == {}
    assert default.match(req("/", **{"X-Real-Ip": "1.2.3.4"})) is None
    app.default_host = None
    assert default.match(req("/")) is None
    with pytest.raises(NotImplementedError):
        Matcher().match(req("/"))


def test_rule_router_refuses_bad_rules_clearly() -> None:
    with pytest.raises(TypeError, match="first argument is a Matcher"):
        Rule("/a", Echo)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="has 1 item"):
        RuleRouter([("/a",)])
    with pytest.raises(TypeError, match="is a int"):
        RuleRouter([42])
    assert Rule(PathMatches("/x"), "squall.web.RequestHandler").target is RequestHandler


def test_reversible_rule_router_reverses_named_and_nested_rules() -> None:
    inner = ReversibleRuleRouter([Rule(PathMatches("/in/(\\d+)"), Echo, name="in")])
    outer = ReversibleRuleRouter(
        [Rule(PathMatches("/out"), Echo, name="out"), Rule(AnyMatches(), inner)]
    )
    assert outer.reverse_url("out") == "/out"
    assert outer.reverse_url("in", 5) == "/in/5"
    assert outer.reverse_url("nope") is None


def test_routing_delegate_answers_404_and_forwards() -> None:
    written: list[Any] = []

    class Conn(HTTPConnection):
        def write_headers(self, start_line: Any, headers: Any, chunk: Any = None) -> Any:
            written.append((start_line.code, dict(headers)))

        def finish(self) -> None:
            written.append("finish")

    router = RuleRouter()
    delegate = router.start_request(object(), Conn())
    start = RequestStartLine("GET", "/x", "HTTP/1.1")
    assert delegate.headers_received(start, HTTPHeaders({"Host": "h"})) is None
    delegate.data_received(b"ignored")
    delegate.finish()
    assert written == [(404, {"Content-Length": "0"}), "finish"]
