"""Signals and other requests to end a run early, for one command invocation.

SIGINT (Ctrl-C) and SIGTERM behave alike. The first stops starting files and lets those in
flight finish; the second cancels them, and the run then ends with its report written (a
watchdog exits anyway after a few seconds if something still holds it up); the third
exits at once. Outside an upload phase the first signal raises KeyboardInterrupt, as
Python does, and the second only arms the watchdog, so that the report is still written.

Handlers are installed with :func:`signal.signal`, not the event loop's, so the third
signal works even while the loop is busy; the first two are handed to the loop with
``call_soon_threadsafe``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import FrameType
from typing import Any

from imagekit_cli.errors import ExitCode

SIGNALS = (signal.SIGINT, signal.SIGTERM)
GRACE_S = 4.0  # after the second signal, how long the run may take to write its report


@dataclass(frozen=True, slots=True)
class Listener:
    """Who hears about interrupts while an upload phase runs, and on which loop."""

    loop: asyncio.AbstractEventLoop
    on_signal: Callable[[int], None]  # called with the count: 1, then 2
    on_stop: Callable[[str], None]  # a stop asked for another reason (stdout closed)


def _exit_now(message: str) -> None:
    with contextlib.suppress(OSError):
        os.write(2, f"imagekit: {message}\n".encode())
    os._exit(int(ExitCode.INTERRUPTED))


class Interrupts:
    """Counts SIGINT/SIGTERM for one command and hands them to the running upload phase."""

    def __init__(
        self, *, grace_s: float = GRACE_S, exit_now: Callable[[str], None] = _exit_now
    ) -> None:
        self.count = 0
        self.grace_s = grace_s
        self._exit_now = exit_now
        self._listener: Listener | None = None
        self._pending_stop: str | None = None
        self._previous: dict[signal.Signals, Any] = {}
        self._depth = 0
        self._watchdog: threading.Timer | None = None

    @contextlib.contextmanager
    def installed(self) -> Iterator[Interrupts]:
        """Route SIGINT and SIGTERM here while inside; restore the previous handlers after.

        Re-entrant; outside the main thread (where Python allows no handler) it does nothing.
        """
        if self._depth == 0:
            for sig in SIGNALS:
                with contextlib.suppress(ValueError, OSError):
                    self._previous[sig] = signal.signal(sig, self._on_signal)
        self._depth += 1
        try:
            yield self
        finally:
            self._depth -= 1
            if self._depth == 0:
                for sig, handler in self._previous.items():
                    signal.signal(sig, handler)
                self._previous.clear()
                if self._watchdog is not None:
                    self._watchdog.cancel()

    @contextlib.contextmanager
    def listening(self, listener: Listener) -> Iterator[None]:
        """While inside, interrupts and stop requests go to ``listener``."""
        self._listener = listener
        if self._pending_stop is not None:
            listener.on_stop(self._pending_stop)
        try:
            yield
        finally:
            self._listener = None

    def request_stop(self, reason: str) -> None:
        """Stop starting files for a reason other than a signal; call it from the loop."""
        if self._listener is not None:
            self._listener.on_stop(reason)
        elif self._pending_stop is None:
            self._pending_stop = reason

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.count += 1
        if self.count >= 3:
            self._exit_now("interrupted three times; exiting now.")
            return
        if self.count == 2:
            self._arm_watchdog()
        listener = self._listener
        if listener is None:
            if self.count == 1:
                raise KeyboardInterrupt
            return  # already on the way out, maybe writing the report: let it finish
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            listener.loop.call_soon_threadsafe(listener.on_signal, self.count)

    def _arm_watchdog(self) -> None:
        message = f"still running {self.grace_s:g} s after the second interrupt; exiting now."
        self._watchdog = threading.Timer(self.grace_s, self._exit_now, args=(message,))
        self._watchdog.daemon = True
        self._watchdog.start()
