"""Reading reports back, in every format ``--report`` writes, and merging them.

``imagekit report merge`` combines the reports of N shards (or of a run and its re-run):
``.json``, ``.jsonl`` journals, ``.csv`` and ``.xml`` JUnit, in any mix. A file that
appears in several reports is counted once; the result of the latest report wins.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

from imagekit_cli.errors import UsageError
from imagekit_cli.report import SCHEMA_VERSION, FileResult, RunReport, Status

READABLE = (".json", ".jsonl", ".csv", ".xml")


@dataclass
class ReadReport:
    """One report as read from disk: its header fields (where the format has them) and files."""

    path: Path
    command: str | None = None
    target: dict[str, Any] = field(default_factory=dict)
    dry_run: bool = False
    interrupted: bool = False
    started: float | None = None
    finished: float | None = None
    files: list[FileResult] = field(default_factory=list)

    @property
    def written_at(self) -> float:
        """When the report was finished: its own stamp, else the file's mtime."""
        if self.finished is not None:
            return self.finished
        try:
            return os.stat(self.path).st_mtime
        except OSError:
            return 0.0


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
    lines = text.splitlines()
    read = 0
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            yield json.loads(line)
            read += 1
        except json.JSONDecodeError:
            if number == len(lines) and read:
                return  # a crash mid-write leaves at most the last line torn
            raise UsageError(f"Report {path} line {number} is not valid JSON.") from None


def read_report(path: Path) -> ReadReport:
    """Read a ``.json``, ``.jsonl``, ``.csv`` or ``.xml`` (JUnit) report."""
    suffix = path.suffix.lower()
    if suffix not in READABLE:
        raise UsageError(
            f"Cannot merge {path}: unknown report format '{path.suffix}'.",
            hint=f"report merge reads {', '.join(READABLE)} reports.",
        )
    try:
        if suffix == ".json":
            return _read_json(path)
        if suffix == ".xml":
            return _read_junit(path)
        rows = _csv_records(path) if suffix == ".csv" else list(read_records(path))
        return ReadReport(path, files=[FileResult.from_dict(r) for r in rows])
    except (KeyError, ValueError, TypeError):
        raise UsageError(f"Report {path} has a record without a valid status.") from None


def _read_json(path: Path) -> ReadReport:
    try:
        header = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        raise UsageError(f"Report {path} is not a readable JSON report.") from None
    if not isinstance(header, dict) or header.get("schema_version") != SCHEMA_VERSION:
        version = header.get("schema_version") if isinstance(header, dict) else None
        raise UsageError(f"Report {path} has schema_version {version}, expected {SCHEMA_VERSION}.")
    return ReadReport(
        path,
        command=str(header.get("command") or "upload"),
        target=dict(header.get("target") or {}),
        dry_run=bool(header.get("dry_run")),
        interrupted=bool(header.get("interrupted")),
        started=parse_stamp(header.get("started_at")),
        finished=parse_stamp(header.get("finished_at")),
        files=[FileResult.from_dict(r) for r in header.get("files", [])],
    )


def _csv_records(path: Path) -> list[dict[str, Any]]:
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise UsageError(f"Report {path} is not a readable CSV report ({exc}).") from None
    records = []
    for row in rows:
        record: dict[str, Any] = {k: v for k, v in row.items() if k and v not in ("", None)}
        for name, kind in (("size", int), ("attempts", int), ("duration_s", float)):
            if name in record:
                record[name] = kind(record[name])
        status, message = record.pop("error_status", None), record.pop("error_message", None)
        request_id = record.pop("error_request_id", None)
        if status or message:
            record["error"] = {"status": int(status) if status else None, "message": message,
                               "request_id": request_id}  # fmt: skip
        records.append(record)
    return records


def _read_junit(path: Path) -> ReadReport:
    try:
        # The user's own report; ElementTree resolves no external entities and the
        # bundled expat caps entity expansion.
        root = ElementTree.parse(path).getroot()  # noqa: S314
    except (OSError, ElementTree.ParseError):
        raise UsageError(f"Report {path} is not a readable JUnit XML report.") from None
    suite = root if root.tag == "testsuite" else root.find("testsuite")
    if suite is None:
        raise UsageError(f"Report {path} has no <testsuite>.")
    name = suite.get("name", "")
    report = ReadReport(
        path,
        command=name.removeprefix("imagekit ") if name.startswith("imagekit ") else None,
        started=parse_stamp(suite.get("timestamp")),
    )
    if report.started is not None:
        report.finished = report.started + float(suite.get("time") or 0)
    report.files = [_junit_case(case) for case in suite.iter("testcase")]
    return report


def _junit_case(case: ElementTree.Element) -> FileResult:
    """A testcase back to a record: from its properties, or from failure/skipped children."""
    props = {p.get("name", ""): p.get("value", "") for p in case.iter("property")}
    failure, skipped = case.find("failure"), case.find("skipped")
    if "status" in props:
        status = Status(props["status"])
    elif failure is not None:
        status = Status.FAILED
    else:
        status = Status.SKIPPED if skipped is not None else Status.UPLOADED
    marker = failure if failure is not None else skipped
    message = marker.get("message") if marker is not None else None
    return FileResult(
        path=case.get("name", ""),
        remote_path=props.get("remote_path", ""),
        status=status,
        reason=props.get("reason") or message,
        size=int(props.get("size") or 0),
        url=props.get("url") or None,
        file_id=props.get("file_id") or None,
        attempts=int(props.get("attempts") or 0),
        duration_s=float(case.get("time") or 0),
        error={"status": None, "message": message} if failure is not None else None,
    )


def check_journal(path: Path) -> Path:
    """``--resume FILE``: refuse, before any work, a file that is not a report of this tool."""
    if path.suffix.lower() not in (".json", ".jsonl"):
        raise UsageError(
            f"--resume {path}: expected a .jsonl report (or .json), not '{path.suffix}'.",
            hint="Give the --report FILE.jsonl of the run to resume.",
        )
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"--resume {path}: cannot read it ({exc}).") from None
    records = list(read_records(path))
    if text.strip() and not records:
        raise UsageError(f"--resume {path} holds no report records.",
                         hint="Give the --report FILE.jsonl of the run to resume.")  # fmt: skip
    for number, record in enumerate(records, 1):
        if not isinstance(record, dict) or "path" not in record or "status" not in record:
            raise UsageError(
                f"--resume {path}: record {number} has no path and status; "
                "it is not an imagekit report.",
                hint="Give the --report FILE.jsonl of the run to resume.",
            )
    return path


INTERRUPTED_REASONS = frozenset({"interrupted", "not started: interrupted"})


def merge_reports(paths: Iterable[Path]) -> RunReport:
    """One report from several; a file in more than one counts once, the latest report wins."""
    reports = sorted((read_report(p) for p in paths), key=lambda r: r.written_at)
    if not reports:
        raise UsageError("report merge needs at least one report file.")
    first = next((r for r in reports if r.command), reports[0])
    merged = RunReport(
        command=first.command or "upload",
        target=first.target,
        dry_run=all(r.dry_run for r in reports),
    )
    starts = [r.started for r in reports if r.started is not None]
    ends = [r.finished for r in reports if r.finished is not None]
    merged.started = min(starts, default=merged.started)
    merged.interrupted = any(r.interrupted for r in reports)
    latest: dict[tuple[str, str], FileResult] = {}
    for report in reports:
        for result in report.files:
            latest[(result.path, result.remote_path)] = result
    for result in latest.values():
        merged.add(result)
        # a journal (.jsonl) has no header: its records tell that the run was interrupted
        merged.interrupted = merged.interrupted or result.reason in INTERRUPTED_REASONS
    if ends:
        merged.finished = max(ends)
    else:
        merged.finish()
    return merged


def parse_stamp(value: Any) -> float | None:
    """``2026-11-26T10:00:00.000Z`` (or without milliseconds) as a Unix time."""
    if not isinstance(value, str):
        return None
    for pattern in ("%Y-%m-%dT%H:%M:%S.%fZ", "%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S.%f"):
        try:
            return datetime.strptime(value, pattern).replace(tzinfo=UTC).timestamp()
        except ValueError:
            continue
    return None
