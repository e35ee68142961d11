"""The ``tornado`` alias: ``import tornado.X`` gives ``squall.X`` itself.

The in-process tests install the alias and remove it again (``alias`` fixture), so the rest of
the suite sees no ``tornado``. What must start from a fresh interpreter (an installed Tornado on
``sys.path``, ``python -m squall.tornado``) runs in a child process.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import os
import subprocess
import sys
import textwrap
import types
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import pytest

import squall
from squall.compat import (
    ENV_VAR,
    TORNADO_VERSION,
    TORNADO_VERSION_INFO,
    install_tornado_alias,
    tornado_alias_installed,
    uninstall_tornado_alias,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def alias(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv(ENV_VAR, raising=False)
    install_tornado_alias()
    try:
        yield
    finally:
        uninstall_tornado_alias()


def run_python(
    *args: str,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    stdin: str | None = None,
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k != ENV_VAR}
    base["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd or ROOT,
        env={**base, **(env or {})},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


# -- one module object under both names ----------------------------------------------------------


def test_tornado_modules_are_the_squall_modules_themselves(alias: None) -> None:
    import tornado.httputil
    import tornado.ioloop
    import tornado.platform.asyncio
    import tornado.web

    import squall.httputil
    import squall.ioloop
    import squall.platform.asyncio
    import squall.web

    assert tornado.web is squall.web
    assert tornado.ioloop is squall.ioloop and tornado.httputil is squall.httputil
    assert tornado.platform.asyncio is squall.platform.asyncio
    assert sys.modules["tornado.web"] is sys.modules["squall.web"]
    # The module keeps its own name and spec: it was imported once, as squall.web.
    assert tornado.web.__name__ == "squall.web"
    assert tornado.web.__spec__ is not None and tornado.web.__spec__.name == "squall.web"


def test_classes_are_identical_across_both_names(alias: None) -> None:
    from tornado.httputil import HTTPHeaders as TornadoHeaders
    from tornado.web import Application, RequestHandler

    import squall.web
    from squall.httputil import HTTPHeaders

    assert RequestHandler is squall.web.RequestHandler
    assert TornadoHeaders is HTTPHeaders
    assert isinstance(HTTPHeaders(), TornadoHeaders)

    class Handler(RequestHandler):
        pass

    assert issubclass(Handler, squall.web.RequestHandler)
    assert isinstance(Application([("/", Handler)]), squall.web.Application)


def test_mock_patch_through_the_tornado_name_patches_the_squall_module(alias: None) -> None:
    import squall.escape
    import squall.log
    import squall.web

    with mock.patch("tornado.web.app_log") as patched:
        assert squall.web.app_log is patched
    assert squall.web.app_log is squall.log.app_log
    # Patching an attribute of the shared logger object reaches every user of it.
    with mock.patch("tornado.web.app_log.error") as error:
        squall.log.app_log.error("from squall's own code")
    error.assert_called_once_with("from squall's own code")
    with mock.patch("tornado.escape.json_encode", return_value="patched"):
        assert squall.escape.json_encode({}) == "patched"


def test_monkeypatching_through_either_name_is_seen_through_the_other(
    alias: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tornado.escape

    import squall.escape

    monkeypatch.setattr(squall.escape, "squall_probe", 1, raising=False)
    assert tornado.escape.squall_probe == 1  # type: ignore[attr-defined]
    monkeypatch.setattr(tornado.escape, "squall_probe", 2, raising=False)
    assert squall.escape.squall_probe == 2  # type: ignore[attr-defined]


def test_submodules_are_reachable_as_attributes_after_import_tornado(alias: None) -> None:
    import tornado

    import squall.locks
    import squall.template

    # Tornado 6.3+ imports a submodule on first attribute access.
    assert tornado.locks is squall.locks
    assert tornado.template is squall.template
    assert "web" in tornado.__all__ and "curl_httpclient" not in tornado.__all__
    with pytest.raises(AttributeError, match="squall has no squall.curl_httpclient"):
        _ = tornado.curl_httpclient


def test_tornado_itself_is_a_package_of_its_own_with_an_empty_path(alias: None) -> None:
    import tornado

    assert tornado is not squall
    assert tornado.__name__ == "tornado" and list(tornado.__path__) == []


def test_a_module_squall_lacks_raises_import_error_naming_it(alias: None) -> None:
    with pytest.raises(ImportError, match=r"squall has no module squall\.curl_httpclient"):
        importlib.import_module("tornado.curl_httpclient")
    with pytest.raises(ModuleNotFoundError) as info:
        importlib.import_module("tornado.platform.twisted")
    assert info.value.name == "tornado.platform.twisted"
    assert "squall.platform.twisted" in str(info.value)


def test_a_name_squall_lacks_raises_import_error_naming_the_squall_module(alias: None) -> None:
    with pytest.raises(ImportError, match=r"cannot import name 'NoSuchName' from 'squall\.web'"):
        exec("from tornado.web import NoSuchName", {})


def test_private_squall_modules_are_not_exposed(alias: None) -> None:
    with pytest.raises(ImportError, match=r"squall\._web is private to squall"):
        importlib.import_module("tornado._web")
    locale_data = importlib.import_module("tornado._locale_data")
    assert "en_US" in locale_data.LOCALE_NAMES


def test_python_m_tornado_module_runs_the_squall_module() -> None:
    result = run_python("-m", "squall.tornado", "-m", "tornado.httpclient", "--help")
    assert result.returncode == 0, result.stderr
    assert "python -m squall.httpclient" in result.stdout


# -- identity as Tornado -------------------------------------------------------------------------


def test_version_is_the_tornado_api_level_and_squall_keeps_its_own(alias: None) -> None:
    import tornado

    assert tornado.version == TORNADO_VERSION == "6.5.10"
    assert tornado.version_info == TORNADO_VERSION_INFO == (6, 5, 10, 0)
    assert squall.version == "0.1.0" and squall.version_info == (0, 1, 0, 0)
    # Third-party version gates pass (a notebook server asserts >= 6.1, a dashboard >= 5.0).
    assert tornado.version_info >= (6, 1, 0)
    assert tuple(int(p) for p in tornado.version.split(".")) == TORNADO_VERSION_INFO[:3]


def test_the_api_level_is_backed_by_the_names_those_releases_added() -> None:
    # Each Tornado release up to the claimed one added these (release notes); squall must have
    # them all before claiming it.
    import squall.httputil
    import squall.web

    assert squall.web.HTTPError(404, "gone %s", "away").get_message() == "gone away"  # 6.5.0
    assert hasattr(squall.httputil, "ParseMultipartConfig")  # 6.5.5
    assert hasattr(squall.httputil, "ParseBodyConfig")  # 6.5.8
    assert hasattr(squall.httputil, "set_parse_body_config")  # 6.5.8
    # 6.5.9: StaticFileHandler confines symlinks to allowed_symlink_directory; 6.5.10: that may
    # be a list of folders. (6.5.9's client and stream limits are behaviour, tested where they
    # live: tests/test_httpclient.py, tests/test_http1connection.py, tests/streams/.)
    parameter = inspect.signature(squall.web.StaticFileHandler.initialize).parameters[
        "allowed_symlink_directory"
    ]
    assert parameter.default is None
    assert "list[str]" in str(parameter.annotation)
    assert TORNADO_VERSION_INFO[:3] == (6, 5, 10)


# -- loggers -------------------------------------------------------------------------------------


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_tornado_logger_names_give_squall_loggers(alias: None) -> None:
    from squall.log import access_log, app_log, gen_log

    assert logging.getLogger("tornado.access") is access_log
    assert logging.getLogger("tornado.application") is app_log
    assert logging.getLogger("tornado.general") is gen_log
    import tornado.log

    assert tornado.log.app_log is app_log


def test_configuring_the_tornado_logger_configures_what_squall_logs(alias: None) -> None:
    from squall.log import app_log

    tornado_logger = logging.getLogger("tornado")
    collect = Collect()
    tornado_logger.addHandler(collect)
    old_level, old_propagate = tornado_logger.level, tornado_logger.propagate
    tornado_logger.setLevel(logging.ERROR)
    tornado_logger.propagate = False
    try:
        app_log.warning("below the tornado logger's level")
        app_log.error("squall failed: %s", "why")
    finally:
        tornado_logger.removeHandler(collect)
        tornado_logger.setLevel(old_level)
        tornado_logger.propagate = old_propagate
    assert [r.getMessage() for r in collect.records] == ["squall failed: why"]
    assert collect.records[0].name == "squall.application"  # records keep squall's names


def test_expect_log_on_a_tornado_logger_name_swallows_squall_records(alias: None) -> None:
    from tornado.testing import ExpectLog

    from squall.log import gen_log

    with ExpectLog("tornado.general", "expected line") as expected:
        gen_log.warning("expected line")
    assert expected.matched


def test_a_tornado_logger_configured_before_the_alias_hands_its_handlers_over(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)
    early = logging.getLogger("tornado.access")  # e.g. dictConfig ran first
    child = logging.getLogger("tornado.access.detail")
    collect = Collect()
    early.addHandler(collect)
    try:
        install_tornado_alias()
        from squall.log import access_log

        assert logging.getLogger("tornado.access") is access_log
        assert child.parent is access_log
        access_log.warning("200 GET /")
        assert [r.getMessage() for r in collect.records] == ["200 GET /"]
    finally:
        uninstall_tornado_alias()
        early.removeHandler(collect)
        from squall.log import access_log

        access_log.removeHandler(collect)
        logging.Logger.manager.loggerDict.pop("tornado.access.detail", None)


def test_uninstall_gives_the_tornado_names_back(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)
    from squall.log import app_log

    install_tornado_alias()
    install_tornado_alias()  # a second call does nothing
    assert tornado_alias_installed() and os.environ[ENV_VAR] == "1"
    uninstall_tornado_alias()
    assert not tornado_alias_installed() and ENV_VAR not in os.environ
    assert "tornado" not in sys.modules and "tornado.web" not in sys.modules
    assert logging.getLogger("tornado.application") is not app_log
    assert logging.getLogger("squall").parent is logging.getLogger()
    logging.Logger.manager.loggerDict.pop("tornado.application", None)


# -- refusal, and an installed Tornado -----------------------------------------------------------


def test_refuses_when_real_tornado_is_already_imported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)
    real = types.ModuleType("tornado")
    real.__file__ = "/site-packages/tornado/__init__.py"
    monkeypatch.setitem(sys.modules, "tornado", real)
    with pytest.raises(RuntimeError, match=r"Tornado is already imported .*/tornado/__init__\.py"):
        install_tornado_alias()
    assert not tornado_alias_installed()
    assert ENV_VAR not in os.environ  # children are not told to use an alias that is not there


def write_fake_tornado(where: Path) -> None:
    package = where / "tornado"
    package.mkdir()
    (package / "__init__.py").write_text("version = 'real'\nraise SystemExit('real tornado ran')\n")
    (package / "web.py").write_text("raise SystemExit('real tornado.web ran')\n")
    (package / "curl_httpclient.py").write_text("raise SystemExit('real curl client ran')\n")


def test_an_installed_tornado_is_never_imported(tmp_path: Path) -> None:
    write_fake_tornado(tmp_path)
    script = """
        import sys
        sys.path.insert(0, sys.argv[1])
        from squall.compat import install_tornado_alias
        install_tornado_alias()
        import tornado, tornado.web, squall.web
        assert tornado.version == "6.5.10" and tornado.web is squall.web
        try:
            import tornado.curl_httpclient
        except ImportError as exc:
            print("missing:", exc.name)
        print("ok")
    """
    result = run_python("-c", textwrap.dedent(script), str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:2] == ["missing: tornado.curl_httpclient", "ok"]


def test_python_m_squall_tornado_refuses_after_real_tornado_was_imported(tmp_path: Path) -> None:
    package = tmp_path / "tornado"
    package.mkdir()
    (package / "__init__.py").write_text("version = '6.4'\n")
    sitecustomize = tmp_path / "sitecustomize.py"
    sitecustomize.write_text("import tornado\n")  # something imported Tornado at startup
    result = run_python(
        "-m", "squall.tornado", "-c", "print('ran')", env={"PYTHONPATH": f"{tmp_path}:{ROOT}"}
    )
    assert result.returncode == 1
    assert "ran" not in result.stdout
    assert "Tornado is already imported" in result.stderr
    assert "python -m squall.tornado" in result.stderr


# -- python -m squall.tornado --------------------------------------------------------------------

PROBE = """\
import os, sys, tornado, tornado.web, squall.web
print(repr(sys.argv))
print(tornado.version, tornado.web is squall.web, os.environ.get("SQUALL_TORNADO_ALIAS"))
print(__name__)
"""


def test_a_script_runs_with_its_arguments_and_its_directory_on_sys_path(tmp_path: Path) -> None:
    (tmp_path / "helper_mod.py").write_text("VALUE = 'beside the script'\n")
    script = tmp_path / "app.py"
    script.write_text(PROBE + "import helper_mod; print(helper_mod.VALUE)\n")
    result = run_python("-m", "squall.tornado", str(script), "--port=8000", "x")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        repr([str(script), "--port=8000", "x"]),
        "6.5.10 True 1",
        "__main__",
        "beside the script",
    ]


def test_a_module_runs_as_main_with_its_file_as_argv0(tmp_path: Path) -> None:
    (tmp_path / "probe_mod.py").write_text(PROBE)
    result = run_python("-m", "squall.tornado", "-m", "probe_mod", "a", "b", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        repr([str(tmp_path / "probe_mod.py"), "a", "b"]),
        "6.5.10 True 1",
        "__main__",
    ]
    joined = run_python("-m", "squall.tornado", "-mprobe_mod", cwd=tmp_path)
    assert joined.returncode == 0 and joined.stdout.startswith(
        repr([str(tmp_path / "probe_mod.py")])
    )


def test_a_command_and_standard_input_run_as_python_runs_them() -> None:
    result = run_python("-m", "squall.tornado", "-c", PROBE, "arg")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["['-c', 'arg']", "6.5.10 True 1", "__main__"]
    piped = run_python("-m", "squall.tornado", "-", "x", stdin=PROBE)
    assert piped.returncode == 0, piped.stderr
    assert piped.stdout.splitlines() == ["['-', 'x']", "6.5.10 True 1", "__main__"]


def test_the_program_exit_status_and_exceptions_come_through(tmp_path: Path) -> None:
    assert run_python("-m", "squall.tornado", "-c", "raise SystemExit(7)").returncode == 7
    failed = run_python("-m", "squall.tornado", "-c", "import tornado.curl_httpclient")
    assert failed.returncode == 1
    assert "squall has no module squall.curl_httpclient" in failed.stderr


def test_usage_errors_exit_2_with_a_message() -> None:
    nothing = run_python("-m", "squall.tornado")
    assert nothing.returncode == 2 and "nothing to run" in nothing.stderr
    assert "usage: python -m squall.tornado" in nothing.stderr
    unknown = run_python("-m", "squall.tornado", "-X", "app.py")
    assert unknown.returncode == 2 and "unknown option '-X'" in unknown.stderr
    missing = run_python("-m", "squall.tornado", "no/such/app.py")
    assert missing.returncode == 2 and "can't open file 'no/such/app.py'" in missing.stderr
    no_module = run_python("-m", "squall.tornado", "-m")
    assert no_module.returncode == 2 and "argument -m: expected a value" in no_module.stderr
    helped = run_python("-m", "squall.tornado", "--help")
    assert helped.returncode == 0 and helped.stdout.startswith("usage: python -m squall.tornado")


def test_pytest_runs_a_tornado_test_suite_through_the_alias(tmp_path: Path) -> None:
    (tmp_path / "test_app.py").write_text(
        textwrap.dedent(
            """
            import squall.web
            from tornado.testing import AsyncHTTPTestCase, gen_test
            from tornado.web import Application, RequestHandler

            class Hello(RequestHandler):
                def get(self):
                    self.write("hello from " + type(self).__mro__[1].__module__)

            class HelloTest(AsyncHTTPTestCase):
                def get_app(self):
                    return Application([("/", Hello)])

                def test_hello(self):
                    assert self.fetch("/").body == b"hello from squall._web.handler"

                @gen_test
                async def test_hello_async(self):
                    response = await self.http_client.fetch(self.get_url("/"))
                    assert response.code == 200

            def test_identity():
                import tornado.web
                assert tornado.web is squall.web
            """
        )
    )
    result = run_python(
        "-m", "squall.tornado", "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_app.py",
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 passed" in result.stdout
