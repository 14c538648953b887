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
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from imagekit_cli.client import LIST_PAGE_SIZE, ImageKitClient
from imagekit_cli.errors import ConfigError
from imagekit_cli.planning import PlanItem
from imagekit_cli.retry import PauseGate, RetryPolicy, call_with_retry

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


def folder_path(folder: str) -> str:
    """``/a/b`` → ``/a/b/``; the root is ``/``."""
    return "/" + "".join(f"{s}/" for s in folder.split("/") if s)


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
    retry = policy or RetryPolicy(attempts=8)
    pause = gate or PauseGate()
    files: list[RemoteFile] = []
    folders: list[str] = []
    queue: asyncio.Queue[str] = asyncio.Queue()
    queue.put_nowait(folder_path(folder))

    async def list_one(path: str) -> None:
        skip = 0
        while True:

            async def page(skip: int = skip) -> list[dict[str, Any]]:
                return await client.list_page(path, skip=skip, limit=LIST_PAGE_SIZE)

            items, _ = await call_with_retry(page, retry, pause, on_retry)
            for item in items:
                if item.get("type") == "folder":
                    sub = folder_path(str(item.get("folderPath") or ""))
                    folders.append(sub)
                    if recursive:
                        queue.put_nowait(sub)
                elif item.get("type", "file") == "file":
                    files.append(RemoteFile.from_api(item))
            if len(items) < LIST_PAGE_SIZE:
                return
            skip += len(items)

    async def worker() -> None:
        while True:
            path = await queue.get()
            try:
                await list_one(path)
            finally:
                queue.task_done()

    workers = [asyncio.create_task(worker()) for _ in range(concurrency)]
    try:
        join = asyncio.create_task(queue.join())
        done, _ = await asyncio.wait([join, *workers], return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if task is not join:
                task.result()  # a worker only ends early by raising
    finally:
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
    return files, folders


@dataclass(frozen=True, slots=True)
class StateEntry:
    """What the last sync uploaded (or accepted as in sync) for one remote path."""

    rel: str
    size: int
    mtime: float
    sha256: str | None
    file_id: str | None
    version_id: str | None


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
    """The sync rule for one file (DESIGN.md §7).

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


def default_state_dir(env: Mapping[str, str]) -> Path:
    """``$IMAGEKIT_STATE_DIR``, else ``$XDG_STATE_HOME/imagekit-cli``, else ~/.local/state/."""
    if env.get("IMAGEKIT_STATE_DIR"):
        return Path(env["IMAGEKIT_STATE_DIR"])
    base = env.get("XDG_STATE_HOME") or os.path.join(Path.home(), ".local", "state")
    return Path(base) / "imagekit-cli"


class SyncState:
    """Per (base URL, remote folder) records in a SQLite file, committed often.

    Losing the file is safe: sync then compares sizes only and records a new baseline.
    """

    COMMIT_EVERY_S = 0.5

    def __init__(self, path: Path, base_url: str, root: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            path.touch(mode=0o600)
        os.chmod(path, 0o600)
        try:
            self._db = sqlite3.connect(path, isolation_level="DEFERRED")
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS files (base_url TEXT, root TEXT, rel TEXT, size INT,"
                " mtime REAL, sha256 TEXT, file_id TEXT, version_id TEXT,"
                " PRIMARY KEY (base_url, root, rel))"
            )
        except sqlite3.DatabaseError as exc:
            raise ConfigError(
                f"Sync state {path} is unreadable ({exc}).",
                hint="Delete it; the next sync compares sizes and rebuilds it.",
            ) from None
        self.path = path
        self._key = (base_url, root)
        self._last_commit = time.monotonic()
        rows = self._db.execute(
            "SELECT rel, size, mtime, sha256, file_id, version_id FROM files"
            " WHERE base_url = ? AND root = ?",
            self._key,
        )
        self.entries = {row[0]: StateEntry(*row) for row in rows}

    def get(self, rel: str) -> StateEntry | None:
        """The record for a remote relative path."""
        return self.entries.get(rel)

    def put(self, entry: StateEntry) -> None:
        """Remember an entry; committed within half a second."""
        self.entries[entry.rel] = entry
        self._db.execute(
            "INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (*self._key, entry.rel, entry.size, entry.mtime, entry.sha256, entry.file_id,
             entry.version_id),
        )  # fmt: skip
        self._maybe_commit()

    def delete(self, rel: str) -> None:
        """Forget a path (it was deleted remotely)."""
        self.entries.pop(rel, None)
        self._db.execute(
            "DELETE FROM files WHERE base_url = ? AND root = ? AND rel = ?", (*self._key, rel)
        )
        self._maybe_commit()

    def _maybe_commit(self) -> None:
        if time.monotonic() - self._last_commit >= self.COMMIT_EVERY_S:
            self._db.commit()
            self._last_commit = time.monotonic()

    def close(self) -> None:
        """Commit and close."""
        self._db.commit()
        self._db.close()


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
