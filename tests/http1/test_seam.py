"""The seam between the protocol and the exchange: phases, abandon/release, gzip, message_*.

``tests/test_layers.py`` checks the seam's shape (no private member used across it, no import
circle); these tests check what crosses it: an exchange's phases move in the order
``squall/_http1/phases.py`` describes, an exchange the protocol ends drops later writes and
tells its delegate on the next loop turn, a finished response lets go of its delegate at once,
the gzip delegate refuses a bad body with a 4xx even after its delegate waited, and the
``message_*`` helpers call plain and Direct delegates alike.
"""

from __future__ import annotations

import asyncio
import gc
import gzip
import logging
import weakref

import pytest

from squall._http1.exchange import HTTP1Exchange
from squall._http1.flow import CLOSED
from squall._http1.phases import (
    DELIVER_BODY,
    DELIVER_DONE,
    DELIVER_HEAD,
    READ_BODY,
    READ_DONE,
    RESPONSE_ABANDONED,
    RESPONSE_DONE,
    RESPONSE_NONE,
    RESPONSE_STARTED,
)
from squall.httputil import (
    DirectMessageDelegate,
    HTTPHeaders,
    HTTPMessageDelegate,
    RequestStartLine,
    ResponseStartLine,
    message_data_received,
    message_finish,
    message_headers_received,
)
from tests.conftest import Runner
from tests.helpers.fake_transport import ProtocolHarness
from tests.helpers.raw_http import (
    RecordedRequest,
    RecordingDelegate,
    parse_responses,
    request,
)


def _phases(rec: RecordedRequest) -> tuple[int, int, int]:
    ex = rec.conn
    assert isinstance(ex, HTTP1Exchange)
    return ex.reading, ex.delivery, ex.response


def test_an_exchange_moves_through_its_phases_in_order(run_asyncio: Runner[None]) -> None:
    seen: list[tuple[str, tuple[int, int, int]]] = []

    def on_headers(rec: RecordedRequest) -> None:
        seen.append(("headers", _phases(rec)))

    def on_data(rec: RecordedRequest, chunk: bytes) -> None:
        seen.append(("data", _phases(rec)))

    def on_finish(rec: RecordedRequest) -> None:
        seen.append(("finish", _phases(rec)))
        rec.conn.write_headers(
            ResponseStartLine("HTTP/1.1", 200, "OK"), HTTPHeaders({"Content-Length": "2"})
        )
        seen.append(("head written", _phases(rec)))
        rec.conn.write(b"ok")
        rec.conn.finish()
        seen.append(("finished", _phases(rec)))

    async def body() -> None:
        delegate = RecordingDelegate(on_finish, on_headers=on_headers, on_data=on_data)
        h = ProtocolHarness(delegate)
        stream = request("POST", "/", body=b"abcd")
        h.feed(stream[:-4], stream[-4:])  # the head, then the body
        [resp] = parse_responses(h.take())
        assert (resp.status, resp.body) == (200, b"ok")
        h.close()

    run_asyncio(body())
    assert seen == [
        ("headers", (READ_BODY, DELIVER_HEAD, RESPONSE_NONE)),
        ("data", (READ_DONE, DELIVER_BODY, RESPONSE_NONE)),
        ("finish", (READ_DONE, DELIVER_DONE, RESPONSE_NONE)),
        ("head written", (READ_DONE, DELIVER_DONE, RESPONSE_STARTED)),
        ("finished", (READ_DONE, DELIVER_DONE, RESPONSE_DONE)),
    ]


def test_an_exchange_the_protocol_ends_drops_writes_and_tells_its_delegate_later(
    run_asyncio: Runner[None],
) -> None:
    def shrink(rec: RecordedRequest) -> None:
        rec.conn.set_max_body_size(3)  # the declared body is 10 bytes: 413, abandoned
        # Inside the application's own call nothing is reported yet.
        assert not rec.closed

    async def body() -> None:
        delegate = RecordingDelegate(on_headers=shrink)
        h = ProtocolHarness(delegate)
        h.feed(request("POST", "/", body=b"0123456789"))
        [resp] = parse_responses(h.take())
        assert resp.status == 413
        rec = delegate.requests[0]
        assert _phases(rec)[2] == RESPONSE_ABANDONED
        head = ResponseStartLine("HTTP/1.1", 200, "OK")
        assert rec.conn.write_headers(head, HTTPHeaders()) is CLOSED
        assert rec.conn.write(b"late") is CLOSED
        rec.conn.finish()  # does nothing
        assert h.take() == b""
        assert not rec.closed and not rec.finished
        await asyncio.sleep(0)
        assert rec.closed, "on_connection_close comes on the next loop turn"
        h.close()

    run_asyncio(body())


def test_a_finished_response_lets_go_of_its_delegate_at_once(run_asyncio: Runner[None]) -> None:
    async def body() -> None:
        delegate = RecordingDelegate()
        h = ProtocolHarness(delegate)
        h.feed(request("GET", "/a"))
        ex = delegate.requests[0].conn
        assert isinstance(ex, HTTP1Exchange)
        assert ex.msg is None  # release(): the exchange and its delegate no longer a cycle
        recorded = weakref.ref(delegate.requests[0])  # held by the delegate only
        delegate.requests.clear()
        gc.disable()
        try:
            del ex
            assert recorded() is None, "freed by reference counting, no collector needed"
        finally:
            gc.enable()
        h.close()

    run_asyncio(body())


def test_a_gzip_body_refused_after_its_delegate_waited_is_a_400(
    run_asyncio: Runner[None], caplog: pytest.LogCaptureFixture
) -> None:
    data = gzip.compress(b"x" * 3000) + b"garbage after the member"

    async def body() -> None:
        loop = asyncio.get_running_loop()

        def slow(rec: RecordedRequest, chunk: bytes) -> asyncio.Future[None]:
            gate: asyncio.Future[None] = loop.create_future()
            loop.call_soon(gate.set_result, None)
            return gate

        delegate = RecordingDelegate(on_data=slow)
        # One wire piece; the delegate waits after the first 1,000 inflated bytes, and the
        # garbage is found only once it resumed.
        h = ProtocolHarness(delegate, decompress=True, chunk_size=1000)
        h.feed(request("POST", "/", {"Content-Encoding": "gzip"}, data))
        assert h.take() == b""
        rec = delegate.requests[0]
        for _ in range(50):
            if rec.closed:
                break
            await asyncio.sleep(0)
        [resp] = parse_responses(h.take())
        assert resp.status == 400
        assert b"invalid gzip data" in resp.body
        assert rec.body == b"x" * 3000 and not rec.finished and rec.closed
        h.close()

    with caplog.at_level(logging.INFO):
        run_asyncio(body())
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def _method(start_line: RequestStartLine | ResponseStartLine) -> str | None:
    return start_line.method if isinstance(start_line, RequestStartLine) else None


class _Plain(HTTPMessageDelegate):
    def __init__(self) -> None:
        self.calls: list[object] = []

    def headers_received(
        self, start_line: RequestStartLine | ResponseStartLine, headers: HTTPHeaders
    ) -> None:
        self.calls.append(("headers", _method(start_line)))

    def data_received(self, chunk: bytes) -> asyncio.Future[None] | None:
        self.calls.append(("data", chunk))
        return None

    def finish(self) -> None:
        self.calls.append("finish")


class _Direct(DirectMessageDelegate):
    def __init__(self) -> None:
        self.calls: list[object] = []

    def headers_received(
        self, start_line: RequestStartLine | ResponseStartLine, headers: HTTPHeaders
    ) -> None:
        self.calls.append(("headers", _method(start_line)))

    def data_received(self, chunk: bytes) -> None:
        self.calls.append(("data", chunk))

    def finish(self) -> None:
        self.calls.append("finish")


@pytest.mark.parametrize("kind", [_Plain, _Direct], ids=["plain", "direct"])
def test_the_message_helpers_call_plain_and_direct_delegates_alike(kind: type) -> None:
    message = kind()
    start = RequestStartLine("PUT", "/x", "HTTP/1.1")
    assert message_headers_received(message, start, HTTPHeaders()) is None
    assert message_data_received(message, b"piece") is None
    message_finish(message)
    assert message.calls == [("headers", "PUT"), ("data", b"piece"), "finish"]
