"""How many uploads may be in flight: found while the run goes, and bounded by the OS.

``Controller`` is the pure rule (no clock, no I/O; the caller passes the time). With
``-j auto`` it starts small and doubles the limit every round while throughput keeps
growing, like TCP slow start; once a doubling stops paying off it holds there. On a
congestion signal (429, 5xx, timeout) it halves the limit, at most once per cool-down, and
then grows back by one per round (AIMD), so a rate-limited run settles under the limit;
past its old level it grows only while throughput does.
``-j N`` is the same rule without slow start: N is where it starts and its ceiling.

``AdaptiveLimit`` is the semaphore whose size the controller sets, and ``fd_headroom``
says how many uploads the open-file limit (``ulimit -n``) leaves room for.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from imagekit_cli.config import AUTO as AUTO  # re-exported: the setting is spelled here too
from imagekit_cli.config import Concurrency as Concurrency

AUTO_MAX = 128
AUTO_START = 16  # a few round trips from the cap at 128; CPU-bound runs lose nothing by it
MIN_ROUND = 8  # successes per measured round, so tiny limits are not judged on noise
GROWTH = 1.1  # a doubling must bring 10 % more throughput to be kept going
KNEE_ROUNDS = 2  # rounds in a row without that growth before slow start ends (one is noise)
COOLDOWN_S = 1.0  # one cut per burst of congestion signals, like TCP's once per RTT
FDS_PER_UPLOAD = 2  # the file being read and its connection
FD_RESERVE = 16  # report, journal, sync state, stdio, the event loop's own


@dataclass
class Controller:
    """AIMD with slow start over a concurrency limit between 1 and ``ceiling``."""

    ceiling: int
    limit: int
    slow_start: bool = True
    cooldown_s: float = COOLDOWN_S
    recover_to: int = 0  # the limit before the last cut; regrown to one step per round
    _round_start: float | None = field(default=None, repr=False)
    _round_done: int = field(default=0, repr=False)
    _last_rate: float = field(default=0.0, repr=False)
    _last_cut: float | None = field(default=None, repr=False)
    _flat_rounds: int = field(default=0, repr=False)

    @classmethod
    def for_setting(cls, setting: Concurrency, cap: int | None = None) -> Controller:
        """``auto``: start small below AUTO_MAX; a number: fixed there, cut only by congestion.

        ``cap`` (from the open-file limit) lowers the ceiling either way.
        """
        ceiling = AUTO_MAX if setting == AUTO else setting
        ceiling = max(1, min(ceiling, cap)) if cap is not None else ceiling
        if setting == AUTO:
            return cls(ceiling=ceiling, limit=min(AUTO_START, ceiling))
        return cls(ceiling=ceiling, limit=ceiling, slow_start=False)

    def started(self, now: float) -> None:
        """The first request went out: the first round is timed from here."""
        if self._round_start is None:
            self._round_start = now

    def on_success(self, now: float) -> int:
        """A request succeeded; returns the limit, grown when a round completes."""
        self.started(now)
        self._round_done += 1
        if self._round_done < max(self.limit, MIN_ROUND):
            return self.limit
        assert self._round_start is not None
        rate = self._round_done / max(now - self._round_start, 1e-9)
        self._round_start, self._round_done = now, 0
        if self.slow_start:
            grew = rate >= self._last_rate * GROWTH
            self._flat_rounds = 0 if grew else self._flat_rounds + 1
            if self.limit >= self.ceiling or self._flat_rounds >= KNEE_ROUNDS:
                self.slow_start = False  # the knee: more in flight no longer pays
            elif grew:
                self.limit = min(self.ceiling, self.limit * 2)
        elif self.limit < self.recover_to or rate >= self._last_rate * GROWTH:
            self.limit = min(self.ceiling, self.limit + 1)
        self._last_rate = rate
        return self.limit

    def on_congestion(self, now: float) -> int:
        """The server pushed back (429, 5xx, timeout); returns the limit, halved at most once
        per cool-down so one burst of refusals counts once."""
        if self._last_cut is not None and now - self._last_cut < self.cooldown_s:
            return self.limit
        self._last_cut = now
        self.recover_to = max(self.recover_to, self.limit)
        self.slow_start = False
        self.limit = max(1, self.limit // 2)
        self._round_start, self._round_done = now, 0
        return self.limit


class AdaptiveLimit:
    """A semaphore whose size may change while it is held; shrinking waits for releases."""

    def __init__(self, limit: int) -> None:
        self._limit = max(1, limit)
        self._held = 0
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()

    @property
    def limit(self) -> int:
        """How many holders are allowed now."""
        return self._limit

    @property
    def held(self) -> int:
        """How many hold it now."""
        return self._held

    def set_limit(self, limit: int) -> None:
        """Resize; waiters are let in at once if the limit grew."""
        self._limit = max(1, limit)
        self._wake()

    async def acquire(self) -> None:
        """Wait for a free place and take it."""
        if self._held < self._limit and not self._waiters:
            self._held += 1
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # granted, then cancelled before it could be used
            else:
                self._waiters.remove(waiter)
            raise

    def release(self) -> None:
        """Give a place back."""
        self._held -= 1
        self._wake()

    def _wake(self) -> None:
        while self._waiters and self._held < self._limit:
            waiter = self._waiters.popleft()
            if not waiter.done():
                self._held += 1
                waiter.set_result(None)

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """``async with limit.slot():`` holds a place for the block."""
        await self.acquire()
        try:
            yield
        finally:
            self.release()


def fd_headroom(per_upload: int = FDS_PER_UPLOAD, reserve: int = FD_RESERVE) -> int | None:
    """How many uploads the soft open-file limit leaves room for, or None if unlimited."""
    try:
        import resource  # not on Windows, whose limits are far higher anyway
    except ImportError:
        return None
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return None
    return max(1, (soft - _open_fds() - reserve) // per_upload)


def _open_fds() -> int:
    for folder in ("/proc/self/fd", "/dev/fd"):
        with contextlib.suppress(OSError):
            return len(os.listdir(folder))
    return 3


def cap_note(setting: Concurrency, cap: int | None) -> str | None:
    """The one warning when the open-file limit lowers an explicit ``-j``, else None."""
    if setting == AUTO or cap is None or setting <= cap:
        return None
    return (
        f"-j {setting} lowered to {cap}: the open-file limit (ulimit -n) leaves room for no "
        f"more uploads at once. Raise it (e.g. ulimit -n 4096) to go higher."
    )
