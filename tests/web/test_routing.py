"""Tests for squall._web.routing: URLSpec matching and reversing, Router hosts and order."""

from __future__ import annotations

import logging
import re
from typing import Any

import pytest

from squall._web.errors import HTTPError
from squall._web.routing import Router, URLSpec, url


class Main:
    pass


class Other:
    pass


class Third:
    pass


def router_with(*rules: Any, default_host: str | None = None) -> Router:
    router = Router(default_host=default_host)
    router.add_rules(rules)
    return router


def handler_for(router: Router, path: str, host: str = "example.com") -> Any:
    found = router.find(host, path)
    assert found is not None, f"no rule matched {path!r}"
    return found[0].handler_class


# ---------- URLSpec ----------


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
    assert spec.group_count == 2 and not spec.named
    assert spec.match("/user/42/posts") == (["42", "posts"], {})


def test_named_groups_become_kwargs() -> None:
    spec = URLSpec("/user/(?P<uid>[0-9]+)/(?P<tab>\\w+)", Main)
    assert spec.named
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
        spec.reverse(*range(spec.group_count))


# ---------- Router: order and the static fast path ----------


def test_static_path_is_found_by_dict_lookup() -> None:
    router = router_with(("/", Main), ("/about", Other))
    found = router.find("example.com", "/about")
    assert found is not None
    spec, args, kwargs = found
    assert spec.handler_class is Other and args == [] and kwargs == {}
    assert router.find("example.com", "/missing") is None


def test_static_lookup_returns_fresh_containers_each_time() -> None:
    router = router_with(("/", Main))
    first = router.find("h", "/")
    assert first is not None
    first[1].append("mutated")
    second = router.find("h", "/")
    assert second is not None and second[1] == []


def test_earlier_regex_rule_wins_over_later_static_rule() -> None:
    router = router_with(("/(.*)", Main), ("/about", Other))
    found = router.find("h", "/about")
    assert found is not None
    assert found[0].handler_class is Main
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
    # Labels are wrapped in tuples: a str handler would be imported as a dotted name.
    router = router_with(*[(pattern, (label,)) for pattern, label in RULES])
    expected = next((n for p, n in RULES if URLSpec(p, None).match(path) is not None), None)
    found = router.find("h", path)
    assert (found[0].handler_class[0] if found else None) == expected
    if found is not None:
        assert (found[1], found[2]) == found[0].match(path)


def test_first_of_duplicate_static_rules_wins() -> None:
    router = router_with(("/a", Main), ("/a", Other))
    assert handler_for(router, "/a") is Main


def test_regex_rules_are_tried_in_order() -> None:
    router = router_with(("/x/(a.*)", Main), ("/x/(.*)", Other))
    assert handler_for(router, "/x/abc") is Main
    assert handler_for(router, "/x/zzz") is Other


def test_router_passes_decoded_args_and_bad_utf8_raises() -> None:
    router = router_with(("/f/(?P<name>.*)", Main))
    found = router.find("h", "/f/a%20b+c")
    assert found is not None and found[2] == {"name": "a b+c"}
    with pytest.raises(HTTPError) as info:
        router.find("h", "/f/%C3")
    assert info.value.status_code == 400


# ---------- Router: rule forms ----------


def test_rules_accept_tuples_of_two_to_four_and_urlspecs() -> None:
    router = Router()
    specs = router.add_rules(
        [("/a", Main), ("/b", Other, {"k": 1}), ("/c", Third, None, "c"), url("/d", Main)]
    )
    assert [s.regex.pattern for s in specs] == ["/a$", "/b$", "/c$", "/d$"]
    assert specs[1].kwargs == {"k": 1}
    assert router.reverse_url("c") == "/c"


def test_rule_tuple_of_wrong_length_raises_value_error_naming_it() -> None:
    with pytest.raises(ValueError, match=r"\('/a',\) has 1 item"):
        Router().add_rules([("/a",)])
    with pytest.raises(ValueError, match="has 5 item"):
        Router().add_rules([("/a", Main, {}, "n", "extra")])


def test_rule_of_wrong_type_raises_type_error() -> None:
    with pytest.raises(TypeError, match="is a str"):
        Router().add_rules(["/a"])  # type: ignore[list-item]


def test_handler_given_as_dotted_string_is_imported() -> None:
    router = Router()
    (spec,) = router.add_rules([("/a", "collections.OrderedDict")])
    import collections

    assert spec.handler_class is collections.OrderedDict
    with pytest.raises(ImportError, match="no_such_module_xyz"):
        router.add_rules([("/b", "no_such_module_xyz.Handler")])
    with pytest.raises(ImportError, match="collections has no NoSuchHandler"):
        router.add_rules([("/c", "collections.NoSuchHandler")])


# ---------- Router: hosts ----------


def test_host_groups_match_lower_cased_host_without_port() -> None:
    router = Router()
    router.add_rules([("/", Main)])
    router.add_rules([("/", Other)], host_pattern=r"api\.example\.com")
    assert handler_for(router, "/", host="API.example.com:8080") is Other
    assert handler_for(router, "/", host="api.example.com") is Other
    assert handler_for(router, "/", host="www.example.com") is Main
    assert handler_for(router, "/", host="[::1]:8888") is Main


def test_host_pattern_gets_dollar_so_longer_hosts_do_not_match() -> None:
    router = Router()
    router.add_rules([("/", Other)], host_pattern="api")
    assert router.find("api", "/") is not None
    assert router.find("api.evil.com", "/") is None


def test_new_host_group_goes_before_a_final_catch_all_group() -> None:
    router = Router()
    router.add_rules([("/", Main)])  # catch-all .*$
    router.add_rules([("/", Other)], host_pattern="a.*")
    router.add_rules([("/", Third)], host_pattern="ab.*")
    assert handler_for(router, "/", host="abc") is Other  # earlier host group first
    assert handler_for(router, "/", host="zzz") is Main


def test_host_group_without_matching_rule_falls_through_to_next_group() -> None:
    router = Router()
    router.add_rules([("/", Main), ("/shared", Main)])
    router.add_rules([("/", Other)], host_pattern="api.*")
    assert handler_for(router, "/shared", host="api.x") is Main


def test_default_host_rules_apply_when_no_host_matches() -> None:
    router = Router(default_host="main.example")
    router.add_rules([("/home", Other)], host_pattern=r"main\.example")
    router.add_rules([("/x", Third)], host_pattern=r"other\.example")
    assert handler_for(router, "/home", host="unknown.host") is Other
    assert router.find("unknown.host", "/x") is None


def test_default_host_rules_come_after_catch_all_rules() -> None:
    router = Router(default_host="main.example")
    router.add_rules([("/(.*)", Main)])
    router.add_rules([("/home", Other)], host_pattern=r"main\.example")
    assert handler_for(router, "/home", host="unknown.host") is Main
    assert handler_for(router, "/home", host="main.example") is Other


def test_default_host_can_be_set_after_rules_are_added() -> None:
    router = Router()
    router.add_rules([("/home", Other)], host_pattern=r"main\.example")
    assert router.find("unknown", "/home") is None
    router.default_host = "main.example"
    assert handler_for(router, "/home", host="unknown") is Other


def test_empty_router_finds_nothing() -> None:
    assert Router().find("h", "/") is None


# ---------- Router: reverse_url ----------


def test_reverse_url_escapes_arguments() -> None:
    router = router_with(url("/user/([^/]+)/(\\d+)", Main, name="user"))
    assert router.reverse_url("user", "a b&c", 5) == "/user/a%20b%26c/5"


def test_reverse_url_unknown_name_raises_key_error() -> None:
    router = router_with(url("/", Main, name="home"))
    with pytest.raises(KeyError, match="nope not found in named urls"):
        router.reverse_url("nope")


def test_reverse_url_argument_count_and_irreversible_errors_propagate() -> None:
    router = router_with(url("/u/(\\d+)", Main, name="u"), url("/v/((a)b)", Main, name="v"))
    with pytest.raises(ValueError, match="exactly 1 argument"):
        router.reverse_url("u")
    with pytest.raises(ValueError, match="Cannot reverse"):
        router.reverse_url("v", 1, 2)


def test_reverse_url_searches_host_groups_first_group_wins() -> None:
    router = Router()
    router.add_rules([url("/any", Main, name="n")])
    router.add_rules([url("/host", Other, name="n")], host_pattern="h.*")
    assert router.reverse_url("n") == "/host"


def test_duplicate_name_in_one_group_replaces_with_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="squall.application"):
        router = router_with(url("/a", Main, name="n"), url("/b", Other, name="n"))
    assert router.reverse_url("n") == "/b"
    assert "Multiple handlers named n; replacing previous value" in caplog.text
