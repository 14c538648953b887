"""The fake account's state: stored files and versions, used tokens, the request log, faults.

Written from ImageKit's public API reference (https://imagekit.io/docs/api-reference)
alone, independently of imagekit_cli, so that tests compare the client's predictions
against a second implementation, not against itself.
"""

from __future__ import annotations

import json
import math
import random
import secrets
import threading
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MB = 1000 * 1000
VIDEO_EXTS = {"mp4", "webm", "mov", "swf", "ts", "m3u8"}
PLAN_LIMITS = {
    "free": (25 * MB, 100 * MB),
    "lite": (40 * MB, 300 * MB),
    "pro": (50 * MB, 2000 * MB),
    "enterprise": (None, None),
}
MAX_VERSIONS = 100
MAX_FOLDER_DEPTH = 50


def sanitise_name(name: str) -> str:
    """ImageKit's fileName rule: keep letters, marks, numbers, '.', '_' and '-'."""
    return "".join(
        ch if ch in "._-" or unicodedata.category(ch)[0] in "LMN" else "_" for ch in name
    )


def sanitise_folder_segment(segment: str) -> str:
    """ImageKit's folder rule: keep Unicode letters and digits, '-' and '_'; the rest -> '_'."""
    return "".join(
        ch if ch in "-_" or unicodedata.category(ch)[0] in "LN" else "_" for ch in segment
    )


AUTO_TAGGERS = ("google-auto-tagging", "aws-auto-tagging")


def iso_now() -> str:
    return (
        time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
        + f".{int(time.time() * 1000) % 1000:03d}Z"
    )


def new_id() -> str:
    return secrets.token_hex(12)


@dataclass
class Version:
    version_id: str
    number: int
    size: int
    sha256: str
    blob: Path
    fields: dict[str, str]
    created_at: str
    uploaded_at: float


@dataclass
class StoredFile:
    file_id: str
    folder: str  # "/a/b/" with both slashes, "/" for the root
    name: str
    created_at: str
    versions: list[Version] = field(default_factory=list)
    # File-level attributes an overwrite keeps or drops per the overwrite* flags.
    tags: list[str] | None = None
    custom_metadata: dict[str, Any] = field(default_factory=dict)
    ai_tags: list[dict[str, Any]] | None = None

    def apply_upload(self, fields: dict[str, str], replacing: bool) -> None:
        """Set tags, customMetadata and AITags as an upload (or overwrite) with ``fields`` does:
        a value sent is applied; omitted on an overwrite, it is removed unless its
        overwrite* flag is ``false``."""
        keep = {n: replacing and fields.get(n) == "false" for n in
                ("overwriteTags", "overwriteCustomMetadata", "overwriteAITags")}  # fmt: skip
        if "tags" in fields:
            self.tags = [t for t in fields["tags"].split(",") if t] or None
        elif not keep["overwriteTags"]:
            self.tags = None
        if "customMetadata" in fields:
            self.custom_metadata = json.loads(fields["customMetadata"])
        elif not keep["overwriteCustomMetadata"]:
            self.custom_metadata = {}
        new_ai = [
            {"name": "fake-label", "confidence": 99, "source": e.get("name")}
            for e in json.loads(fields.get("extensions", "[]"))
            if isinstance(e, dict) and e.get("name") in AUTO_TAGGERS
        ]
        if keep["overwriteAITags"]:
            self.ai_tags = (self.ai_tags or []) + new_ai or None
        else:
            self.ai_tags = new_ai or None

    @property
    def file_path(self) -> str:
        return self.folder + self.name

    @property
    def current(self) -> Version:
        return self.versions[-1]


@dataclass
class RequestRecord:
    method: str
    path: str
    kind: str  # upload | list | details | delete | bulk_delete | folder | other
    status: int = 0
    file_path: str | None = None
    fields: dict[str, str] = field(default_factory=dict)
    query: dict[str, str] = field(default_factory=dict)
    peer: int = 0  # the client's port: one per connection
    request_id: str = ""  # the x-ik-requestId header of the answer
    started: float = field(default_factory=time.monotonic)
    finished: float = 0.0


@dataclass
class Faults:
    """Fault injection for the next requests; every probability draws from one seeded RNG."""

    latency: float = 0.0
    upload_latency: float | None = None
    processing_latency: float = 0.0  # an accepted upload's own time; a refusal is immediate
    scripted: dict[str, list[tuple[int, dict[str, str]]]] = field(default_factory=dict)
    error_rate: float = 0.0
    error_status: int = 500
    drop_rate: float = 0.0
    drop_after_store_rate: float = 0.0  # stored first, then the connection is dropped
    slow_answer_rate: float = 0.0  # stored first, then answered after slow_answer_seconds
    slow_answer_seconds: float = 0.0
    stall_rate: float = 0.0
    stall_seconds: float = 0.0
    spike_rate: float = 0.0
    spike_seconds: float = 0.0
    storm_until: float = 0.0
    fail_names: dict[str, tuple[int, str]] = field(default_factory=dict)
    store_as: dict[str, str] = field(default_factory=dict)  # fileName -> a different stored name
    media_rate_limit: tuple[int, int] | None = None  # (requests, interval ms)
    upload_rate_limit: tuple[int, int] | None = None
    redirect_uploads_to: str | None = None


class FakeState:
    """Everything the fake server knows; shared between the server thread and the test."""

    def __init__(
        self,
        storage: Path,
        *,
        private_key: str = "private_fake_key_0123456789",
        public_key: str = "public_fake_key_0123456789",
        plan: str = "free",
        seed: int = 1234,
    ) -> None:
        self.storage = storage
        self.private_key = private_key
        self.public_key = public_key
        self.plan = plan
        self.url_endpoint = "https://ik.imagekit.io/fake"
        self.base_url = ""
        self.lock = threading.Lock()
        self.files: dict[str, StoredFile] = {}
        self.by_path: dict[str, str] = {}
        self.folders: dict[str, str] = {"/": iso_now()}
        self.used_tokens: set[str] = set()
        self.secrets_seen: set[str] = set()  # signatures and tokens, to check redaction
        self.requests: list[RequestRecord] = []
        self.in_flight = 0
        self.peak_in_flight = 0
        self.faults = Faults()
        self.rng = random.Random(seed)
        self._windows: dict[str, tuple[float, int]] = {}
        self.on_upload: Callable[[], None] | None = None  # a test hook: runs as each upload arrives

    # --- helpers for tests --------------------------------------------------------------
    def stored_paths(self) -> set[str]:
        with self.lock:
            return set(self.by_path)

    def file_at(self, path: str) -> StoredFile:
        with self.lock:
            return self.files[self.by_path[path]]

    def requests_of(self, kind: str) -> list[RequestRecord]:
        with self.lock:
            return [r for r in self.requests if r.kind == kind]

    def uploads_ok(self) -> list[RequestRecord]:
        return [r for r in self.requests_of("upload") if r.status == 200]

    def reset_log(self) -> None:
        with self.lock:
            self.requests.clear()
            self.peak_in_flight = 0

    def script(self, kind: str, *responses: tuple[int, dict[str, str]]) -> None:
        """Answer the next requests of ``kind`` with these (status, headers), in order."""
        with self.lock:
            self.faults.scripted.setdefault(kind, []).extend(responses)

    def next_scripted(self, kind: str) -> tuple[int, dict[str, str]] | None:
        with self.lock:
            queue = self.faults.scripted.get(kind)
            return queue.pop(0) if queue else None

    def chance(self, p: float) -> bool:
        if p <= 0:
            return False
        with self.lock:
            return self.rng.random() < p

    def rate_check(self, bucket: str, limit: tuple[int, int] | None) -> tuple[bool, dict[str, str]]:
        """Fixed-window limit: (allowed, X-RateLimit-* headers in milliseconds)."""
        if limit is None:
            return True, {}
        count_max, interval_ms = limit
        now = time.monotonic()
        with self.lock:
            start, count = self._windows.get(bucket, (now, 0))
            if now - start >= interval_ms / 1000:
                start, count = now, 0
            allowed = count < count_max
            if allowed:
                count += 1
            self._windows[bucket] = (start, count)
            reset_ms = max(1, math.ceil((start + interval_ms / 1000 - now) * 1000))
        headers = {
            "X-RateLimit-Limit": str(count_max),
            "X-RateLimit-Interval": str(interval_ms),
            "X-RateLimit-Reset": str(reset_ms),
        }
        return allowed, headers

    def size_limit(self, name: str) -> int | None:
        image, video = PLAN_LIMITS[self.plan]
        ext = name.rpartition(".")[2].lower() if "." in name else ""
        return video if ext in VIDEO_EXTS else image

    def file_json(self, stored: StoredFile, version: Version | None = None) -> dict[str, Any]:
        """A file object as the list and details APIs return it."""
        v = version or stored.current
        f = v.fields
        return {
            "fileId": stored.file_id,
            "type": "file" if version is None else "file-version",
            "name": stored.name,
            "filePath": stored.file_path,
            "tags": stored.tags,
            "AITags": stored.ai_tags,
            "versionInfo": {"id": v.version_id, "name": f"Version {v.number}"},
            "isPrivateFile": f.get("isPrivateFile") == "true",
            "isPublished": f.get("isPublished", "true") == "true",
            "customCoordinates": f.get("customCoordinates"),
            "url": f"{self.url_endpoint}{stored.file_path}?updatedAt={int(v.uploaded_at * 1000)}",
            "thumbnail": f"{self.url_endpoint}/tr:n-ik_ml_thumbnail{stored.file_path}",
            "fileType": "non-image",
            "mime": "application/octet-stream",
            "size": v.size,
            "hasAlpha": False,
            "customMetadata": stored.custom_metadata,
            "description": f.get("description"),
            "createdAt": stored.created_at,
            "updatedAt": v.created_at,
        }
