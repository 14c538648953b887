"""``imagekit sync`` as a library run: diff the local tree against the remote index and the
sync state, upload what changed, then (with ``--delete``) remove what has no local counterpart.

Upload mechanics live in ``runner``/``engine``; the remote listing and the per-file rule in
``remote``; the SQLite state in ``sync_state``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from imagekit_cli.auth import Signer
from imagekit_cli.client import BULK_DELETE_MAX, ImageKitClient, UploadRequest
from imagekit_cli.engine import Engine, UploadJob
from imagekit_cli.errors import DeleteLimitError, NotFoundError
from imagekit_cli.events import FanoutReporter, NullReporter, Reporter
from imagekit_cli.planning import PlanItem, Planner, remote_folder
from imagekit_cli.remote import RemoteFile, decide, deletions, iter_with_seen, list_tree
from imagekit_cli.report import FileResult, RunReport, Status
from imagekit_cli.retry import PauseGate, RetryPolicy, call_with_retry
from imagekit_cli.runner import EngineSettings, UploadOptions, dry_run_results, settled_result
from imagekit_cli.sync_state import StateEntry, SyncState


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
    remote_files, _ = await list_tree(client, root)
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
                            confirm, dry_run=signer is None, policy=engine.policy)  # fmt: skip
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
    gate = PauseGate()
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
