"""PipeIOStream over os.pipe(), and the write buffer's rules (views released, chunking)."""

from __future__ import annotations

import os
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from squall.iostream import PipeIOStream, StreamClosedError, _StreamBuffer
from tests.conftest import Runner


def test_a_pipe_carries_data_and_its_end(run: Runner) -> None:
    async def body() -> None:
        r, w = os.pipe()
        reader, writer = PipeIOStream(r), PipeIOStream(w)
        try:
            writer.write(b"hel")
            writer.write(b"lo world")
            assert await reader.read_until(b" ") == b"hello "
            big = os.urandom(1_000_000)  # more than a pipe holds: written in turns
            written = writer.write(big)
            assert await reader.read_bytes(5 + len(big)) == b"world" + big
            await written
            writer.close()
            assert await reader.read_until_close() == b""
            assert reader.closed()
        finally:
            reader.close()
            writer.close()

    run(body())


def test_writing_to_a_pipe_nobody_reads_fails_quietly(run: Runner) -> None:
    async def body() -> None:
        r, w = os.pipe()
        reader, writer = PipeIOStream(r), PipeIOStream(w)
        reader.close()
        with pytest.raises(StreamClosedError) as info:
            await writer.write(b"x" * 100_000)
        assert isinstance(info.value.real_error, BrokenPipeError)
        assert writer.closed()

    run(body())


def _resizable(data: bytearray) -> bool:
    try:
        data += b"!"
    except BufferError:
        return False
    del data[-1:]
    return True


def test_large_writes_are_kept_by_reference_and_released_when_consumed() -> None:
    buf = _StreamBuffer()
    buf._large_buf_threshold = 10
    big = bytearray(b"a" * 20)
    buf.append(b"12")
    buf.append(big)
    buf.append(b"34")
    assert len(buf) == 24
    assert len(buf._buffers) == 3
    assert not _resizable(big)
    buf.advance(10)
    assert not _resizable(big)
    with buf.peek(100) as view:
        assert bytes(view) == b"a" * 12
    buf.advance(12)
    assert _resizable(big)
    buf.append(bytearray(b"b" * 30))
    buf.clear()
    assert len(buf) == 0 and not buf._buffers
    with pytest.raises(ValueError, match="cannot advance"):
        buf.advance(1)


@given(
    ops=st.lists(
        st.one_of(
            st.binary(max_size=50).map(lambda b: ("append", b)),
            st.integers(min_value=0, max_value=60).map(lambda n: ("advance", n)),
        ),
        max_size=60,
    ),
    threshold=st.integers(min_value=1, max_value=40),
)
def test_the_buffer_behaves_as_a_byte_queue(ops: list[tuple[str, object]], threshold: int) -> None:
    buf = _StreamBuffer()
    buf._large_buf_threshold = threshold
    model = b""
    inputs: list[bytearray] = []
    rng = random.Random(0)
    for op, arg in ops:
        if op == "append":
            assert isinstance(arg, bytes)
            data = rng.choice([bytes, bytearray, memoryview])(arg)
            if isinstance(data, bytearray):
                inputs.append(data)
            buf.append(data)
            model += arg
        else:
            assert isinstance(arg, int)
            n = min(arg, len(model))
            buf.advance(n)
            model = model[n:]
        assert len(buf) == len(model)
        with buf.peek(len(model) + 1) as view:
            assert model.startswith(bytes(view))
            assert (len(view) > 0) == (len(model) > 0)
    buf.advance(len(model))
    assert all(_resizable(data) for data in inputs)
