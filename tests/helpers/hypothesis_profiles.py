"""hypothesis profiles for the test suite, registered before pytest reads its options.

- ``squall`` (the default): bounded, so the property suites add well under a minute to
  ``scripts/check`` on a 2-core machine; no example database (nothing is written into the
  checkout; a failure prints the seed to reproduce it with ``@reproduce_failure``).
- ``thorough``: many more examples and the local example database (``.hypothesis/``, ignored
  by git), for a run by hand: ``pytest tests/http1 --hypothesis-profile=thorough``.

Tests that cost more per example take a fraction of ``max_examples`` (see
:func:`examples`), so one profile scales every suite, and their pytest timeout with it
(:func:`timeout`).
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings

__all__ = ["examples", "timeout"]

_SLOW_OK = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example]

settings.register_profile(
    "squall",
    max_examples=100,
    deadline=None,
    database=None,
    print_blob=True,
    suppress_health_check=_SLOW_OK,
)
settings.register_profile(
    "thorough",
    max_examples=2000,
    deadline=None,
    print_blob=True,
    suppress_health_check=_SLOW_OK,
)
settings.load_profile("squall")


def examples(share: float) -> int:
    """``share`` of the current profile's ``max_examples`` (at least 5)."""
    return max(5, int(settings.default.max_examples * share))


def timeout(share: float) -> float:
    """A pytest timeout (seconds) for a test running ``examples(share)`` examples: the
    suite's 120 s, or half a second per example when the profile asks for more."""
    return max(120.0, 0.5 * examples(share))
