"""The local sync state: what the last sync uploaded, per (base URL, remote folder).

A SQLite file in the state directory; losing it is safe (sync then compares sizes only).
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from imagekit_cli.errors import ConfigError


@dataclass(frozen=True, slots=True)
class StateEntry:
    """What the last sync uploaded (or accepted as in sync) for one remote path."""

    rel: str
    size: int
    mtime: float
    sha256: str | None
    file_id: str | None
    version_id: str | None


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
