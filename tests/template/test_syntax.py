"""Every construct of Tornado's template language, rendered through squall.template."""

from __future__ import annotations

import datetime
import html

import pytest
from hypothesis import given
from hypothesis import strategies as st

from squall import escape
from squall.template import DictLoader, Template, filter_whitespace


def render(source: str, **kwargs: object) -> bytes:
    return Template(source).generate(**kwargs)


# ---------- expressions ----------


def test_expression_values_of_every_kind_become_text() -> None:
    assert render("{{ a }}|{{ b }}|{{ c }}|{{ d }}", a="x", b=b"y", c=3, d=None) == b"x|y|3|None"


def test_expressions_are_python() -> None:
    assert render("{{ ', '.join(str(x * x) for x in range(4)) }}") == b"0, 1, 4, 9"


def test_expression_is_escaped_with_xhtml_escape_by_default() -> None:
    assert render("{{ v }}", v="<a href='x'>&\"</a>") == (
        b"&lt;a href=&#x27;x&#x27;&gt;&amp;&quot;&lt;/a&gt;"
    )


def test_bytes_that_are_not_utf8_pass_through_raw_expressions_unchanged() -> None:
    assert render("{% raw v %}", v=b"\xff\xfe") == b"\xff\xfe"


def test_non_ascii_text_and_values_are_utf8() -> None:
    assert render("é {{ v }} {{ 'ü' }}", v="ñ") == "é ñ ü".encode()


def test_a_str_subclass_is_escaped_as_plain_text() -> None:
    class Shouty(str):
        def replace(self, *args: object) -> str:  # type: ignore[override]
            raise AssertionError("escaping must not call the subclass's methods")

    assert render("{{ v }}", v=Shouty("<b>")) == b"&lt;b&gt;"


def test_expression_may_hold_a_comment_and_span_lines() -> None:
    assert render("{{ 1 + 1 # two }}") == b"2"
    assert render("{{ (1 +\n  2) }}") == b"3"


@given(st.text())
def test_escaped_output_equals_escape_xhtml_escape(value: str) -> None:
    value = value.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    assert render("{{ v }}", v=value) == escape.xhtml_escape(value).encode()


@given(st.text(alphabet=st.characters(blacklist_characters="{", codec="utf-8")))
def test_text_without_tags_is_written_as_is(text: str) -> None:
    assert Template(text, whitespace="all").generate() == text.encode()


# ---------- raw, autoescape, comments, literal escapes ----------


def test_raw_writes_without_escaping() -> None:
    assert render("{% raw v %}", v="<b>") == b"<b>"


def test_autoescape_none_turns_escaping_off_for_the_whole_file() -> None:
    assert render("{{ v }}{% autoescape None %}{{ v }}", v="<") == b"<<"


def test_autoescape_with_a_custom_function_gives_it_bytes() -> None:
    seen: list[object] = []

    def shout(value: bytes) -> str:
        seen.append(value)
        return value.decode().upper()

    assert render("{% autoescape shout %}{{ v }}", v="hi", shout=shout) == b"HI"
    assert seen == [b"hi"]


def test_autoescape_argument_and_loader_default() -> None:
    assert Template("{{ v }}", autoescape=None).generate(v="<") == b"<"
    loader = DictLoader({"a.txt": "{{ v }}"}, autoescape=None)
    assert loader.load("a.txt").generate(v="<") == b"<"


def test_comments_are_dropped() -> None:
    assert render("a{# hidden {{ x }} #}b{% comment also hidden %}c") == b"abc"


def test_bang_escapes_write_the_tag_openers_literally() -> None:
    assert render("{{! x }} {%! y %} {#! z #}") == b"{{ x }} {% y %} {# z #}"


# ---------- control flow ----------


@pytest.mark.parametrize(("x", "out"), [(1, b"one"), (2, b"two"), (3, b"many")])
def test_if_elif_else(x: int, out: bytes) -> None:
    source = "{% if x == 1 %}one{% elif x == 2 %}two{% else %}many{% end %}"
    assert render(source, x=x) == out


def test_empty_bodies_are_allowed() -> None:
    assert render("{% if True %}{% else %}{% end %}{% for i in [] %}{% end %}") == b""


def test_for_with_break_continue_and_else() -> None:
    source = (
        "{% for i in range(10) %}{% if i == 2 %}{% continue %}{% end %}"
        "{{ i }}{% if i == 5 %}{% break %}{% end %}{% end %}"
        "{% for j in [] %}x{% else %}empty{% end %}"
    )
    assert render(source) == b"01345empty"


def test_while_loop() -> None:
    assert render("{% set n = 3 %}{% while n %}{{ n }}{% set n -= 1 %}{% end %}") == b"321"


@pytest.mark.parametrize(("x", "out"), [(1, b"try else finally"), (0, b"try except finally")])
def test_try_except_else_finally(x: int, out: bytes) -> None:
    source = (
        "{% try %}try{% set y = 1 / x %}{% except ZeroDivisionError %} except"
        "{% else %} else{% finally %} finally{% end %}"
    )
    assert render(source, x=x) == out


def test_set_import_and_from() -> None:
    source = (
        "{% import os.path %}{% from json import dumps as d %}{% set x = [1, 2] %}"
        "{{ os.path.join('a', 'b') }} {% raw d(x) %}"
    )
    assert render(source) == b"a/b [1, 2]"


def test_default_namespace() -> None:
    source = (
        "{% raw escape('<') %}{% raw xhtml_escape('>') %}{% raw url_escape('a b') %}"
        "{% raw json_encode({'a': 1}) %}{{ squeeze(' a  b ') }}{% raw linkify('http://x.org') %}"
        "{{ datetime.date(2020, 1, 2) }}"
    )
    assert render(source) == (
        b'&lt;&gt;a+b{"a": 1}a b<a href="http://x.org">http://x.org</a>2020-01-02'
    )
    assert datetime  # the module the namespace's "datetime" names


def test_generate_arguments_override_loader_namespace() -> None:
    loader = DictLoader({"t.txt": "{{ a }}{{ b }}"}, namespace={"a": 1, "b": 2})
    assert loader.load("t.txt").generate(b=3) == b"13"


def test_variables_do_not_leak_between_renders() -> None:
    template = Template("{% set x = x + 1 if 'x' in globals() else 0 %}{{ x }}")
    assert template.generate() == b"0"
    assert template.generate() == b"0"


# ---------- apply ----------


def test_apply_calls_the_function_on_the_body_as_bytes() -> None:
    seen: list[object] = []

    def upper(body: bytes) -> bytes:
        seen.append(body)
        return body.upper()

    assert render("{% apply upper %}ab{{ 'c' }}{% end %}d", upper=upper) == b"ABCd"
    assert seen == [b"abc"]


def test_apply_result_may_be_str_and_applies_nest() -> None:
    source = "{% apply f %}x{% apply g %}y{% end %}{% end %}"
    out = render(source, f=lambda b: "[" + b.decode() + "]", g=lambda b: b * 2)
    assert out == b"[xyy]"


def test_apply_inside_a_loop_sees_the_loop_variable() -> None:
    assert render("{% for i in range(3) %}{% apply str %}{{ i }}{% end %}{% end %}") == (
        b"b'0'b'1'b'2'"
    )


# ---------- blocks, extends, include, module ----------


def test_extends_replaces_blocks_and_ignores_text_outside_them() -> None:
    loader = DictLoader(
        {
            "base.html": "<t>{% block title %}default{% end %}</t>{% block body %}B{% end %}",
            "page.html": '{% extends "base.html" %}ignored{% block title %}Page{% end %}',
        }
    )
    assert loader.load("page.html").generate() == b"<t>Page</t>B"


def test_three_levels_of_extends_the_most_derived_block_wins() -> None:
    loader = DictLoader(
        {
            "a.txt": "[{% block x %}a{% end %}|{% block y %}a{% end %}|{% block z %}a{% end %}]",
            "b.txt": "{% extends a.txt %}{% block x %}b{% end %}{% block y %}b{% end %}",
            "c.txt": "{% extends b.txt %}{% block y %}c{% end %}",
        }
    )
    assert loader.load("c.txt").generate() == b"[b|c|a]"


def test_blocks_inside_loops_and_nested_blocks() -> None:
    loader = DictLoader(
        {
            "base.txt": "{% for s in items %}{% block row %}<{{ s }}>{% end %}{% end %}"
            "{% block outer %}({% block inner %}i{% end %}){% end %}",
            "child.txt": "{% extends base.txt %}{% block row %}[{{ s }}]{% end %}"
            "{% block inner %}I{% end %}",
        }
    )
    assert loader.load("child.txt").generate(items="ab") == b"[a][b](I)"


def test_a_block_defined_in_an_included_file_can_be_overridden() -> None:
    loader = DictLoader(
        {
            "part.txt": "{% block p %}part{% end %}",
            "base.txt": "<{% include part.txt %}>",
            "child.txt": "{% extends base.txt %}{% block p %}child{% end %}",
        }
    )
    assert loader.load("child.txt").generate() == b"<child>"


def test_include_shares_the_variables_of_the_including_template() -> None:
    loader = DictLoader(
        {"main.txt": "{% set y = 2 %}{% include 'sub.txt' %}!", "sub.txt": "{{ x }}{{ y }}"}
    )
    assert loader.load("main.txt").generate(x=1) == b"12!"


def test_each_file_keeps_its_own_autoescape_through_include_and_extends() -> None:
    loader = DictLoader(
        {
            "raw.txt": "{% autoescape None %}{{ v }}",
            "main.txt": "{{ v }}{% include raw.txt %}",
            "base.txt": "{% autoescape None %}{% block b %}{{ v }}{% end %}",
            "child.txt": "{% extends base.txt %}{% block b %}{{ v }}{% end %}",
        }
    )
    assert loader.load("main.txt").generate(v="<") == b"&lt;<"
    assert loader.load("child.txt").generate(v="<") == b"&lt;"


def test_module_calls_the_tt_modules_namespace_unescaped() -> None:
    class Modules:
        @staticmethod
        def Box(text: str) -> str:
            return f"<box>{text}</box>"

    assert render("{% module Box('<x>') %}", _tt_modules=Modules()) == b"<box><x></box>"


# ---------- whitespace ----------


def test_filter_whitespace_modes() -> None:
    text = "  a \t b\n\n  c  "
    assert filter_whitespace("all", text) == text
    assert filter_whitespace("single", text) == " a b\nc "
    assert filter_whitespace("oneline", text) == " a b c "
    with pytest.raises(ValueError, match="invalid whitespace mode"):
        filter_whitespace("none", text)


def test_whitespace_default_depends_on_the_file_name() -> None:
    assert Template("a  \n\n b", name="x.html").generate() == b"a\nb"
    assert Template("a  \n\n b", name="x.js").generate() == b"a\nb"
    assert Template("a  \n\n b", name="x.txt").generate() == b"a  \n\n b"


def test_whitespace_directive_and_pre() -> None:
    source = "{% whitespace oneline %}a \n b{% whitespace all %} c \n d<pre>\n  e</pre>"
    assert Template(source, name="x.html").generate() == b"a b c \n d<pre>\n  e</pre>"
    assert Template("<pre>  x\n\n  </pre>", name="x.html").generate() == b"<pre>  x\n\n  </pre>"


def test_compress_whitespace_is_the_old_spelling_of_single() -> None:
    assert Template("a  \n\n b", compress_whitespace=True).generate() == b"a\nb"
    assert Template("a  \n\n b", name="x.html", compress_whitespace=False).generate() == (
        b"a  \n\n b"
    )
    with pytest.raises(ValueError, match="both"):
        Template("x", compress_whitespace=True, whitespace="all")


def test_tags_may_span_lines() -> None:
    source = "{% for i in items\n  %}{% if i > 0 %}, {% end %}{#\n  #}{{i\n  }}{% end\n%}"
    assert Template(source).generate(items=range(3)) == b"0, 1, 2"


def test_code_attribute_is_the_generated_python() -> None:
    template = Template("{{ x }}", name="t.html")
    assert "def _tt_execute():" in template.code
    assert "# t.html:1" in template.code
    assert html  # stdlib module used above for the escape comparison
