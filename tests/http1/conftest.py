"""Fixtures for the protocol unit tests: a fixed Date header, so responses are exact bytes."""

from __future__ import annotations

import pytest

from squall._http1 import state, wire

DATE = b"Thu, 01 Jan 2026 00:00:00 GMT"


@pytest.fixture(autouse=True)
def fixed_date(monkeypatch: pytest.MonkeyPatch) -> bytes:
    """Every response written by the protocol carries ``Date: Thu, 01 Jan 2026 00:00:00 GMT``."""
    monkeypatch.setattr(state, "date_line", lambda: f"Date: {DATE.decode()}\r\n")
    monkeypatch.setattr(wire, "date_header_value", lambda: DATE)
    return DATE
