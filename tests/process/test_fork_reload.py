"""``debug=True`` with ``start(n)``: the forking parent reloads on a source change.

The parent watches the modules it imported; a change that compiles drains the children and
re-executes the program (same pid, new code in every process); a change that does not compile
is reported and the running processes keep serving.
"""

from __future__ import annotations

import os
import signal
import textwrap
import time
from pathlib import Path

from tests.process.scripts.harness import free_port, get, port_is_free, running, wait_for

SERVER = """
import sys
sys.path.insert(0, {folder!r})
import appmod
from squall.httpserver import HTTPServer
from squall.ioloop import IOLoop
from squall.log import enable_pretty_logging
from squall.web import Application

enable_pretty_logging()
app = Application([("/v", appmod.VersionHandler)], debug=True, blocking_log_threshold=0)
server = HTTPServer(app)
server.bind(int(sys.argv[1]), "127.0.0.1")
server.start(2)
IOLoop.current().start()
"""

APPMOD = """
from squall.web import RequestHandler

VERSION = {version!r}


class VersionHandler(RequestHandler):
    def get(self):
        self.write(VERSION)
"""


def write_module(path: Path, text: str, bump: float) -> None:
    path.write_text(textwrap.dedent(text))
    stamp = time.time() + bump  # a distinct mtime even within one clock tick
    os.utime(path, (stamp, stamp))


def version(port: int) -> str | None:
    try:
        status, body, _ = get(port, "/v", timeout=2)
    except OSError:
        return None  # between two generations
    return body if status == 200 else None


def test_source_change_reloads_every_process_and_a_syntax_error_keeps_serving(
    tmp_path: Path,
) -> None:
    appmod = tmp_path / "appmod.py"
    write_module(appmod, APPMOD.format(version="v1"), 0)
    server = tmp_path / "server.py"
    server.write_text(SERVER.format(folder=str(tmp_path)))
    port = free_port()
    with running(server, str(port)) as script:
        wait_for(lambda: version(port) == "v1", 15, f"v1; output:\n{script.output()}")
        assert "reload is supervisor-driven" in script.output()
        first_children = set(script.children(2))

        write_module(appmod, APPMOD.format(version="v2"), 2)
        wait_for(lambda: version(port) == "v2", 20, f"v2; output:\n{script.output()}")
        assert "appmod.py changed: reloading" in script.output()
        assert script.proc.poll() is None  # same parent pid, re-executed
        assert not first_children & set(script.children(2))

        write_module(appmod, "def broken(:\n", 4)
        wait_for(lambda: "Not reloading" in script.output(), 10, "the syntax error report")
        assert "SyntaxError" in script.output()
        assert version(port) == "v2"  # the running processes keep serving

        script.signal(signal.SIGTERM)
        assert script.wait(15) == 0
    wait_for(lambda: port_is_free(port), 5, "the port to be free")
