"""Tests for the application's route table (squall._web.routing) and URLSpec/PathMatches:
matching and reversing, rule order against the static fast path, hosts, rule forms."""

from __future__ import annotations

import logging
import re
from typing import Any

import pytest

from squall._web.errors import HTTPError
from squall._web.rules import URLSpec, _ApplicationRouter, url
from squall.httputil import HTTPHeaders, HTTPServerRequest
from squall.web import Application, RequestHandler


class Main:
    pass


class Other:
    pass


class Third:
    pass


class _App:
    """What an _ApplicationRouter asks of its application."""

    default_host: str | None = None

    def get_handler_delegate(self, request: Any, target: Any, *args: Any) -> Any:
        return ("delegate", target, *args)


def router_with(*rules: Any) -> _ApplicationRouter:
    """A router whose every target counts as a handler (the labels below are plain classes)."""
    return _ApplicationRouter(_App(), rules, is_handler=lambda target: True)


def find(router: _ApplicationRouter, path: str, host: str = "example.com") -> Any:
    request = HTTPServerRequest("GET", "/", headers=HTTPHeaders({"Host": host}))
    request.path = path
    return router.route_table.find(request)


def handler_for(router: _ApplicationRouter, path: str, host: str = "example.com") -> Any:
    found = find(router, path, host)
    assert found is not None, f"no rule matched {path!r}"
    return found[0].target


# ---------- URLSpec ----------


def test_urlspec_is_a_rule_on_a_path_matcher() -> None:
    from squall.routing import PathMatches, Rule

    spec = URLSpec("/a", Main)
    assert isinstance(spec, Rule) and isinstance(spec.matcher, PathMatches)
    assert spec.target is spec.handler_class is Main
    assert spec.regex is spec.matcher.regex


def test_urlspec_appends_dollar_so_prefixes_do_not_match() -> None:
    spec = URLSpec("/a", Main)
    assert spec.regex.pattern == "/a$"
    assert spec.match("/a") == ([], {})
    assert spec.match("/ab") is None
    assert spec.match("/x/a") is None  # re.match anchors at the start


def test_urlspec_keeps_existing_dollar_and_compiled_patterns() -> None:
    assert URLSpec("/a$", Main).regex.pattern == "/a$"
    compiled = re.compile("/A", re.IGNORECASE)
    spec = URLSpec(compiled, Main)
    assert spec.regex is compiled
    assert spec.match("/a/anything") == ([], {})  # unanchored, as given
    assert spec.static_path is None


def test_urlspec_exposes_handler_kwargs_and_name() -> None:
    spec = url("/a", Main, {"db": 1}, "home")
    assert spec.handler_class is Main
    assert spec.kwargs == {"db": 1}
    assert spec.name == "home"
    assert URLSpec("/b", Main).kwargs == {}
    assert "URLSpec('/a$'" in repr(spec) and "name='home'" in repr(spec)


@pytest.mark.parametrize(
    ("pattern", "static"),
    [
        ("/", "/"),
        ("^/api/status$", "/api/status"),
        (r"/robots\.txt", "/robots.txt"),
        ("/favicon.ico", None),
        ("/user/([0-9]+)", None),
        (r"/a\d", None),
        ("/a|/b", None),
        (r"/a\$", None),  # escaped dollar: Tornado adds no anchor, so it is a prefix match
    ],
)
def test_urlspec_static_path_only_for_plain_literals(pattern: str, static: str | None) -> None:
    assert URLSpec(pattern, Main).static_path == static


def test_positional_groups_become_args() -> None:
    spec = URLSpec("/user/([0-9]+)/(\\w+)", Main)
    assert spec.matcher.group_count == 2 and not spec.matcher.named
    assert spec.match("/user/42/posts") == (["42", "posts"], {})


def test_named_groups_become_kwargs() -> None:
    spec = URLSpec("/user/(?P<uid>[0-9]+)/(?P<tab>\\w+)", Main)
    assert spec.matcher.named
    assert spec.match("/user/42/posts") == ([], {"uid": "42", "tab": "posts"})


def test_positional_groups_are_ignored_when_named_groups_exist() -> None:
    spec = URLSpec("/(?P<a>x)/(y)", Main)
    assert spec.match("/x/y") == ([], {"a": "x"})


def test_captured_values_are_percent_decoded_but_plus_stays_plus() -> None:
    spec = URLSpec("/q/(.*)", Main)
    assert spec.match("/q/a%20b+c%2Bd") == (["a b+c+d"], {})
    assert spec.match("/q/caf%C3%A9") == (["café"], {})
    assert spec.match("/q/a%2Fb") == (["a/b"], {})


def test_captured_bad_utf8_raises_http_400() -> None:
    spec = URLSpec("/q/(.*)", Main)
    with pytest.raises(HTTPError) as info:
        spec.match("/q/%FF%FE")
    assert info.value.status_code == 400
    assert str(info.value) == "HTTP 400: Bad Request (Invalid unicode in url: b'\\xff\\xfe')"


def test_optional_group_that_did_not_match_gives_none() -> None:
    assert URLSpec("/a(/b)?", Main).match("/a") == ([None], {})
    assert URLSpec("/a(?P<tail>/b)?", Main).match("/a") == ([], {"tail": None})


def test_reverse_substitutes_escaped_args_into_groups() -> None:
    spec = URLSpec("/user/([0-9]+)/(.*)", Main)
    assert spec.reversible
    assert spec.reverse(42, "a b+c") == "/user/42/a%20b%2Bc"
    assert spec.reverse("x", "p/q") == "/user/x/p/q"  # '/' kept, like Tornado's plus=False
    assert spec.reverse("x", "café") == "/user/x/caf%C3%A9"
    assert spec.reverse("x", b"%") == "/user/x/%25"


def test_reverse_unescapes_literal_text_and_works_for_named_groups() -> None:
    assert URLSpec(r"^/files/(?P<name>[^/]+)\.txt$", Main).reverse("a") == "/files/a.txt"
    assert URLSpec("/", Main).reverse() == "/"
    assert URLSpec("/100%/(x)", Main).reverse("x") == "/100%/x"  # no %-format accident
    assert URLSpec(r"/\(v\)/([a-z(]+)", Main).reverse("x") == "/(v)/x"


def test_reverse_handles_parentheses_and_brackets_inside_classes() -> None:
    assert URLSpec(r"/([()]+)/([]a]+)", Main).reverse("x", "y") == "/x/y"
    assert URLSpec(r"/[(]x/(y)", Main).reverse("v") == "/[(]x/v"  # kept as written, as Tornado


def test_reverse_with_wrong_argument_count_raises_value_error() -> None:
    spec = URLSpec("/user/([0-9]+)", Main)
    with pytest.raises(ValueError, match="exactly 1 argument"):
        spec.reverse()
    with pytest.raises(ValueError, match="got 2"):
        spec.reverse(1, 2)


@pytest.mark.parametrize(
    "pattern",
    ["/a/((b)c)", "/a/(?:b)(c)", r"/\d+/(x)", "/(?=x)(x)", "/(?P<q>z)-(?P=q)", "(?i)/(x)"],
)
def test_complex_patterns_raise_value_error_when_reversed_not_when_built(pattern: str) -> None:
    spec = URLSpec(pattern, Main)  # construction succeeds
    assert not spec.reversible
    with pytest.raises(ValueError, match="Cannot reverse url regex"):
        spec.reverse(*range(spec.matcher.group_count))


# ---------- the route table: order and the static fast path ----------


def test_static_path_is_found_by_dict_lookup() -> None:
    router = router_with(("/", Main), ("/about", Other))
    found = find(router, "/about")
    assert found is not None
    entry, args, kwargs = found
    assert entry.target is Other and args == [] and kwargs == {}
    assert find(router, "/missing") is None


def test_static_lookup_returns_fresh_containers_each_time() -> None:
    router = router_with(("/", Main))
    first = find(router, "/")
    assert first is not None
    first[1].append("mutated")
    second = find(router, "/")
    assert second is not None and second[1] == []


def test_earlier_regex_rule_wins_over_later_static_rule() -> None:
    router = router_with(("/(.*)", Main), ("/about", Other))
    found = find(router, "/about")
    assert found is not None
    assert found[0].target is Main
    assert found[1] == ["about"]


def test_static_rule_before_regex_rule_wins() -> None:
    router = router_with(("/about", Other), ("/(.*)", Main))
    assert handler_for(router, "/about") is Other
    assert handler_for(router, "/contact") is Main


def test_non_matching_earlier_regex_does_not_steal_static_path() -> None:
    router = router_with(("/user/([0-9]+)", Main), ("/user/me", Other), ("/user/(.*)", Third))
    assert handler_for(router, "/user/me") is Other
    assert handler_for(router, "/user/7") is Main
    assert handler_for(router, "/user/x") is Third


def test_earlier_groupless_regex_wins_over_later_static_rule() -> None:
    router = router_with(("/favicon.ico", Main), (r"/favicon\.ico", Other))
    assert handler_for(router, "/favicon.ico") is Main
    assert handler_for(router, "/faviconXico") is Main


class Label:
    def __init__(self, name: str) -> None:
        self.name = name


RULES = [
    ("/", "root"),
    ("/about", "about-1"),
    ("/(a.*)", "a-regex"),
    ("/about", "about-2"),
    ("/abc", "abc"),
    ("/user/me", "me"),
    ("/user/([0-9]+)", "uid"),
    ("/user/(?P<name>.+)", "uname"),
    (r"/files/(.*)\.txt", "txt"),
    ("/files/readme.txt", "readme"),
    ("/x.y", "dot"),
    (r"/x\.y", "literal-dot"),
]
PATHS = [
    "/", "/about", "/abc", "/abd", "/user/me", "/user/12", "/user/bob", "/user/",
    "/files/a.txt", "/files/readme.txt", "/x.y", "/xzy", "/nothing", "",
]  # fmt: skip


@pytest.mark.parametrize("path", PATHS)
def test_router_agrees_with_a_plain_ordered_scan(path: str) -> None:
    # Labels are wrapped: a str target would be imported as a dotted name.
    router = router_with(*[(pattern, Label(label)) for pattern, label in RULES])
    expected = next((n for p, n in RULES if URLSpec(p, None).match(path) is not None), None)
    found = find(router, path)
    assert (found[0].target.name if found else None) == expected
    if found is not None:
        assert (found[1], found[2]) == found[0].rule.matcher.match_path(path)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("cut", [0, 3, 7, len(RULES)])
def test_table_with_an_other_matcher_inside_agrees_with_a_plain_ordered_scan(
    path: str, cut: int
) -> None:
    # A rule with any other matcher ends the static prefix: the rules after it are tried in
    # order, literal ones included.
    from squall.routing import Matcher, Rule

    class Never(Matcher):
        def match(self, request: Any) -> dict[str, Any] | None:
            return None

    rules: list[Any] = [(pattern, Label(label)) for pattern, label in RULES]
    rules.insert(cut, Rule(Never(), Label("never")))
    router = router_with(*rules)
    expected = next((n for p, n in RULES if URLSpec(p, None).match(path) is not None), None)
    found = find(router, path)
    assert (found[0].target.name if found else None) == expected


def test_first_of_duplicate_static_rules_wins() -> None:
    router = router_with(("/a", Main), ("/a", Other))
    assert handler_for(router, "/a") is Main


def test_regex_rules_are_tried_in_order() -> None:
    router = router_with(("/x/(a.*)", Main), ("/x/(.*)", Other))
    assert handler_for(router, "/x/abc") is Main
    assert handler_for(router, "/x/zzz") is Other


def test_router_passes_decoded_args_and_bad_utf8_raises() -> None:
    router = router_with(("/f/(?P<name>.*)", Main))
    found = find(router, "/f/a%20b+c")
    assert found is not None and found[2] == {"name": "a b+c"}
    with pytest.raises(HTTPError) as info:
        find(router, "/f/%C3")
    assert info.value.status_code == 400


# ---------- rule forms ----------


def test_rules_accept_tuples_of_two_to_four_and_urlspecs() -> None:
    router = router_with(
        ("/a", Main), ("/b", Other, {"k": 1}), ("/c", Third, None, "c"), url("/d", Main)
    )
    assert [r.matcher.regex.pattern for r in router.rules] == ["/a$", "/b$", "/c$", "/d$"]
    assert router.rules[1].target_kwargs == {"k": 1}
    assert router.reverse_url("c") == "/c"


def test_rule_tuple_of_wrong_length_raises_value_error_naming_it() -> None:
    with pytest.raises(ValueError, match=r"\('/a',\) has 1 item"):
        router_with(("/a",))
    with pytest.raises(ValueError, match="has 5 item"):
        router_with(("/a", Main, {}, "n", "extra"))


def test_rule_of_wrong_type_raises_type_error() -> None:
    with pytest.raises(TypeError, match="is a str"):
        router_with("/a")
    with pytest.raises(TypeError, match="first argument is a Matcher"):
        router_with((42, Main))


def test_handler_given_as_dotted_string_is_imported() -> None:
    import collections

    router = router_with(("/a", "collections.OrderedDict"))
    assert router.rules[0].target is collections.OrderedDict
    with pytest.raises(ImportError, match="no_such_module_xyz"):
        router_with(("/b", "no_such_module_xyz.Handler"))
    with pytest.raises(ImportError, match="'NoSuchHandler' in collections"):
        router_with(("/c", "collections.NoSuchHandler"))


def test_editing_the_rule_list_directly_is_seen_by_the_table() -> None:
    router = router_with(("/a", Main))
    assert handler_for(router, "/a") is Main
    router.rules.insert(0, url("/a", Other))
    assert handler_for(router, "/a") is Other
    del router.rules[0]
    assert handler_for(router, "/a") is Main
    router.rules = [url("/b", Third)]
    assert find(router, "/a") is None and handler_for(router, "/b") is Third
    router.rules += [url("/c", Main)]
    router.rules[0] = url("/b", Other)
    assert handler_for(router, "/b") is Other and handler_for(router, "/c") is Main
    router.rules.pop()
    router.rules.clear()
    assert find(router, "/b") is None


# ---------- the application: hosts ----------


class MainH(RequestHandler):
    pass


class OtherH(RequestHandler):
    pass


class ThirdH(RequestHandler):
    pass


def app_handler(app: Application, path: str, host: str, **headers: str) -> Any:
    request = HTTPServerRequest("GET", path, headers=HTTPHeaders({"Host": host, **headers}))
    return app.find_handler(request).handler_class  # type: ignore[attr-defined]


def test_host_groups_match_lower_cased_host_without_port() -> None:
    app = Application([("/", MainH)])
    app.add_handlers(r"api\.example\.com", [("/", OtherH)])
    assert app_handler(app, "/", "API.example.com:8080") is OtherH
    assert app_handler(app, "/", "api.example.com") is OtherH
    assert app_handler(app, "/", "www.example.com") is MainH
    assert app_handler(app, "/", "[::1]:8888") is MainH


def test_host_pattern_gets_dollar_so_longer_hosts_do_not_match() -> None:
    app = Application()
    app.add_handlers("api", [("/", OtherH)])
    assert app_handler(app, "/", "api") is OtherH
    assert app_handler(app, "/", "api.evil.com").__name__ == "ErrorHandler"


def test_host_groups_come_in_order_and_before_the_constructor_rules() -> None:
    app = Application([("/", MainH)])
    app.add_handlers("a.*", [("/", OtherH)])
    app.add_handlers("ab.*", [("/", ThirdH)])
    app.add_handlers(".*$", [("/any", ThirdH)])
    app.add_handlers(".*$", [("/any", OtherH), ("/", OtherH)])
    assert app_handler(app, "/", "abc") is OtherH  # earlier host group first
    assert app_handler(app, "/", "zzz") is OtherH  # a later catch-all group, then the rest
    assert app_handler(app, "/any", "zzz") is ThirdH  # catch-all groups keep their order


def test_host_group_without_matching_rule_falls_through_to_next_group() -> None:
    app = Application([("/", MainH), ("/shared", MainH)])
    app.add_handlers("api.*", [("/", OtherH)])
    assert app_handler(app, "/shared", "api.x") is MainH


def test_default_host_rules_apply_when_no_host_matches_unless_proxied() -> None:
    app = Application(default_host="main.example")
    app.add_handlers(r"main\.example", [("/home", OtherH)])
    app.add_handlers(r"other\.example", [("/x", ThirdH)])
    assert app_handler(app, "/home", "unknown.host") is OtherH
    assert app_handler(app, "/x", "unknown.host").__name__ == "ErrorHandler"
    proxied = app_handler(app, "/home", "unknown.host", **{"X-Real-Ip": "10.0.0.1"})
    assert proxied.__name__ == "ErrorHandler"


def test_default_host_rules_come_after_the_constructor_rules() -> None:
    app = Application([("/(.*)", MainH)], default_host="main.example")
    app.add_handlers(r"main\.example", [("/home", OtherH)])
    assert app_handler(app, "/home", "unknown.host") is MainH
    assert app_handler(app, "/home", "main.example") is OtherH


def test_default_host_may_change_after_rules_are_added() -> None:
    app = Application(default_host="a.example")
    app.add_handlers(r"a\.example", [("/a", MainH)])
    app.add_handlers(r"b\.example", [("/b", OtherH)])
    assert app_handler(app, "/a", "unknown") is MainH
    app.default_host = "b.example"
    assert app_handler(app, "/b", "unknown") is OtherH
    assert app_handler(app, "/a", "unknown").__name__ == "ErrorHandler"
    app.default_host = None
    assert app_handler(app, "/b", "unknown").__name__ == "ErrorHandler"


def test_empty_application_finds_the_404_handler() -> None:
    assert app_handler(Application(), "/", "h").__name__ == "ErrorHandler"


# ---------- reverse_url ----------


def test_reverse_url_escapes_arguments() -> None:
    app = Application([url("/user/([^/]+)/(\\d+)", MainH, name="user")])
    assert app.reverse_url("user", "a b&c", 5) == "/user/a%20b%26c/5"


def test_reverse_url_unknown_name_raises_key_error() -> None:
    app = Application([url("/", MainH, name="home")])
    with pytest.raises(KeyError, match="nope not found in named urls"):
        app.reverse_url("nope")


def test_reverse_url_argument_count_and_irreversible_errors_propagate() -> None:
    app = Application([url("/u/(\\d+)", MainH, name="u"), url("/v/((a)b)", MainH, name="v")])
    with pytest.raises(ValueError, match="exactly 1 argument"):
        app.reverse_url("u")
    with pytest.raises(ValueError, match="Cannot reverse"):
        app.reverse_url("v", 1, 2)


def test_reverse_url_searches_host_groups_first_group_wins() -> None:
    app = Application([url("/any", MainH, name="n")])
    app.add_handlers("h.*", [url("/host", OtherH, name="n")])
    assert app.reverse_url("n") == "/host"


def test_duplicate_name_in_one_group_replaces_with_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="squall.application"):
        app = Application([url("/a", MainH, name="n"), url("/b", OtherH, name="n")])
    assert app.reverse_url("n") == "/b"
    assert "Multiple handlers named n; replacing previous value" in caplog.text
