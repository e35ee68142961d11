"""Tests for squall.util."""

from __future__ import annotations

import asyncio
import datetime
import errno
import gzip
import re
import sys
import zlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import squall
from squall import escape, util


def test_aliases() -> None:
    assert util.TimeoutError is TimeoutError is asyncio.TimeoutError
    assert util.TimeoutError is squall.gen.TimeoutError
    assert util.unicode_type is str and util.basestring_type is str


# ---- ObjectDict --------------------------------------------------------------------------------


def test_object_dict_reads_and_writes_keys_as_attributes() -> None:
    d = util.ObjectDict(a=1)
    assert d.a == 1
    d.b = 2
    assert d["b"] == 2
    del d.a
    assert "a" not in d
    with pytest.raises(AttributeError):
        _ = d.missing
    with pytest.raises(AttributeError):
        del d.missing
    assert getattr(d, "missing", "default") == "default"
    with pytest.raises(KeyError):
        _ = d["missing"]


# ---- GzipDecompressor --------------------------------------------------------------------------


def drive(data: bytes, read_size: int, max_length: int) -> bytes:
    decompressor = util.GzipDecompressor()
    out = bytearray()
    for i in range(0, len(data), read_size):
        chunk = data[i : i + read_size]
        while chunk:
            piece = decompressor.decompress(chunk, max_length)
            assert len(piece) <= max_length
            tail = decompressor.unconsumed_tail
            assert piece or len(tail) < len(chunk)
            chunk = tail
            out += piece
    out += decompressor.flush()
    return bytes(out)


@settings(max_examples=80, deadline=None)
@given(
    members=st.lists(st.binary(max_size=3000), min_size=1, max_size=4),
    read_size=st.integers(1, 5000),
    max_length=st.integers(1, 5000),
)
def test_gzip_decompressor_decodes_any_members_in_any_chunking(
    members: list[bytes], read_size: int, max_length: int
) -> None:
    data = b"".join(gzip.compress(m) for m in members)
    assert drive(data, read_size, max_length) == b"".join(members)


def test_gzip_decompressor_bounds_output_of_a_bomb_and_refuses_flush_with_input_left() -> None:
    bomb = gzip.compress(b"\0" * (8 << 20))
    decompressor = util.GzipDecompressor()
    assert len(decompressor.decompress(bomb, 1024)) == 1024
    assert decompressor.unconsumed_tail
    with pytest.raises(ValueError, match="unconsumed"):
        decompressor.flush()


@pytest.mark.parametrize("trailer", [b"\0", b"junk", b"\x1f\x00"])
def test_gzip_decompressor_rejects_trailing_garbage(trailer: bytes) -> None:
    with pytest.raises(zlib.error):
        drive(gzip.compress(b"hello") + trailer, 1, 100)


def test_gzip_decompressor_rejects_truncated_and_non_gzip_input() -> None:
    with pytest.raises(zlib.error, match="truncated"):
        drive(gzip.compress(b"hello")[:-3], 100, 100)
    with pytest.raises(zlib.error):
        drive(zlib.compress(b"hello"), 100, 100)
    assert util.GzipDecompressor().flush() == b""


def test_gzip_decompressor_without_max_length_warns_and_decodes_all() -> None:
    decompressor = util.GzipDecompressor()
    with pytest.warns(DeprecationWarning, match="max_length"):
        out = decompressor.decompress(gzip.compress(b"a") + gzip.compress(b"b"))
    assert out == b"ab"


# ---- import_object, exec_in, raise_exc_info, errno_from_exception ------------------------------


def test_import_object_finds_modules_attributes_and_submodules() -> None:
    assert util.import_object("squall.escape.utf8") is escape.utf8
    assert util.import_object("squall.escape") is escape
    assert util.import_object("json") is sys.modules["json"]
    assert util.import_object("xml.dom").__name__ == "xml.dom"
    with pytest.raises(ImportError, match="nope"):
        util.import_object("squall.escape.nope")
    with pytest.raises(ImportError):
        util.import_object("no_such_module_anywhere.x")


def test_exec_in_does_not_inherit_future_imports() -> None:
    namespace: dict[str, Any] = {}
    util.exec_in("def f(x: int) -> int: return x\nout = f.__annotations__", namespace)
    assert namespace["out"] == {"x": int, "return": int}
    local: dict[str, Any] = {}
    util.exec_in(compile("y = 2", "<t>", "exec"), {}, local)
    assert local == {"y": 2}


def test_raise_exc_info_raises_the_same_object_with_its_traceback() -> None:
    class TwoArgs(Exception):
        def __init__(self, a: int, b: int) -> None:
            super().__init__()
            self.a, self.b = a, b

    try:
        raise TwoArgs(1, 2)
    except TwoArgs:
        info = sys.exc_info()
    with pytest.raises(TwoArgs) as caught:
        util.raise_exc_info(info)
    assert caught.value is info[1]
    with pytest.raises(TypeError, match="no exception"):
        util.raise_exc_info((None, None, None))


def test_errno_from_exception() -> None:
    assert util.errno_from_exception(OSError(errno.EPIPE, "pipe")) == errno.EPIPE
    assert util.errno_from_exception(Exception(errno.ECONNRESET)) == errno.ECONNRESET
    assert util.errno_from_exception(Exception()) is None


# ---- re_unescape, timedelta_to_seconds ---------------------------------------------------------


@given(st.text())
def test_re_unescape_inverts_re_escape(text: str) -> None:
    assert util.re_unescape(re.escape(text)) == text


@pytest.mark.parametrize("pattern", [r"\d", r"\b", r"\Z", r"a\w"])
def test_re_unescape_rejects_regex_classes(pattern: str) -> None:
    with pytest.raises(ValueError, match="cannot unescape"):
        util.re_unescape(pattern)


def test_timedelta_to_seconds() -> None:
    assert util.timedelta_to_seconds(datetime.timedelta(hours=1, milliseconds=5)) == 3600.005


# ---- Configurable ------------------------------------------------------------------------------


class Base(util.Configurable):
    @classmethod
    def configurable_base(cls) -> type[util.Configurable]:
        return Base

    @classmethod
    def configurable_default(cls) -> type[util.Configurable]:
        return ImplA

    def initialize(self, pos: Any = None, **kwargs: Any) -> None:
        self.pos = pos
        self.kwargs = kwargs


class ImplA(Base):
    pass


class ImplB(Base):
    pass


class Nested(Base):
    @classmethod
    def configurable_base(cls) -> type[util.Configurable]:
        return Nested

    @classmethod
    def configurable_default(cls) -> type[util.Configurable]:
        return NestedA


class NestedA(Nested):
    pass


@pytest.fixture
def restore() -> Any:
    saved = Base._save_configuration(), Nested._save_configuration()
    yield
    Base._restore_configuration(saved[0])
    Nested._restore_configuration(saved[1])


def test_configurable_builds_the_default_then_the_configured_class(restore: None) -> None:
    obj = Base(1, x=2)
    assert type(obj) is ImplA and obj.pos == 1 and obj.kwargs == {"x": 2}
    Base.configure(ImplB, x=3, y=4)
    obj = Base(x=5)
    assert type(obj) is ImplB and obj.kwargs == {"x": 5, "y": 4}
    direct = ImplA()
    assert type(direct) is ImplA and direct.kwargs == {}  # configure()'s kwargs: base only
    Base.configure(f"{__name__}.ImplA")
    assert type(Base()) is ImplA
    Base.configure(None)
    assert type(Base()) is ImplA


def test_configurable_follows_a_nested_family(restore: None) -> None:
    Base.configure(Nested, z=1)
    obj = Base()
    assert type(obj) is NestedA and obj.kwargs == {"z": 1}
    assert type(Nested()) is NestedA


def test_configure_rejects_a_class_outside_the_family(restore: None) -> None:
    with pytest.raises(ValueError, match="Invalid subclass"):
        Base.configure(dict)  # type: ignore[arg-type]


def test_configurable_without_a_base_says_what_to_define() -> None:
    class Incomplete(util.Configurable):
        pass

    with pytest.raises(NotImplementedError, match="configurable_base"):
        Incomplete()


# ---- ArgReplacer -------------------------------------------------------------------------------


def target(x: int, y: int, callback: Any = None, z: Any = None) -> None: ...


def test_arg_replacer_by_position_keyword_and_absent() -> None:
    replacer = util.ArgReplacer(target, "callback")
    assert replacer.arg_pos == 2
    assert replacer.get_old_value((1, 2, "old"), {}) == "old"
    assert replacer.replace("new", (1, 2, "old", 3), {}) == ("old", [1, 2, "new", 3], {})
    assert replacer.replace("new", (1,), {"callback": "old"}) == ("old", (1,), {"callback": "new"})
    assert replacer.get_old_value((1,), {}, default="d") == "d"
    assert replacer.replace("new", (1, 2), {}) == (None, (1, 2), {"callback": "new"})


def test_arg_replacer_keyword_only_argument() -> None:
    def f(a: int, *, callback: Any = None) -> None: ...

    replacer = util.ArgReplacer(f, "callback")
    assert replacer.arg_pos is None
    assert replacer.get_old_value((1,), {"callback": 5}) == 5


def test_gzip_decompressor_warns_without_max_length_even_for_empty_input() -> None:
    with pytest.warns(DeprecationWarning):
        assert util.GzipDecompressor().decompress(b"") == b""


@pytest.mark.parametrize("name", ["locks", "queues", "util", "platform", "wsgi"])
def test_new_modules_are_reachable_as_attributes_of_the_package(name: str) -> None:
    import importlib

    assert getattr(squall, name) is importlib.import_module(f"squall.{name}")
