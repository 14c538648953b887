"""The remote side of sync: listing a folder tree, the diff, and the local sync state.

``list_tree`` walks remote folders breadth-first with the list API (one request per folder
plus one per further 1000 items), with its own small concurrency, through a pause gate for
the media API (the caller's, shared with its deletes), since ImageKit limits the media API
apart from uploads. ``decide`` is the pure per-file rule; ``SyncState`` remembers what was uploaded
so same-size edits are noticed.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imagekit_cli.client import LIST_PAGE_SIZE, ImageKitClient
from imagekit_cli.errors import UsageError
from imagekit_cli.naming import folder_path
from imagekit_cli.planning import PlanItem
from imagekit_cli.retry import PauseGate, RetryPolicy, call_with_retry
from imagekit_cli.sync_state import StateEntry

LIST_CONCURRENCY = 4


@dataclass(frozen=True, slots=True)
class RemoteFile:
    """One file in the remote index."""

    path: str
    name: str
    size: int
    file_id: str
    version_id: str | None = None
    updated_at: str | None = None
    url: str | None = None

    @classmethod
    def from_api(cls, item: Mapping[str, Any]) -> RemoteFile:
        """Build from a file object of the list API."""
        version = item.get("versionInfo") or {}
        return cls(
            path=str(item["filePath"]),
            name=str(item["name"]),
            size=int(item.get("size") or 0),
            file_id=str(item["fileId"]),
            version_id=version.get("id"),
            updated_at=item.get("updatedAt"),
            url=item.get("url"),
        )


@dataclass
class _TreeListing:
    """One breadth-first walk of a remote folder tree: the folders still to list, and
    what was found so far."""

    client: ImageKitClient
    recursive: bool
    policy: RetryPolicy
    gate: PauseGate
    on_retry: Callable[[int, BaseException, float], None] | None
    files: list[RemoteFile] = field(default_factory=list)
    folders: list[str] = field(default_factory=list)
    queue: asyncio.Queue[str] = field(default_factory=asyncio.Queue)

    async def list_folder(self, path: str) -> None:
        """Every page of one folder; sub-folders are queued when the walk is recursive."""
        skip = 0
        while True:

            async def page(skip: int = skip) -> list[dict[str, Any]]:
                return await self.client.list_page(path, skip=skip, limit=LIST_PAGE_SIZE)

            items, _ = await call_with_retry(page, self.policy, self.gate, self.on_retry)
            for item in items:
                if item.get("type") == "folder":
                    sub = folder_path(str(item.get("folderPath") or ""))
                    self.folders.append(sub)
                    if self.recursive:
                        self.queue.put_nowait(sub)
                elif item.get("type", "file") == "file":
                    self.files.append(RemoteFile.from_api(item))
            if len(items) < LIST_PAGE_SIZE:
                return
            skip += len(items)

    async def worker(self) -> None:
        """List queued folders until cancelled."""
        while True:
            path = await self.queue.get()
            try:
                await self.list_folder(path)
            finally:
                self.queue.task_done()


async def list_tree(
    client: ImageKitClient,
    folder: str,
    *,
    recursive: bool = True,
    concurrency: int = LIST_CONCURRENCY,
    policy: RetryPolicy | None = None,
    gate: PauseGate | None = None,
    on_retry: Callable[[int, BaseException, float], None] | None = None,
) -> tuple[list[RemoteFile], list[str]]:
    """All files under ``folder`` (and its sub-folders when ``recursive``), and the folders."""
    walk = _TreeListing(client, recursive, policy or RetryPolicy(), gate or PauseGate(), on_retry)
    walk.queue.put_nowait(folder_path(folder))
    workers = [asyncio.create_task(walk.worker()) for _ in range(concurrency)]
    try:
        join = asyncio.create_task(walk.queue.join())
        done, _ = await asyncio.wait([join, *workers], return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if task is not join:
                task.result()  # a worker only ends early by raising
    finally:
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
    return walk.files, walk.folders


async def list_folder(
    client: ImageKitClient, root: str, *, recursive: bool = False
) -> tuple[list[RemoteFile], list[str]]:
    """``imagekit ls``: the files (sorted by path) and folders in ``root``; a folder that
    does not exist is an error, not an empty listing."""
    files, folders = await list_tree(client, root, recursive=recursive)
    if not files and not folders and root != "/":
        parent = root.rstrip("/").rpartition("/")[0] + "/"
        _, siblings = await list_tree(client, parent, recursive=False)
        if root not in siblings:
            raise UsageError(
                f"Remote folder {root} does not exist.",
                hint=f"See what {parent} holds with 'imagekit ls {parent}'.",
            )
    return sorted(files, key=lambda f: f.path), folders


def sha256_of(path: str | Path) -> str:
    """The sha256 of a local file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True, slots=True)
class Decision:
    """What sync does with one local item, and the state to remember if it is kept."""

    action: str  # upload | unchanged | skip | fail
    reason: str | None
    baseline: StateEntry | None = None


def decide(
    item: PlanItem,
    rel: str,
    remote: RemoteFile | None,
    state: StateEntry | None,
    *,
    checksum: bool = False,
    hasher: Callable[[str], str] = sha256_of,
) -> Decision:
    """The sync rule for one file (README, "imagekit sync"; ARCHITECTURE.md, "Sync").

    Upload when the remote file is missing or its size differs. With equal sizes the
    file is unchanged unless the sync state, recorded against the same remote version,
    shows the content changed: same size and mtime means unchanged (unless --checksum);
    otherwise the content hash decides. Without usable state, equal size means unchanged.
    """
    if item.action != "upload":
        return Decision(item.action, item.reason)
    if remote is None:
        return Decision("upload", "new file")
    if remote.size != item.size:
        return Decision("upload", f"size differs (remote {remote.size} B)")
    usable = state is not None and state.version_id == remote.version_id
    if not usable or state is None:
        baseline = StateEntry(rel, item.size, item.mtime, None, remote.file_id, remote.version_id)
        return Decision("unchanged", "unchanged (same size; no sync state)", baseline)
    same_mtime = abs(state.mtime - item.mtime) < 1e-6
    if same_mtime and not checksum:
        return Decision("unchanged", "unchanged")
    if state.sha256 is None:
        if same_mtime:
            return Decision("unchanged", "unchanged")
        return Decision("upload", "modified since last sync (mtime changed)")
    assert item.local is not None
    if hasher(item.local) == state.sha256:
        kept = StateEntry(rel, item.size, item.mtime, state.sha256, state.file_id, state.version_id)
        return Decision("unchanged", "unchanged (content hash matches)", kept)
    return Decision("upload", "content changed (same size)")


def deletions(
    remote: Iterable[RemoteFile],
    root: str,
    kept: set[str],
    pruned: Iterable[str],
    is_excluded: Callable[[str], bool],
) -> list[RemoteFile]:
    """Remote files with no local counterpart, never ones the filters exclude."""
    prefixes = tuple(pruned)
    gone = []
    for file in remote:
        if file.path in kept or (prefixes and file.path.startswith(prefixes)):
            continue
        if is_excluded(file.path[len(root) :]):
            continue
        gone.append(file)
    return sorted(gone, key=lambda f: f.path)


def iter_with_seen(
    items: Iterable[PlanItem], seen: set[str], pruned: list[str]
) -> Iterator[PlanItem]:
    """Pass plan items through, noting every remote path the local side accounts for."""
    for item in items:
        if item.rel_path.endswith("/"):
            pruned.append(item.remote_path)
        else:
            seen.add(item.remote_path)
        yield item
