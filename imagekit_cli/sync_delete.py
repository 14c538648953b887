"""The delete phase of ``sync --delete``: remote files with no local counterpart, then the
remote folders that are left empty and have no local counterpart either.

Nothing an upload of the same run returned is ever deleted, nothing the filters exclude,
and nothing at all after a failed upload. A folder is deleted only when a fresh listing
shows no file in it but ones this run just deleted, since ImageKit's folder delete
(``DELETE /v1/folder``) removes everything inside.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

from imagekit_cli.client import BULK_DELETE_MAX, ImageKitClient
from imagekit_cli.errors import DeleteLimitError, ImageKitCLIError, NotFoundError
from imagekit_cli.events import Reporter, record
from imagekit_cli.remote import RemoteFile, list_tree
from imagekit_cli.report import FileResult, RunReport, Status
from imagekit_cli.retry import PauseGate, RetryPolicy, call_with_retry
from imagekit_cli.sync_state import SyncState

ConfirmDeletes = Callable[[Sequence[RemoteFile], Sequence[str]], bool]
FOLDER_REASON = "empty folder with no local counterpart"


def _ancestors(path: str) -> Iterator[str]:
    """``/a/b/c.txt`` → ``/``, ``/a/``, ``/a/b/`` (a folder path yields itself too)."""
    for index, char in enumerate(path):
        if char == "/":
            yield path[: index + 1]


def empty_folders(
    folders: Iterable[str],
    root: str,
    remaining: Iterable[str],
    covered: Iterable[str],
    is_excluded: Callable[[str], bool],
) -> list[str]:
    """Remote folders under ``root`` to delete, topmost only: none of the ``remaining``
    remote files is in them, no ``covered`` (local or just uploaded) path is, and the
    filters do not exclude them. ``root`` itself is never one."""
    keep = {root}
    for path in (*remaining, *covered):
        keep.update(_ancestors(path))
    doomed = sorted(
        f
        for f in folders
        if f.startswith(root) and f not in keep and not is_excluded(f[len(root) :])
    )
    top: list[str] = []
    for folder in doomed:
        if not top or not folder.startswith(top[-1]):
            top.append(folder)
    return top


@dataclass(frozen=True)
class RemoteTree:
    """The remote side as listed before the run: files and folders under the root."""

    files: Sequence[RemoteFile]
    folders: Sequence[str]


class DeletePhase:
    """Deletes (or, dry, plans) what has no local counterpart, into the run's report."""

    def __init__(
        self,
        client: ImageKitClient,
        report: RunReport,
        reporter: Reporter,
        state: SyncState,
        *,
        root: str,
        max_delete: int | None,
        policy: RetryPolicy,
        dry_run: bool,
        gate: PauseGate | None = None,
    ) -> None:
        self.client, self.report, self.reporter, self.state = client, report, reporter, state
        self.root = root
        self.max_delete = max_delete
        self.policy = policy
        self.dry_run = dry_run
        self.gate = gate or PauseGate()  # shared with the listing: one media API limit

    async def run(
        self,
        gone: Sequence[RemoteFile],
        tree: RemoteTree,
        covered: set[str],
        is_excluded: Callable[[str], bool],
        confirm: ConfirmDeletes,
    ) -> None:
        """Delete ``gone``, then the folders that leaves empty with no local counterpart."""
        leaving = {f.file_id for f in gone}
        remaining = [f.path for f in tree.files if f.file_id not in leaving]
        folders = empty_folders(tree.folders, self.root, remaining, covered, is_excluded)
        if not gone and not folders:
            return
        failed = self.report.count(Status.FAILED)
        if failed:
            self.reporter.message("warning", f"{failed} file(s) failed, so {len(gone)} remote "
                                  f"file(s) and {len(folders)} folder(s) were not deleted; fix "
                                  "the failures and re-run.")  # fmt: skip
            return
        if self.max_delete is not None and len(gone) > self.max_delete:
            raise DeleteLimitError(
                f"{len(gone)} remote files would be deleted, more than --max-delete "
                f"{self.max_delete}; nothing was deleted.",
                hint="Check the local folder, or raise --max-delete.",
            )
        if self.dry_run:
            for file in gone:
                self._add(_file_result(file, Status.PLANNED, "delete: no local file"))
            for folder in folders:
                self._add(_folder_result(folder, Status.PLANNED, f"delete: {FOLDER_REASON}"))
            return
        if not confirm(gone, folders):
            self.reporter.message("warning", "Deletion cancelled; nothing was deleted.")
            return
        deleted = await self._delete_files(gone)
        remaining = [f.path for f in tree.files if f.file_id not in deleted]
        folders = empty_folders(tree.folders, self.root, remaining, covered, is_excluded)
        await self._delete_folders(folders, deleted)

    def _add(self, result: FileResult) -> None:
        record(self.report, self.reporter, result)

    async def _delete_files(self, gone: Sequence[RemoteFile]) -> set[str]:
        done: set[str] = set()
        for start in range(0, len(gone), BULK_DELETE_MAX):
            batch = list(gone[start : start + BULK_DELETE_MAX])
            deleted = await self._delete_batch(batch)
            done |= deleted
            for file in batch:
                if file.file_id in deleted:
                    self.state.delete(file.path[len(self.root) :])
                    self._add(_file_result(file, Status.DELETED, "no local file"))
                else:
                    self._add(_file_result(file, Status.FAILED, "delete failed"))
        return done

    async def _delete_batch(self, batch: Sequence[RemoteFile]) -> set[str]:
        ids = [f.file_id for f in batch]
        try:
            deleted, _ = await call_with_retry(
                lambda: self.client.bulk_delete_batch(ids), self.policy, self.gate
            )
            return set(deleted)
        except NotFoundError:
            pass  # one id vanished meanwhile, so ImageKit deleted none: go one by one
        done: set[str] = set()
        for file_id in ids:

            async def delete_one(file_id: str = file_id) -> None:
                await self.client.delete(file_id)

            with contextlib.suppress(NotFoundError):
                await call_with_retry(delete_one, self.policy, self.gate)
            done.add(file_id)
        return done

    async def _delete_folders(self, folders: Sequence[str], deleted: set[str]) -> None:
        for folder in folders:
            files, _ = await list_tree(self.client, folder, policy=self.policy, gate=self.gate)
            if any(f.file_id not in deleted for f in files):
                self.reporter.message("warning", f"{folder} was not deleted: it holds files "
                                      "again (added while sync ran).")  # fmt: skip
                continue

            async def delete_one(folder: str = folder) -> None:
                await self.client.delete_folder(folder)

            try:
                with contextlib.suppress(NotFoundError):
                    await call_with_retry(delete_one, self.policy, self.gate)
            except ImageKitCLIError as exc:
                self._add(_folder_result(folder, Status.FAILED, f"folder delete failed: {exc}"))
                continue
            self._add(_folder_result(folder, Status.DELETED, FOLDER_REASON))


def _file_result(file: RemoteFile, status: Status, reason: str) -> FileResult:
    # There is no local file: the path shown is the remote one.
    return FileResult(file.path, file.path, status, reason, file.size, file_id=file.file_id,
                      version_id=file.version_id)  # fmt: skip


def _folder_result(folder: str, status: Status, reason: str) -> FileResult:
    return FileResult(folder, folder, status, reason)
