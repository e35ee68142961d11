"""The client's handshake reads the server's answer through ``HTTP1Connection`` (squall's
HTTP/1.1 client side): hand-written servers send the answers squall's own server never does
(chunked or cut-short refusals, 1xx before the 101, frames in the same packet as the 101,
malformed heads), over real sockets."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from websockets.utils import accept_key

from squall.httpclient import HTTPClientError
from squall.log import gen_log
from squall.testing import ExpectLog
from squall.websocket import WebSocketError, websocket_connect
from tests.conftest import Runner

Answer = Callable[[str], bytes]


def switching(key: str) -> bytes:
    """A valid 101 answer for the request's ``key``."""
    return (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        + f"Sec-WebSocket-Accept: {accept_key(key)}\r\n\r\n".encode()
    )


@contextlib.asynccontextmanager
async def answering(answer: Answer, close: bool = True) -> AsyncIterator[int]:
    """A server that reads the upgrade request and writes ``answer(key)`` in one write, then
    closes the connection (``close``) or waits for the client's next bytes first (its close
    frame)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        key = next(
            line.split(b":", 1)[1].strip().decode()
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"sec-websocket-key:")
        )
        writer.write(answer(key))
        await writer.drain()
        if not close:
            await reader.read(1)
        writer.close()
        await writer.wait_closed()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


async def refusal(run_answer: Answer) -> HTTPClientError:
    async with answering(run_answer) as port:
        with pytest.raises(HTTPClientError) as info:
            await websocket_connect(f"ws://127.0.0.1:{port}/ws")
    return info.value


def test_a_chunked_refusal_carries_its_whole_body(run: Runner[Any]) -> None:
    def answer(key: str) -> bytes:
        return (
            b"HTTP/1.1 403 Forbidden\r\nTransfer-Encoding: chunked\r\n"
            b"Content-Type: text/plain\r\n\r\n"
            b"4\r\nnot \r\n7\r\nallowed\r\n0\r\n\r\n"
        )

    error = run(refusal(answer))
    assert error.code == 403
    assert error.response is not None
    assert error.response.body == b"not allowed"
    assert error.response.headers["Content-Type"] == "text/plain"


def test_a_refusal_delimited_by_the_close_carries_its_body(run: Runner[Any]) -> None:
    def answer(key: str) -> bytes:
        return b"HTTP/1.1 503 Busy\r\nConnection: close\r\n\r\ncome back later"

    error = run(refusal(answer))
    assert (error.code, error.message) == (503, "Busy")
    assert error.response is not None
    assert error.response.body == b"come back later"


def test_a_refusal_cut_short_still_raises_its_status(run: Runner[Any]) -> None:
    def answer(key: str) -> bytes:
        return b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 100\r\n\r\npartial"

    error = run(refusal(answer))
    assert error.code == 401
    assert error.response is not None
    assert error.response.body == b"partial"


def test_informational_answers_before_the_101_are_skipped(run: Runner[Any]) -> None:
    def answer(key: str) -> bytes:
        return (
            b"HTTP/1.1 100 Continue\r\n\r\n" + switching(key) + b"\x81\x05hello"
        )  # an unmasked text frame

    async def body() -> None:
        async with answering(answer, close=False) as port:
            conn = await websocket_connect(f"ws://127.0.0.1:{port}/ws")
            # The frame arrived in the same packet as the 101: it was not lost to the
            # HTTP/1.1 layer, it waited in the stream for the WebSocket session.
            assert await asyncio.wait_for(conn.read_message(), 5) == "hello"
            assert conn.headers is not None
            assert conn.headers["Upgrade"] == "websocket"
            conn.close()
            await asyncio.wait_for(conn.wait_closed(), 5)

    run(body())


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (lambda key: b"SSH-2.0-OpenSSH_9.6\r\n\r\n", "Invalid WebSocket handshake response"),
        (
            lambda key: b"HTTP/1.1 101 Switching Protocols\r\nBad Field\r\n\r\n",
            "Invalid WebSocket handshake response",
        ),
    ],
)
def test_a_malformed_answer_is_a_websocket_error(
    run: Runner[Any], answer: Answer, message: str
) -> None:
    async def body() -> None:
        async with answering(answer) as port:
            with ExpectLog(gen_log, "Malformed HTTP message", level=logging.INFO):
                with pytest.raises(WebSocketError, match=message):
                    await websocket_connect(f"ws://127.0.0.1:{port}/ws")

    run(body())


def test_a_101_with_the_wrong_accept_key_is_a_websocket_error(run: Runner[Any]) -> None:
    def answer(key: str) -> bytes:
        return switching("not the key the client sent")

    async def body() -> None:
        async with answering(answer) as port:
            with pytest.raises(WebSocketError, match="Invalid WebSocket handshake"):
                await websocket_connect(f"ws://127.0.0.1:{port}/ws")

    run(body())


def test_a_server_that_closes_without_answering(run: Runner[Any]) -> None:
    async def body() -> None:
        async with answering(lambda key: b"") as port:
            with pytest.raises(WebSocketError, match="Connection closed before"):
                await websocket_connect(f"ws://127.0.0.1:{port}/ws")

    run(body())


def test_an_oversized_answer_head_is_refused(run: Runner[Any]) -> None:
    def answer(key: str) -> bytes:
        return b"HTTP/1.1 101 Switching Protocols\r\nX-Pad: " + b"a" * 70000 + b"\r\n\r\n"

    async def body() -> None:
        async with answering(answer) as port:
            with ExpectLog(gen_log, "Unsatisfiable read", level=logging.INFO):
                with pytest.raises(WebSocketError, match="not found within 65536 bytes"):
                    await websocket_connect(f"ws://127.0.0.1:{port}/ws")

    run(body())
