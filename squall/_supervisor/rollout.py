"""Replacing live workers without a gap in service: rolling restarts, recycling, scaling.

Three ways the managed master changes its set of workers while it serves:

- a **rolling restart** (SIGHUP: one slot at a time; ``--reload``: all at once) starts a new
  generation: for each batch of slots it forks the replacements and, once every one of them is
  READY, tells the old workers to drain; a replacement that fails aborts the restart and the
  old generation keeps serving;
- a **recycle** (``--max-requests``) replaces one worker that served its quota, one at a time;
  a replacement that fails is retried after a doubling delay, and too many failures in a row
  stop the master as boot failures do;
- **scaling** (SIGTTIN / SIGTTOU) adds a slot, or drains the newest worker and drops its slot.

Rule (the master's rule 2): an old worker is told to drain only once its replacement is READY.
:class:`Replacements` holds the state of all three and drives them through the small
:class:`Pool` interface the master implements; it never forks, signals or waits itself.
"""

from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Protocol

from squall._supervisor.common import RestartBackoff, doubling, sd_notify
from squall._supervisor.metrics import MasterMetrics
from squall._supervisor.slots import Child, Slot
from squall.log import gen_log

__all__ = ["Pool", "Replacements", "Rollout"]

RETRY_FIRST = 1.0  # seconds before the first retry of a failed recycle; doubles each time
RETRY_MAX = 30.0  # seconds


class Pool(Protocol):
    """What replacing workers uses of the master (``master.Master`` implements it)."""

    slots: dict[int, Slot]
    generation: int  # of the workers forked from now on
    metrics: MasterMetrics
    backoff: RestartBackoff
    boot_failures: int  # in a row, with no READY in between

    @property
    def running(self) -> bool:
        """Serving, not shutting down."""

    @property
    def booted(self) -> bool:
        """Every worker of the first generation reported READY once."""

    def spawn(self, index: int, generation: int) -> Child:
        """Fork a worker for slot ``index``."""

    def retire(self, child: Child, *, quick: bool = False) -> None:
        """Tell ``child`` to drain (or quit at once); it is killed if it overruns."""

    def schedule_respawn(self, slot: Slot, uptime: float) -> None:
        """Fork ``slot``'s worker again after the backoff delay."""

    def count_boot_failure(self) -> bool:
        """Count one more boot failure; True when the master gives up (it is then stopping)."""

    def restarted(self, slot: Slot, cause: str) -> None:
        """Count a replacement worker forked for ``slot`` because of ``cause``."""


@dataclass(eq=False, slots=True)
class Rollout:
    """A rolling restart in progress: the slots still to replace, and those being replaced."""

    reason: str
    generation: int
    pending: list[int]
    batch: int  # slots replaced at once; 0 means all of them
    active: list[Slot] = field(default_factory=list)


class Replacements:
    """The rolling restart, the recycles and the scaling of one master (see the module)."""

    def __init__(self, pool: Pool) -> None:
        self._pool = pool
        self.rollout: Rollout | None = None
        self._recycles: deque[int] = deque()  # slots whose worker asked to be recycled
        self._recycling: int | None = None  # the slot being recycled now
        self._recycle_not_before = 0.0

    def next_due(self) -> float:
        """When :meth:`advance` has a timer to run (a delayed recycle), or infinity."""
        return self._recycle_not_before if self._recycles else math.inf

    def advance(self, now: float) -> None:
        """Move the rolling restart, then the recycles, as far as READY workers allow."""
        self._advance_rollout()
        self._advance_recycle(now)

    def stop(self) -> None:
        """Forget every change in flight (shutdown: no new worker is forked)."""
        self.rollout = None
        self._recycles.clear()
        self._recycling = None

    # -- rolling restarts ----------------------------------------------------------------------

    def start_rollout(self, reason: str, batch: int) -> None:
        """Replace every worker by a new generation, ``batch`` slots at a time (0: all)."""
        pool = self._pool
        if not pool.running:
            return
        if not pool.booted:
            gen_log.warning("%s ignored: the first generation is still booting", reason)
            return
        self._cancel_incoming()
        pool.generation += 1
        self.rollout = Rollout(reason, pool.generation, sorted(pool.slots), batch)
        gen_log.info("%s: rolling restart to generation %d", reason, pool.generation)
        sd_notify(f"RELOADING=1\nMONOTONIC_USEC={time.monotonic_ns() // 1000}")

    def _cancel_incoming(self) -> None:
        """Drop replacements in flight (a restarted rollout, a recycle): they run old code."""
        for slot in self._pool.slots.values():
            if slot.incoming is not None:
                self._pool.retire(slot.incoming, quick=True)
                slot.incoming = None
        self.stop()

    def _advance_rollout(self) -> None:
        rollout = self.rollout
        if rollout is None:
            return
        if rollout.active:
            if not all(s.incoming and s.incoming.ready_at for s in rollout.active):
                return
            for slot in rollout.active:
                self._promote(slot)
            rollout.active.clear()
        if rollout.pending:
            size = len(rollout.pending) if rollout.batch == 0 else rollout.batch
            batch, rollout.pending = rollout.pending[:size], rollout.pending[size:]
            for index in batch:
                slot = self._pool.slots[index]
                slot.respawn_at = None
                slot.incoming = self._pool.spawn(index, rollout.generation)
                self._pool.restarted(slot, "reload")
                rollout.active.append(slot)
        elif not rollout.active:
            self.rollout = None
            gen_log.info("Rolling restart done: generation %d is serving", rollout.generation)
            sd_notify("READY=1")

    def _promote(self, slot: Slot) -> None:
        old, slot.current, slot.incoming = slot.current, slot.incoming, None
        if old is not None:
            self._pool.retire(old)

    def replacement_failed(self, slot: Slot) -> None:
        """``slot``'s incoming worker died before READY: abort or retry, then respawn."""
        pool = self._pool
        rollout = self.rollout
        if rollout is not None and slot in rollout.active:
            gen_log.error(
                "%s aborted: the new worker for slot %d failed; the old workers keep serving "
                "(generation %d)", rollout.reason, slot.index, pool.generation - 1,
            )  # fmt: skip
            self._cancel_incoming()
            pool.metrics.reload_failures += 1
            sd_notify("READY=1\nSTATUS=reload failed")
        elif self._recycling == slot.index:
            self._recycling = None
            if pool.count_boot_failure():
                return
            gen_log.error("The replacement for slot %d failed; retrying the recycle", slot.index)
            self._recycles.append(slot.index)
            delay = doubling(pool.boot_failures, RETRY_FIRST, RETRY_MAX)
            self._recycle_not_before = time.monotonic() + delay
        if slot.current is None and slot.respawn_at is None:
            pool.schedule_respawn(slot, 0.0)

    # -- recycling -----------------------------------------------------------------------------

    def request_recycle(self, child: Child) -> None:
        """``child`` served its ``max_requests``: queue its replacement (one at a time)."""
        slot = self._pool.slots.get(child.slot)
        if slot is None or slot.current is not child or child.recycle:
            return
        child.recycle = True
        gen_log.info("Worker %d (slot %d) reached max_requests: recycling", child.pid, slot.index)
        self._recycles.append(slot.index)

    def _advance_recycle(self, now: float) -> None:
        if self.rollout is not None:
            return
        slots = self._pool.slots
        if self._recycling is not None:
            slot = slots.get(self._recycling)
            if slot is None or slot.incoming is None:
                self._recycling = None
            elif slot.incoming.ready_at is not None:
                self._promote(slot)
                self._recycling = None
            else:
                return
        while self._recycles and now >= self._recycle_not_before:
            slot = slots.get(self._recycles.popleft())
            if slot and slot.current and slot.current.recycle and not slot.incoming:
                slot.incoming = self._pool.spawn(slot.index, self._pool.generation)
                self._pool.restarted(slot, "recycle")
                self._recycling = slot.index
                return

    # -- scaling -------------------------------------------------------------------------------

    def scale(self, step: int) -> None:
        """One more slot (``step > 0``), or one less: the newest worker, the least warm, drains."""
        pool = self._pool
        slots = pool.slots
        if step > 0:
            index = next(i for i in range(len(slots) + 1) if i not in slots)
            pool.backoff.forget(index)  # a new slot starts without a crash streak
            slot = slots[index] = Slot(index)
            slot.current = pool.spawn(index, pool.generation)
        elif len(slots) <= 1:
            gen_log.info("SIGTTOU ignored: there is only one worker left")
            return
        else:
            slot = max(
                slots.values(),
                key=lambda s: s.current.started if s.current is not None else math.inf,
            )
            del slots[slot.index]
            if self.rollout is not None:
                self.rollout.pending = [i for i in self.rollout.pending if i != slot.index]
                if slot in self.rollout.active:
                    self.rollout.active.remove(slot)
            for child in (slot.current, slot.incoming):
                if child is not None:
                    pool.retire(child)
        gen_log.info("Scaled to %d worker(s)", len(slots))
