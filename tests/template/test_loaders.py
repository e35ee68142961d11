"""Loader and DictLoader: names, relative paths, the compiled-template cache, threads."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from squall.template import BaseLoader, DictLoader, Loader, Template


def test_loader_reads_utf8_files_under_its_root(tmp_path: Path) -> None:
    (tmp_path / "pages").mkdir()
    (tmp_path / "pages" / "a.html").write_text("Héllo {{ name }}", encoding="utf-8")
    loader = Loader(str(tmp_path))
    assert loader.load("pages/a.html").generate(name="ñ") == "Héllo ñ".encode()


def test_loader_resolves_include_and_extends_relative_to_the_including_file(
    tmp_path: Path,
) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "base.txt").write_text("[{% block x %}{% end %}]")
    (tmp_path / "a" / "page.txt").write_text(
        "{% extends '../base.txt' %}{% block x %}{% include 'part.txt' %}{% end %}"
    )
    (tmp_path / "a" / "part.txt").write_text("{% include '../b/leaf.txt' %}")
    (tmp_path / "b" / "leaf.txt").write_text("leaf")
    loader = Loader(str(tmp_path))
    assert loader.load("a/page.txt").generate() == b"[leaf]"
    assert set(loader.templates) == {"a/page.txt", "base.txt", "a/part.txt", "b/leaf.txt"}


def test_loader_missing_file_raises_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        Loader(str(tmp_path)).load("missing.html")


def test_dict_loader_relative_paths_and_missing_names() -> None:
    loader = DictLoader({"a/1.html": "{% include '2.html' %}", "a/2.html": "ok"})
    assert loader.load("a/1.html").generate() == b"ok"
    with pytest.raises(KeyError):
        loader.load("nope.html")


def test_non_ascii_template_names() -> None:
    assert DictLoader({"tést.html": "hi"}).load("tést.html").generate() == b"hi"


def test_templates_are_compiled_once_and_cached_until_reset() -> None:
    source = {"t.html": "v1"}
    loader = DictLoader(source)
    first = loader.load("t.html")
    source["t.html"] = "v2"
    assert loader.load("t.html") is first
    loader.reset()
    assert loader.load("t.html").generate() == b"v2"


def test_loader_whitespace_and_namespace_apply_to_its_templates() -> None:
    loader = DictLoader({"t.html": "  {{ f() }}  \n\n"}, whitespace="all", namespace={"f": int})
    assert loader.load("t.html").generate() == b"  0  \n\n"
    with pytest.raises(ValueError, match="whitespace"):
        DictLoader({}, whitespace="tight")


def test_base_loader_needs_a_subclass() -> None:
    with pytest.raises(NotImplementedError):
        BaseLoader().load("x")


class CountingLoader(DictLoader):
    def __init__(self, templates: dict[str, str]) -> None:
        super().__init__(templates)
        self.created: list[str] = []
        self.gate = threading.Barrier(8)

    def _create_template(self, name: str) -> Template:
        self.created.append(name)
        return super()._create_template(name)


def test_concurrent_loads_compile_each_template_once() -> None:
    loader = CountingLoader(
        {"page.html": "{% include 'part.html' %}{{ x }}", "part.html": "<{{ x }}>"}
    )

    def load_and_render(x: int) -> bytes:
        loader.gate.wait(timeout=10)
        return loader.load("page.html").generate(x=x)

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(load_and_render, range(8)))
    assert results == [f"<{x}>{x}".encode() for x in range(8)]
    assert sorted(loader.created) == ["page.html", "part.html"]


def test_one_template_renders_in_many_threads_at_once() -> None:
    template = Template("{% for i in range(n) %}{{ i }},{% end %}")
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda n: template.generate(n=n), range(50)))
    assert results == ["".join(f"{i}," for i in range(n)).encode() for n in range(50)]


def test_changes_to_the_loader_namespace_reach_loaded_templates() -> None:
    loader = DictLoader({"t.txt": "{{ greeting }}"}, namespace={"greeting": "hi"})
    template = loader.load("t.txt")
    loader.namespace["greeting"] = "hello"
    assert template.generate() == b"hello"
