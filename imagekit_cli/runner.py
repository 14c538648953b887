"""Library-level runs: what ``imagekit upload`` does, testable without click.

``run_upload`` streams the plan into the engine, so the first request starts while a large
tree is still being walked. Upload options map one-to-one onto API fields
(imagekit-api.md §3c), validated locally before anything is sent.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imagekit_cli.auth import Signer
from imagekit_cli.client import BULK_DELETE_MAX, ImageKitClient, UploadRequest
from imagekit_cli.concurrency import AUTO, AUTO_MAX, Concurrency
from imagekit_cli.engine import Engine, UploadJob
from imagekit_cli.errors import DeleteLimitError, NotFoundError, UsageError
from imagekit_cli.planning import PlanItem, Planner, remote_folder
from imagekit_cli.remote import (
    RemoteFile,
    StateEntry,
    SyncState,
    decide,
    deletions,
    iter_with_seen,
    list_tree,
)
from imagekit_cli.report import (
    FanoutReporter,
    FileResult,
    NullReporter,
    Reporter,
    RunReport,
    Status,
    read_records,
)
from imagekit_cli.retry import PauseGate, RetryPolicy, call_with_retry

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


def load_resume(path: Path) -> dict[str, tuple[int, float | None]]:
    """Files an earlier run's journal records as uploaded: path -> (size, mtime)."""
    done: dict[str, tuple[int, float | None]] = {}
    for record in read_records(path):
        uploaded = record.get("status") == Status.UPLOADED.value
        if uploaded or record.get("reason") == RESUMED:
            done[str(record["path"])] = (int(record.get("size") or 0), record.get("mtime"))
    return done


def _already_done(item: PlanItem, resume: Mapping[str, tuple[int, float | None]]) -> bool:
    entry = resume.get(item.path)
    if entry is None or item.local is None:
        return False
    size, mtime = entry
    return size == item.size and mtime is not None and abs(mtime - item.mtime) < 1e-6


def settled_result(item: PlanItem) -> FileResult:
    """The final result of an item that planning already skipped or failed."""
    if item.action == "fail":
        error = {"status": None, "message": item.reason}
        return FileResult(item.path, item.remote_path, Status.FAILED, item.reason, item.size,
                          error=error, mtime=item.mtime or None)  # fmt: skip
    return FileResult(item.path, item.remote_path, Status.SKIPPED, item.reason, item.size,
                      mtime=item.mtime or None)  # fmt: skip


def plan_to_work(
    items: Iterable[PlanItem],
    options: UploadOptions,
    resume: Mapping[str, tuple[int, float | None]] | None = None,
    *,
    dry_run: bool = False,
) -> Iterator[UploadJob | FileResult]:
    """Turn plan items into upload jobs (or, dry, planned results), and skips and failures
    into final results."""
    for item in items:
        if item.action != "upload":
            yield settled_result(item)
        elif resume and _already_done(item, resume):
            yield FileResult(
                item.path,
                item.remote_path,
                Status.SKIPPED,
                RESUMED,
                item.size,
                mtime=item.mtime,
            )
        elif dry_run:
            yield FileResult(item.path, item.remote_path, Status.PLANNED, None, item.size,
                             mtime=item.mtime or None)  # fmt: skip
        else:
            request = UploadRequest(options.fields_for(item), item.local, item.size, item.url)
            yield UploadJob(item.path, item.remote_path, request, item.mtime or None)


def dry_run_results(work: Iterable[UploadJob | FileResult]) -> Iterator[FileResult]:
    """What a run would do, with no request sent."""
    for item in work:
        if isinstance(item, FileResult):
            yield item
        else:
            yield FileResult(
                item.path,
                item.remote_path,
                Status.PLANNED,
                item.reason,
                item.request.size,
                mtime=item.mtime,
            )


@dataclass(frozen=True)
class EngineSettings:
    """How the engine runs: workers, retries, timeouts, stopping."""

    concurrency: Concurrency = AUTO
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    timeout: float = 60.0
    fail_fast: bool = False
    handle_signals: bool = True

    @property
    def lanes(self) -> int:
        """Connections the client may open: the most uploads that can ever be in flight."""
        return AUTO_MAX if self.concurrency == AUTO else self.concurrency


async def run_upload(
    items: Iterable[PlanItem],
    options: UploadOptions,
    report: RunReport,
    reporter: Reporter,
    *,
    client: ImageKitClient | None,
    signer: Signer | None,
    engine: EngineSettings,
    resume: Mapping[str, tuple[int, float | None]] | None = None,
) -> Engine | None:
    """Upload (or, without a client, dry-run) the plan into ``report``."""
    if client is None or signer is None:
        for result in plan_to_work(items, options, resume, dry_run=True):
            assert isinstance(result, FileResult)
            report.add(result)
            reporter.finished(result)
        reporter.planning_done()
        return None
    work = plan_to_work(items, options, resume)
    runner = Engine(
        client,
        signer,
        reporter,
        report,
        concurrency=engine.concurrency,
        policy=engine.policy,
        fail_fast=engine.fail_fast,
        handle_signals=engine.handle_signals,
    )
    await runner.run(work)
    return runner


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


@dataclass(frozen=True)
class SyncOptions:
    """What sync may do beyond uploading."""

    delete: bool = False
    max_delete: int | None = None
    checksum: bool = False


ConfirmDeletes = Callable[[Sequence[RemoteFile]], bool]


def sync_work(
    items: Iterable[PlanItem],
    root: str,
    index: Mapping[str, RemoteFile],
    state: SyncState,
    options: UploadOptions,
    *,
    checksum: bool,
    record_baselines: bool,
) -> Iterator[UploadJob | FileResult]:
    """Decide each local file against the remote index and the sync state."""
    for item in items:
        rel = item.remote_path[len(root) :]
        remote = index.get(item.remote_path)
        decision = decide(item, rel, remote, state.get(rel), checksum=checksum)
        if decision.baseline is not None and record_baselines:
            state.put(decision.baseline)
        if decision.action == "upload":
            request = UploadRequest(options.fields_for(item), item.local, item.size, item.url)
            yield UploadJob(item.path, item.remote_path, request, item.mtime, decision.reason)
        elif decision.action == "unchanged":
            yield FileResult(item.path, item.remote_path, Status.SKIPPED, decision.reason,
                             item.size, mtime=item.mtime,
                             url=remote.url if remote else None)  # fmt: skip
        else:
            yield settled_result(item)


class StateRecorder(NullReporter):
    """Writes each successful upload of a sync into the sync state."""

    def __init__(self, state: SyncState, root: str) -> None:
        self.state = state
        self.root = root

    def finished(self, result: FileResult) -> None:
        """Remember uploaded files with their hash and remote version."""
        if result.status == Status.UPLOADED and result.remote_path.startswith(self.root):
            self.state.put(StateEntry(result.remote_path[len(self.root) :], result.size,
                                      result.mtime or 0.0, result.sha256, result.file_id,
                                      result.version_id))  # fmt: skip


async def run_sync(
    planner: Planner,
    local_dir: str,
    options: UploadOptions,
    sync: SyncOptions,
    report: RunReport,
    reporter: Reporter,
    *,
    client: ImageKitClient,
    signer: Signer | None,
    engine: EngineSettings,
    state: SyncState,
    confirm: ConfirmDeletes,
) -> Engine | None:
    """Make the remote folder match ``local_dir``; without a signer, only plan (dry run)."""
    root = remote_folder(planner.folder)
    reporter.message("info", f"Listing {root} …")
    media = PauseGate()  # the media API's own limiter: listing and deletes, apart from uploads
    remote_files, _ = await list_tree(client, root, policy=engine.policy, gate=media)
    index = {f.path: f for f in remote_files}
    seen: set[str] = set()
    pruned: list[str] = []
    items = iter_with_seen(planner.iter_plan([local_dir]), seen, pruned)
    work = sync_work(items, root, index, state, options, checksum=sync.checksum,
                     record_baselines=signer is not None)  # fmt: skip
    runner: Engine | None = None
    if signer is None:
        for result in dry_run_results(work):
            report.add(result)
            reporter.finished(result)
        reporter.planning_done()
    else:
        runner = Engine(client, signer, FanoutReporter(reporter, StateRecorder(state, root)),
                        report, concurrency=engine.concurrency, policy=engine.policy,
                        fail_fast=engine.fail_fast,
                        handle_signals=engine.handle_signals)  # fmt: skip
        await runner.run(work)
        if runner.control.stopping:
            return runner
    if sync.delete:
        gone = deletions(remote_files, root, seen, pruned, planner.is_excluded)
        await _delete_phase(gone, local_dir, root, sync, report, reporter, client, state,
                            confirm, dry_run=signer is None, policy=engine.policy,
                            gate=media)  # fmt: skip
    return runner


async def _delete_phase(
    gone: Sequence[RemoteFile],
    local_dir: str,
    root: str,
    sync: SyncOptions,
    report: RunReport,
    reporter: Reporter,
    client: ImageKitClient,
    state: SyncState,
    confirm: ConfirmDeletes,
    *,
    dry_run: bool,
    policy: RetryPolicy,
    gate: PauseGate,
) -> None:
    if not gone:
        return
    failed = report.count(Status.FAILED)
    if failed:
        reporter.message("warning", f"{failed} file(s) failed, so {len(gone)} remote file(s) "
                         "were not deleted; fix the failures and re-run.")  # fmt: skip
        return
    if sync.max_delete is not None and len(gone) > sync.max_delete:
        raise DeleteLimitError(
            f"{len(gone)} remote files would be deleted, more than --max-delete "
            f"{sync.max_delete}; nothing was deleted.",
            hint="Check the local folder, or raise --max-delete.",
        )

    def result(file: RemoteFile, status: Status, reason: str) -> FileResult:
        # There is no local file: the path shown is the remote one.
        return FileResult(file.path, file.path, status, reason, file.size, file_id=file.file_id,
                          version_id=file.version_id)  # fmt: skip

    if dry_run:
        for file in gone:
            planned = result(file, Status.PLANNED, "delete: no local file")
            report.add(planned)
            reporter.finished(planned)
        return
    if not confirm(gone):
        reporter.message("warning", "Deletion cancelled; nothing was deleted.")
        return
    for start in range(0, len(gone), BULK_DELETE_MAX):
        batch = list(gone[start : start + BULK_DELETE_MAX])
        deleted = await _delete_batch(client, batch, policy, gate)
        for file in batch:
            if file.file_id in deleted:
                done = result(file, Status.DELETED, "no local file")
                state.delete(file.path[len(root) :])
            else:
                done = result(file, Status.FAILED, "delete failed")
            report.add(done)
            reporter.finished(done)


async def _delete_batch(
    client: ImageKitClient, batch: Sequence[RemoteFile], policy: RetryPolicy, gate: PauseGate
) -> set[str]:
    ids = [f.file_id for f in batch]
    try:
        deleted, _ = await call_with_retry(lambda: client.bulk_delete_batch(ids), policy, gate)
        return set(deleted)
    except NotFoundError:
        pass  # one id vanished meanwhile, so ImageKit deleted none: go one by one
    done: set[str] = set()
    for file_id in ids:

        async def delete_one(file_id: str = file_id) -> None:
            await client.delete(file_id)

        with contextlib.suppress(NotFoundError):
            await call_with_retry(delete_one, policy, gate)
        done.add(file_id)
    return done
