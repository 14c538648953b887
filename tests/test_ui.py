"""Line-based reporters and CI text, checked on their own (no server)."""

from __future__ import annotations

import io

from rich.console import Console

from imagekit_cli.report import FileResult, RunReport, Status
from imagekit_cli.report_files import github_annotations
from imagekit_cli.tables import summary_line
from imagekit_cli.ui import PlainReporter, QuietReporter


def _console() -> tuple[Console, io.StringIO]:
    buffer = io.StringIO()
    return Console(file=buffer, force_terminal=False, width=200), buffer


def test_plain_reporter_lines_and_periodic_progress() -> None:
    err, buffer = _console()
    reporter = PlainReporter(err, every_s=0.0)
    reporter.planned(2, 3000)
    reporter.progress(1, 2000)
    reporter.finished(FileResult("a.jpg", "/x/a.jpg", Status.UPLOADED, size=2000,
                                 duration_s=0.08, attempts=1))  # fmt: skip
    reporter.finished(FileResult("b.exe", "/x/b.exe", Status.SKIPPED, "type not allowed", 1000))
    lines = buffer.getvalue().splitlines()
    assert lines[0] == "uploaded  a.jpg -> /x/a.jpg  2.0 kB  0.08s"
    assert lines[1].startswith("progress  1/2 files  2.0 kB/3.0 kB  ")
    assert all("b.exe" not in line for line in lines)  # skips only with -v
    assert "\x1b[" not in buffer.getvalue()


def test_plain_reporter_shows_skips_and_retries_when_verbose() -> None:
    err, buffer = _console()
    reporter = PlainReporter(err, verbose=1, every_s=3600)
    reporter.retrying(1, "a.jpg", 1, "503 busy", 0.5)
    reporter.finished(FileResult("b.exe", "/b.exe", Status.SKIPPED, "type not allowed"))
    assert buffer.getvalue().splitlines() == [
        "retry     a.jpg  attempt 1 failed: 503 busy; retrying in 0.5s",
        "skipped   b.exe  (type not allowed)",
    ]


def test_quiet_reporter_prints_only_failures() -> None:
    err, buffer = _console()
    reporter = QuietReporter(err)
    reporter.finished(FileResult("a.jpg", "/a.jpg", Status.UPLOADED, size=1))
    reporter.finished(FileResult("b.jpg", "/b.jpg", Status.FAILED, "400 bad"))
    reporter.message("info", "listing")
    assert buffer.getvalue() == "failed    b.jpg  (400 bad)\n"


def test_github_annotation_escaping() -> None:
    report = RunReport("sync")
    report.add(FileResult("dir,1/a:b.jpg", "/a", Status.FAILED, "x",
                          error={"status": 400, "message": "50% done\nthen\rfailed"}))  # fmt: skip
    assert github_annotations(report) == [
        "::error file=dir%2C1/a%3Ab.jpg,title=imagekit sync::50%25 done\\nthen\\rfailed"
    ]


def test_summary_line_counts() -> None:
    report = RunReport("sync")
    report.add(FileResult("a", "/a", Status.UPLOADED, size=2000))
    report.add(FileResult("b", "/b", Status.DELETED))
    report.finish()
    assert summary_line(report).startswith("Uploaded 1, skipped 0, failed 0, deleted 1 · 2.0 kB")
