"""Tests for squall.locks on asyncio and uvloop: order, timeouts, cancellation, misuse."""

from __future__ import annotations

import asyncio
import datetime
import time
from typing import Any

import pytest

from squall import gen, locks
from squall.ioloop import IOLoop
from tests.conftest import Runner

SHORT = datetime.timedelta(seconds=0.01)


async def settle() -> None:
    """Let callbacks queued by resolved futures (and the coroutines they wake) run."""
    for _ in range(3):
        await asyncio.sleep(0)


# ---- Condition ---------------------------------------------------------------------------------


def test_condition_notify_wakes_waiters_in_arrival_order(run: Runner[Any]) -> None:
    async def body() -> None:
        cond = locks.Condition()
        order: list[int] = []

        async def waiter(i: int) -> None:
            assert await cond.wait() is True
            order.append(i)

        tasks = [asyncio.ensure_future(waiter(i)) for i in range(5)]
        await settle()
        cond.notify(2)
        await settle()
        assert order == [0, 1]
        cond.notify()
        await settle()
        assert order == [0, 1, 2]
        cond.notify_all()
        await asyncio.gather(*tasks)
        assert order == [0, 1, 2, 3, 4]
        assert len(cond._waiters) == 0

    run(body())


def test_condition_wait_times_out_with_false_for_timedelta_and_absolute_deadline(
    run: Runner[Any],
) -> None:
    async def body() -> None:
        cond = locks.Condition()
        assert await cond.wait(SHORT) is False
        assert await cond.wait(IOLoop.current().time() + 0.01) is False
        assert await cond.wait(0) is False  # an absolute time long past
        live = cond.wait()
        cond.notify()  # not spent on the three timed-out waiters still queued
        assert await live is True

    run(body())


def test_condition_notify_skips_timed_out_and_cancelled_waiters(run: Runner[Any]) -> None:
    async def body() -> None:
        cond = locks.Condition()
        timed = cond.wait(SHORT)
        cancelled = cond.wait()
        live = cond.wait()
        cancelled.cancel()
        assert await timed is False
        cond.notify(1)
        assert await live is True
        assert len(cond._waiters) == 0

    run(body())


def test_condition_notify_with_no_waiters_is_not_remembered(run: Runner[Any]) -> None:
    async def body() -> None:
        cond = locks.Condition()
        cond.notify()
        assert await cond.wait(SHORT) is False

    run(body())


def test_condition_many_waiters_timing_out_are_swept(run: Runner[Any]) -> None:
    async def body() -> None:
        cond = locks.Condition()
        waits = [cond.wait(SHORT) for _ in range(2000)]
        survivor = cond.wait()
        assert len(cond._waiters) == 2001
        assert set(await asyncio.gather(*waits)) == {False}
        assert len(cond._waiters) <= locks._SWEEP_AFTER + 1
        cond.notify()
        assert await survivor is True
        assert len(cond._waiters) == 0

    run(body())


def test_condition_repr_counts_waiters(run: Runner[Any]) -> None:
    async def body() -> None:
        cond = locks.Condition()
        assert repr(cond) == "<Condition>"
        cond.wait()
        cond.wait()
        assert repr(cond) == "<Condition waiters[2]>"
        cond.notify_all()

    run(body())


# ---- Event -------------------------------------------------------------------------------------


def test_event_set_wakes_every_waiter_and_later_waits_return_at_once(run: Runner[Any]) -> None:
    async def body() -> None:
        event = locks.Event()
        assert not event.is_set()
        waits = [event.wait() for _ in range(3)]
        assert not any(w.done() for w in waits)
        event.set()
        assert all(w.done() for w in waits)
        assert event.wait().done()
        event.set()  # again: no effect
        assert event.is_set()
        event.clear()
        assert not event.wait(SHORT).done()
        assert repr(event) == "<Event clear>"
        event.set()
        assert repr(event) == "<Event set>"

    run(body())


def test_event_wait_timeout_raises_and_drops_the_waiter(run: Runner[Any]) -> None:
    async def body() -> None:
        event = locks.Event()
        with pytest.raises(TimeoutError):
            await event.wait(SHORT)
        with pytest.raises(TimeoutError):
            await event.wait(time.time() + 0.01)
        waits = [event.wait(SHORT) for _ in range(1000)]
        results = await asyncio.gather(*waits, return_exceptions=True)
        assert all(isinstance(r, TimeoutError) for r in results)
        assert len(event._waiters) <= locks._SWEEP_AFTER
        IOLoop.current().call_later(0.01, event.set)
        await event.wait(datetime.timedelta(seconds=5))

    run(body())


def test_cancelled_waiters_do_not_accumulate_and_others_still_wake(run: Runner[Any]) -> None:
    async def body() -> None:
        event = locks.Event()
        kept = event.wait(datetime.timedelta(seconds=5))
        for _ in range(5000):  # e.g. asyncio.wait_for(event.wait(), t) timing out, over and over
            event.wait().cancel()
            assert len(event._waiters) <= 2 * locks._SWEEP_MIN
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(event.wait(), 0.01)
        event.set()
        await kept
        assert len(event._waiters) == 0

    run(body())


# ---- Semaphore and BoundedSemaphore ------------------------------------------------------------


def test_semaphore_rejects_negative_value() -> None:
    with pytest.raises(ValueError, match=">= 0"):
        locks.Semaphore(-1)


def test_semaphore_hands_releases_to_waiters_in_arrival_order(run: Runner[Any]) -> None:
    async def body() -> None:
        sem = locks.Semaphore(2)
        assert sem.acquire().done() and sem.acquire().done()
        waits = [sem.acquire() for _ in range(3)]
        assert "locked,waiters:3" in repr(sem)
        sem.release()
        assert [w.done() for w in waits] == [True, False, False]
        sem.release()
        sem.release()
        assert all(w.done() for w in waits)
        assert "locked" in repr(sem) and "waiters" not in repr(sem)
        sem.release()
        assert "unlocked,value:1" in repr(sem)

    run(body())


def test_semaphore_release_beyond_start_value_raises_the_counter(run: Runner[Any]) -> None:
    async def body() -> None:
        sem = locks.Semaphore(0)
        sem.release()
        sem.release()
        assert sem.acquire().done() and sem.acquire().done()
        assert not sem.acquire(SHORT).done()

    run(body())


def test_semaphore_timeout_leaves_the_counter_alone(run: Runner[Any]) -> None:
    async def body() -> None:
        sem = locks.Semaphore(0)
        with pytest.raises(TimeoutError):
            await sem.acquire(SHORT)
        with pytest.raises(TimeoutError):
            await sem.acquire(IOLoop.current().time() + 0.01)
        sem.release()
        assert sem.acquire().done()
        assert not sem.acquire(SHORT).done()

    run(body())


def test_semaphore_many_timed_out_acquirers_are_swept(run: Runner[Any]) -> None:
    async def body() -> None:
        sem = locks.Semaphore(0)
        waits = [sem.acquire(SHORT) for _ in range(2000)]
        last = sem.acquire()
        results = await asyncio.gather(*waits, return_exceptions=True)
        assert all(isinstance(r, TimeoutError) for r in results)
        assert len(sem._waiters) <= locks._SWEEP_AFTER + 1
        sem.release()
        assert last.done()
        assert len(sem._waiters) == 0

    run(body())


def test_semaphore_cancelled_acquirer_does_not_take_a_release(run: Runner[Any]) -> None:
    async def body() -> None:
        sem = locks.Semaphore(0)
        cancelled = sem.acquire()
        waiting = sem.acquire()
        cancelled.cancel()
        sem.release()
        assert waiting.done()
        sem.release()
        assert sem.acquire().done()  # the second release was not lost either

    run(body())


def test_semaphore_async_with_releases_even_on_error(run: Runner[Any]) -> None:
    async def body() -> None:
        sem = locks.Semaphore()
        with pytest.raises(ZeroDivisionError):
            async with sem:
                assert "locked" in repr(sem)
                raise ZeroDivisionError
        assert "unlocked,value:1" in repr(sem)
        ctx = await sem.acquire()
        with ctx as entered:
            assert entered is None
        assert "unlocked,value:1" in repr(sem)

    run(body())


def test_semaphore_task_cancelled_after_being_granted_gives_it_back(run: Runner[Any]) -> None:
    async def body() -> None:
        sem = locks.Semaphore(0)
        entered = []

        async def user() -> None:
            async with sem:
                entered.append(True)

        task = asyncio.ensure_future(user())
        await settle()
        sem.release()  # granted to the task, which has not resumed yet
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not entered
        assert sem.acquire().done()

    run(body())


def test_semaphore_and_lock_refuse_plain_with(run: Runner[Any]) -> None:
    async def body() -> None:
        for primitive in (locks.Semaphore(), locks.Lock()):
            with pytest.raises(RuntimeError, match="async with"):
                with primitive:
                    pass

    run(body())


def test_bounded_semaphore_refuses_release_beyond_start(run: Runner[Any]) -> None:
    async def body() -> None:
        sem = locks.BoundedSemaphore(1)
        with pytest.raises(ValueError, match="too many"):
            sem.release()
        sem.acquire()
        waiting = sem.acquire()
        sem.release()
        assert waiting.done()
        sem.release()
        with pytest.raises(ValueError):
            sem.release()

    run(body())


# ---- Lock --------------------------------------------------------------------------------------


def test_lock_serves_waiters_fifo_with_async_with(run: Runner[Any]) -> None:
    async def body() -> None:
        lock = locks.Lock()
        history: list[str] = []

        async def worker(i: int) -> None:
            async with lock:
                history.append(f"in {i}")
                await asyncio.sleep(0)
                history.append(f"out {i}")

        await asyncio.gather(*(worker(i) for i in range(4)))
        assert history == [f"{s} {i}" for i in range(4) for s in ("in", "out")]

    run(body())


def test_lock_release_when_unlocked_raises_and_timeout_keeps_it_locked(run: Runner[Any]) -> None:
    async def body() -> None:
        lock = locks.Lock()
        with pytest.raises(RuntimeError, match="unlocked"):
            lock.release()
        await lock.acquire()
        assert "locked" in repr(lock)
        with pytest.raises(TimeoutError):
            await lock.acquire(timeout=SHORT)
        assert not lock.acquire(SHORT).done()
        lock.release()

    run(body())


def test_generator_coroutine_uses_yield_acquire_and_rejects_yield_lock(run: Runner[Any]) -> None:
    lock = locks.Lock()

    @gen.coroutine
    def good() -> Any:
        with (yield lock.acquire()):
            return "held"

    @gen.coroutine
    def bad() -> Any:
        with (yield lock):
            pass

    async def body() -> None:
        assert await good() == "held"
        assert lock.acquire().done()
        lock.release()
        with pytest.raises(gen.BadYieldError):
            await bad()

    run(body())
