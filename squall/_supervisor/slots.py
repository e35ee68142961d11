"""The managed master's records of its workers: one :class:`Slot` per place, one
:class:`Child` per worker process.

Workers live in slots (0..N-1). A slot has a ``current`` worker and, while it is being
replaced (a rolling restart, a recycle), an ``incoming`` one; the incoming worker becomes
current once it reports READY, and only then is the old one told to drain. ``master.py`` keeps
these records; ``rollout.py`` replaces workers through them. Plain data, no behaviour.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from squall._supervisor import ipc, metrics
from squall._supervisor.scoreboard import Scoreboard

__all__ = ["Child", "Slot"]


@dataclass(eq=False, slots=True)
class Child:
    """One worker process, as the master sees it."""

    pid: int
    slot: int
    generation: int
    channel: ipc.Channel
    started: float
    last_beat: float
    ready_at: float | None = None
    draining: bool = False
    deadline: float | None = None  # escalate (stack dump, then SIGKILL) at this time
    kill_at: float | None = None  # SIGKILL at this time (set after the stack dump)
    killed: bool = False
    timed_out: bool = False  # killed by the watchdog (boot or heartbeat timeout)
    boot_error: bool = False  # it reported why it could not boot (printed once by the master)
    recycle: bool = False  # it served its max_requests and waits for its replacement
    stats: metrics.WorkerStats = field(default_factory=metrics.WorkerStats)
    lags: deque[float] = field(default_factory=lambda: deque(maxlen=5))
    board: Scoreboard | None = None  # shared page: the request it runs (see scoreboard.py)
    rate: float = 0.0  # requests per second, smoothed over heartbeats
    rate_mark: tuple[float, int] | None = None  # (time, served) at the last rate update


@dataclass(eq=False, slots=True)
class Slot:
    """One place for a worker: the one serving, and the one replacing it."""

    index: int
    current: Child | None = None
    incoming: Child | None = None
    respawn_at: float | None = None
    respawn_cause: str = "crash"  # "crash" or "timeout": counted when the respawn is forked
    restarts: int = 0  # replacement workers forked for this slot
    last_cause: str = ""  # why the last one was (crash, timeout, recycle, reload)
