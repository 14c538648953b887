"""The result model of a run: what happened to each file, and the run as a whole.

``FileResult`` is one file's record in every report format (schema_version 1);
``RunReport`` collects them, keeps the totals and gives the run's exit code. The formats
themselves are written by ``report_files`` and read back by ``report_read``; see
ARCHITECTURE.md for how a result travels from the engine to them.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol

from imagekit_cli.errors import ExitCode, ImageKitCLIError
from imagekit_cli.plan_guards import is_error_skip

SCHEMA_VERSION = 1


class Status(StrEnum):
    """What happened to one file."""

    UPLOADED = "uploaded"
    SKIPPED = "skipped"
    FAILED = "failed"
    DELETED = "deleted"
    PLANNED = "planned"


class OneFile(Protocol):
    """What every record of one file carries into its result (``PlanItem``, ``UploadJob``)."""

    @property
    def path(self) -> str: ...
    @property
    def remote_path(self) -> str: ...
    @property
    def size(self) -> int: ...
    @property
    def mtime(self) -> float | None: ...


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
    def of(
        cls, item: OneFile, status: Status, reason: str | None = None, **extra: Any
    ) -> FileResult:
        """The result of a planned file or job: its path, remote path, size and mtime (an
        mtime of 0 means unknown) copied, ``extra`` (``remote_path`` too) on top."""
        copied: dict[str, Any] = {"remote_path": item.remote_path, "size": item.size,
                                  "mtime": item.mtime or None}  # fmt: skip
        return cls(item.path, status=status, reason=reason, **(copied | extra))

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
    fatal: ImageKitCLIError | None = None  # what stopped the run (a refused key), if anything
    report_lost: bool = False  # the --report file could not be written
    keep_files: bool = True
    keep_limit: int | None = None  # keep at most this many results (a table shows no more)
    files_dropped: int = 0  # results not kept because of ``keep_limit``
    failures: list[FileResult] = field(default_factory=list)
    _counts: dict[Status, int] = field(default_factory=dict)
    _bytes_uploaded: int = 0
    error_skips: Counter[str] = field(default_factory=Counter)  # reason (before any ':') -> n
    error_skip_folders: int = 0  # how many of them are folders

    def add(self, result: FileResult) -> None:
        """Record one finished file."""
        self._counts[result.status] = self._counts.get(result.status, 0) + 1
        if result.status == Status.UPLOADED:
            self._bytes_uploaded += result.size
        elif result.status == Status.FAILED:
            self.failures.append(result)
        elif result.status == Status.SKIPPED and is_error_skip(result.reason):
            self.error_skips[str(result.reason).partition(":")[0]] += 1
            self.error_skip_folders += result.path.endswith(("/", os.sep))
        if not self.keep_files:
            return
        if self.keep_limit is None or len(self.files) < self.keep_limit:
            self.files.append(result)
        else:
            self.files_dropped += 1

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
        """The one place a run's exit code comes from: the fatal error's code (3 for a
        refused key), 130 interrupted, else 1 when a file failed, an error kept a file back
        or the report file was lost, else 0."""
        if self.fatal is not None:
            return ExitCode(self.fatal.exit_code)
        if self.interrupted:
            return ExitCode.INTERRUPTED
        if self.fatal_exit is not None:
            return self.fatal_exit
        if self.count(Status.FAILED) or self.error_skips.total() or self.report_lost:
            return ExitCode.FAILED
        return ExitCode.OK

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
