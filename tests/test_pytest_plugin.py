"""Tests for squall.pytest_plugin: generated test files run by pytest in a fresh interpreter."""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

PLUGIN = "squall.pytest_plugin"


def plugin_args() -> list[str]:
    """``-p squall.pytest_plugin`` unless an installed ``pytest11`` entry point loads it already."""
    installed = importlib.metadata.entry_points(group="pytest11")
    return [] if any(ep.value == PLUGIN for ep in installed) else ["-p", PLUGIN]


def run_pytest(tmp_path: Path, source: str, loop: str = "auto") -> subprocess.CompletedProcess[str]:
    """Run pytest with the plugin on ``source`` in a child process (warnings are errors)."""
    (tmp_path / "test_generated.py").write_text(textwrap.dedent(source))
    command = [sys.executable, "-m", "pytest", *plugin_args(), "-p", "no:cacheprovider"]
    command += ["-W", "error", "-q", "test_generated.py"]
    env = {**os.environ, "SQUALL_LOOP": loop}
    return subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )


APP = """
    import asyncio

    import pytest

    from squall.web import Application, RequestHandler


    class Hello(RequestHandler):
        def get(self):
            self.write("Hello")


    class Echo(RequestHandler):
        def post(self):
            self.write(self.request.body)


    @pytest.fixture
    def app():
        return Application([("/", Hello), ("/echo", Echo)])
"""


def test_fixtures_serve_and_fetch_from_a_live_server(tmp_path: Path) -> None:
    result = run_pytest(
        tmp_path,
        APP
        + """
    def test_sync_fetch(squall_client):
        response = squall_client.fetch("/")
        assert response.code == 200
        assert response.body == b"Hello"
        assert squall_client.fetch("/missing").code == 404

    def test_async_fetch(squall_loop, squall_client):
        response = squall_loop.run_until_complete(
            squall_client.async_fetch("/echo", method="POST", body="hi")
        )
        assert response.body == b"hi"

    def test_server_url_and_port(squall_server, squall_client):
        assert squall_server.url("/x") == f"http://127.0.0.1:{squall_server.port}/x"
        assert squall_client.fetch(squall_server.url("/")).body == b"Hello"

    def test_loop_is_current_and_runs_coroutines(squall_loop):
        from squall.ioloop import IOLoop

        assert IOLoop.current() is squall_loop.io_loop

        async def answer():
            await asyncio.sleep(0)
            return 42

        assert squall_loop.run_until_complete(answer()) == 42
    """,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 passed" in result.stdout


def test_failures_inside_the_fixtures_tests_are_reported(tmp_path: Path) -> None:
    result = run_pytest(
        tmp_path,
        APP
        + """
    def test_wrong_body(squall_client):
        assert squall_client.fetch("/").body == b"Goodbye"

    def test_raise_error(squall_client):
        from squall.httpclient import HTTPClientError

        with pytest.raises(HTTPClientError):
            squall_client.fetch("/missing", raise_error=True)
    """,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 failed, 1 passed" in result.stdout


def test_run_until_complete_times_out(tmp_path: Path) -> None:
    result = run_pytest(
        tmp_path,
        """
    import asyncio

    import pytest

    def test_timeout(squall_loop):
        with pytest.raises(TimeoutError):
            squall_loop.run_until_complete(asyncio.sleep(5), timeout=0.05)
    """,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_missing_app_fixture_gives_a_clear_error(tmp_path: Path) -> None:
    result = run_pytest(
        tmp_path,
        """
    def test_needs_app(squall_client):
        pass
    """,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "needs an `app` fixture" in result.stdout


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_fixtures_leave_no_warnings_on_either_loop(tmp_path: Path, loop: str) -> None:
    pytest.importorskip(loop)
    result = run_pytest(
        tmp_path,
        APP
        + f"""
    import gc

    def test_first(squall_client):
        from squall import _loop

        assert squall_client.fetch("/").code == 200
        assert _loop.loop_name(squall_client.loop.asyncio_loop) == "{loop}"

    def test_second(squall_client):
        assert squall_client.fetch("/echo", method="POST", body="x").body == b"x"
        gc.collect()
    """,
        loop=loop,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "warning" not in result.stdout.lower(), result.stdout


def test_a_task_failing_as_it_is_cancelled_errors_the_test(tmp_path: Path) -> None:
    result = run_pytest(
        tmp_path,
        """
    import asyncio

    def test_leaves_a_task(squall_loop):
        async def refuses():
            try:
                await asyncio.sleep(100)
            except asyncio.CancelledError:
                raise LookupError("cleanup went wrong") from None

        async def start():
            asyncio.ensure_future(refuses())
            await asyncio.sleep(0)

        squall_loop.run_until_complete(start())
    """,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 passed, 1 error" in result.stdout
    assert "LookupError: cleanup went wrong" in result.stdout
