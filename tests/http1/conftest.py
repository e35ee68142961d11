"""Fixtures for the protocol tests: a fixed Date header, so responses are exact bytes, and
loops that are what their names say.

``asyncio.new_event_loop()`` follows the event loop policy, and squall installs uvloop's when
it can (``asyncio.run`` on uvloop, ``squall._loop``): the root conftest's "asyncio" loop is
then a uvloop loop too. Here "asyncio" is asyncio's own selector loop, so every protocol test
that runs on both loops really does.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from squall._http1 import state, wire
from tests.conftest import LoopErrors, LoopFactory, Runner, _make_runner

DATE = b"Thu, 01 Jan 2026 00:00:00 GMT"


@pytest.fixture(autouse=True)
def fixed_date(monkeypatch: pytest.MonkeyPatch) -> bytes:
    """Every response written by the protocol carries ``Date: Thu, 01 Jan 2026 00:00:00 GMT``."""
    monkeypatch.setattr(state, "date_line", lambda: f"Date: {DATE.decode()}\r\n")
    monkeypatch.setattr(wire, "date_header_value", lambda: DATE)
    return DATE


def _loop_factories() -> list[Any]:
    params: list[Any] = [pytest.param(asyncio.SelectorEventLoop, id="asyncio")]
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on CPython/POSIX
        params.append(pytest.param(None, id="uvloop", marks=pytest.mark.skip("no uvloop")))
    else:
        params.append(pytest.param(uvloop.new_event_loop, id="uvloop"))
    return params


@pytest.fixture(params=_loop_factories())
def loop_factory(request: pytest.FixtureRequest) -> LoopFactory:
    """asyncio's own selector loop and uvloop's (the test runs once with each)."""
    factory: LoopFactory = request.param
    return factory


@pytest.fixture
def run_asyncio(loop_errors: LoopErrors) -> Runner[Any]:
    """Run a coroutine to completion on a fresh asyncio selector loop (never uvloop)."""
    return _make_runner(asyncio.SelectorEventLoop, loop_errors)
