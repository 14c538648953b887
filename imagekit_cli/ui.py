"""What a person or a CI log sees while a run goes: the consoles and live progress.

Three Reporter implementations: ``RichReporter`` (a TTY: overall files and bytes, speed,
ETA and a row per file in flight), ``PlainReporter`` (CI and pipes: one line per finished
file and a progress line every 10 s, never an ANSI code) and ``QuietReporter`` (-q:
failures only). All of them write to stderr; stdout carries results only. What is
printed once the run ends (tables, the summary) is ``tables.py``.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from types import TracebackType

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
)

from imagekit_cli.errors import ImageKitCLIError
from imagekit_cli.events import NullReporter
from imagekit_cli.limits import format_size
from imagekit_cli.report import FileResult, Status
from imagekit_cli.tables import size_text
from imagekit_cli.text import printable

PROGRESS_MODES = ("auto", "rich", "plain", "none")
PLAIN_PROGRESS_EVERY_S = 10.0
PIPE_WIDTH = 1000


def make_consoles(color: bool | None) -> tuple[Console, Console]:
    """stdout and stderr consoles; ``color`` None means: decide from the TTY and NO_COLOR."""
    no_color = color is False or (color is None and "NO_COLOR" in os.environ)
    out = Console(no_color=no_color, force_terminal=color or None, highlight=False,
                  soft_wrap=True)  # fmt: skip
    if not out.is_terminal:
        out.width = PIPE_WIDTH  # a pipe has no width: keep each table row on one line
    err = Console(stderr=True, no_color=no_color, force_terminal=color or None, highlight=False,
                  soft_wrap=True)  # fmt: skip
    return out, err


def choose_progress(mode: str, err: Console, quiet: bool, env_ci: bool) -> str:
    """Resolve ``--progress auto`` to rich on a TTY outside CI, plain otherwise."""
    if quiet:
        return "none"
    if mode != "auto":
        return mode
    return "rich" if err.is_terminal and not env_ci else "plain"


def _line(result: FileResult) -> str:
    status = result.status.value
    if result.status in (Status.UPLOADED, Status.PLANNED, Status.DELETED):
        size = size_text(result)
        extra = f"  {result.duration_s:.2f}s" if result.status == Status.UPLOADED else ""
        retries = f"  ({result.attempts} attempts)" if result.attempts > 1 else ""
        note = f"  [{result.reason}]" if result.reason else ""
        return f"{status:<9} {result.path} -> {result.remote_path}  {size}{extra}{retries}{note}"
    return f"{status:<9} {result.path}  ({result.reason})"


class _Counting(NullReporter):
    """Totals shared by the line-based reporters."""

    def __init__(self, err: Console, verbose: int = 0) -> None:
        self.err = err
        self.verbose = verbose
        self.total_files = 0
        self.total_bytes = 0
        self.done_files = 0
        self.sent_bytes = 0
        self.started_at = time.monotonic()
        self.limit: int | None = None  # uploads allowed in flight now, once the engine says

    def concurrency(self, limit: int) -> None:
        """Remember the engine's current concurrency, for the progress display."""
        self.limit = limit

    def limit_text(self) -> str:
        """``  -j 16`` once the engine has said its concurrency, else ''."""
        return f"  -j {self.limit}" if self.limit is not None else ""

    def __enter__(self) -> _Counting:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """Hold any live display while the user answers a prompt."""
        yield

    def planned(self, files: int, size: int) -> None:
        """Grow the totals."""
        self.total_files += files
        self.total_bytes += size

    def progress(self, key: int, sent: int) -> None:
        """Count bytes."""
        self.sent_bytes += sent

    def line(self, text: str) -> None:
        """One plain line on stderr, escaped; no markup, so rich's renderer is not needed."""
        self.err.file.write(printable(text) + "\n")

    def message(self, level: str, text: str) -> None:
        """Warnings always; notes with -v."""
        if level != "info" or self.verbose:
            self.line(f"{level}: {text}")


class PlainReporter(_Counting):
    """One line per finished file; a progress line every 10 s; no ANSI codes."""

    def __init__(self, err: Console, verbose: int = 0, every_s: float = PLAIN_PROGRESS_EVERY_S):
        super().__init__(err, verbose)
        self.every_s = every_s
        self._last = time.monotonic()

    def retrying(self, key: int, path: str, attempt: int, error: str, wait_s: float) -> None:
        """With -v, a line per retry (the report keeps each file's attempts)."""
        if self.verbose:
            self.line(
                f"retry     {path}  attempt {attempt} failed: {error}; retrying in {wait_s:.1f}s"
            )

    def finished(self, result: FileResult) -> None:
        """Print the file's line (skips only with -v)."""
        if result.status == Status.UPLOADED:
            self.done_files += 1
        not_started = (result.reason or "").startswith("not started:")  # one line at the end
        if result.status != Status.SKIPPED or (self.verbose and not not_started):
            self.line(_line(result))
        now = time.monotonic()
        if now - self._last >= self.every_s:
            self._last = now
            self.line(self.progress_line(now))

    def progress_line(self, now: float) -> str:
        """``progress  12/2000 files  1.2 MB/30.0 MB  400.0 kB/s``."""
        elapsed = max(now - self.started_at, 1e-6)
        rate = self.sent_bytes / elapsed
        return (
            f"progress  {self.done_files}/{self.total_files} files  "
            f"{format_size(self.sent_bytes)}/{format_size(self.total_bytes)}  "
            f"{format_size(rate)}/s{self.limit_text()}"
        )


class QuietReporter(_Counting):
    """Only failures."""

    def finished(self, result: FileResult) -> None:
        """Print failures."""
        if result.status == Status.FAILED:
            self.line(_line(result))

    def message(self, level: str, text: str) -> None:
        """Only warnings and errors."""
        if level in ("warning", "error"):
            self.line(f"{level}: {text}")


class RichReporter(_Counting):
    """Live progress: overall files and bytes, speed, ETA, a row per file in flight."""

    def __init__(self, err: Console, verbose: int = 0) -> None:
        super().__init__(err, verbose)
        self.live = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}", markup=False),
            BarColumn(),
            DownloadColumn(),
            TextColumn("{task.fields[rate]}", markup=False),
            TextColumn("{task.fields[eta]}", markup=False),
            console=err,
            transient=True,
        )
        self.overall = self.live.add_task("planning…", total=None, rate="", eta="")
        self._tasks: dict[int, TaskID] = {}
        self._sent: dict[int, int] = {}
        self._keys: dict[str, int] = {}
        self._planning = True
        self._described_at = 0.0

    def __enter__(self) -> RichReporter:
        self.live.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.live.stop()

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """Stop the live display (so a prompt is not drawn over) and resume it after."""
        self.live.stop()
        try:
            yield
        finally:
            self.live.start()

    def _describe(self) -> None:
        # Speed and ETA come from our own counters: rich forgets its speed samples each
        # time a total changes, and a streamed plan grows the total with every file.
        more = "+" if self._planning else ""
        elapsed = time.monotonic() - self.started_at
        rate = self.sent_bytes / elapsed if elapsed > 0.5 else 0.0
        eta = ""
        if rate and not self._planning:
            left = max(0, self.total_bytes - self.sent_bytes) / rate
            eta = f"ETA {int(left // 60)}:{int(left % 60):02d}"
        self.live.update(
            self.overall,
            total=self.total_bytes or None,
            description=f"{self.done_files}/{self.total_files}{more} files{self.limit_text()}",
            rate=f"{format_size(rate)}/s" if rate else "",
            eta=eta,
        )

    def planned(self, files: int, size: int) -> None:
        """Grow the overall bar."""
        super().planned(files, size)
        self._describe()

    def planning_done(self) -> None:
        """Totals are now final."""
        self._planning = False
        self._describe()

    def concurrency(self, limit: int) -> None:
        """Show the new concurrency on the overall bar."""
        super().concurrency(limit)
        self._describe()

    def started(self, key: int, path: str, size: int) -> None:
        """Add a row for the file."""
        shown = printable(path)
        label = shown if len(shown) <= 40 else "…" + shown[-39:]
        self._tasks[key] = self.live.add_task(label, total=size or None, rate="", eta="")
        self._keys[path] = key
        self._sent[key] = 0

    def progress(self, key: int, sent: int) -> None:
        """Advance the file's row and the overall bar."""
        super().progress(key, sent)
        self._sent[key] = self._sent.get(key, 0) + sent
        if key in self._tasks:
            self.live.update(self._tasks[key], completed=self._sent[key])
        self.live.update(self.overall, advance=sent)
        now = time.monotonic()
        if now - self._described_at >= 0.25:
            self._described_at = now
            self._describe()

    def retrying(self, key: int, path: str, attempt: int, error: str, wait_s: float) -> None:
        """Show retries with -v."""
        if self.verbose:
            self.live.console.print(
                f"retry {escape(printable(path))}: {escape(printable(error))}; "
                f"again in {wait_s:.1f}s",
                style="yellow",
            )

    def finished(self, result: FileResult) -> None:
        """Remove the file's row; print failures above the bars."""
        key = self._keys.pop(result.path, None)
        if key is not None and key in self._tasks:
            self.live.remove_task(self._tasks.pop(key))
            self._sent.pop(key, None)
        if result.status == Status.UPLOADED:
            self.done_files += 1
        if result.status == Status.FAILED:
            self.live.console.print(
                f"[red]failed[/red] {escape(printable(result.path))}: "
                f"{escape(printable(result.reason or ''))}"
            )
        elif self.verbose and result.status != Status.UPLOADED:
            self.live.console.print(escape(printable(_line(result))))
        self._describe()


def make_reporter(mode: str, err: Console, verbose: int) -> _Counting:
    """The reporter for a resolved progress mode."""
    if mode == "rich":
        return RichReporter(err, verbose)
    if mode == "plain":
        return PlainReporter(err, verbose)
    return QuietReporter(err, verbose)


def render_error(err: Console, exc: ImageKitCLIError | str, debug_hint: bool = True) -> None:
    """One ``Error: ...`` line, and how to see more."""
    err.print(
        f"Error: {printable(str(exc))}", markup=False, style="red" if err.is_terminal else None
    )
