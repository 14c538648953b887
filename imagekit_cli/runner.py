"""Library-level runs: what ``imagekit upload`` does, testable without click.

``upload_items`` streams the plan into the engine, so the first request starts while a large
tree is still being walked. Upload options map one-to-one onto API fields
(https://imagekit.io/docs/api-reference/upload-file/upload-file), validated locally before
anything is sent.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imagekit_cli import events
from imagekit_cli.auth import Redactor, Signer
from imagekit_cli.client import ImageKitClient, UploadRequest
from imagekit_cli.concurrency import AUTO, AUTO_MAX, Concurrency
from imagekit_cli.config import Settings
from imagekit_cli.engine import Engine, UploadJob
from imagekit_cli.errors import (
    AuthenticationError,
    CredentialsError,
    ImageKitCLIError,
    UsageError,
)
from imagekit_cli.events import Reporter
from imagekit_cli.interrupts import Interrupts
from imagekit_cli.planning import PlanItem
from imagekit_cli.report import FileResult, RunReport, Status
from imagekit_cli.report_read import read_records
from imagekit_cli.retry import RetryPolicy

RESUMED = "already uploaded (--resume)"
RESPONSE_FIELDS = frozenset(
    {
        "tags",
        "customCoordinates",
        "isPrivateFile",
        "embeddedMetadata",
        "isPublished",
        "customMetadata",
        "metadata",
        "selectedFieldsSchema",
    }
)


def parse_json_option(text: str | None, flag: str, kind: type) -> str | None:
    """Validate a JSON option locally; returns it compact, or raises a UsageError naming it."""
    if text is None:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"{flag} is not valid JSON: {exc.msg} at position {exc.pos}.",
            hint=f'Quote it for your shell, e.g. {flag} \'{{"key": "value"}}\''
            if kind is dict
            else f'Quote it for your shell, e.g. {flag} \'[{{"name": "x"}}]\'',
        ) from None
    if not isinstance(value, kind):
        expected = "a JSON object {...}" if kind is dict else "a JSON array [...]"
        raise UsageError(f"{flag} must be {expected}.")
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _bool(value: bool) -> str:
    return "true" if value else "false"


@dataclass(frozen=True)
class UploadOptions:
    """Every upload flag, already validated; ``fields_for`` turns it into form fields."""

    unique_names: bool = False
    overwrite: bool | None = None
    overwrite_tags: bool | None = None
    overwrite_ai_tags: bool | None = None
    overwrite_custom_metadata: bool | None = None
    tags: tuple[str, ...] = ()
    private: bool = False
    draft: bool = False
    custom_coordinates: str | None = None
    custom_metadata: str | None = None
    extensions: str | None = None
    transformation: str | None = None
    webhook_url: str | None = None
    checks: str | None = None
    description: str | None = None
    response_fields: tuple[str, ...] = ()

    def validate(self) -> None:
        """Raise a UsageError naming the flag for anything ImageKit would refuse."""
        joined = ",".join(self.tags)
        if "%" in joined:
            raise UsageError("--tags may not contain '%'.")
        if len(joined.replace(",", "")) > 500:
            raise UsageError("--tags may hold at most 500 characters in all.")
        for name in self.response_fields:
            if name not in RESPONSE_FIELDS:
                raise UsageError(
                    f"--response-fields '{name}' is not a response field.",
                    hint=f"Use any of {', '.join(sorted(RESPONSE_FIELDS))}.",
                )
        coordinates = self.custom_coordinates
        if coordinates is not None:
            parts = coordinates.split(",")
            if len(parts) != 4 or not all(p.strip().isdigit() for p in parts):
                raise UsageError(f"--custom-coordinates '{coordinates}' must be x,y,width,height.")
        if self.webhook_url is not None and not self.webhook_url.startswith(
            ("http://", "https://")
        ):
            raise UsageError(f"--webhook-url '{self.webhook_url}' must be an http(s) URL.")

    def fields_for(self, item: PlanItem) -> dict[str, str]:
        """The form fields of one upload, exactly as they go on the wire."""
        fields = {
            "fileName": item.file_name,
            "folder": item.folder,
            "useUniqueFileName": _bool(self.unique_names),
        }
        optional: dict[str, Any] = {
            "tags": ",".join(self.tags) if self.tags else None,
            "isPrivateFile": "true" if self.private else None,
            "isPublished": "false" if self.draft else None,
            "overwriteFile": self.overwrite,
            "overwriteTags": self.overwrite_tags,
            "overwriteAITags": self.overwrite_ai_tags,
            "overwriteCustomMetadata": self.overwrite_custom_metadata,
            "customCoordinates": self.custom_coordinates,
            "customMetadata": self.custom_metadata,
            "extensions": self.extensions,
            "transformation": self.transformation,
            "webhookUrl": self.webhook_url,
            "checks": self.checks,
            "description": self.description,
            "responseFields": ",".join(self.response_fields) if self.response_fields else None,
        }
        for key, value in optional.items():
            if value is not None:
                fields[key] = _bool(value) if isinstance(value, bool) else str(value)
        return fields


ResumeIndex = Mapping[str, tuple[int, float | None]]


def load_resume(path: Path) -> dict[str, tuple[int, float | None]]:
    """Files an earlier run's journal records as uploaded: remote path -> (size, mtime).
    A line counts only for its destination, however the local path was spelled then (one
    remote path has one local file in a run: a second would collide)."""
    done: dict[str, tuple[int, float | None]] = {}
    for record in read_records(path):
        uploaded = record.get("status") == Status.UPLOADED.value
        if uploaded or record.get("reason") == RESUMED:
            done[str(record.get("remote_path") or "")] = (
                int(record.get("size") or 0),
                record.get("mtime"),
            )
    return done


def _already_done(item: PlanItem, resume: ResumeIndex) -> bool:
    entry = resume.get(item.remote_path)
    if entry is None or item.local is None:
        return False
    size, mtime = entry
    return size == item.size and mtime is not None and abs(mtime - item.mtime) < 1e-6


def settled_result(item: PlanItem) -> FileResult:
    """The final result of an item that planning already skipped or failed."""
    if item.action == "fail":
        error = {"status": None, "message": item.reason}
        return FileResult.of(item, Status.FAILED, item.reason, error=error)
    return FileResult.of(item, Status.SKIPPED, item.reason)


def plan_to_work(
    items: Iterable[PlanItem], options: UploadOptions, resume: ResumeIndex | None = None
) -> Iterator[UploadJob | FileResult]:
    """Turn plan items into upload jobs, and skips and failures into final results."""
    for item in items:
        if item.action != "upload":
            yield settled_result(item)
        elif resume and _already_done(item, resume):
            yield FileResult.of(item, Status.SKIPPED, RESUMED)
        else:
            request = UploadRequest(options.fields_for(item), item.local, item.size, item.url)
            yield UploadJob(item.path, item.remote_path, request, item.mtime or None)


def dry_run(work: Iterable[UploadJob | FileResult], report: RunReport, reporter: Reporter) -> None:
    """The one dry run of every command: each job becomes a planned result, sent nowhere,
    and each result is recorded (report, then listeners) as a real run would."""
    for item in work:
        result = (
            item
            if isinstance(item, FileResult)
            else FileResult.of(item, Status.PLANNED, item.reason)
        )
        events.record(report, reporter, result)
    reporter.planning_done()


@dataclass(frozen=True)
class EngineSettings:
    """How the engine runs: workers, retries, timeouts, stopping."""

    concurrency: Concurrency = AUTO
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    timeout: float = 60.0
    fail_fast: bool = False
    handle_signals: bool = True
    interrupts: Interrupts | None = None  # the command's; else the engine makes its own

    @property
    def lanes(self) -> int:
        """Connections the client may open: the most uploads that can ever be in flight."""
        return AUTO_MAX if self.concurrency == AUTO else self.concurrency


@dataclass(frozen=True)
class ClientHooks:
    """What the command layer lends the HTTP client: a debug tracer and the redactor."""

    trace: Callable[[str], None] | None = None
    redactor: Redactor | None = None


def open_client(
    settings: Settings,
    engine_settings: EngineSettings | None = None,
    hooks: ClientHooks | None = None,
) -> ImageKitClient:
    """The HTTP client for a run: the account's base URL and key, sized to the engine."""
    engine_settings = engine_settings or EngineSettings()
    hooks = hooks or ClientHooks()
    return ImageKitClient(
        settings.base_url,
        private_key=settings.private_key,
        concurrency=engine_settings.lanes,
        timeout=engine_settings.timeout,
        trace=hooks.trace,
        redactor=hooks.redactor,
    )


def credentials_refused(exc: ImageKitCLIError, settings: Settings) -> ImageKitCLIError:
    """One clear line for a refused key, naming where the key came from."""
    if not isinstance(exc, AuthenticationError):
        return exc
    source = settings.source_of("private_key")
    return CredentialsError(
        f"ImageKit refused the credentials ({exc.status} {exc.message}).",
        hint=f"Check the key from {source}; upload stopped, nothing else was sent.",
    )


def make_engine(
    client: ImageKitClient,
    signer: Signer,
    reporter: Reporter,
    report: RunReport,
    settings: EngineSettings,
) -> Engine:
    """The engine for one run, as ``settings`` say."""
    return Engine(
        client,
        signer,
        reporter,
        report,
        concurrency=settings.concurrency,
        policy=settings.policy,
        fail_fast=settings.fail_fast,
        handle_signals=settings.handle_signals, interrupts=settings.interrupts,
    )  # fmt: skip


async def upload_items(
    items: Iterable[PlanItem],
    options: UploadOptions,
    report: RunReport,
    reporter: Reporter,
    *,
    client: ImageKitClient | None,
    signer: Signer | None,
    engine_settings: EngineSettings,
    resume: ResumeIndex | None = None,
) -> None:
    """Upload (or, without a client, dry-run) the plan into ``report``; a refused key is
    recorded on the report (``RunReport.fatal``)."""
    if client is None or signer is None:
        dry_run(plan_to_work(items, options, resume), report, reporter)
        return
    await make_engine(client, signer, reporter, report, engine_settings).run(
        plan_to_work(items, options, resume)
    )


def split_sources(sources: Sequence[str], stdin_text: str | None, nul: bool) -> list[str]:
    """Replace ``-`` with the paths read from stdin (one a line, or NUL-separated with -0)."""
    result: list[str] = []
    for source in sources:
        if source == "-":
            if stdin_text is None:
                raise UsageError("'-' reads paths from stdin, but stdin is empty.")
            separator = "\0" if nul else "\n"
            result += [p.rstrip("\r") if not nul else p for p in stdin_text.split(separator) if p]
        else:
            result.append(source)
    return result
