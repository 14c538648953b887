"""When and how long to retry, and the pause gate every caller of one API waits on.

Retried: no answer (connection errors, timeouts) and statuses 408, 429, 500, 502, 503, 504.
Never retried: other 4xx, local file errors, signing-backend errors. A 429 whose answer
names a wait (``Retry-After``, or ``X-RateLimit-Reset`` in ms, as ImageKit's rate-limit
headers are documented) does not use up an attempt: the wait is honoured and drawn from a
per-call time budget (``max_wait_s``) instead. Other failures back off exponentially with
jitter and count as attempts.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception

from imagekit_cli.errors import (
    APIError,
    ImageKitCLIError,
    RateLimitError,
    ServerError,
    TimeoutError_,
    TransportError,
)

RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
DEFAULT_MAX_WAIT_S = 300.0
RESUME_SPACING_S = 0.05  # between requests just after a pause, when the server names no rate
STAGGER_S = 0.5  # how long after a pause requests stay spaced that way
PACING_MARGIN = 1.05  # stay a little under the rate the server names

T = TypeVar("T")
Outcome = Callable[[BaseException | None], None]


def is_retryable(exc: BaseException) -> bool:
    """Whether another attempt could succeed."""
    if isinstance(exc, TransportError):
        return True
    return isinstance(exc, APIError) and exc.status in RETRYABLE_STATUSES


def is_congestion(exc: BaseException) -> bool:
    """Whether a failure says "send less": a 429, a 5xx or a timeout."""
    return isinstance(exc, RateLimitError | ServerError | TimeoutError_)


def server_wait(exc: BaseException | None) -> float | None:
    """The wait a 429 named, if it named one."""
    if isinstance(exc, RateLimitError):
        return exc.rate_limit.wait_s
    return None


def pacing_of(exc: BaseException) -> float | None:
    """Seconds between request starts that keep under the rate a 429 states, if it does."""
    if not isinstance(exc, APIError):
        return None
    info = exc.rate_limit
    if info.limit and info.interval_s:
        return info.interval_s / info.limit * PACING_MARGIN
    return None


@dataclass(frozen=True)
class RetryPolicy:
    """Attempts in all, the backoff when the server names no wait, and the budget for the
    waits it names."""

    attempts: int = 5
    backoff_base_s: float = 0.5
    backoff_max_s: float = 30.0
    max_wait_s: float = DEFAULT_MAX_WAIT_S

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Full-jitter exponential backoff after the ``attempt``-th failure."""
        ceiling = min(self.backoff_max_s, self.backoff_base_s * 2 ** (max(1, attempt) - 1))
        return rng.uniform(ceiling / 2, ceiling)

    def wait_for(self, exc: BaseException | None, attempt: int, rng: random.Random) -> float:
        """The server's requested wait if it named one, else backoff."""
        named = server_wait(exc)
        return named if named is not None else self.backoff(attempt, rng)


class PauseGate:
    """One per API. After a 429 every caller holds off until the reset, not only the one that
    got it; then they go one at a time, spaced at the rate the server stated (or a little
    apart when it stated none), so they do not all hit the limit again at once."""

    def __init__(
        self, clock: Callable[[], float] = time.monotonic, on_outcome: Outcome | None = None
    ) -> None:
        self._clock = clock
        self._resume_at = 0.0
        self._pacing = 0.0
        self._next_start = 0.0
        self.on_outcome = on_outcome  # told of every attempt: None for success, else the error

    def pause(self, seconds: float, pacing: float | None = None) -> None:
        """Hold every caller of ``wait`` for at least ``seconds`` from now; from then on,
        start requests at most one per ``pacing`` seconds when given."""
        self._resume_at = max(self._resume_at, self._clock() + seconds)
        if pacing:
            self._pacing = max(self._pacing, pacing)

    def outcome(self, error: BaseException | None) -> None:
        """Report one attempt's result to whoever adapts to it."""
        if self.on_outcome is not None:
            self.on_outcome(error)

    async def wait(self) -> None:
        """Return when this caller may send: no pause in force, and its turn has come."""
        while True:
            now = self._clock()
            if (delay := self._resume_at - now) > 0:
                await asyncio.sleep(delay)
                continue
            resuming = now < self._resume_at + STAGGER_S
            spacing = self._pacing or (RESUME_SPACING_S if resuming else 0.0)
            if not spacing:
                return
            start = max(now, self._next_start)
            self._next_start = start + spacing
            if start <= now:
                return
            await asyncio.sleep(start - now)
            if self._resume_at <= self._clock():
                return


class _Budget:
    """Tenacity's stop and wait for one call: failures count as attempts unless the server
    named a wait, and the waits it names add up against ``max_wait_s``."""

    def __init__(self, policy: RetryPolicy, rng: random.Random) -> None:
        self.policy = policy
        self.rng = rng
        self.failures = 0
        self.waited = 0.0
        self.over_budget: float | None = None  # the named wait that did not fit
        self._judged = 0
        self._verdict = (False, 0.0)

    def stop(self, state: RetryCallState) -> bool:
        """Whether to give up after this outcome."""
        return self._judge(state)[0]

    def wait(self, state: RetryCallState) -> float:
        """How long to wait before the next attempt."""
        return self._judge(state)[1]

    def _judge(self, state: RetryCallState) -> tuple[bool, float]:
        # Judged once per attempt, whichever of stop and wait tenacity asks first.
        if state.attempt_number != self._judged:
            self._judged = state.attempt_number
            named = server_wait(state.outcome.exception() if state.outcome else None)
            if named is None:
                self.failures += 1
                backoff = self.policy.backoff(self.failures, self.rng)
                self._verdict = (self.failures >= self.policy.attempts, backoff)
            elif self.waited + named > self.policy.max_wait_s:
                self.over_budget = named
                self._verdict = (True, 0.0)
            else:
                self.waited += named
                self._verdict = (False, named)
        return self._verdict

    def explain(self, exc: RateLimitError) -> RateLimitError:
        """The 429 that ended the call, saying the budget ran out."""
        assert self.over_budget is not None
        done = f"after waiting {self.waited:.1f} s, " if self.waited else ""
        return RateLimitError(
            f"{exc.message}: still rate limited {done}and the server asked to wait "
            f"{self.over_budget:.1f} s more, beyond --max-wait {self.policy.max_wait_s:g} s",
            status=exc.status,
            request_id=exc.request_id,
            rate_limit=exc.rate_limit,
            hint="Raise --max-wait, or run again later.",
        )


RetryHook = Callable[[int, BaseException, float], None]


async def _attempt(attempt_fn: Callable[[], Awaitable[T]], gate: PauseGate) -> T:
    await gate.wait()
    try:
        result = await attempt_fn()
    except Exception as exc:
        gate.outcome(exc)
        raise
    gate.outcome(None)
    return result


def _before_sleep(gate: PauseGate, on_retry: RetryHook | None) -> Callable[[RetryCallState], None]:
    """What happens before each wait: a 429 pauses every worker; the hook hears of it."""

    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        assert exc is not None
        seconds = state.next_action.sleep if state.next_action else 0.0
        if isinstance(exc, RateLimitError):
            gate.pause(seconds, pacing_of(exc))
        if on_retry is not None:
            on_retry(state.attempt_number, exc, seconds)

    return before_sleep


async def call_with_retry(
    attempt_fn: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    gate: PauseGate,
    on_retry: RetryHook | None = None,
    rng: random.Random | None = None,
) -> tuple[T, int]:
    """Run ``attempt_fn`` until it succeeds, fails for good, or attempts or budget run out.

    Returns the result and the number of attempts; raises the last error otherwise, with
    the attempt count in its ``attempts`` attribute. Most calls succeed at once, so the
    first attempt runs plainly and tenacity takes over only after a retryable failure.
    """
    try:
        return await _attempt(attempt_fn, gate), 1
    except Exception as exc:
        if not is_retryable(exc) or (policy.attempts <= 1 and server_wait(exc) is None):
            raise
        first_failure = exc
    budget = _Budget(policy, rng or random.Random())

    async def replay_first_failure() -> T:
        raise first_failure

    retrying = AsyncRetrying(
        stop=budget.stop,
        retry=retry_if_exception(is_retryable),
        wait=budget.wait,
        before_sleep=_before_sleep(gate, on_retry),
        reraise=True,
    )
    attempts = 0
    try:
        async for attempt in retrying:
            with attempt:
                attempts = attempt.retry_state.attempt_number
                if attempts == 1:  # the attempt already made, outside tenacity
                    result = await replay_first_failure()
                else:
                    result = await _attempt(attempt_fn, gate)
    except RateLimitError as exc:
        final = budget.explain(exc) if budget.over_budget is not None else exc
        final.attempts = attempts
        raise final from None
    except ImageKitCLIError as exc:
        exc.attempts = attempts
        raise
    return result, attempts
