"""Bad templates give a ParseError naming file and line; failures while rendering have the
template's name and line in their traceback."""

from __future__ import annotations

import gc
import linecache
import traceback

import pytest

from squall.template import DictLoader, ParseError, Template


def parse_error(templates: dict[str, str], name: str) -> ParseError:
    with pytest.raises(ParseError) as info:
        DictLoader(templates).load(name)
    return info.value


@pytest.mark.parametrize(
    ("source", "message", "line"),
    [
        ("a\n{% if x %}\nb", "Missing {% end %} block for if", 2),
        ("a\n\n{% for x in y %}{% block b %}\n{% end %}", "Missing {% end %} block for for", 3),
        ("{% apply f %}", "Missing {% end %} block for apply", 1),
        ("a\n{% end %}", "Extra {% end %} block", 2),
        ("{% if x %}{% end %}{% end %}", "Extra {% end %} block", 1),
        ("\n\n{% frobnicate x %}", "unknown operator: 'frobnicate'", 3),
        ("\n{{", "Missing end expression }}", 2),
        ("{% if x", "Missing end block %}", 1),
        ("{# x", "Missing end comment #}", 1),
        ("{{ }}", "Empty expression", 1),
        ("{%  %}", "Empty block tag ({% %})", 1),
        ("{% else %}", "else outside", 1),
        ("{% for x in y %}{% elif z %}{% end %}", "elif block cannot be attached to for", 1),
        ("{% if x %}{% except %}{% end %}", "except block cannot be attached to if", 1),
        ("{% break %}", "break outside", 1),
        ("{% for x in y %}{% apply f %}{% continue %}{% end %}{% end %}", "continue outside", 1),
        ("{% set %}", "set missing statement", 1),
        ("{% block %}{% end %}", "block missing name", 1),
        ("{% apply %}{% end %}", "apply missing method name", 1),
        ("{% extends %}", "extends missing file path", 1),
        ("{% include %}", "include missing file path", 1),
        ("{% if x %}{% extends 'a' %}{% end %}", "must be at the top level", 1),
        ("{% whitespace compact %}", "invalid whitespace mode compact", 1),
        ("{% autoescape %}", "autoescape missing function name", 1),
        ("\n{{ 1 + }}", "invalid Python in template", 2),
        ("\n\n{% set x = %}", "invalid Python in template", 3),
        ("{% if x %}a{% end %}\n{% try %}\nb{% end %}", "invalid Python in template", 2),
        ("a\n\n{{ x\x00 }}", "null bytes", 3),
    ],
)
def test_bad_template_is_a_parse_error_with_file_and_line(
    source: str, message: str, line: int
) -> None:
    error = parse_error({"bad.html": source}, "bad.html")
    assert message in error.message
    assert (error.filename, error.lineno) == ("bad.html", line)
    assert str(error) == f"{error.message} at bad.html:{line}"


def test_parse_error_is_not_a_syntax_error() -> None:
    with pytest.raises(ParseError) as info:
        Template("{{ 1 + }}")
    assert not isinstance(info.value, SyntaxError)


def test_parse_error_keeps_tornados_signature() -> None:
    assert str(ParseError("asdf")) == "asdf at None:0"
    error = ParseError("m", "f.html", 3)
    assert (error.message, error.filename, error.lineno) == ("m", "f.html", 3)


def test_invalid_python_in_an_included_file_names_that_file() -> None:
    error = parse_error(
        {"main.html": "x\n{% include 'sub.html' %}", "sub.html": "\n{{ ) }}"}, "main.html"
    )
    assert (error.filename, error.lineno) == ("sub.html", 2)


def test_missing_include_is_a_parse_error_at_the_include() -> None:
    error = parse_error({"main.html": "\n{% include 'nope.html' %}"}, "main.html")
    assert (error.filename, error.lineno) == ("main.html", 2)
    assert "nope.html" in error.message


def test_include_without_a_loader_says_what_to_do() -> None:
    with pytest.raises(ParseError, match="needs a template loader") as info:
        Template("\n{% include 'x.html' %}")
    assert info.value.lineno == 2


@pytest.mark.parametrize(
    "templates",
    [
        {"a.html": "{% include 'a.html' %}"},
        {"a.html": "{% include 'b.html' %}", "b.html": "{% include 'a.html' %}"},
        {"a.html": "{% extends 'b.html' %}", "b.html": "{% extends 'a.html' %}"},
    ],
)
def test_cycles_of_includes_and_extends_are_parse_errors(templates: dict[str, str]) -> None:
    error = parse_error(templates, "a.html")
    assert "each other" in error.message
    assert error.filename in templates


def test_a_block_inside_a_block_of_the_same_name_is_its_definition() -> None:
    templates = {
        "base.html": "<{% block a %}x{% end %}>",
        "child.html": "{% extends base.html %}{% block a %}[{% block a %}y{% end %}]{% end %}",
        "alone.html": "{% block a %}[{% block a %}y{% end %}]{% end %}",
    }
    loader = DictLoader(templates)
    assert loader.load("child.html").generate() == b"<y>"
    assert loader.load("alone.html").generate() == b"y"


def test_a_parse_error_leaves_nothing_in_the_loader_cache() -> None:
    loader = DictLoader({"bad.html": "{% if %}"})
    for _ in range(2):
        with pytest.raises(ParseError):
            loader.load("bad.html")
    assert loader.templates == {}


# ---------- run-time errors ----------


def failure(loader: DictLoader, name: str, **kwargs: object) -> str:
    with pytest.raises(ZeroDivisionError) as info:
        loader.load(name).generate(**kwargs)
    return "".join(traceback.format_exception(info.value))


def test_exception_in_an_expression_names_template_and_line() -> None:
    text = failure(DictLoader({"page.html": "one\ntwo {{ 1/0 }}\nthree"}), "page.html")
    assert "# page.html:2" in text
    assert "1/0" in text


def test_exception_in_a_directive_names_template_and_line() -> None:
    text = failure(DictLoader({"page.html": "one\n\n{% if 1/0 %}{% end %}"}), "page.html")
    assert "# page.html:3" in text


def test_exception_through_includes_names_the_whole_path() -> None:
    loader = DictLoader(
        {
            "a.html": "{% include 'b.html' %}",
            "b.html": "\n{% include 'c.html' %}",
            "c.html": "{{1/0}}",
        }
    )
    assert "# c.html:1 (via b.html:2, a.html:1)" in failure(loader, "a.html")


def test_exception_in_an_overriding_block_names_the_child_and_the_parent_block() -> None:
    loader = DictLoader(
        {
            "base.html": "\n{% block b %}{% end %}",
            "sub.html": "{% extends 'base.html' %}\n{% block b %}\n{{ 1/0 }}{% end %}",
        }
    )
    assert "# sub.html:3 (via base.html:2)" in failure(loader, "sub.html")


def test_exception_inside_apply_names_template_and_line() -> None:
    loader = DictLoader({"a.html": "{% apply f %}\n{{ 1/0 }}{% end %}"})
    assert "# a.html:2" in failure(loader, "a.html", f=bytes)


def test_traceback_source_survives_a_cleared_linecache() -> None:
    loader = DictLoader({"page.html": "\n{{ 1/0 }}"})
    loader.load("page.html")
    linecache.clearcache()
    assert "# page.html:2" in failure(loader, "page.html")


def test_templates_with_the_same_name_keep_their_own_traceback_source() -> None:
    first = Template("{{ 1/0 }}")
    second = Template("\n\n{{ 1/0 }}")
    for template, line in ((first, 1), (second, 3)):
        with pytest.raises(ZeroDivisionError) as info:
            template.generate()
        assert f"# <string>:{line}" in "".join(traceback.format_exception(info.value))


def test_a_name_error_in_a_template_propagates_unchanged() -> None:
    with pytest.raises(NameError, match="undefined_name"):
        Template("{{ undefined_name }}").generate()


def test_collected_templates_leave_linecache() -> None:
    loader = DictLoader({"collected-once.html": "{{ 1 }}"})
    filename = loader.load("collected-once.html")._filename
    assert filename in linecache.cache
    del loader  # the loader and its template form a cycle: the collector frees them
    gc.collect()
    Template("x", name="another.html")  # registering a template drops released sources
    assert filename not in linecache.cache


def test_live_templates_keep_their_source_while_others_come_and_go() -> None:
    kept = Template("\n{{ 1/0 }}", name="kept.html")
    for _ in range(3):
        Template("{{ 2 }}", name="kept.html")
        gc.collect()
    Template("x", name="another.html")
    assert "1/0" in "".join(linecache.cache[kept._filename][2])
    with pytest.raises(ZeroDivisionError) as info:
        kept.generate()
    assert "# kept.html:2" in "".join(traceback.format_exception(info.value))
