"""A finished request is freed by reference counting, not left for the cycle collector.

The exchange, its delegate, the handler and the handler's close callback refer to each other
while a request runs; once the response is complete the protocol lets go of them. Left as a
cycle, every request would cost a cycle-collector pass and memory until it ran.
"""

from __future__ import annotations

import asyncio
import gc

from squall.web import Application, RequestHandler
from tests.helpers.fake_transport import ProtocolHarness

REQUEST = b"GET /p HTTP/1.1\r\nHost: h\r\n\r\n"


class Plain(RequestHandler):
    def get(self) -> None:
        self.write(b"ok")


class Later(RequestHandler):
    async def get(self) -> None:
        await asyncio.sleep(0)
        self.write(b"later")


def test_sync_requests_leave_no_cycles() -> None:
    async def body() -> None:
        harness = ProtocolHarness(Application([("/p", Plain)]))
        harness.feed(REQUEST)  # warm up caches
        gc.collect()
        gc.disable()
        try:
            for _ in range(50):
                harness.feed(REQUEST)
            assert harness.take().count(b"HTTP/1.1 200 OK") == 51
            assert gc.collect() == 0
        finally:
            gc.enable()
        harness.state.close()

    asyncio.run(body())


def test_async_requests_leave_no_cycles() -> None:
    async def body() -> None:
        harness = ProtocolHarness(Application([("/p", Later)]))
        harness.feed(REQUEST)
        for _ in range(20):
            await asyncio.sleep(0)
        gc.collect()
        gc.disable()
        try:
            for _ in range(20):
                harness.feed(REQUEST)
                for _ in range(10):  # let the handler's Task finish the response
                    await asyncio.sleep(0)
            assert harness.take().count(b"HTTP/1.1 200 OK") == 21
            found = gc.collect()
        finally:
            gc.enable()
        harness.state.close()
        # A finished Task keeps nothing of the request alive through a cycle either.
        assert found == 0

    asyncio.run(body())
