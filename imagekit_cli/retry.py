"""When and how long to retry, and the pause gate every worker waits on after a 429.

Retried: no answer (connection errors, timeouts) and statuses 408, 429, 500, 502, 503, 504.
Never retried: other 4xx, local file errors, signing-backend errors. Waits honour
``Retry-After`` and ``X-RateLimit-Reset`` (ms), else exponential backoff with full jitter.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from imagekit_cli.errors import APIError, ImageKitCLIError, RateLimitError, TransportError

RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
MAX_SERVER_WAIT_S = 300.0

T = TypeVar("T")


def is_retryable(exc: BaseException) -> bool:
    """Whether another attempt could succeed."""
    if isinstance(exc, TransportError):
        return True
    return isinstance(exc, APIError) and exc.status in RETRYABLE_STATUSES


@dataclass(frozen=True)
class RetryPolicy:
    """How many attempts in all, and the backoff when the server names no wait."""

    attempts: int = 5
    backoff_base_s: float = 0.5
    backoff_max_s: float = 30.0

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Full-jitter exponential backoff after the ``attempt``-th failure."""
        ceiling = min(self.backoff_max_s, self.backoff_base_s * 2 ** (attempt - 1))
        return rng.uniform(ceiling / 2, ceiling)

    def wait_for(self, exc: BaseException | None, attempt: int, rng: random.Random) -> float:
        """The server's requested wait if it gave one, else backoff."""
        if isinstance(exc, APIError) and exc.rate_limit.wait_s is not None:
            return min(MAX_SERVER_WAIT_S, exc.rate_limit.wait_s)
        return self.backoff(attempt, rng)


class PauseGate:
    """After a 429 every worker holds off until the reset, not only the one that got it."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._resume_at = 0.0

    def pause(self, seconds: float) -> None:
        """Hold every caller of ``wait`` for at least ``seconds`` from now."""
        self._resume_at = max(self._resume_at, self._clock() + seconds)

    async def wait(self) -> None:
        """Return once no pause is in force."""
        while (delay := self._resume_at - self._clock()) > 0:
            await asyncio.sleep(delay)


RetryHook = Callable[[int, BaseException, float], None]


async def call_with_retry(
    attempt_fn: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    gate: PauseGate,
    on_retry: RetryHook | None = None,
    rng: random.Random | None = None,
) -> tuple[T, int]:
    """Run ``attempt_fn`` until it succeeds, fails for good, or attempts run out.

    Returns the result and the number of attempts; raises the last error otherwise, with
    the attempt count in its ``attempts`` attribute. Most calls succeed at once, so the
    first attempt runs plainly and tenacity takes over only after a retryable failure.
    """
    await gate.wait()
    try:
        return await attempt_fn(), 1
    except Exception as exc:
        if not is_retryable(exc) or policy.attempts <= 1:
            raise
        first_failure = exc
    chooser = rng or random.Random()

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        return policy.wait_for(exc, state.attempt_number, chooser)

    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        assert exc is not None
        seconds = state.next_action.sleep if state.next_action else 0.0
        if isinstance(exc, RateLimitError):
            gate.pause(seconds)
        if on_retry is not None:
            on_retry(state.attempt_number, exc, seconds)

    async def replay_first_failure() -> T:
        raise first_failure

    retrying = AsyncRetrying(
        stop=stop_after_attempt(policy.attempts),
        retry=retry_if_exception(is_retryable),
        wait=wait,
        before_sleep=before_sleep,
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
                    await gate.wait()
                    result = await attempt_fn()
    except ImageKitCLIError as exc:
        exc.attempts = attempts
        raise
    return result, attempts
