"""The event stream of a run: what the engine tells its listeners, one call per event.

``Reporter`` is the protocol the engine talks to, the one place the events are written.
``NullReporter`` is the one base class of every listener (the progress displays, the
journal, the URL map, the sync state): each event is ignored until a subclass overrides
it, so a listener writes only what it needs.
``FanoutReporter`` sends every event to several listeners. ``record`` is the one way a
final result is kept: into the report, then to the listeners.
"""

from __future__ import annotations

from typing import Protocol

from imagekit_cli.report import FileResult, RunReport


class Reporter(Protocol):
    """Events the engine emits, each written once here.

    Each body is an explicit ``return``, so a class that subclasses the protocol (as
    ``NullReporter`` does) inherits every event as a no-op rather than as abstract.
    """

    def planned(self, files: int, size: int) -> None:
        """``files`` more files (``size`` bytes) are queued for upload."""
        return

    def planning_done(self) -> None:
        """No more files will be planned."""
        return

    def started(self, key: int, path: str, size: int) -> None:
        """A worker began sending ``path``."""
        return

    def progress(self, key: int, sent: int) -> None:
        """``sent`` more bytes of file ``key`` went out."""
        return

    def retrying(self, key: int, path: str, attempt: int, error: str, wait_s: float) -> None:
        """Attempt ``attempt`` of ``path`` failed with ``error``; retrying after ``wait_s``."""
        return

    def finished(self, result: FileResult) -> None:
        """A file reached its final status."""
        return

    def message(self, level: str, text: str) -> None:
        """A warning or note for the person running the command."""
        return

    def concurrency(self, limit: int) -> None:
        """The engine now lets ``limit`` uploads be in flight at once."""
        return


class NullReporter(Reporter):
    """The base class of every listener: it inherits the protocol's events, each of which
    does nothing until a subclass overrides it. An instance is a reporter that ignores
    everything."""


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

    def concurrency(self, limit: int) -> None:
        """Forward."""
        for r in self.reporters:
            r.concurrency(limit)


def record(report: RunReport, reporter: Reporter, result: FileResult) -> None:
    """Keep one final result: add it to the report, then tell the listeners."""
    report.add(result)
    reporter.finished(result)
