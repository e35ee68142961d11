"""The optional compiled build of the request path: which build runs, staleness, fallback.

CI runs the whole suite twice, pure Python and compiled (``scripts/build-ext``), and sets
``SQUALL_EXPECT_COMPILED`` so that a build which silently fell back is a failure.
"""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import squall._http1 as http1
from squall._compiled import MODULES, stale_sources

ROOT = Path(__file__).resolve().parents[2]


def test_the_build_ci_asked_for_is_the_one_running() -> None:
    expected = os.environ.get("SQUALL_EXPECT_COMPILED")
    if expected is None:
        pytest.skip("SQUALL_EXPECT_COMPILED is not set (CI sets it)")
    assert http1.COMPILED is (expected == "1")


def test_all_compiled_modules_come_from_the_same_build() -> None:
    names = [path.removesuffix(".py").replace("/", ".") for path in MODULES]
    # Each is imported here: which of them earlier tests loaded depends on the test order.
    loaded = {
        name: not str(importlib.import_module(name).__file__).endswith(".py") for name in names
    }
    assert set(loaded.values()) == {http1.COMPILED}, loaded


def test_the_module_list_covers_the_protocol_layer_and_the_web_hot_path() -> None:
    protocol = {
        f"squall/_http1/{p.name}"
        for p in (ROOT / "squall" / "_http1").glob("*.py")
        if p.stem not in ("__init__", "errors")
    }
    assert protocol <= set(MODULES)
    assert {"squall/httputil.py", "squall/_web/handler.py", "squall/_web/application.py"} <= set(
        MODULES
    )
    assert all((ROOT / path).is_file() for path in MODULES)


def test_compiled_classes_keep_python_class_behaviour() -> None:
    """What applications do with these classes works in both builds (squall._compiled)."""
    from squall.httputil import HTTPHeaders, HTTPServerRequest
    from squall.web import Application, RequestHandler

    request = HTTPServerRequest(method="GET", uri="/a?b=1")
    request.current_user_id = 7  # type: ignore[attr-defined]  # the application's own name
    assert request.current_user_id == 7  # type: ignore[attr-defined]
    app = Application()
    app.db = "database"  # type: ignore[attr-defined]
    assert app.db == "database"  # type: ignore[attr-defined]

    class Handler(RequestHandler):
        SUPPORTED_METHODS = ("GET", "PROPFIND")

        def get(self) -> None:
            self.write("x")

    assert Handler.SUPPORTED_METHODS == ("GET", "PROPFIND")
    handler = Handler(app, request)
    handler.anything = 1  # type: ignore[attr-defined]
    assert handler._allowed_methods() == ["GET"]
    headers = HTTPHeaders({"Content-Type": "text/plain"})
    assert headers.copy() == headers and headers.copy() is not headers


def test_exception_and_interface_classes_stay_ordinary_python_classes() -> None:
    """Servers and applications subclass these freely and may set attributes on them."""
    from squall.httputil import (
        HTTPConnection,
        HTTPInputError,
        HTTPMessageDelegate,
        HTTPOutputError,
        HTTPServerConnectionDelegate,
    )

    instances = [
        HTTPInputError("bad", 404),
        HTTPOutputError("bad"),
        HTTPConnection(),
        HTTPMessageDelegate(),
        HTTPServerConnectionDelegate(),
    ]
    for instance in instances:
        instance.note = "the application's own"  # type: ignore[union-attr]
        assert vars(instance)["note"] == "the application's own"
    assert HTTPServerConnectionDelegate.__module__ == "squall._delegates"
    HTTPMessageDelegate.extra = 1  # type: ignore[attr-defined]  # a plain class takes it
    try:
        assert HTTPMessageDelegate().extra == 1  # type: ignore[attr-defined]
    finally:
        del HTTPMessageDelegate.extra  # type: ignore[attr-defined]


def test_exception_classes_stay_ordinary_python_classes() -> None:
    from squall import iostream
    from squall._http1.errors import FramingMismatch
    from squall._http1.flow import StreamClosedError

    assert FramingMismatch.__module__ == "squall._http1.errors"
    # One StreamClosedError in squall: Tornado code catching iostream's catches the server's.
    assert StreamClosedError is iostream.StreamClosedError
    assert StreamClosedError.__module__ == "squall._streams.errors"
    assert issubclass(StreamClosedError, OSError)
    assert str(StreamClosedError()) == "Stream is closed"
    assert StreamClosedError().real_error is None


def _touch(path: Path, mtime: float) -> None:
    path.write_text("")
    os.utime(path, (mtime, mtime))


def test_sources_newer_than_their_compiled_module_are_reported(tmp_path: Path) -> None:
    package = tmp_path / "squall" / "_http1"
    package.mkdir(parents=True)
    (tmp_path / "pyproject.toml").write_text("")
    _touch(package / "protocol.cpython-311-x86_64-linux-gnu.so", 1000)
    _touch(package / "protocol.py", 2000)  # edited after the build
    _touch(package / "wire.cpython-311-x86_64-linux-gnu.so", 2000)
    _touch(package / "wire.py", 1000)
    _touch(tmp_path / "squall" / "httputil.cpython-311-x86_64-linux-gnu.so", 1000)
    _touch(tmp_path / "squall" / "httputil.py", 2000)
    assert stale_sources(tmp_path) == ["squall/_http1/protocol.py", "squall/httputil.py"]


def test_staleness_is_not_checked_outside_a_source_checkout(tmp_path: Path) -> None:
    package = tmp_path / "site-packages" / "squall" / "_http1"
    package.mkdir(parents=True)
    _touch(package / "protocol.cpython-311-x86_64-linux-gnu.so", 1000)
    _touch(package / "protocol.py", 2000)
    assert stale_sources(tmp_path / "site-packages") == []


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs mypyc's C toolchain to run")
def test_a_failing_c_compiler_leaves_a_working_pure_python_install(tmp_path: Path) -> None:
    pytest.importorskip("mypyc")
    for name in ("setup.py", "pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copytree(
        ROOT / "squall", tmp_path / "squall", ignore=shutil.ignore_patterns("*.so", "__pycache__")
    )
    env = {**os.environ, "SQUALL_COMPILE": "1", "CC": "false", "PYTHONWARNINGS": "ignore"}
    build = subprocess.run(
        [sys.executable, "setup.py", "-q", "build_ext", "--inplace"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, build.stderr
    assert "installing the pure-Python version" in build.stderr
    assert not list(tmp_path.glob("squall/**/*.so"))
    check = subprocess.run(
        [sys.executable, "-c", "import squall._http1 as h; print(h.COMPILED)"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert check.stdout.strip() == "False", check.stderr


@pytest.mark.skipif(
    os.environ.get("SQUALL_EXPECT_COMPILED") != "1",
    reason="builds a wheel in an isolated environment (~30 s): CI's compiled pass runs it",
)
@pytest.mark.timeout(900)  # a whole mypyc build: beyond 120 s beside other test workers
def test_a_plain_wheel_build_compiles_the_request_path(tmp_path: Path) -> None:
    """``pip install squall`` builds in an environment with only setuptools and mypy: the
    compilation must not depend on squall's own dependencies being installed."""
    source = tmp_path / "src"
    source.mkdir()
    for name in ("setup.py", "pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(
        ROOT / "squall", source / "squall", ignore=shutil.ignore_patterns("*.so", "__pycache__")
    )
    # A bare virtual environment, as on a fresh machine: its pip builds in isolation.
    subprocess.run([sys.executable, "-m", "venv", str(tmp_path / "venv")], check=True, timeout=120)
    pip = [str(tmp_path / "venv" / "bin" / "python"), "-m", "pip"]
    build = subprocess.run(
        [*pip, "wheel", "--no-deps", "-q", str(source), "-w", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert build.returncode == 0, build.stderr
    assert "pure-Python version" not in build.stderr, build.stderr
    (wheel,) = tmp_path.glob("squall-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    built = {n.split(".")[0] for n in names if n.endswith(".so")}
    assert {path.removesuffix(".py") for path in MODULES} <= built, names
    assert "squall/_http1/errors.py" in names and "squall/_http1/errors" not in built
    assert "squall/_compiled.py" in names and "squall/_compiled" not in built
