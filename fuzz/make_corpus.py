"""Write the fuzz seed corpus: streams from the property suite's strategies, plus the
request-smuggling shapes of the differential check.

    python fuzz/make_corpus.py DIRECTORY [COUNT]

The draw is derandomized, so the same COUNT (default 300) gives the same files. Each file is
a control byte (how the bytes are cut into reads, see ``harness.py``) and then the stream.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fuzz.harness import control_byte
from tests.helpers.http_streams import stream_bytes, streams
from tests.http1.test_differential import SHAPES


def seeds(count: int) -> list[bytes]:
    """``count`` stream seeds, then one per smuggling shape."""
    found: list[bytes] = []

    @given(streams(max_requests=4, max_body=1500), st.integers(0, 63), st.booleans(), st.booleans())
    @settings(
        max_examples=count,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    def draw(reqs: list, split: int, deferred: bool, gz: bool) -> None:
        found.append(bytes([control_byte(split, deferred, gz)]) + stream_bytes(reqs))

    draw()
    for i, (_, raw, _) in enumerate(SHAPES):
        found.append(bytes([control_byte(i % 64)]) + raw)
    return found


def main() -> None:
    """Write the seeds into the directory given on the command line."""
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 300
    written = 0
    for seed in seeds(count):
        if len(seed) > 4096:  # libFuzzer's default -max_len
            continue
        (out / f"seed-{hashlib.sha1(seed).hexdigest()[:16]}").write_bytes(seed)
        written += 1
    print(f"fuzz: {written} seeds in {out}")


if __name__ == "__main__":
    main()
