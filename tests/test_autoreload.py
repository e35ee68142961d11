"""squall.autoreload, always in a subprocess: a reload re-execs the process running it.

The scripts print marker lines; a reader thread collects them and the tests poll for them. A file
is changed by rewriting it (a new size) and moving its mtime two seconds on, so the change shows
on any filesystem.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

WATCHERS = [
    pytest.param("poll", id="poll"),
    pytest.param(
        "watchfiles",
        id="watchfiles",
        marks=pytest.mark.skipif(
            __import__("importlib").util.find_spec("watchfiles") is None,
            reason="watchfiles is not installed",
        ),
    ),
]

RELOADING_APP = """
import os, sys, threading
from squall import autoreload, _loop
from squall.ioloop import IOLoop
from squall.log import enable_pretty_logging

enable_pretty_logging()
print("started", os.getpid(), sys.argv[1:], flush=True)
autoreload.watch(sys.argv[1])
autoreload.add_reload_hook(lambda: print("hook 1 ran", flush=True))
autoreload.add_reload_hook(lambda: print("hook 2 ran", flush=True))
autoreload.start(check_time=50)
print("loop created after start():", _loop.loop_was_created(), flush=True)
io_loop = IOLoop.current()
def show_threads():  # runs after the attach that start() left for the first loop to run
    print("threads:", sorted(t.name for t in threading.enumerate()), flush=True)
io_loop.add_callback(io_loop.add_callback, show_threads)
io_loop.start()
"""


class Program:
    """A subprocess whose merged stdout and stderr are collected line by line."""

    def __init__(self, args: list[str], cwd: Path, env: dict[str, str] | None = None) -> None:
        path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
        environ = dict(os.environ, PYTHONPATH=path, **(env or {}))
        self.proc = subprocess.Popen(
            [sys.executable, *args],
            cwd=cwd,
            env=environ,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def output(self) -> str:
        return "\n".join(self.lines)

    def count(self, text: str) -> int:
        return sum(text in line for line in list(self.lines))

    def wait_for(self, predicate: Callable[[], object], what: str, timeout: float = 15) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}; output:\n{self.output()}")
            time.sleep(0.01)

    def wait_count(self, text: str, n: int, timeout: float = 15) -> None:
        self.wait_for(lambda: self.count(text) >= n, f"{n} x {text!r}", timeout)

    def exit_code(self, timeout: float = 15) -> int:
        code = self.proc.wait(timeout)
        self._reader.join(5)
        return code

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        self._reader.join(5)
        assert self.proc.stdout is not None
        self.proc.stdout.close()


@pytest.fixture
def programs() -> Iterator[Callable[..., Program]]:
    """Start programs; every one is killed and reaped at the end of the test."""
    started: list[Program] = []

    def start(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> Program:
        started.append(Program(args, cwd, env))
        return started[-1]

    yield start
    for program in started:
        program.close()


def change(path: Path, text: str) -> None:
    """Rewrite ``path`` and move its mtime on, so that any watcher sees a change."""
    before = path.stat().st_mtime_ns if path.exists() else time.time_ns()
    path.write_text(text)
    later = before + 2_000_000_000
    os.utime(path, ns=(later, later))


def env_for(watcher: str) -> dict[str, str]:
    return {"SQUALL_RELOAD_POLL": "1" if watcher == "poll" else "0"}


@pytest.mark.parametrize("watcher", WATCHERS)
def test_a_watched_file_change_runs_the_hooks_then_re_execs_with_the_same_arguments(
    tmp_path: Path, programs: Callable[..., Program], watcher: str
) -> None:
    (tmp_path / "app.py").write_text(RELOADING_APP)
    watched = tmp_path / "settings.txt"
    watched.write_text("a")
    program = programs(["app.py", str(watched), "--flag", "x y"], tmp_path, env_for(watcher))
    program.wait_count("threads:", 1)
    watching = any("squall-autoreload" in line for line in program.lines)
    assert watching is (watcher == "watchfiles")  # else a PeriodicCallback polls
    change(watched, "bb")
    program.wait_count("started", 2)
    first, second = [line for line in program.lines if line.startswith("started")]
    assert first == second == f"started {program.proc.pid} ['{watched}', '--flag', 'x y']"
    out = program.output()
    assert f"{watched} modified; restarting server" in out
    assert out.index("hook 1 ran") < out.index("hook 2 ran") < out.rindex("started")
    program.wait_count("loop created after start(): False", 2)
    assert program.count("hook 1 ran") == 1  # the new process does not reload again


def test_python_m_and_interpreter_options_are_kept_across_the_restart(
    tmp_path: Path, programs: Callable[..., Program]
) -> None:
    package = tmp_path / "demo"
    package.mkdir()
    (package / "__init__.py").write_text("")
    module = package / "server.py"
    module.write_text(
        textwrap.dedent(
            """
            import sys
            from squall import autoreload
            from squall.ioloop import IOLoop
            autoreload.start(check_time=50)
            print("running", __spec__.name, sys.argv[1:], sys.flags.optimize, flush=True)
            IOLoop.current().start()
            """
        )
    )
    program = programs(["-O", "-m", "demo.server", "--port=1"], tmp_path, env_for("poll"))
    program.wait_count("running", 1)
    change(module, module.read_text() + "\n# edited\n")  # the module itself, not watch()-ed
    program.wait_count("running", 2)
    assert [line for line in program.lines if line.startswith("running")] == [
        "running demo.server ['--port=1'] 1"
    ] * 2


def test_a_syntax_error_in_a_changed_module_still_restarts_and_the_new_process_fails(
    tmp_path: Path, programs: Callable[..., Program]
) -> None:
    helper = tmp_path / "helper.py"
    helper.write_text("VALUE = 1\n")
    (tmp_path / "app.py").write_text(
        textwrap.dedent(
            """
            import helper
            from squall import autoreload
            from squall.ioloop import IOLoop
            from squall.log import enable_pretty_logging
            enable_pretty_logging()
            autoreload.start(check_time=50)
            print("serving", helper.VALUE, flush=True)
            IOLoop.current().start()
            """
        )
    )
    program = programs(["app.py"], tmp_path, env_for("poll"))
    program.wait_count("serving 1", 1)
    change(helper, "VALUE = (\n")
    assert program.exit_code() == 1
    out = program.output()
    assert f"{helper} modified; restarting server" in out
    assert "SyntaxError" in out.split("restarting server", 1)[1]


def test_the_wrapper_reruns_the_script_on_change_and_survives_a_syntax_error(
    tmp_path: Path, programs: Callable[..., Program]
) -> None:
    script = tmp_path / "job.py"
    script.write_text("import sys\nprint('version 1', sys.argv, flush=True)\n")
    program = programs(["-m", "squall.autoreload", "job.py", "a1"], tmp_path, env_for("poll"))
    program.wait_count("Script exited normally", 1)
    assert "version 1 ['job.py', 'a1']" in program.output()

    change(script, "print('version 2'\n")  # a syntax error
    program.wait_count("Script exited with uncaught exception", 1)
    assert program.count("SyntaxError") >= 1
    assert program.proc.poll() is None  # waiting for a fix, not dead

    change(script, "import sys\nprint('version 3', sys.argv, flush=True)\n")
    program.wait_count("version 3 ['job.py', 'a1']", 1)
    program.wait_count("Script exited normally", 2)
    assert program.proc.poll() is None


def test_the_wrapper_runs_a_module_with_m_and_until_success_exits_after_a_clean_run(
    tmp_path: Path, programs: Callable[..., Program]
) -> None:
    (tmp_path / "task.py").write_text("import sys\nprint('task ran', sys.argv[1:], flush=True)\n")
    args = ["-m", "squall.autoreload", "--until-success", "-m", "task", "x"]
    program = programs(args, tmp_path, env_for("poll"))
    assert program.exit_code() == 0
    assert "task ran ['x']" in program.output()


def test_the_wrapper_and_the_program_share_one_autoreload_module(
    tmp_path: Path, programs: Callable[..., Program]
) -> None:
    # The program's `import squall.autoreload` is the module the wrapper runs from: a file the
    # program watch()es (not a module) is one the wrapper waits for after the program ends.
    settings = tmp_path / "settings.txt"
    settings.write_text("a\n")
    (tmp_path / "task.py").write_text(
        textwrap.dedent(
            """
            import sys
            assert "squall.autoreload" in sys.modules, "the wrapper's module is not imported"
            from squall import autoreload
            autoreload.watch("settings.txt")
            print("ran with", open("settings.txt").read().strip(), flush=True)
            """
        )
    )
    program = programs(["-m", "squall.autoreload", "-m", "task"], tmp_path, env_for("poll"))
    program.wait_count("ran with a", 1)
    program.wait_count("Script exited normally", 1)
    change(settings, "b\n")
    program.wait_count("ran with b", 1)
    assert program.proc.poll() is None


def test_the_wrapper_without_a_program_prints_its_usage_and_exits_2(
    tmp_path: Path, programs: Callable[..., Program]
) -> None:
    program = programs(["-m", "squall.autoreload"], tmp_path)
    assert program.exit_code() == 2
    assert "python -m squall.autoreload [--until-success] -m module.to.run" in program.output()


def test_start_creates_no_loop_and_attaches_when_the_first_loop_runs(
    tmp_path: Path, programs: Callable[..., Program]
) -> None:
    code = textwrap.dedent(
        """
        from squall import _loop, autoreload
        from squall.ioloop import IOLoop
        from squall.web import Application
        Application([], debug=True)  # calls autoreload.start()
        autoreload.start()
        print("created:", _loop.loop_was_created(), "attached:", len(autoreload._io_loops))
        io_loop = IOLoop.current()
        print("created:", _loop.loop_was_created(), "attached:", len(autoreload._io_loops))
        io_loop.run_sync(lambda: None)
        print("attached:", list(autoreload._io_loops) == [io_loop])
        """
    )
    program = programs(["-c", code], tmp_path, env_for("poll"))
    assert program.exit_code() == 0, program.output()
    assert program.lines == [
        "created: False attached: 0",
        "created: True attached: 0",
        "attached: True",
    ]


def test_start_twice_on_one_loop_is_a_no_op_and_a_second_loop_gets_a_warning(
    tmp_path: Path, programs: Callable[..., Program]
) -> None:
    code = textwrap.dedent(
        """
        from squall import autoreload
        from squall.ioloop import IOLoop
        from squall.log import enable_pretty_logging
        enable_pretty_logging()
        first = IOLoop()
        first.run_sync(autoreload.start)
        first.run_sync(autoreload.start)
        second = IOLoop()
        second.run_sync(autoreload.start)
        print("attached:", len(autoreload._io_loops), flush=True)
        """
    )
    program = programs(["-c", code], tmp_path, env_for("poll"))
    assert program.exit_code() == 0, program.output()
    assert program.count("squall.autoreload started more than once in the same process") == 1
    assert program.lines[-1] == "attached: 2"


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_in_a_fork_processes_child_start_does_nothing_even_when_asked_before_the_fork(
    tmp_path: Path, programs: Callable[..., Program]
) -> None:
    process = pytest.importorskip("squall.process")
    if not hasattr(process, "fork_processes"):
        pytest.skip("squall.process.fork_processes is not there")
    code = textwrap.dedent(
        """
        import logging, os, sys
        logging.basicConfig(level=logging.DEBUG, stream=sys.stdout, format="%(message)s")
        from squall import autoreload, ioloop, process
        from squall.ioloop import IOLoop
        from squall.web import Application
        Application([], debug=True)  # before the fork: waits for a loop to run
        task = process.fork_processes(2, max_restarts=0)
        autoreload.start()  # after it, in the child
        IOLoop.current().run_sync(lambda: None)
        sys.stdout.flush()  # one write per line: the children share the pipe
        os.write(1, f"in child {task}: attached={len(autoreload._io_loops)}\\n".encode())
        """
    )
    program = programs(["-c", code], tmp_path, env_for("poll"))
    assert program.exit_code() == 0, program.output()
    assert sorted(line for line in program.lines if line.startswith("in child ")) == [
        "in child 0: attached=0",
        "in child 1: attached=0",
    ]
    # Two calls (the one deferred from before the fork, and start()) in each of two children.
    assert program.output().count("autoreload not started in child process") == 4


def test_in_a_worker_of_the_managed_master_start_does_nothing(
    tmp_path: Path, programs: Callable[..., Program]
) -> None:
    worker = pytest.importorskip("squall._supervisor.worker")
    if not hasattr(worker, "current_worker"):
        pytest.skip("squall._supervisor.worker has no current_worker()")
    code = textwrap.dedent(
        """
        import logging, sys, types
        logging.basicConfig(level=logging.DEBUG, stream=sys.stdout, format="%(message)s")
        from squall import autoreload
        from squall._supervisor import worker
        from squall.ioloop import IOLoop
        # What run_child() sets up in a worker forked by `squall serve --workers N`.
        worker._current = types.SimpleNamespace(supervised=True, slot=3)
        IOLoop.current().run_sync(autoreload.start)
        print("attached:", len(autoreload._io_loops), flush=True)
        """
    )
    program = programs(["-c", code], tmp_path, env_for("poll"))
    assert program.exit_code() == 0, program.output()
    assert "autoreload not started in child process 3: the supervisor reloads" in program.lines
    assert program.lines[-1] == "attached: 0"


# A program that reloads itself once through the private _reload() (as Tornado's own tests and
# some programs do), then exits: what each run saw shows how the re-exec rebuilt the process.
RUN_TWICE = """
import os, sys
try:
    import pkg
    importable = "pkg importable"
except ImportError:
    importable = "pkg not importable"
try:
    import sibling
    sibling_seen = "sibling importable"
except ImportError:
    sibling_seen = "sibling not importable"
spec = getattr(sys.modules["__main__"], "__spec__", None)
print(importable, sibling_seen, os.path.basename(sys.argv[0]), sys.argv[1:],
      getattr(spec, "name", None), "wrapped" if "squall.autoreload" in sys.modules else "bare",
      flush=True)
if "RUN_TWICE_STARTED" in os.environ:
    os._exit(0)
os.environ["RUN_TWICE_STARTED"] = "1"
import squall.autoreload
squall.autoreload._reload()
"""


@pytest.mark.parametrize("wrapped", [False, True], ids=["bare", "wrapper"])
@pytest.mark.parametrize(
    ("target", "spec_name"),
    [
        (["-m", "pkg"], "pkg.__main__"),
        (["pkg/__main__.py"], "None"),
        (["pkg"], "__main__"),
    ],
    ids=["module", "file", "directory"],
)
def test_reload_re_execs_the_same_command_line_module_file_or_directory(
    tmp_path: Path,
    programs: Callable[..., Program],
    wrapped: bool,
    target: list[str],
    spec_name: str,
) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "__main__.py").write_text(RUN_TWICE)
    (tmp_path / "pkg" / "sibling.py").write_text("")
    wrapper = ["-m", "squall.autoreload"] if wrapped else []
    program = programs([*wrapper, *target, "a1", "-m", "a2"], tmp_path, env_for("poll"))
    assert program.exit_code() == 0, program.output()
    mode = target[0] if len(target) == 1 else "-m"
    # Plain python: -m puts the working directory first, a file or directory its own folder.
    # The wrapper keeps the working directory (its own -m) and adds the script's folder.
    pkg = "pkg importable" if wrapped or mode == "-m" else "pkg not importable"
    sibling = "sibling not importable" if mode == "-m" else "sibling importable"
    argv0 = {"-m": "__main__.py", "pkg/__main__.py": "__main__.py", "pkg": "pkg"}[mode]
    line = (
        f"{pkg} {sibling} {argv0} ['a1', '-m', 'a2'] {spec_name} {'wrapped' if wrapped else 'bare'}"
    )
    assert program.lines == [line, line], program.output()
