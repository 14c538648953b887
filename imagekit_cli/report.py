"""Results of a run, the Reporter protocol the engine talks to, and report serialisers.

Report formats (DESIGN.md §5, schema_version 1): ``.json`` (one object), ``.jsonl`` (one
file record per line, appended and flushed as each file finishes, so it survives a crash),
``.csv``, and ``.xml`` (JUnit, one testcase per file).
"""

from __future__ import annotations

import csv
import io
import json
import os
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import IO, Any, Protocol
from xml.etree import ElementTree

from imagekit_cli.errors import ExitCode, UsageError
from imagekit_cli.files import write_atomic
from imagekit_cli.text import printable

SCHEMA_VERSION = 1
REPORT_SUFFIXES = (".json", ".jsonl", ".csv", ".xml")
OUTPUT_FORMATS = ("table", "json", "jsonl", "csv")


class Status(StrEnum):
    """What happened to one file."""

    UPLOADED = "uploaded"
    SKIPPED = "skipped"
    FAILED = "failed"
    DELETED = "deleted"
    PLANNED = "planned"


@dataclass(slots=True)
class FileResult:
    """One line of the report."""

    path: str
    remote_path: str
    status: Status
    reason: str | None = None
    size: int = 0
    file_id: str | None = None
    version_id: str | None = None
    url: str | None = None
    attempts: int = 0
    duration_s: float = 0.0
    error: dict[str, Any] | None = None
    mtime: float | None = None
    sha256: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The record as it appears in every report format."""
        return {
            "path": self.path,
            "remote_path": self.remote_path,
            "status": self.status.value,
            "reason": self.reason,
            "size": self.size,
            "file_id": self.file_id,
            "version_id": self.version_id,
            "url": self.url,
            "attempts": self.attempts,
            "duration_s": round(self.duration_s, 3),
            "error": self.error,
            "mtime": self.mtime,
            "sha256": self.sha256,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FileResult:
        """Read a record back (``report merge``, ``--resume``)."""
        known: dict[str, Any] = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        known["status"] = Status(str(data["status"]))
        return cls(**known)


def utc_stamp(when: float) -> str:
    """ISO 8601 UTC with a ``Z``."""
    return datetime.fromtimestamp(when, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


@dataclass
class RunReport:
    """Everything a run did, in the order files finished.

    Counters and failures are always kept. The full list of results is kept only when
    ``keep_files`` is set, i.e. when something needs it at the end (a table, JSON, CSV or
    JUnit output); otherwise results stream out (journal, JSON lines) and memory stays
    flat however many files there are.
    """

    command: str
    target: dict[str, Any] = field(default_factory=dict)
    dry_run: bool = False
    started: float = field(default_factory=time.time)
    finished: float | None = None
    files: list[FileResult] = field(default_factory=list)
    interrupted: bool = False
    fatal_exit: ExitCode | None = None
    keep_files: bool = True
    failures: list[FileResult] = field(default_factory=list)
    _counts: dict[Status, int] = field(default_factory=dict)
    _bytes_uploaded: int = 0

    def add(self, result: FileResult) -> None:
        """Record one finished file."""
        self._counts[result.status] = self._counts.get(result.status, 0) + 1
        if result.status == Status.UPLOADED:
            self._bytes_uploaded += result.size
        elif result.status == Status.FAILED:
            self.failures.append(result)
        if self.keep_files:
            self.files.append(result)

    def finish(self) -> None:
        """Stamp the end time."""
        self.finished = time.time()

    def count(self, status: Status) -> int:
        """How many files ended with ``status``."""
        return self._counts.get(status, 0)

    @property
    def duration_s(self) -> float:
        return (self.finished or time.time()) - self.started

    def summary(self) -> dict[str, int]:
        """Totals by status, and bytes uploaded."""
        statuses = [Status.UPLOADED, Status.SKIPPED, Status.FAILED, Status.DELETED]
        if self.dry_run:
            statuses.append(Status.PLANNED)
        totals = {s.value: self.count(s) for s in statuses}
        total = sum(self._counts.values())
        return {"total": total, **totals, "bytes_uploaded": self._bytes_uploaded}

    def exit_code(self) -> ExitCode:
        """0 nothing failed, 1 a file failed, 3 credentials refused, 130 interrupted."""
        if self.interrupted:
            return ExitCode.INTERRUPTED
        if self.fatal_exit is not None:
            return self.fatal_exit
        return ExitCode.FAILED if self.count(Status.FAILED) else ExitCode.OK

    def to_dict(self) -> dict[str, Any]:
        """The JSON report."""
        return {
            "schema_version": SCHEMA_VERSION,
            "command": self.command,
            "started_at": utc_stamp(self.started),
            "finished_at": utc_stamp(self.finished or time.time()),
            "duration_s": round(self.duration_s, 3),
            "dry_run": self.dry_run,
            "interrupted": self.interrupted,
            "target": self.target,
            "summary": self.summary(),
            "files": [f.to_dict() for f in self.files],
        }


class Reporter(Protocol):
    """Events the engine emits; the UI, the journal and the null reporter implement it."""

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

    def concurrency(self, limit: int) -> None:
        """The engine now lets ``limit`` uploads be in flight at once."""


class NullReporter:
    """A reporter that ignores every event."""

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

    def concurrency(self, limit: int) -> None:
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

    def concurrency(self, limit: int) -> None:
        """Forward."""
        for r in self.reporters:
            r.concurrency(limit)


class JsonlWriter(NullReporter):
    """Writes one JSON line per finished file and flushes it."""

    def __init__(self, handle: IO[str]) -> None:
        self._handle = handle

    def finished(self, result: FileResult) -> None:
        """Write and flush the record."""
        self._handle.write(json.dumps(result.to_dict(), ensure_ascii=False) + "\n")
        self._handle.flush()


class JournalWriter(JsonlWriter):
    """A ``.jsonl`` report file, written line by line: a crash-safe journal."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        super().__init__(path.open("w", encoding="utf-8"))

    def close(self) -> None:
        """Flush to disk and close."""
        self._handle.flush()
        os.fsync(self._handle.fileno())
        self._handle.close()


def check_report_path(path: Path) -> None:
    """Refuse, before any work, a --report whose format cannot be told from its suffix."""
    if path.suffix.lower() not in REPORT_SUFFIXES:
        raise UsageError(
            f"--report {path}: unknown format '{path.suffix}'.",
            hint=f"Use one of {', '.join(REPORT_SUFFIXES)}.",
        )


def render(report: RunReport, fmt: str) -> str:
    """The report as text in ``json``, ``jsonl``, ``csv`` or ``xml`` (JUnit)."""
    if fmt == "json":
        return to_json(report)
    if fmt == "jsonl":
        return "".join(json.dumps(f.to_dict(), ensure_ascii=False) + "\n" for f in report.files)
    if fmt == "csv":
        return to_csv(report.files)
    if fmt == "xml":
        return to_junit(report)
    raise ValueError(f"unknown report format {fmt}")


def to_json(report: RunReport) -> str:
    """The JSON report: the header on one line, then one file record per line.

    Built record by record so the C encoder does the work (``indent`` would force the
    pure-Python one), and still readable and diff-friendly.
    """
    head = report.to_dict()
    del head["files"]
    records = ",\n".join(json.dumps(f.to_dict(), ensure_ascii=False) for f in report.files)
    body = f"\n{records}\n" if records else ""
    return json.dumps(head, ensure_ascii=False)[:-1] + f', "files": [{body}]}}\n'


CSV_COLUMNS = (
    "path",
    "remote_path",
    "status",
    "reason",
    "size",
    "file_id",
    "version_id",
    "url",
    "attempts",
    "duration_s",
    "error_status",
    "error_message",
)


def to_csv(files: Iterable[FileResult]) -> str:
    """One row per file; the error is split into status and message columns."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for f in files:
        record = f.to_dict()
        error = f.error or {}
        writer.writerow(
            [record[c] if record.get(c) is not None else "" for c in CSV_COLUMNS[:10]]
            + [error.get("status", ""), error.get("message", "")]
        )
    return buffer.getvalue()


def to_junit(report: RunReport) -> str:
    """JUnit XML, a testcase per file; ``printable`` keeps it well-formed with any name."""
    summary = report.summary()
    suite = ElementTree.Element(
        "testsuite",
        name=f"imagekit {report.command}",
        tests=str(summary["total"]),
        failures=str(summary["failed"]),
        skipped=str(summary["skipped"]),
        errors="0",
        time=f"{report.duration_s:.3f}",
        timestamp=utc_stamp(report.started),
    )
    for f in report.files:
        name, duration = printable(f.path), f"{f.duration_s:.3f}"
        case = ElementTree.SubElement(
            suite, "testcase", classname=report.command, name=name, time=duration
        )
        _junit_properties(case, f)
        if f.status == Status.FAILED:
            message = printable(str((f.error or {}).get("message") or f.reason or "failed"))
            failure = ElementTree.SubElement(case, "failure", message=message)
            failure.text = f"{printable(f.path)} -> {printable(f.remote_path)}: {message}"
        elif f.status == Status.SKIPPED:
            ElementTree.SubElement(case, "skipped", message=printable(f.reason or "skipped"))
    root = ElementTree.Element("testsuites")
    root.append(suite)
    ElementTree.indent(root)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        + ElementTree.tostring(root, encoding="unicode")
        + "\n"
    )


JUNIT_PROPERTIES = ("status", "remote_path", "reason", "size", "url", "file_id", "attempts")


def _junit_properties(case: ElementTree.Element, result: FileResult) -> None:
    """The record's own fields, so ``report merge`` can read a JUnit report back."""
    record = result.to_dict()
    properties = ElementTree.SubElement(case, "properties")
    for name in JUNIT_PROPERTIES:
        if record[name] is not None:
            value = printable(str(record[name]))  # XML 1.0 has no escape for NUL or surrogates
            ElementTree.SubElement(properties, "property", name=name, value=value)


def write_report(report: RunReport, path: Path) -> None:
    """Write the whole report to ``path`` in the format its suffix names."""
    write_atomic(path, render(report, path.suffix.lower().lstrip(".")))


def read_records(path: Path) -> Iterator[dict[str, Any]]:
    """File records of a ``.json`` or ``.jsonl`` report; a torn last line is ignored."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"Cannot read report {path}: {exc.strerror}.") from None
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            raise UsageError(f"Report {path} is not valid JSON.") from None
        yield from data.get("files", [])
        return
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            yield json.loads(line)
        except json.JSONDecodeError:
            if number == len(text.splitlines()):
                return  # a crash mid-write leaves at most the last line torn
            raise UsageError(f"Report {path} line {number} is not valid JSON.") from None
