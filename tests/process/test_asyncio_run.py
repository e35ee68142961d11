"""The Tornado 6 idiom, ``asyncio.run(main())`` with ``app.listen()``: on uvloop when installed
(``SQUALL_LOOP=asyncio`` opts out), and ``fork_processes`` + ``asyncio.run(post_fork_main())``
drains and exits 0 on SIGTERM; over real processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.conftest import unused_tcp_port
from tests.process.apps.harness import ROOT, get, squall_env, wait_until

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="uses Linux signals")

SINGLE = textwrap.dedent(
    """\
    import asyncio, sys
    from squall._loop import loop_name
    from squall.web import Application, RequestHandler

    class LoopHandler(RequestHandler):
        def get(self):
            self.write(loop_name(asyncio.get_running_loop()))

    async def main():
        app = Application([(r"/loop", LoopHandler)])
        app.listen(int(sys.argv[1]), "127.0.0.1")
        await asyncio.Event().wait()

    asyncio.run(main())
    """
)

FORKED = textwrap.dedent(
    """\
    import asyncio, os, sys
    from squall import netutil, process
    from squall.httpserver import HTTPServer
    from squall.web import Application, RequestHandler

    class SlowHandler(RequestHandler):
        async def get(self):
            open(os.path.join(os.environ["MARKER_DIR"], "slow"), "w").close()
            await asyncio.sleep(1.0)
            self.write(f"slow {os.getpid()}")

    class PidHandler(RequestHandler):
        def get(self):
            self.write(str(os.getpid()))

    async def post_fork_main(sockets):
        server = HTTPServer(Application([(r"/slow", SlowHandler), (r"/pid", PidHandler)]))
        server.add_sockets(sockets)
        await asyncio.Event().wait()

    sockets = netutil.bind_sockets(int(sys.argv[1]), "127.0.0.1")
    process.fork_processes(2)
    asyncio.run(post_fork_main(sockets))
    """
)


def start(source: str, port: int, tmp_path: Path, **env: str) -> subprocess.Popen[str]:
    script = tmp_path / "program.py"
    script.write_text(source)
    return subprocess.Popen(
        [sys.executable, str(script), str(port)],
        cwd=ROOT,
        env=squall_env(PYTHONPATH=str(ROOT), **env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def answers(port: int, path: str) -> str | None:
    try:
        return get(port, path, timeout=2).text
    except OSError:
        return None


def finish(proc: subprocess.Popen[str], terminate: bool = True) -> tuple[int, str]:
    if terminate and proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        out, _ = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    return proc.returncode, out


@pytest.mark.parametrize(("env", "loop"), [({}, "uvloop"), ({"SQUALL_LOOP": "asyncio"}, "asyncio")])
def test_asyncio_run_with_app_listen_runs_on_the_selected_loop(
    tmp_path: Path, env: dict[str, str], loop: str
) -> None:
    pytest.importorskip("uvloop")
    port = unused_tcp_port()
    proc = start(SINGLE, port, tmp_path, **env)
    try:
        found = wait_until(lambda: answers(port, "/loop"), 10, "the server")
        assert found == loop
    finally:
        code, out = finish(proc)
    assert "Traceback" not in out or code != 0, out


def test_fork_processes_with_asyncio_run_drains_and_exits_0_on_sigterm(tmp_path: Path) -> None:
    port = unused_tcp_port()
    proc = start(FORKED, port, tmp_path, MARKER_DIR=str(tmp_path))
    try:
        wait_until(lambda: answers(port, "/pid"), 10, "the children")
        with ThreadPoolExecutor(1) as pool:
            slow = pool.submit(get, port, "/slow", 10)
            wait_until((tmp_path / "slow").exists, 5, "the request in a child")
            proc.send_signal(signal.SIGTERM)
            response = slow.result(10)
        assert response.status == 200 and response.text.startswith("slow ")
        code, out = finish(proc, terminate=False)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert code == 0, out
    assert "Event loop stopped before Future completed" not in out
    assert "Traceback" not in out, out
