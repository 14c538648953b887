"""What every run prints: results on stdout, report files, the summary and CI extras."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections import Counter
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import click

from imagekit_cli.cli.context import AppContext
from imagekit_cli.errors import ExitCode, UsageError
from imagekit_cli.events import FanoutReporter, NullReporter, Reporter
from imagekit_cli.files import unwritable_reason
from imagekit_cli.interrupts import Interrupts
from imagekit_cli.report import FileResult, RunReport, Status
from imagekit_cli.report_files import (
    JournalWriter,
    JsonlWriter,
    github_annotations,
    render,
    step_summary,
    write_report,
)
from imagekit_cli.tables import print_summary, print_table
from imagekit_cli.text import printable
from imagekit_cli.ui import PlainReporter

TYPE_NOT_ALLOWED = "type not allowed"
NO_EXTENSION = "(no extension)"


class TypeSkips(NullReporter):
    """Counts files skipped by the type filter, per extension, for one line at the end."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def finished(self, result: FileResult) -> None:
        """Count a type skip."""
        if result.status == Status.SKIPPED and result.reason == TYPE_NOT_ALLOWED:
            suffix = PurePosixPath(result.path.replace("\\", "/")).suffix.lower()
            self.counts[printable(suffix) or NO_EXTENSION] += 1

    def line(self) -> str | None:
        """``Skipped by type: 4 .heic, 1 .psd (not accepted by ImageKit's upload API); ...``."""
        if not self.counts:
            return None
        ranked = self.counts.most_common()
        listed = ", ".join(f"{n} {ext}" for ext, n in ranked)
        named = [ext.lstrip(".") for ext, _ in ranked if ext != NO_EXTENSION][:3]
        hint = " ".join(f"--allow-ext {ext}" for ext in named)
        hint = f"add {hint}, or --any-type" if hint else "add --any-type"
        return (
            f"Skipped by type: {listed} (not among the types ImageKit's upload API takes); "
            f"to send them anyway, {hint}."
        )


def error_skips_line(report: RunReport) -> str | None:
    """``Not uploaded because of errors: 3 file(s) (2 permission denied, ...); ...``, from
    the report's own count of error skips (the one that makes the run exit 1)."""
    counts, folders = report.error_skips, report.error_skip_folders
    if not counts:
        return None
    files = counts.total() - folders
    what = f"{files} file(s)" if files else ""
    if folders:
        what += f"{' and ' if files else ''}{folders} folder(s)"
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    listed = ", ".join(f"{n} {reason}" for reason, n in ranked)
    return (
        f"Not uploaded because of errors: {what} ({listed}); each is in the report with its reason."
    )


STDOUT_CLOSED = "stdout was closed"
NOT_STARTED = "not started: "
TABLE_ROWS = 500  # the most rows the end table shows; the rest are in the report


class NotStarted(NullReporter):
    """Counts files a stopped run never started, for one line at the end."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def finished(self, result: FileResult) -> None:
        """Count a ``not started: <why>`` skip by its why."""
        reason = result.reason or ""
        if result.status == Status.SKIPPED and reason.startswith(NOT_STARTED):
            self.counts[reason.removeprefix(NOT_STARTED)] += 1

    def line(self) -> str | None:
        """``interrupted: 197831 file(s) not started; each is in the report ...``."""
        if not self.counts:
            return None
        listed = "; ".join(f"{why}: {n} file(s) not started" for why, n in self.counts.items())
        return f"{listed} (each is in the report as skipped)."


def silence_stdout() -> None:
    """Point stdout at /dev/null once its reader has gone (EPIPE), so that nothing more,
    not even Python's flush at exit, writes into the closed pipe."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


class StdoutPipe:
    """Results on stdout; when the reader goes away (``| head -1``) the run stops starting
    files, as other command-line tools end on a closed pipe, and writes go nowhere."""

    def __init__(self) -> None:
        self.closed = False
        self.on_close: Callable[[str], None] | None = None

    def guard(self, write: Callable[[], object]) -> None:
        """Run ``write`` unless the pipe is already closed; note it if it closes now."""
        if self.closed:
            return
        try:
            write()
        except BrokenPipeError:
            self.closed = True
            silence_stdout()
            if self.on_close is not None:
                self.on_close(STDOUT_CLOSED)


class PipeResults(NullReporter):
    """Streams each finished file to stdout through a StdoutPipe."""

    def __init__(self, writer: Reporter, pipe: StdoutPipe) -> None:
        self.writer = writer
        self.pipe = pipe

    def finished(self, result: FileResult) -> None:
        """Write the record unless stdout was closed."""
        self.pipe.guard(lambda: self.writer.finished(result))


@dataclass
class RunOutputs:
    """Where results go while a run is in progress, and whether the report keeps them all."""

    output: str
    report_path: str | None
    keep_files: bool
    journal: JournalWriter | None = None
    stdout_lines: Reporter | None = None
    stdout: StdoutPipe = field(default_factory=StdoutPipe)
    type_skips: TypeSkips = field(default_factory=TypeSkips)
    not_started: NotStarted = field(default_factory=NotStarted)
    keep_limit: int | None = None  # results kept only for the end table: at most this many
    lines_on_stderr: bool = False
    step_summary: str | None = None

    def reporter(self, ui: Reporter) -> Reporter:
        """The UI reporter plus the streaming writers and the type-skip counter."""
        self.lines_on_stderr = isinstance(ui, PlainReporter)
        streams = [w for w in (self.journal, self.stdout_lines) if w is not None]
        return FanoutReporter(ui, self.type_skips, self.not_started, *streams)


def prepare_outputs(
    app: AppContext,
    output: str,
    report_path: str | None,
    on_stdout_closed: Callable[[str], None] | None = None,
) -> RunOutputs:
    """A ``.jsonl`` report is a journal written as files finish; ``-o jsonl`` streams to
    stdout; only the other formats need every result kept until the end.
    ``on_stdout_closed`` hears when the reader of stdout goes away."""
    if report_path:
        problem = unwritable_reason(Path(report_path))
        if problem:
            raise UsageError(
                f"--report {printable(report_path)}: cannot write there ({problem}).",
                hint="Give a path in a folder you can write to.",
            )
    journaled = bool(report_path) and str(report_path).lower().endswith(".jsonl")
    keep = output in ("json", "csv") or (output == "table" and not app.quiet)
    whole = output in ("json", "csv") or (bool(report_path) and not journaled)
    keep = keep or whole
    pipe = StdoutPipe()
    pipe.on_close = on_stdout_closed
    return RunOutputs(
        output=output,
        report_path=report_path,
        keep_files=keep,
        keep_limit=None if whole else TABLE_ROWS,
        journal=JournalWriter(Path(str(report_path))) if journaled else None,
        stdout_lines=PipeResults(JsonlWriter(sys.stdout), pipe) if output == "jsonl" else None,
        stdout=pipe,
        step_summary=_step_summary_path(app),
    )


def _step_summary_path(app: AppContext) -> str | None:
    """``$GITHUB_STEP_SUMMARY`` under GitHub Actions if it can be written; otherwise a
    warning now, and the run goes on without a job summary."""
    path = app.env.get("GITHUB_STEP_SUMMARY") if app.env.get("GITHUB_ACTIONS") == "true" else None
    problem = unwritable_reason(Path(path)) if path else None
    if problem:
        _warn_step_summary(app, str(path), problem)
        return None
    return path


def _warn_step_summary(app: AppContext, path: str, problem: str) -> None:
    app.err.print(
        f"warning: cannot write the job summary to GITHUB_STEP_SUMMARY {printable(path)} "
        f"({problem}); "
        "the run goes on without it.",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )


def _redact_report(app: AppContext, report: RunReport) -> None:
    """Secrets out of the report header and failure messages, whatever their source."""
    report.target = {
        k: app.redact(v) if isinstance(v, str) else v for k, v in report.target.items()
    }
    for failure in report.failures:
        failure.reason = app.redact(failure.reason) if failure.reason else failure.reason
        if failure.error and isinstance(failure.error.get("message"), str):
            failure.error["message"] = app.redact(failure.error["message"])


def finish_run(app: AppContext, report: RunReport, outputs: RunOutputs) -> None:
    """Write the report file, results on stdout, the summary and CI annotations."""
    report.finish()
    _redact_report(app, report)
    if outputs.journal is not None:
        outputs.journal.close()
    elif outputs.report_path:
        try:
            write_report(report, Path(outputs.report_path))
        except OSError as exc:  # checked up front; this is the folder vanishing or a full disk
            report.report_lost = True
            app.err.print(
                f"error: could not write --report {printable(outputs.report_path)} "
                f"({exc.strerror or exc}); the results above are complete.",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )
    outputs.stdout.guard(lambda: _results_on_stdout(app, report, outputs))
    lines = [outputs.type_skips.line(), error_skips_line(report), outputs.not_started.line()]
    if outputs.stdout.closed:
        if report.fatal_exit is None:
            report.fatal_exit = ExitCode.FAILED  # not every result reached the reader
        if not outputs.not_started.counts:
            lines.append(f"{STDOUT_CLOSED}: some results did not reach it; see the report.")
    for line in lines:
        if line:
            app.err.print(printable(line), markup=False, highlight=False, soft_wrap=True)
    report.finish()  # the summary's duration runs to the end, output included
    print_summary(report, app.err, quiet=app.quiet)
    if app.env.get("GITHUB_ACTIONS") == "true":
        for line in github_annotations(report):
            app.err.print(line, markup=False, highlight=False)
        if outputs.step_summary:
            try:
                with open(outputs.step_summary, "a", encoding="utf-8") as handle:
                    handle.write(step_summary(report))
            except OSError as exc:
                _warn_step_summary(app, outputs.step_summary, str(exc.strerror or exc))


def run_to_the_end(
    app: AppContext,
    report: RunReport,
    outputs: RunOutputs,
    interrupts: Interrupts,
    display: contextlib.AbstractContextManager[object],
    main: Coroutine[Any, Any, object],
    *,
    after: tuple[Callable[[], None], ...] = (),
    before: tuple[Callable[[], None], ...] = (),
) -> None:
    """Run ``main`` with Ctrl-C and SIGTERM routed to ``interrupts``; however it ends, write
    the report and results (``before`` and ``after`` that)."""
    report.keep_limit = outputs.keep_limit
    with interrupts.installed():
        try:
            with display:
                asyncio.run(main)
        finally:
            report.interrupted = report.interrupted or interrupts.count > 0
            for step in before:
                step()
            finish_run(app, report, outputs)
            for step in after:
                step()


def exit_with(report: RunReport) -> None:
    """End the command: a fatal error (a refused key) as its one line through the error
    boundary, else ``RunReport.exit_code()``."""
    if report.fatal is not None:
        raise report.fatal
    click.get_current_context().exit(int(report.exit_code()))


def _results_on_stdout(app: AppContext, report: RunReport, outputs: RunOutputs) -> None:
    if outputs.output == "table":
        listed = outputs.lines_on_stderr and _same_stream(sys.stdout, sys.stderr)
        if not app.quiet and report.files and not listed:
            print_table(report.files, app.out)
            if report.files_dropped:
                app.out.print(
                    f"... and {report.files_dropped} more file(s), not shown; "
                    "--report FILE.jsonl or -o jsonl lists every file.",
                    markup=False, highlight=False, soft_wrap=True,
                )  # fmt: skip
    elif outputs.output != "jsonl":
        sys.stdout.write(render(report, outputs.output))
        sys.stdout.flush()


def _same_stream(first: object, second: object) -> bool:
    """Whether two streams write to the same file or pipe (a CI log takes both)."""
    try:
        a = os.fstat(first.fileno())  # type: ignore[attr-defined]
        b = os.fstat(second.fileno())  # type: ignore[attr-defined]
    except (AttributeError, OSError, ValueError):
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)
