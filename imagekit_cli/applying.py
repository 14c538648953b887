"""``imagekit apply PLAN`` as a library run: carry out a sync plan, and nothing else.

Only the plan's uploads are sent (a file added to the tree since is not looked at), each
only if its size and mtime are still those planned; only the plan's fileIds are deleted,
with sync's guards (none after a failed upload, ``--max-delete``, the confirmation). Skips
and planning failures are reported again as planned, so the report and the exit code read
like the sync run the plan stands for; the sync state is updated as that run would.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from typing import Any

from imagekit_cli.apply_checks import file_change
from imagekit_cli.auth import Signer
from imagekit_cli.client import ImageKitClient, UploadRequest
from imagekit_cli.engine import Engine, UploadJob
from imagekit_cli.events import FanoutReporter, Reporter, record
from imagekit_cli.planning import PlanItem
from imagekit_cli.remote import list_tree
from imagekit_cli.report import FileResult, RunReport, Status
from imagekit_cli.runner import EngineSettings, dry_run, make_engine
from imagekit_cli.sync_delete import ConfirmDeletes, DeletePhase, RemoteTree
from imagekit_cli.sync_plan import PlanEntry, SyncPlan
from imagekit_cli.sync_state import SyncState
from imagekit_cli.syncing import StateRecorder, SyncLedger

GONE_REMOTE = "no longer on the remote; nothing to delete"
PLANNED_DELETE = "delete: planned"


def shown_path(plan: SyncPlan, entry: PlanEntry) -> str:
    """The path a result shows: the local file as sync names it, or the remote path."""
    return os.path.join(plan.local_root, entry.local) if entry.local else entry.remote_path


def plan_work(plan: SyncPlan) -> Iterator[UploadJob | FileResult]:
    """The plan's uploads as jobs (or failures, if the file changed), its skips and
    failures as results; deletes come later, after every upload."""
    for entry in plan.entries:
        shown = shown_path(plan, entry)
        if entry.action == "upload":
            yield upload_job(plan, entry, shown)
        elif entry.action == "skip":
            yield entry_result(entry, shown, Status.SKIPPED, entry.reason, url=entry.url)
        elif entry.action == "fail":
            yield _failed(entry, shown, entry.reason or "failed when planned")


def entry_result(
    entry: PlanEntry, shown: str, status: Status, reason: str | None, **extra: Any
) -> FileResult:
    """The result of one plan entry, shown as ``shown`` (the local file, or the remote path)."""
    return FileResult(shown, entry.remote_path, status, reason, entry.size, **extra)


def _failed(entry: PlanEntry, shown: str, reason: str) -> FileResult:
    return entry_result(entry, shown, Status.FAILED, reason,
                        error={"status": None, "message": reason})  # fmt: skip


def upload_job(plan: SyncPlan, entry: PlanEntry, shown: str) -> UploadJob | FileResult:
    """The upload of one planned file, sent to the planned folder under its own name."""
    change, mtime = file_change(plan, entry, shown)
    if change is not None:
        return _failed(entry, shown, change)
    folder = entry.remote_path.rpartition("/")[0] + "/"
    name = entry.local.rpartition("/")[2]
    item = PlanItem(shown, entry.local, folder, name, entry.remote_path, local=shown,
                    size=entry.size, mtime=mtime)  # fmt: skip
    request = UploadRequest(plan.upload_options.fields_for(item), shown, entry.size, None)
    return UploadJob(shown, entry.remote_path, request, mtime, entry.reason)


def dry_run_apply(plan: SyncPlan, report: RunReport, reporter: Reporter) -> None:
    """What ``apply`` would do, with no request sent: changed files show as failed."""
    planned_deletes = [
        entry_result(
            e,
            e.remote_path,
            Status.PLANNED,
            PLANNED_DELETE,
            file_id=e.file_id,
            version_id=e.version_id,
        )
        for e in plan.of("delete")
    ]
    dry_run(itertools.chain(plan_work(plan), planned_deletes), report, reporter)


async def run_apply(
    plan: SyncPlan,
    report: RunReport,
    reporter: Reporter,
    *,
    client: ImageKitClient,
    signer: Signer,
    engine_settings: EngineSettings,
    state: SyncState,
    confirm: ConfirmDeletes,
    max_delete: int | None,
) -> Engine:
    """Upload the plan's files, then delete its fileIds that are still there."""
    ledger = SyncLedger(plan.remote_folder)  # where each upload should land, as sync keeps it
    ledger.predicted.update((shown_path(plan, e), e.remote_path) for e in plan.of("upload"))
    recorder = FanoutReporter(reporter, StateRecorder(state, ledger))
    engine = make_engine(client, signer, recorder, report, engine_settings)
    await engine.run(plan_work(plan))
    if plan.of("delete") and not engine.control.stopping:
        phase = DeletePhase(client, report, reporter, state, root=plan.remote_folder,
                            max_delete=max_delete, policy=engine_settings.policy,
                            dry_run=False)  # fmt: skip
        await _delete_planned(plan, phase, confirm)
    state.save()
    if state.problem:
        reporter.message("warning", state.problem)
    return engine


async def _delete_planned(plan: SyncPlan, phase: DeletePhase, confirm: ConfirmDeletes) -> None:
    """Delete the planned fileIds still under the folder; report the others as gone."""
    phase.reporter.message("info", f"Listing {plan.remote_folder} …")
    files, _ = await list_tree(phase.client, plan.remote_folder, policy=phase.policy)
    present = {f.file_id: f for f in files}
    doomed = []
    for entry in plan.of("delete"):
        file = present.get(str(entry.file_id))
        if file is not None:
            doomed.append(file)
            continue
        gone = entry_result(entry, entry.remote_path, Status.SKIPPED, GONE_REMOTE,
                            file_id=entry.file_id)  # fmt: skip
        record(phase.report, phase.reporter, gone)
    # Only the planned files: no folder is deleted, and no filter applies.
    await phase.run(doomed, RemoteTree([], []), set(), lambda _rel: False, confirm)
