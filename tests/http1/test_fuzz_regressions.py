"""What the fuzzer found: each file in ``fuzz/regressions/`` is replayed through its harness.

A file there is an input that once broke an invariant of ``fuzz/harness.py`` (its name says
which); replaying it must now pass every invariant. The tests after the replay state each
finding as a plain protocol test.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from fuzz.harness import control_byte, run_one
from tests.conftest import Runner
from tests.helpers.fake_transport import ProtocolHarness
from tests.helpers.raw_http import RecordingDelegate, parse_one, request

REGRESSIONS = sorted((Path(__file__).resolve().parents[2] / "fuzz" / "regressions").iterdir())


@pytest.mark.parametrize("path", REGRESSIONS, ids=[p.name for p in REGRESSIONS])
def test_a_fuzz_finding_passes_every_invariant_now(path: Path) -> None:
    run_one(path.read_bytes())


def test_the_harness_sees_a_broken_invariant() -> None:
    # The harness is a test too: a response cut short must be reported.
    from fuzz import harness

    class Truncating(harness._Echo):
        def start_request(self, server_conn: object, request_conn: object) -> object:
            msg = super().start_request(server_conn, request_conn)  # type: ignore[arg-type]
            msg.answer = lambda: request_conn.write_headers(  # type: ignore[attr-defined,method-assign]
                harness.ResponseStartLine("HTTP/1.1", 200, "OK"),
                harness.HTTPHeaders({"Content-Length": "10"}),
                b"short",
            )
            return msg

    original = harness._Echo
    harness._Echo = Truncating  # type: ignore[misc]
    try:
        with pytest.raises(harness.InvariantError):
            run_one(bytes([control_byte()]) + request("GET", "/"))
    finally:
        harness._Echo = original  # type: ignore[misc]


@pytest.mark.parametrize(
    "raw",
    [
        # Found by the fuzzer: a HEAD request with a bad chunked body.
        b"HEAD / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcXX",
        # The same rule for a HEAD refused before it was dispatched, and for an invalid Host.
        request("GET", "/a") + b"HEAD / HTTP/1.1\r\nHost: a\r\nContent-Length: x\r\n\r\n",
        b"HEAD / HTTP/1.1\r\nHost: a b\r\n\r\n",
    ],
    ids=["body-error-after-dispatch", "queued", "bad-host"],
)
def test_an_error_response_to_head_has_no_body(run_asyncio: Runner[None], raw: bytes) -> None:
    async def body() -> None:
        h = ProtocolHarness(RecordingDelegate())
        h.feed(raw)
        out = h.take()
        pos = 0
        if raw.startswith(b"GET"):
            _, pos = parse_one(out, 0)
        resp, end = parse_one(out, pos, head_request=True)
        assert resp.status == 400
        assert int(resp.header("Content-Length") or 0) > 0  # what a GET would have carried
        assert end == len(out), out[end:]  # and nothing after the head
        await h.settle()
        assert h.closed
        h.close()

    run_asyncio(body())


@pytest.mark.parametrize(
    "raw",
    [
        # Found by the fuzzer: an extension method whose request has no Host field.
        b"FOO / HTTP/1.1\r\nKHost: a\r\n\r\n",
        # The same refusal inside a head that the re-parse reaches after a request of the read.
        request("GET", "/a") + b"FOO / HTTP/1.1\r\n\r\n",
    ],
    ids=["first", "after-another"],
)
def test_an_extension_method_request_refused_in_its_head_is_a_400_not_a_500(
    run_asyncio: Runner[None], raw: bytes
) -> None:
    async def body() -> None:
        h = ProtocolHarness(RecordingDelegate())
        h.feed(raw)
        out = h.take()
        pos = 0
        if raw.startswith(b"GET"):
            first, pos = parse_one(out, 0)
            assert first.status == 200
        resp, _ = parse_one(out, pos)
        assert resp.status == 400, out
        assert b"Host" in resp.body
        await h.settle()
        h.close()

    run_asyncio(body())
