"""Coverage-guided fuzzing of ``HTTP1Protocol.data_received`` with atheris (libFuzzer).

    python fuzz/make_corpus.py fuzz/corpus          # seeds from the property suite's streams
    python fuzz/http1_fuzz.py fuzz/corpus -max_total_time=60

Extra arguments are libFuzzer's (``-max_total_time``, ``-runs``, ``-max_len``, ...). What an
input means and the invariants checked are in ``harness.py``; a broken invariant or an
exception is a crash: libFuzzer writes the input to ``crash-<sha1>``; copy it into
``fuzz/regressions/`` (with a name that says what it found) and it becomes a test
(``tests/http1/test_fuzz_regressions.py``).

Run it on the pure-Python build (``scripts/build-ext --clean``): atheris measures coverage
of Python code, and the compiled modules are C.
"""

from __future__ import annotations

import sys
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

with atheris.instrument_imports(include=["squall", "fuzz"]):
    from fuzz.harness import run_one


def main() -> None:
    """Run libFuzzer over :func:`fuzz.harness.run_one`."""
    import squall._http1

    if squall._http1.COMPILED:
        sys.exit("fuzz: the compiled build is in use; run scripts/build-ext --clean first")
    atheris.Setup(sys.argv, run_one)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
