"""Finds the file an upload stored when its answer was lost, so it is not sent twice.

When a request went out in full and the connection then failed (or no answer came in
time), ImageKit may have stored the file. Re-sending blindly would add a version (exact
names), leave an orphan (``useUniqueFileName``) or fail with "already exists"
(``overwriteFile=false``). So before re-sending, the target folder is searched with the
``searchQuery`` of ImageKit's list API (see "List and search assets" in ImageKit's docs):
the exact name, or the name's stem and extension with ImageKit's unique suffix, of the
same size, created (or updated) after the job's first attempt began. A match is adopted.

The lookup is a media-API call: a 429 waits as the server asks; any other failure, or no
private key to call it with, means "not found", and the upload is sent again.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from imagekit_cli.client import ImageKitClient, UploadRequest, UploadResponse
from imagekit_cli.errors import (
    AnswerLostError,
    CredentialsError,
    ImageKitCLIError,
    RateLimitError,
)
from imagekit_cli.retry import RetryPolicy

CONFIRMED = "confirmed after a lost answer"
UNIQUE_SUFFIX = r"_[A-Za-z0-9_-]{9}"  # "_" and 9 characters before the extension
# None: a file stored before the attempt began must never be taken for it. If our clock is
# ahead of ImageKit's the lookup misses and the file is sent again (at worst an extra
# version), which is safe; a slack would let an earlier upload "confirm" new content.
CLOCK_SLACK_S = 0.0
RATE_LIMIT_BUDGET_S = 300.0  # waits on 429s longer than this in all: send again instead
LOOKUP_LIMIT = 1000
NO_KEY_WARNING = (
    "An upload's answer was lost, and without the private key the media API cannot be "
    "asked whether ImageKit stored it; sending it again (this may add a version, or a "
    "second file with --unique-names). Set IMAGEKIT_PRIVATE_KEY to check first."
)

Sleep = Callable[[float], Awaitable[None]]
Warn = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class Target:
    """Where a job's file lands and how to recognise it in a listing."""

    folder: str  # "/a/b/", "/" for the root
    name: str
    size: int | None  # None for a URL ImageKit fetches: its size is not known here
    unique: bool

    @classmethod
    def of(cls, remote_path: str, request: UploadRequest) -> Target:
        """The target of ``request``, predicted to land at ``remote_path``."""
        folder, _, name = remote_path.rpartition("/")
        unique = request.fields.get("useUniqueFileName", "true") == "true"
        return cls(folder + "/", name, None if request.url else request.size, unique)

    def _stem_ext(self) -> tuple[str, str]:
        stem, dot, ext = self.name.rpartition(".")
        return (stem, "." + ext) if dot and stem else (self.name, "")

    def search_query(self, since: float) -> str:
        """The ``searchQuery`` narrowing the folder's listing to candidates."""
        after = iso_utc(since - CLOCK_SLACK_S)
        if self.unique:
            stem, _ = self._stem_ext()
            name, when = f"name : {_quoted(stem + '_')}", "createdAt"
        else:
            name, when = f"name = {_quoted(self.name)}", "updatedAt"
        size = "" if self.size is None else f" AND size = {self.size}"
        return f'type = "file" AND {name}{size} AND {when} >= {_quoted(after)}'

    def matches(self, item: Mapping[str, Any], since: float) -> bool:
        """Whether a listed file is what this target's upload would have stored."""
        name = str(item.get("name", ""))
        stem, ext = self._stem_ext()
        pattern = re.escape(stem) + UNIQUE_SUFFIX + re.escape(ext)
        named = re.fullmatch(pattern, name) is not None if self.unique else name == self.name
        when = _epoch(item.get("createdAt" if self.unique else "updatedAt"))
        return (
            named
            and self.size in (None, item.get("size"))
            and item.get("type", "file") == "file"
            and when is not None
            and when >= since - CLOCK_SLACK_S
        )


@dataclass
class Tries:
    """One job's attempts: its target, when the first began, the last answer lost."""

    target: Target
    began: float = field(default_factory=time.time)
    lost: AnswerLostError | None = None


def iso_utc(epoch: float) -> str:
    """``2026-01-02T03:04:05.678Z``: the form of the list API's ``createdAt``."""
    whole = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch))
    return f"{whole}.{int(epoch * 1000) % 1000:03d}Z"


def _epoch(value: object) -> float | None:
    """Seconds since the epoch of an ISO 8601 time; None when it is not one."""
    try:
        when = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return when.timestamp() if when.tzinfo is not None else None


def _quoted(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _response(item: Mapping[str, Any], sha256: str | None) -> UploadResponse:
    url = str(item.get("url") or "")
    body = {
        "fileId": item.get("fileId"),
        "name": item.get("name"),
        "size": item.get("size"),
        "filePath": item.get("filePath"),
        "url": re.sub(r"\?updatedAt=\d+$", "", url) or None,
        "versionInfo": item.get("versionInfo") or {},
    }
    return UploadResponse(body=body, sha256=sha256, status=200, confirmed=True)


class LostAnswers:
    """Looks for what a lost upload stored; shared by every job of one run."""

    def __init__(
        self,
        client: ImageKitClient,
        policy: RetryPolicy,
        warn: Warn,
        *,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self._client = client
        self._policy = policy
        self._warn = warn
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._claimed: set[str] = set()  # fileIds already reported by this run
        self._no_key = False

    def claim(self, body: Mapping[str, Any]) -> None:
        """Remember a file this run reported, so no other job adopts it."""
        if isinstance(file_id := body.get("fileId"), str):
            self._claimed.add(file_id)

    async def find(self, tries: Tries) -> UploadResponse | None:
        """What an attempt of ``tries`` stored, as an upload answer; None when it is not
        there or the lookup failed (the caller then sends the upload again)."""
        target, since = tries.target, tries.began
        items = await self._search(target, since)
        found = [i for i in items if isinstance(i, dict) and self.matches(target, i, since)]
        if not found:
            return None
        newest = max(found, key=lambda i: str(i.get("updatedAt", "")))
        self.claim(newest)
        return _response(newest, tries.lost.sha256 if tries.lost else None)

    def matches(self, target: Target, item: Mapping[str, Any], since: float) -> bool:
        """A candidate: the right name, size and time, and not reported by another job."""
        return target.matches(item, since) and item.get("fileId") not in self._claimed

    async def _search(self, target: Target, since: float) -> Sequence[Mapping[str, Any]]:
        if self._no_key:
            return []
        query, waited, tries = target.search_query(since), 0.0, 0
        while True:
            tries += 1
            try:
                return await self._client.list_page(
                    target.folder, limit=LOOKUP_LIMIT, search_query=query
                )
            except RateLimitError as exc:
                wait = self._policy.wait_for(exc, tries, self._rng)
                if waited + wait > RATE_LIMIT_BUDGET_S:
                    return []
                waited += wait
                await self._sleep(wait)
            except CredentialsError:
                self._no_key = True
                self._warn(NO_KEY_WARNING)
                return []
            except (ImageKitCLIError, ValueError):  # ValueError: a malformed answer
                return []
