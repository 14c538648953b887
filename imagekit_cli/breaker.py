"""A circuit breaker: when the server cannot be reached at all, stop starting files.

It trips after ``threshold`` connection failures in a row (no HTTP answer: refused, reset,
timed out) that have lasted at least ``window_s`` with no success in between. Both are
needed: many workers fail together on a short network blip, which retries ride out, and a
single slow file can fail a few times without the server being gone. Any HTTP answer,
even an error status, shows the server is there and resets it.
"""

from __future__ import annotations

import time
from collections.abc import Callable

THRESHOLD = 10
WINDOW_S = 10.0


class CircuitBreaker:
    """Counts consecutive connection failures; ``tripped`` once the server looks gone."""

    def __init__(
        self,
        threshold: int = THRESHOLD,
        window_s: float = WINDOW_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.threshold = threshold
        self.window_s = window_s
        self._clock = clock
        self.failures = 0
        self._since: float | None = None
        self.tripped = False

    def failure(self) -> bool:
        """Note a connection failure; True exactly when this one trips the breaker."""
        now = self._clock()
        if self._since is None:
            self._since = now
        self.failures += 1
        if self.tripped or self.failures < self.threshold or now - self._since < self.window_s:
            return False
        self.tripped = True
        return True

    def success(self) -> None:
        """The server answered: start counting afresh."""
        self.failures, self._since = 0, None

    def reason(self) -> str:
        """Why files were not started, for the report."""
        return (
            f"the server could not be reached ({self.failures} connection failures in a row "
            f"over {self.window_s:g} s, none succeeded)"
        )
