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
    stored: str | None = None  # where ImageKit stored it, when not at the predicted path


def default_state_dir(env: Mapping[str, str]) -> Path:
    """``$IMAGEKIT_STATE_DIR``, else ``$XDG_STATE_HOME/imagekit-cli``, else ~/.local/state/."""
    if env.get("IMAGEKIT_STATE_DIR"):
        return Path(env["IMAGEKIT_STATE_DIR"])
    base = env.get("XDG_STATE_HOME") or os.path.join(Path.home(), ".local", "state")
    return Path(base) / "imagekit-cli"


class SyncState:
    """Per (base URL, remote folder) records in a SQLite file, committed often.

    Losing the file is safe: sync then compares sizes only and records a new baseline.
    Without a usable file (``path`` None, or writes fail) the records live in memory and
    ``problem`` says why, so sync goes on and warns.
    """

    COMMIT_EVERY_S = 0.5

    def __init__(self, path: Path | None, base_url: str, root: str) -> None:
        self.path = path
        self.problem: str | None = None
        self._key = (base_url, root)
        self._last_commit = time.monotonic()
        self._db = self._connect(path)
        rows = self._db.execute(
            "SELECT rel, size, mtime, sha256, file_id, version_id, stored FROM files"
            " WHERE base_url = ? AND root = ?",
            self._key,
        )
        self.entries = {row[0]: StateEntry(*row) for row in rows}

    @classmethod
    def open(cls, path: Path, base_url: str, root: str) -> SyncState:
        """The state at ``path``; if its folder or file cannot be written, an in-memory state
        whose ``problem`` names the path (sync then runs without remembered state)."""
        try:
            return cls(path, base_url, root)
        except (OSError, sqlite3.OperationalError) as exc:
            state = cls(None, base_url, root)
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            state.problem = (
                f"sync state {path} cannot be written ({reason}); syncing without it "
                "(same-size edits are noticed only once it can be written; set IMAGEKIT_STATE_DIR)"
            )
            return state

    @staticmethod
    def _connect(path: Path | None) -> sqlite3.Connection:
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            if not path.exists():
                path.touch(mode=0o600)
            os.chmod(path, 0o600)
        try:
            db = sqlite3.connect(path or ":memory:", isolation_level="DEFERRED")
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute(
                "CREATE TABLE IF NOT EXISTS files (base_url TEXT, root TEXT, rel TEXT, size INT,"
                " mtime REAL, sha256 TEXT, file_id TEXT, version_id TEXT, stored TEXT,"
                " PRIMARY KEY (base_url, root, rel))"
            )
            columns = {row[1] for row in db.execute("PRAGMA table_info(files)")}
            if "stored" not in columns:  # a state file from before stored paths were kept
                db.execute("ALTER TABLE files ADD COLUMN stored TEXT")
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.OperationalError):
                raise  # cannot be opened or written: SyncState.open falls back to memory
            raise ConfigError(
                f"Sync state {path} is unreadable ({exc}).",
                hint="Delete it; the next sync compares sizes and rebuilds it.",
            ) from None
        return db

    def get(self, rel: str) -> StateEntry | None:
        """The record for a remote relative path."""
        return self.entries.get(rel)

    def put(self, entry: StateEntry) -> None:
        """Remember an entry; committed within half a second."""
        self.entries[entry.rel] = entry
        self._write(
            "INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (*self._key, entry.rel, entry.size, entry.mtime, entry.sha256, entry.file_id,
             entry.version_id, entry.stored),
        )  # fmt: skip

    def delete(self, rel: str) -> None:
        """Forget a path (it was deleted remotely)."""
        self.entries.pop(rel, None)
        self._write("DELETE FROM files WHERE base_url = ? AND root = ? AND rel = ?",
                    (*self._key, rel))  # fmt: skip

    def _write(self, sql: str, params: tuple[object, ...]) -> None:
        if self.problem is not None and self.path is not None:
            return  # writing failed once: keep the rest of the run in memory only
        try:
            self._db.execute(sql, params)
            if time.monotonic() - self._last_commit >= self.COMMIT_EVERY_S:
                self._db.commit()
                self._last_commit = time.monotonic()
        except sqlite3.Error as exc:
            self.problem = f"sync state {self.path} could not be written ({exc}); not saved"

    def save(self) -> None:
        """Commit now; a failure is noted in ``problem``, never raised."""
        try:
            self._db.commit()
        except sqlite3.Error as exc:
            self.problem = self.problem or f"sync state {self.path} could not be saved ({exc})"

    def close(self) -> None:
        """Commit and close."""
        self.save()
        self._db.close()
