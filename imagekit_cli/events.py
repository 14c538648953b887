"""The event stream of a run: what the engine tells its listeners, one call per event.

``Reporter`` is the protocol the engine talks to. ``NullReporter`` is the one base class
of every listener (the progress displays, the journal, the URL map, the sync state): each
event is ignored until a subclass overrides it, so a listener writes only what it needs.
``FanoutReporter`` sends every event to several listeners.
"""

from __future__ import annotations

from typing import Protocol

from imagekit_cli.report import FileResult


class Reporter(Protocol):
    """Events the engine emits; every listener (a NullReporter subclass) implements it."""

    def planned(self, files: int, size: int) -> None:
        """``files`` more files (``size`` bytes) are queued for upload."""

    def planning_done(self) -> None:
        """No more files will be planned."""

    def started(self, key: int, path: str, size: int) -> None:
        """A worker began sending ``path``."""

    def progress(self, key: int, sent: int) -> None:
        """``sent`` more bytes of file ``key`` went out."""

    def retrying(self, key: int, path: str, attempt: int, error: str, wait_s: float) -> None:
        """Attempt ``attempt`` of ``path`` failed with ``error``; retrying after ``wait_s``."""

    def finished(self, result: FileResult) -> None:
        """A file reached its final status."""

    def message(self, level: str, text: str) -> None:
        """A warning or note for the person running the command."""


class NullReporter:
    """The base class of every listener: each event is ignored until a subclass overrides
    it. An instance is a reporter that ignores everything."""

    def planned(self, files: int, size: int) -> None:
        """Ignore."""

    def planning_done(self) -> None:
        """Ignore."""

    def started(self, key: int, path: str, size: int) -> None:
        """Ignore."""

    def progress(self, key: int, sent: int) -> None:
        """Ignore."""

    def retrying(self, key: int, path: str, attempt: int, error: str, wait_s: float) -> None:
        """Ignore."""

    def finished(self, result: FileResult) -> None:
        """Ignore."""

    def message(self, level: str, text: str) -> None:
        """Ignore."""


class FanoutReporter(NullReporter):
    """Sends every event to several reporters."""

    def __init__(self, *reporters: Reporter) -> None:
        self.reporters = reporters

    def planned(self, files: int, size: int) -> None:
        """Forward."""
        for r in self.reporters:
            r.planned(files, size)

    def planning_done(self) -> None:
        """Forward."""
        for r in self.reporters:
            r.planning_done()

    def started(self, key: int, path: str, size: int) -> None:
        """Forward."""
        for r in self.reporters:
            r.started(key, path, size)

    def progress(self, key: int, sent: int) -> None:
        """Forward."""
        for r in self.reporters:
            r.progress(key, sent)

    def retrying(self, key: int, path: str, attempt: int, error: str, wait_s: float) -> None:
        """Forward."""
        for r in self.reporters:
            r.retrying(key, path, attempt, error, wait_s)

    def finished(self, result: FileResult) -> None:
        """Forward."""
        for r in self.reporters:
            r.finished(result)

    def message(self, level: str, text: str) -> None:
        """Forward."""
        for r in self.reporters:
            r.message(level, text)
