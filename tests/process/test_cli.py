"""The ``squall`` command: options, environment variables, single-process mode, ``--reload``.

Every server runs for real in a subprocess (see tests/process/apps/harness.py, whose ``squall``
fixture checks that nothing is left behind after each test).
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from squall.cli import build_parser
from tests.process.apps.harness import (
    ROOT,
    SquallFactory,
    get,
    squall,
    squall_env,
    wait_until,
)

__all__ = ["squall"]  # the fixture

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="uses /proc and Linux signals")

OPTIONS = {
    "--host": "SQUALL_HOST",
    "--port": "SQUALL_PORT",
    "--unix-socket": "SQUALL_UNIX_SOCKET",
    "--backlog": "SQUALL_BACKLOG",
    "--workers": "SQUALL_WORKERS",
    "--reuse-port": "SQUALL_REUSE_PORT",
    "--graceful-timeout": "SQUALL_GRACEFUL_TIMEOUT",
    "--worker-timeout": "SQUALL_WORKER_TIMEOUT",
    "--boot-timeout": "SQUALL_BOOT_TIMEOUT",
    "--shutdown-delay": "SQUALL_SHUTDOWN_DELAY",
    "--max-requests": "SQUALL_MAX_REQUESTS",
    "--max-requests-jitter": "SQUALL_MAX_REQUESTS_JITTER",
    "--metrics-bind": "SQUALL_METRICS_BIND",
    "--reload": "SQUALL_RELOAD",
    "--reload-dir": "SQUALL_RELOAD_DIR",
    "--app-dir": "SQUALL_APP_DIR",
    "--tornado-alias": "SQUALL_TORNADO_ALIAS",
    "--xheaders": "SQUALL_XHEADERS",
    "--access-log": "SQUALL_ACCESS_LOG",
    "--log-level": "SQUALL_LOG_LEVEL",
    "--unix-socket-mode": "SQUALL_UNIX_SOCKET_MODE",
    "--unix-socket-group": "SQUALL_UNIX_SOCKET_GROUP",
    "--fd": "SQUALL_FD",
    "--ssl-certfile": "SQUALL_SSL_CERTFILE",
    "--ssl-keyfile": "SQUALL_SSL_KEYFILE",
    "--ssl-keyfile-password": "SQUALL_SSL_KEYFILE_PASSWORD",
    "--ssl-ca-certs": "SQUALL_SSL_CA_CERTS",
    "--ssl-cert-reqs": "SQUALL_SSL_CERT_REQS",
    "--ssl-ciphers": "SQUALL_SSL_CIPHERS",
    "--max-body-size": "SQUALL_MAX_BODY_SIZE",
    "--max-header-size": "SQUALL_MAX_HEADER_SIZE",
    "--keep-alive-timeout": "SQUALL_KEEP_ALIVE_TIMEOUT",
    "--header-timeout": "SQUALL_HEADER_TIMEOUT",
    "--body-timeout": "SQUALL_BODY_TIMEOUT",
    "--limit-concurrency": "SQUALL_LIMIT_CONCURRENCY",
    "--proxy-headers": "SQUALL_PROXY_HEADERS",
    "--forwarded-allow-ips": "SQUALL_FORWARDED_ALLOW_IPS",
    "--root-path": "SQUALL_ROOT_PATH",
    "--proxy-protocol": "SQUALL_PROXY_PROTOCOL",
    "--access-log-format": "SQUALL_ACCESS_LOG_FORMAT",
    "--log-format": "SQUALL_LOG_FORMAT",
    "--log-config": "SQUALL_LOG_CONFIG",
}


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "squall", *args],
        cwd=ROOT,
        env=squall_env(**(env or {})),
        capture_output=True,
        text=True,
        timeout=30,
    )


# -- help, usage errors ----------------------------------------------------------------------


def test_serve_help_explains_every_option_and_its_environment_variable() -> None:
    result = run_cli("serve", "--help")
    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    for flag, env in OPTIONS.items():
        assert flag in text and env in text, flag
    assert "--no-access-log" in text and "SIGHUP" not in text  # signals listed by name: HUP
    assert "HUP rolling restart" in text and "TTIN/TTOU" in text
    commands = next(
        action
        for action in build_parser()._actions
        if isinstance(action, argparse._SubParsersAction)
    )
    serve = commands.choices["serve"]
    parser_flags = {flag for action in serve._actions for flag in action.option_strings}
    documented = set(OPTIONS) | {f"--no-{f[2:]}" for f in OPTIONS} | {"-h", "--help"}
    assert parser_flags <= documented, parser_flags - documented


def test_top_level_help_and_version_work_through_python_dash_m_and_the_script() -> None:
    result = run_cli("--help")
    assert result.returncode == 0 and "serve" in result.stdout
    script = Path(sys.executable).parent / "squall"
    version = subprocess.run(
        [str(script), "--version"], capture_output=True, text=True, timeout=30, cwd=ROOT
    )
    assert version.returncode == 0 and version.stdout.startswith("squall ")
    expected = {"0": "(pure Python)", "1": "(compiled)"}
    build = expected.get(os.environ.get("SQUALL_EXPECT_COMPILED", ""))
    assert build in version.stdout if build else version.stdout.rstrip().endswith(")")
    assert run_cli().returncode == 2  # no command: usage


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["serve", "no_colon_here"], {}, "APP must look like"),
        (["serve", "mod:app", "--reload", "--workers", "0"], {}, "--reload needs the supervisor"),
        (["serve", "mod:app", "--reuse-port", "--unix-socket", "/tmp/x"], {}, "TCP only"),
        (["serve", "mod:app", "--workers", "many"], {}, "'auto'"),
        (["serve", "mod:app"], {"SQUALL_XHEADERS": "maybe"}, "SQUALL_XHEADERS='maybe'"),
        (["serve", "mod:app"], {"SQUALL_PORT": "http"}, "invalid int value: 'http'"),
    ],
)
def test_misuse_exits_2_with_a_message_saying_what_to_do(
    args: list[str], env: dict[str, str], message: str
) -> None:
    result = run_cli(*args, env=env)
    assert result.returncode == 2
    assert message in result.stderr


def test_a_port_in_use_exits_1_with_a_clear_message(squall: SquallFactory) -> None:
    first = squall("--workers", "1")
    first.wait_ready(1)
    result = run_cli("serve", "tests.process.apps.basic:app", "--port", str(first.port))
    assert result.returncode == 1
    assert f"Cannot listen on 127.0.0.1:{first.port}" in result.stderr


# -- options from the environment, app forms -------------------------------------------------


def test_options_come_from_squall_environment_variables(squall: SquallFactory) -> None:
    env = {"SQUALL_WORKERS": "3", "SQUALL_ACCESS_LOG": "off", "SQUALL_GRACEFUL_TIMEOUT": "2"}
    server = squall(env=env, defaults=False)
    server.wait_ready(3)
    assert get(server.port, "/pid").status == 200
    server.send(signal.SIGTERM)
    assert server.wait_exit(5) == 0
    log = server.log()
    assert "starting 3 worker(s)" in log and "at most 2.0 s" in log
    assert "GET /pid" not in log  # no access log


def test_the_command_line_wins_over_the_environment(squall: SquallFactory) -> None:
    server = squall("--workers", "1", env={"SQUALL_WORKERS": "3", "SQUALL_ACCESS_LOG": "0"})
    server.wait_ready(1)
    get(server.port, "/pid")
    assert "starting 1 worker(s)" in server.log()


def test_workers_auto_starts_one_worker_per_usable_cpu(squall: SquallFactory) -> None:
    server = squall("--workers", "auto")
    usable = len(os.sched_getaffinity(0))
    server.wait_ready(usable)
    assert f"starting {usable} worker(s)" in server.log()


@pytest.mark.parametrize("target", ["make_app()", "make_app_async()"])
def test_a_factory_is_called_in_each_worker(squall: SquallFactory, target: str) -> None:
    server = squall("--workers", "2", app=f"tests.process.apps.basic:{target}")
    workers = server.wait_ready(2)
    pids = {int(get(server.port, "/pid").text.split()[0]) for _ in range(20)}
    assert pids <= set(workers) and pids


def test_a_missing_attribute_is_a_boot_failure_with_a_clear_message(
    squall: SquallFactory,
) -> None:
    server = squall("--workers", "2", app="tests.process.apps.basic:nope", wait_listening=False)
    assert server.wait_exit(10) == 3
    assert "'tests.process.apps.basic' has no attribute 'nope'" in server.log()


def test_a_unix_socket_is_served_and_removed_at_exit(squall: SquallFactory, tmp_path: Path) -> None:
    path = tmp_path / "squall.sock"
    server = squall("--workers", "1", "--unix-socket", str(path), wait_listening=False)
    server.wait_log(re.escape(f"Listening on unix:{path}"))
    server.wait_ready(1)
    with socket.socket(socket.AF_UNIX) as sock:
        sock.connect(str(path))
        sock.sendall(b"GET /pid HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := sock.recv(4096):
            data += chunk
    assert data.startswith(b"HTTP/1.1 200 ")
    server.send(signal.SIGTERM)
    assert server.wait_exit(5) == 0
    assert not path.exists()


# -- single-process mode (--workers 0) -------------------------------------------------------


def test_workers_0_serves_in_one_process_and_drains_on_term(squall: SquallFactory) -> None:
    server = squall("--workers", "0")
    wait_until(lambda: _answers(server.port), 5, "serving")
    assert get(server.port, "/pid").text.split()[0] == str(server.pid)  # no master, no fork
    assert server.workers() == []
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(get, server.port, "/sleep?s=1")
        time.sleep(0.2)
        server.send(signal.SIGTERM)
        response = pending.result(5)
    assert response.status == 200 and response.headers["connection"] == "close"
    assert server.wait_exit(5) == 0
    assert "shutdown hook ran" in server.log()


def test_workers_0_second_signal_is_a_quick_exit(squall: SquallFactory) -> None:
    server = squall("--workers", "0")
    wait_until(lambda: _answers(server.port), 5, "serving")
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(_get_or_error, server.port, "/sleep?s=30")
        time.sleep(0.2)
        server.send(signal.SIGINT)
        time.sleep(0.2)
        quick_at = server.send(signal.SIGINT)
        assert server.wait_exit(5) == 0
        assert time.monotonic() - quick_at < 1.5
        assert isinstance(pending.result(5), EOFError | ConnectionError)
    assert "Second SIGINT: quick shutdown requested" in server.log()
    assert "KeyboardInterrupt" not in server.log()


def test_workers_0_exits_3_when_the_app_cannot_import(
    squall: SquallFactory, tmp_path: Path
) -> None:
    control = tmp_path / "version"
    control.write_text("broken")
    server = squall(
        "--workers", "0", env={"SQUALL_TEST_CONTROL": str(control)}, wait_listening=False
    )
    assert server.wait_exit(5) == 3
    assert "RuntimeError: this version of the app is broken on purpose" in server.log()


def _answers(port: int) -> bool:
    try:
        return get(port, "/pid", timeout=1).status == 200
    except OSError:
        return False


def _get_or_error(port: int, path: str) -> object:
    try:
        return get(port, path)
    except (OSError, EOFError) as exc:
        return exc


# -- --reload with several workers (T30) -----------------------------------------------------

APP_SOURCE = """\
from squall import web

VERSION = {version!r}


class VersionHandler(web.RequestHandler):
    def get(self):
        self.write(VERSION)


app = web.Application([(r"/version", VersionHandler)])
"""


@pytest.mark.slow
def test_reload_rolls_out_new_code_to_every_worker_and_survives_a_syntax_error(
    squall: SquallFactory, tmp_path: Path
) -> None:
    module = tmp_path / "reloadable.py"
    module.write_text(APP_SOURCE.format(version="one"))
    server = squall(
        "--workers", "2", "--reload", "--app-dir", str(tmp_path), app="reloadable:app"
    )  # fmt: skip
    first = set(server.wait_ready(2))
    assert get(server.port, "/version").text == "one"

    module.write_text(APP_SOURCE.format(version="two-two"))
    changed_at = time.monotonic()
    wait_until(lambda: get(server.port, "/version").text == "two-two", 3, "the new code")
    assert time.monotonic() - changed_at < 1.5
    server.wait_log("Rolling restart done", 3)
    wait_until(lambda: not set(server.workers()) & first, 3, "the old workers to leave")
    second = set(server.workers())
    assert len(second) == 2

    module.write_text("VERSION = (\n")
    server.wait_log("Reload aborted", 5)
    log = server.log()
    assert "SyntaxError" in log and "reloadable.py" in log
    for _ in range(10):
        assert get(server.port, "/version").text == "two-two"  # the old generation serves on
    # The other replacement of the aborted restart is told to quit; it may take a moment.
    wait_until(lambda: set(server.workers()) == second, 3, "the aborted replacements to leave")
    assert server.running()

    module.write_text(APP_SOURCE.format(version="three"))
    wait_until(lambda: get(server.port, "/version").text == "three", 3, "a fixed version")


def _raw_callback(request: object) -> None:
    """A plain request callback (takes the request)."""


def test_load_app_calls_a_zero_argument_function_as_a_factory() -> None:
    import asyncio

    from squall import web
    from squall.cli import load_app

    app = asyncio.run(load_app("examples.hello:make_app"))
    assert isinstance(app, web.Application)
    assert asyncio.run(load_app("examples.hello:make_app()")).__class__ is web.Application
    # A function that takes the request is a request callback, not a factory.
    assert asyncio.run(load_app("tests.process.test_cli:_raw_callback")) is _raw_callback
