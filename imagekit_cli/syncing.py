"""``imagekit sync`` as a library run: diff the local tree against the remote index and the
sync state, upload what changed, then (with ``--delete``) remove what has no local counterpart.

Upload mechanics live in ``runner``/``engine``; the remote listing and the per-file rule in
``remote``; the SQLite state in ``sync_state``; the delete phase in ``sync_delete``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from imagekit_cli.auth import BasicAuthSigner, Signer
from imagekit_cli.client import ImageKitClient, UploadRequest
from imagekit_cli.config import Settings
from imagekit_cli.engine import Engine, UploadJob
from imagekit_cli.errors import ImageKitCLIError
from imagekit_cli.events import FanoutReporter, NullReporter, Reporter
from imagekit_cli.planning import PlanItem, Planner
from imagekit_cli.remote import RemoteFile, decide, deletions, iter_with_seen, list_tree
from imagekit_cli.report import FileResult, RunReport, Status
from imagekit_cli.retry import PauseGate
from imagekit_cli.runner import (
    ClientHooks,
    EngineSettings,
    UploadOptions,
    credentials_refused,
    dry_run,
    make_engine,
    open_client,
    parse_json_option,
    settled_result,
)
from imagekit_cli.sync_delete import ConfirmDeletes, DeletePhase, RemoteTree
from imagekit_cli.sync_state import StateEntry, SyncState


@dataclass(frozen=True)
class SyncOptions:
    """What sync may do beyond uploading."""

    delete: bool = False
    max_delete: int | None = None
    checksum: bool = False


def sync_upload_options(tags: str | None, custom_metadata: str | None) -> UploadOptions:
    """The upload fields of a sync: replace content, keep what sync does not manage.

    ImageKit's overwrite defaults drop a replaced file's tags, custom metadata and AI tags
    (https://imagekit.io/docs/api-reference/upload-file/upload-file); sync turns them off,
    unless ``--tags`` / ``--custom-metadata`` say what to set (``--tags ''`` clears tags).
    """
    tag_list = tuple(t.strip() for t in (tags or "").split(",") if t.strip())
    metadata = parse_json_option(custom_metadata, "--custom-metadata", dict)
    options = UploadOptions(
        overwrite=True,
        overwrite_tags=None if tag_list else tags is not None,
        overwrite_ai_tags=False,
        overwrite_custom_metadata=None if metadata is not None else False,
        tags=tag_list,
        custom_metadata=metadata,
    )
    options.validate()
    return options


@dataclass
class SyncLedger:
    """What one run accounts for: the remote paths the local side covers, and what its
    uploads returned (the delete phase of the same run never touches those)."""

    root: str
    seen: set[str] = field(default_factory=set)
    pruned: list[str] = field(default_factory=list)
    predicted: dict[str, str] = field(default_factory=dict)  # local path -> predicted path
    uploaded_paths: set[str] = field(default_factory=set)
    uploaded_ids: set[str] = field(default_factory=set)
    moved: list[tuple[str, str]] = field(default_factory=list)  # (predicted, stored)

    def protects(self, file: RemoteFile) -> bool:
        """Whether an upload of this run returned this remote path or fileId."""
        return file.path in self.uploaded_paths or file.file_id in self.uploaded_ids

    def covered(self) -> set[str]:
        """Every remote path with a local counterpart or written by this run."""
        return self.seen | set(self.pruned) | self.uploaded_paths


def sync_work(
    items: Iterable[PlanItem],
    ledger: SyncLedger,
    index: Mapping[str, RemoteFile],
    state: SyncState,
    options: UploadOptions,
    *,
    checksum: bool,
    record_baselines: bool,
) -> Iterator[UploadJob | FileResult]:
    """Decide each local file against the remote index and the sync state."""
    for item in items:
        rel = item.remote_path[len(ledger.root) :]
        entry = state.get(rel)
        remote = index.get(item.remote_path)
        if remote is None and entry is not None and entry.stored is not None:
            remote = index.get(entry.stored)  # stored elsewhere by an earlier run
            ledger.seen.add(entry.stored)
        decision = decide(item, rel, remote, entry, checksum=checksum)
        if decision.baseline is not None and record_baselines:
            moved = remote.path if remote and remote.path != item.remote_path else None
            state.put(dataclasses.replace(decision.baseline, stored=moved))
        if decision.action == "upload":
            ledger.predicted[item.path] = item.remote_path
            request = UploadRequest(options.fields_for(item), item.local, item.size, item.url)
            yield UploadJob(item.path, item.remote_path, request, item.mtime, decision.reason)
        elif decision.action == "unchanged":
            where = remote.path if remote else item.remote_path
            yield FileResult.of(item, Status.SKIPPED, decision.reason, remote_path=where,
                                url=remote.url if remote else None)  # fmt: skip
        else:
            yield settled_result(item)


class StateRecorder(NullReporter):
    """Writes each successful upload of a sync into the sync state and the ledger."""

    def __init__(self, state: SyncState, ledger: SyncLedger) -> None:
        self.state = state
        self.ledger = ledger

    def finished(self, result: FileResult) -> None:
        """Remember uploaded files with their hash, remote version and stored path."""
        if result.status != Status.UPLOADED:
            return
        ledger = self.ledger
        ledger.uploaded_paths.add(result.remote_path)
        if result.file_id:
            ledger.uploaded_ids.add(result.file_id)
        predicted = ledger.predicted.pop(result.path, result.remote_path)
        if not predicted.startswith(ledger.root):
            return
        stored = result.remote_path if result.remote_path != predicted else None
        if stored is not None:
            ledger.moved.append((predicted, stored))
        self.state.put(StateEntry(predicted[len(ledger.root) :], result.size, result.mtime or 0.0,
                                  result.sha256, result.file_id, result.version_id,
                                  stored))  # fmt: skip


def _warn_moved(ledger: SyncLedger, reporter: Reporter) -> None:
    if ledger.moved:
        predicted, stored = ledger.moved[0]
        reporter.message("warning", f"ImageKit stored {len(ledger.moved)} file(s) at another "
                         f"path than predicted (e.g. {stored}, not {predicted}); the sync state "
                         "maps them, so the next sync treats them as in sync.")  # fmt: skip


async def sync_tree(
    planner: Planner,
    local_dir: str,
    options: UploadOptions,
    sync: SyncOptions,
    report: RunReport,
    reporter: Reporter,
    *,
    client: ImageKitClient,
    signer: Signer | None,
    engine_settings: EngineSettings,
    state: SyncState,
    confirm: ConfirmDeletes,
) -> None:
    """Make the remote folder match ``local_dir``; without a signer, only plan (dry run).
    A refused key is recorded on the report by the engine."""
    if known_problem := state.problem:
        reporter.message("warning", known_problem)
    ledger = SyncLedger(planner.folder)
    reporter.message("info", f"Listing {ledger.root} …")
    media = PauseGate()  # the media API's own limiter: listing and deletes, apart from uploads
    remote_files, remote_folders = await list_tree(
        client, ledger.root, policy=engine_settings.policy, gate=media
    )
    items = iter_with_seen(planner.iter_plan([local_dir]), ledger.seen, ledger.pruned)
    work = sync_work(items, ledger, {f.path: f for f in remote_files}, state, options,
                     checksum=sync.checksum, record_baselines=signer is not None)  # fmt: skip
    uploader: Engine | None = None
    if signer is None:
        dry_run(work, report, reporter)
    else:
        recorder = FanoutReporter(reporter, StateRecorder(state, ledger))
        uploader = make_engine(client, signer, recorder, report, engine_settings)
        await uploader.run(work)
        _warn_moved(ledger, reporter)
    if sync.delete and not (uploader is not None and uploader.control.stopping):
        gone = [f for f in deletions(remote_files, ledger.root, ledger.seen, ledger.pruned,
                                     planner.is_excluded) if not ledger.protects(f)]  # fmt: skip
        phase = DeletePhase(client, report, reporter, state, root=ledger.root,
                            max_delete=sync.max_delete, policy=engine_settings.policy,
                            dry_run=signer is None, gate=media)  # fmt: skip
        tree = RemoteTree(remote_files, remote_folders)
        await phase.run(gone, tree, ledger.covered(), planner.is_excluded, confirm)
    state.save()
    if state.problem and state.problem != known_problem:
        reporter.message("warning", state.problem)


@dataclass(frozen=True)
class SyncConfig:
    """Everything one sync run needs from the command line, parsed and checked."""

    planner: Planner
    local_dir: str
    options: UploadOptions
    sync: SyncOptions = field(default_factory=SyncOptions)
    engine_settings: EngineSettings = field(default_factory=EngineSettings)
    dry_run: bool = False
    state_path: Path | None = None  # None: remember nothing between runs


def sync_report(config: SyncConfig, settings: Settings, *, keep_files: bool = True) -> RunReport:
    """The empty report of a sync run, naming both sides."""
    target = {"folder": config.planner.folder, "local": config.local_dir,
              "base_url": settings.base_url}  # fmt: skip
    return RunReport("sync", dry_run=config.dry_run, target=target, keep_files=keep_files)


async def run_sync(
    config: SyncConfig,
    settings: Settings,
    reporter: Reporter,
    confirm: ConfirmDeletes,
    *,
    report: RunReport | None = None,
    hooks: ClientHooks | None = None,
) -> RunReport:
    """``imagekit sync`` as one call: open the sync state and the client, make the remote
    folder match ``config.local_dir`` (``confirm`` is asked before deleting), and return
    the report; an error that stops the run is recorded on it (``RunReport.fatal``)."""
    report = report if report is not None else sync_report(config, settings)
    base_url = settings.base_url or "https://api.imagekit.io"
    root = config.planner.folder
    path = config.state_path
    state = SyncState.open(path, base_url, root) if path else SyncState(None, base_url, root)
    try:
        async with open_client(settings, config.engine_settings, hooks) as client:
            signer = None if config.dry_run else BasicAuthSigner(settings.require_private_key())
            await sync_tree(config.planner, config.local_dir, config.options, config.sync, report,
                            reporter, client=client, signer=signer,
                            engine_settings=config.engine_settings, state=state,
                            confirm=confirm)  # fmt: skip
    except ImageKitCLIError as exc:
        report.fatal = exc
    finally:
        state.close()
    if report.fatal is not None:
        report.fatal = credentials_refused(report.fatal, settings)
    return report
