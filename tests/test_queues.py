"""Tests for squall.queues on asyncio and uvloop: order, bounds, timeouts, join, dead waiters."""

from __future__ import annotations

import asyncio
import collections
import datetime
import heapq
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from squall import queues
from squall.ioloop import IOLoop
from tests.conftest import Runner

SHORT = datetime.timedelta(seconds=0.01)


async def settle() -> None:
    for _ in range(3):
        await asyncio.sleep(0)


def test_constructor_rejects_none_and_negative_maxsize() -> None:
    with pytest.raises(TypeError, match="None"):
        queues.Queue(maxsize=None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=">= 0"):
        queues.Queue(maxsize=-1)


def test_nowait_forms_raise_when_empty_or_full(run: Runner[Any]) -> None:
    async def body() -> None:
        q: queues.Queue[int] = queues.Queue(maxsize=1)
        with pytest.raises(queues.QueueEmpty):
            q.get_nowait()
        q.put_nowait(1)
        assert q.full() and not q.empty() and q.qsize() == 1
        with pytest.raises(queues.QueueFull):
            q.put_nowait(2)
        assert q.get_nowait() == 1

    run(body())


def test_float_maxsize_bounds_at_its_ceiling(run: Runner[Any]) -> None:
    async def body() -> None:
        q: queues.Queue[int] = queues.Queue(maxsize=1.5)  # type: ignore[arg-type]
        q.put_nowait(1)
        assert not q.full()
        q.put_nowait(2)
        assert q.full()

    run(body())


def test_getters_are_served_in_arrival_order(run: Runner[Any]) -> None:
    async def body() -> None:
        q: queues.Queue[int] = queues.Queue()
        gets = [q.get() for _ in range(3)]
        for i in range(3):
            await q.put(i)
        assert [await g for g in gets] == [0, 1, 2]

    run(body())


def test_putters_wait_for_room_in_arrival_order(run: Runner[Any]) -> None:
    async def body() -> None:
        q: queues.Queue[str] = queues.Queue(maxsize=1)
        q.put_nowait("a")
        puts = [q.put(x) for x in "bcd"]
        assert not any(p.done() for p in puts)
        assert "putters[3]" in str(q)
        got = [await q.get() for _ in range(4)]
        assert got == ["a", "b", "c", "d"]
        assert all(p.done() for p in puts)

    run(body())


def test_get_and_put_time_out_with_timedelta_or_absolute_deadline(run: Runner[Any]) -> None:
    async def body() -> None:
        q: queues.Queue[int] = queues.Queue(maxsize=1)
        with pytest.raises(TimeoutError):
            await q.get(SHORT)
        with pytest.raises(TimeoutError):
            await q.get(IOLoop.current().time() + 0.01)
        q.put_nowait(0)
        with pytest.raises(TimeoutError):
            await q.put(1, SHORT)
        with pytest.raises(TimeoutError):
            await q.put(1, IOLoop.current().time() + 0.01)
        assert q.get_nowait() == 0
        with pytest.raises(queues.QueueEmpty):  # the timed-out items never went in
            q.get_nowait()

    run(body())


def test_timed_out_waiters_are_skipped(run: Runner[Any]) -> None:
    async def body() -> None:
        q: queues.Queue[int] = queues.Queue()
        timed = q.get(SHORT)
        live = q.get()
        with pytest.raises(TimeoutError):
            await timed
        q.put_nowait(7)
        assert await live == 7

    run(body())


def test_cancelled_getter_does_not_swallow_an_item(run: Runner[Any]) -> None:
    async def body() -> None:
        q: queues.Queue[int] = queues.Queue()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(q.get(), 0.01)
        live = q.get()
        q.put_nowait(1)
        assert await live == 1

    run(body())


def test_many_waiters_timing_out_are_swept_without_further_operations(
    run: Runner[Any],
) -> None:
    async def body() -> None:
        q: queues.Queue[int] = queues.Queue(maxsize=1)
        getters = [q.get(SHORT) for _ in range(3000)]
        survivor = q.get()
        results = await asyncio.gather(*getters, return_exceptions=True)
        assert all(isinstance(r, TimeoutError) for r in results)
        assert len(q._getters) <= queues._SWEEP_AFTER + 1
        q.put_nowait(5)
        assert await survivor == 5
        assert len(q._getters) == 0

        q.put_nowait(0)
        putters = [q.put(i, SHORT) for i in range(3000)]
        put_results = await asyncio.gather(*putters, return_exceptions=True)
        assert all(isinstance(r, TimeoutError) for r in put_results)
        assert len(q._putters) <= queues._SWEEP_AFTER

    run(body())


def test_cancelled_waiters_do_not_accumulate(run: Runner[Any]) -> None:
    async def body() -> None:
        q: queues.Queue[int] = queues.Queue(maxsize=1)
        q.put_nowait(0)
        for _ in range(5000):  # asyncio.wait_for(q.get(), t) giving up, over and over
            q.put(1).cancel()
            assert len(q._putters) <= 2 * queues._SWEEP_MIN
        assert q.get_nowait() == 0
        for _ in range(5000):
            q.get().cancel()
            assert len(q._getters) <= 2 * queues._SWEEP_MIN
        live = q.get()
        q.put_nowait(9)  # goes to the live getter, past the cancelled ones
        assert await live == 9

    run(body())


def test_join_waits_for_task_done_not_for_get(run: Runner[Any]) -> None:
    async def body() -> None:
        q: queues.Queue[int] = queues.Queue()
        await q.join()  # nothing put: done at once
        q.put_nowait(1)
        q.put_nowait(2)
        join = q.join()
        assert q.get_nowait() == 1 and q.get_nowait() == 2
        await settle()
        assert not join.done()
        q.task_done()
        assert not join.done()
        q.task_done()
        await join
        with pytest.raises(ValueError, match="task_done"):
            q.task_done()
        q.put_nowait(3)
        with pytest.raises(TimeoutError):
            await q.join(SHORT)

    run(body())


def test_async_for_yields_items_as_they_arrive(run: Runner[Any]) -> None:
    async def body() -> None:
        q: queues.Queue[int] = queues.Queue()

        async def consume() -> list[int]:
            seen = []
            async for item in q:
                seen.append(item)
                q.task_done()
                if item == 4:
                    return seen
            raise AssertionError("async for ended")

        consumer = asyncio.ensure_future(consume())
        for i in range(5):
            await q.put(i)
        assert await consumer == [0, 1, 2, 3, 4]
        await q.join()

    run(body())


def test_producer_consumer_with_bounded_queue(run: Runner[Any]) -> None:
    async def body() -> None:
        q: queues.Queue[int] = queues.Queue(maxsize=2)
        seen: list[int] = []

        async def consumer() -> None:
            while True:
                seen.append(await q.get())
                q.task_done()

        workers = [asyncio.ensure_future(consumer()) for _ in range(3)]
        for i in range(50):
            await q.put(i)
        await q.join()
        for w in workers:
            w.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        assert sorted(seen) == list(range(50))

    run(body())


def test_priority_and_lifo_order_including_waiting_putters(run: Runner[Any]) -> None:
    async def body() -> None:
        pq: queues.PriorityQueue[tuple[int, str]] = queues.PriorityQueue(maxsize=2)
        pq.put_nowait((1, "a"))
        pq.put_nowait((0, "b"))
        pq.put((3, "c"))
        pq.put((2, "d"))
        assert [pq.get_nowait() for _ in range(4)] == [(0, "b"), (1, "a"), (2, "d"), (3, "c")]

        lq: queues.LifoQueue[int] = queues.LifoQueue(maxsize=2)
        lq.put_nowait(1)
        lq.put_nowait(0)
        lq.put(3)
        lq.put(2)
        assert [lq.get_nowait() for _ in range(4)] == [3, 2, 0, 1]

    run(body())


def test_repr_and_str_describe_the_state(run: Runner[Any]) -> None:
    async def body() -> None:
        q: queues.Queue[int] = queues.Queue(maxsize=1)
        assert hex(id(q)) in repr(q) and hex(id(q)) not in str(q)
        assert str(q) == "<Queue maxsize=1>"
        q.get()
        assert str(q) == "<Queue maxsize=1 getters[1]>"
        q.put_nowait(1)
        q.put_nowait(2)
        q.put(3)
        assert str(q) == "<Queue maxsize=1 queue=deque([2]) putters[1] tasks=2>"

    run(body())


# ---- a model check: any sequence of non-blocking operations ------------------------------------

OPS = st.lists(
    st.one_of(st.tuples(st.just("put"), st.integers(-5, 5)), st.just(("get", 0))), max_size=60
)


@settings(max_examples=60, deadline=None)
@given(kind=st.sampled_from(["fifo", "lifo", "priority"]), maxsize=st.integers(0, 4), ops=OPS)
def test_nowait_operations_match_a_model(kind: str, maxsize: int, ops: list[Any]) -> None:
    cls = {"fifo": queues.Queue, "lifo": queues.LifoQueue, "priority": queues.PriorityQueue}[kind]
    q: queues.Queue[int] = cls(maxsize=maxsize)
    model: collections.deque[int] | list[int] = collections.deque() if kind == "fifo" else []
    for op, value in ops:
        if op == "put":
            if maxsize and len(model) >= maxsize:
                with pytest.raises(queues.QueueFull):
                    q.put_nowait(value)
                continue
            q.put_nowait(value)
            if kind == "priority":
                heapq.heappush(model, value)  # type: ignore[arg-type]
            else:
                model.append(value)
        elif not model:
            with pytest.raises(queues.QueueEmpty):
                q.get_nowait()
        else:
            if kind == "fifo":
                expected = model.popleft()  # type: ignore[union-attr]
            elif kind == "lifo":
                expected = model.pop()
            else:
                expected = heapq.heappop(model)  # type: ignore[arg-type]
            assert q.get_nowait() == expected
        assert q.qsize() == len(model)
        assert q.full() == bool(maxsize and len(model) >= maxsize)
