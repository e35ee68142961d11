"""Fixtures for the stream tests: connected stream pairs over real sockets, and a log guard.

Every test here fails if squall logged a warning or an error it did not expect (declare
expected lines with ``squall.testing.ExpectLog``, which swallows them).
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Iterator

import pytest
import trustme


@pytest.fixture(autouse=True)
def no_unexpected_logs(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Fail on a warning or error from squall's loggers that no ExpectLog swallowed."""
    caplog.set_level(logging.INFO, logger="squall")
    yield
    bad = [
        f"{r.name}: {r.getMessage()}"
        for r in caplog.records
        if r.name.startswith("squall") and r.levelno >= logging.WARNING
    ]
    assert not bad, f"unexpected log lines: {bad}"


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    """A throwaway certificate authority."""
    return trustme.CA()


@pytest.fixture(scope="session")
def server_context(ca: trustme.CA) -> ssl.SSLContext:
    """A server context with a certificate for localhost and 127.0.0.1."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost", "127.0.0.1").configure_cert(context)
    return context


@pytest.fixture(scope="session")
def client_context(ca: trustme.CA) -> ssl.SSLContext:
    """A client context that trusts ``ca``."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    ca.configure_trust(context)
    return context
