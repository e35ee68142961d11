"""Shared fixtures: event-loop runners (asyncio and uvloop), a loop-error guard, free ports.

pytest has no asyncio plugin here: async test bodies run through the ``run`` fixture (both
loops: the test is parametrized) or ``run_asyncio`` (the asyncio loop only)::

    def test_something(run):
        async def body() -> None:
            ...
        run(body())

The guard: every asyncio loop's exception handler is watched for the whole test (and the loops
made by the runners get a recording handler too). A call means something went wrong where no
test could see it (a Task's exception never retrieved, an error in a callback): the test fails.
Mark a test ``loop_errors_ok`` when it provokes such errors on purpose.
"""

from __future__ import annotations

import asyncio
import gc
import os
import socket
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, Protocol, TypeVar

import pytest

import tests.helpers.hypothesis_profiles  # noqa: F401  (registers profiles before options are read)

T = TypeVar("T")
LoopFactory = Callable[[], asyncio.AbstractEventLoop]
_ENVIRONMENT_BEFORE = pytest.StashKey[dict[str, str]]()


class Runner(Protocol[T]):
    """Runs a coroutine to completion on a fresh loop (failing it after ``timeout`` seconds)."""

    def __call__(self, coro: Coroutine[Any, Any, T], *, timeout: float = 60.0) -> T: ...


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "loop_errors_ok: the test calls the loop's exception handler on purpose"
    )


def _loop_factories() -> list[Any]:
    # asyncio's own loop, by its class: asyncio.new_event_loop() follows the event loop
    # policy, and squall installs uvloop's when it can (squall._loop), which would make the
    # "asyncio" runs uvloop runs too.
    params: list[Any] = [pytest.param(asyncio.SelectorEventLoop, id="asyncio")]
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on CPython/POSIX
        params.append(pytest.param(None, id="uvloop", marks=pytest.mark.skip("no uvloop")))
    else:
        params.append(pytest.param(uvloop.new_event_loop, id="uvloop"))
    return params


def _squall_environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k.startswith("SQUALL_")}


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    item.stash[_ENVIRONMENT_BEFORE] = _squall_environment()
    return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """Fail a test that leaves a ``SQUALL_*`` environment variable changed once all its
    fixtures are undone: the next test on the same worker, and every child process it starts,
    would inherit it (a leaked ``SQUALL_TORNADO_ALIAS`` once made the build test's child
    import the wrong squall)."""
    result = yield
    before = item.stash.get(_ENVIRONMENT_BEFORE, None)
    after = _squall_environment()
    if before is not None and after != before:
        raise AssertionError(f"the test left SQUALL_* variables changed: {before} -> {after}")
    return result


class LoopErrors:
    """Collects the contexts handed to loop exception handlers during one test."""

    def __init__(self) -> None:
        self.contexts: list[dict[str, Any]] = []

    def handler(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        self.contexts.append(context)

    def describe(self) -> str:
        lines = []
        for ctx in self.contexts:
            exc = ctx.get("exception")
            lines.append(f"{ctx.get('message')!r}: {exc!r}")
        return "; ".join(lines)


@pytest.fixture(autouse=True)
def loop_errors(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[LoopErrors]:
    """Fail the test if any asyncio loop's exception handler was called during it."""
    errors = LoopErrors()
    original = asyncio.BaseEventLoop.call_exception_handler

    def watching(self: asyncio.BaseEventLoop, context: dict[str, Any]) -> None:
        errors.contexts.append(context)
        original(self, context)

    monkeypatch.setattr(asyncio.BaseEventLoop, "call_exception_handler", watching)
    yield errors
    if request.node.get_closest_marker("loop_errors_ok") is None:
        # Tasks that died with an unretrieved exception report it when collected.
        gc.collect()
        assert not errors.contexts, f"event loop exception handler called: {errors.describe()}"


def _make_runner(factory: LoopFactory, errors: LoopErrors) -> Runner[Any]:
    def run(coro: Coroutine[Any, Any, T], *, timeout: float = 60.0) -> T:
        async def guarded() -> T:
            # Fail a hung test with a traceback rather than waiting for pytest-timeout.
            async with asyncio.timeout(timeout):
                return await coro

        with asyncio.Runner(loop_factory=factory) as runner:
            loop = runner.get_loop()
            loop.set_exception_handler(errors.handler)
            return runner.run(guarded())

    return run


@pytest.fixture(params=_loop_factories())
def loop_factory(request: pytest.FixtureRequest) -> LoopFactory:
    """asyncio's ``SelectorEventLoop`` and uvloop's loop (the test runs once with each)."""
    factory: LoopFactory = request.param
    return factory


@pytest.fixture
def run(loop_factory: LoopFactory, loop_errors: LoopErrors) -> Runner[Any]:
    """Run a coroutine to completion on a fresh loop of each kind (see ``loop_factory``)."""
    return _make_runner(loop_factory, loop_errors)


@pytest.fixture
def run_asyncio(loop_errors: LoopErrors) -> Runner[Any]:
    """Run a coroutine to completion on a fresh asyncio selector loop (never uvloop)."""
    return _make_runner(asyncio.SelectorEventLoop, loop_errors)


def unused_tcp_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago (prefer binding port 0 and keeping the socket)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(name="unused_tcp_port")
def unused_tcp_port_fixture() -> int:
    """A free TCP port on 127.0.0.1."""
    return unused_tcp_port()
