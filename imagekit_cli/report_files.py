"""Report files and CI extras, written from a RunReport or streamed as files finish.

``--report FILE`` and ``-o``: ``.json`` (one object), ``.jsonl`` (one record per line,
appended and flushed as each file finishes, so it survives a crash), ``.csv`` and ``.xml``
(JUnit, one testcase per file); in GitHub Actions, ``::error`` annotations and the step
summary. Every format carries the error's ImageKit request id, which support asks for.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import IO
from xml.etree import ElementTree

from imagekit_cli.errors import UsageError
from imagekit_cli.events import NullReporter
from imagekit_cli.files import write_atomic
from imagekit_cli.limits import format_size
from imagekit_cli.report import FileResult, RunReport, Status, utc_stamp
from imagekit_cli.text import markdown_cell, printable

REPORT_SUFFIXES = (".json", ".jsonl", ".csv", ".xml")
OUTPUT_FORMATS = ("table", "json", "jsonl", "csv")


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
    "error_request_id",
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
            + [error.get(key) or "" for key in ("status", "message", "request_id")]
        )
    return buffer.getvalue()


def request_note(result: FileResult) -> str:
    """`` (ImageKit request id …)`` when ImageKit answered the failed request, else empty."""
    request_id = (result.error or {}).get("request_id")
    return f" (ImageKit request id {request_id})" if request_id else ""


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
            failure.text += printable(request_note(f))
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


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def github_annotations(report: RunReport) -> list[str]:
    """``::error file=PATH::message`` for every failed file."""
    lines = []
    for f in report.failures:
        if f.status == Status.FAILED:
            message = (f.error or {}).get("message") or f.reason or "failed"
            lines.append(
                f"::error file={_escape_property(printable(f.path))},title=imagekit "
                f"{report.command}::{_escape_data(printable(str(message)))}"
            )
    return lines


def step_summary(report: RunReport) -> str:
    """A markdown summary for ``$GITHUB_STEP_SUMMARY``."""
    s = report.summary()
    rows = [
        f"### imagekit {report.command}",
        "",
        "| uploaded | skipped | failed | deleted | bytes | duration |",
        "|---:|---:|---:|---:|---:|---:|",
        f"| {s['uploaded']} | {s['skipped']} | {s['failed']} | {s['deleted']} | "
        f"{format_size(s['bytes_uploaded'])} | {report.duration_s:.1f}s |",
    ]
    failures = report.failures
    if failures:
        rows += ["", "| failed file | remote path | error |", "|---|---|---|"]
        for f in failures:
            message = str((f.error or {}).get("message") or f.reason or "") + request_note(f)
            cells = (markdown_cell(f.path), markdown_cell(f.remote_path), markdown_cell(message))
            rows.append(f"| {' | '.join(cells)} |")
    return "\n".join(rows) + "\n"
