"""Reviewable sync plans: the file ``sync --plan-out`` writes and ``imagekit apply`` reads.

A plan is the outcome of a sync dry run, kept: every local file the run would upload (with
its size and mtime in nanoseconds, so ``apply`` can tell it changed since), every remote
file it would delete (by fileId), every skip with its reason, and the options that shape
the uploads. It is one JSON object, an item a line so a pull request diff reads well::

    {"schema_version": 1, "kind": "imagekit-sync-plan", "created": "…Z",
     "local_root": "public", "remote_folder": "/site/", "sync": {…},
     "upload_options": {…}, "summary": {"upload": 2, …}, "items": [
      {"action": "upload", "local": "a.jpg", "remote_path": "/site/a.jpg", "size": 5,
       "mtime_ns": 1700000000000000000, "reason": "new file"}, …]}

``local`` is relative to ``local_root`` (as given to sync, so a plan made in a checkout
applies in another checkout of the same tree); deletes carry ``file_id`` and
``remote_path``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imagekit_cli.errors import UsageError
from imagekit_cli.events import NullReporter
from imagekit_cli.files import write_output
from imagekit_cli.limits import ALLOWED_EXTENSIONS, TypePolicy
from imagekit_cli.naming import folder_path
from imagekit_cli.report import FileResult, Status, utc_stamp
from imagekit_cli.report_read import parse_stamp
from imagekit_cli.runner import UploadOptions
from imagekit_cli.text import printable

SCHEMA_VERSION = 1
KIND = "imagekit-sync-plan"
ACTIONS = ("upload", "delete", "skip", "fail")
DEFAULT_MAX_AGE_S = 24 * 3600.0
FUTURE_SLACK_S = 300.0  # clock skew between the planning machine and this one
MAX_SIZE = 1 << 50  # bytes; far above any ImageKit plan's limit
MAX_MTIME_NS = (1 << 63) - 1
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_FIELDS: dict[str, dict[str, type | tuple[type, ...]]] = {
    "upload": {"local": str, "remote_path": str, "size": int, "mtime_ns": int},
    "delete": {"file_id": str, "remote_path": str},
    "skip": {"local": str, "remote_path": str},
    "fail": {"local": str, "remote_path": str},
}


@dataclass(frozen=True)
class PlanEntry:
    """One planned action. ``local`` is relative to the plan's root (empty for deletes)."""

    action: str
    local: str
    remote_path: str
    size: int = 0
    mtime_ns: int = 0
    reason: str | None = None
    file_id: str | None = None
    version_id: str | None = None
    url: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The entry as written, without the keys that do not apply to its action."""
        data = {k: v for k, v in dataclasses.asdict(self).items() if v not in (None, "")}
        if self.action != "upload":
            data.pop("mtime_ns", None)
        return data


@dataclass(frozen=True)
class SyncPlan:
    """A plan read back: where it came from, the options, and its entries."""

    created: float
    local_root: str
    remote_folder: str
    upload_options: UploadOptions
    sync: Mapping[str, Any]
    entries: tuple[PlanEntry, ...]
    policy: TypePolicy = field(default_factory=TypePolicy)
    follow_symlinks: bool = False

    def of(self, action: str) -> list[PlanEntry]:
        """The entries of one action, in plan order."""
        return [e for e in self.entries if e.action == action]


@dataclass
class PlanWriter(NullReporter):
    """Listens to a sync dry run's results and writes them as a plan file."""

    path: Path
    local_root: str
    remote_folder: str
    upload_options: UploadOptions
    sync: Mapping[str, Any]
    entries: list[PlanEntry] = field(default_factory=list)
    folders_left_out: int = 0
    policy: TypePolicy = field(default_factory=TypePolicy)
    follow_symlinks: bool = False

    def finished(self, result: FileResult) -> None:
        """Keep one result as an entry (a dry run reports planned, skipped and failed)."""
        entry = self.entry(result)
        if entry is not None:
            self.entries.append(entry)
        elif result.status == Status.PLANNED:
            self.folders_left_out += 1

    def entry(self, result: FileResult) -> PlanEntry | None:
        """The plan entry of a dry-run result; None for what a plan does not carry (a
        folder delete, which ``apply`` leaves to a later sync)."""
        is_delete = (result.reason or "").startswith("delete")
        if result.status == Status.PLANNED and is_delete:
            if result.file_id is None:
                return None
            return PlanEntry("delete", "", result.remote_path, result.size, reason=result.reason,
                             file_id=result.file_id, version_id=result.version_id)  # fmt: skip
        local = self._relative(result.path)
        if result.status == Status.PLANNED:
            return PlanEntry("upload", local, result.remote_path, result.size,
                             self._mtime_ns(result), result.reason)  # fmt: skip
        action = "fail" if result.status == Status.FAILED else "skip"
        return PlanEntry(action, printable(local), printable(result.remote_path), result.size,
                         reason=result.reason, url=result.url)  # fmt: skip

    def _relative(self, shown: str) -> str:
        prefix = os.path.join(self.local_root, "")
        return shown[len(prefix) :] if shown.startswith(prefix) else shown

    def _mtime_ns(self, result: FileResult) -> int:
        """The mtime the decision saw, in nanoseconds as ``os.stat`` gives it; if the file
        changed since it was planned a moment ago, the float mtime, which ``apply`` will
        then find changed."""
        planned = round((result.mtime or 0.0) * 1e9)
        try:
            st = os.stat(result.path)
        except OSError:
            return planned
        if st.st_size == result.size and abs(st.st_mtime_ns - planned) < 1000:
            return st.st_mtime_ns
        return planned

    def counts(self) -> dict[str, int]:
        """How many entries of each action."""
        return {a: sum(1 for e in self.entries if e.action == a) for a in ACTIONS}

    def write(self, created: float | None = None) -> None:
        """Replace the plan file in one step."""
        header = {
            "schema_version": SCHEMA_VERSION,
            "kind": KIND,
            "created": utc_stamp(time.time() if created is None else created),
            "local_root": self.local_root,
            "remote_folder": self.remote_folder,
            "sync": dict(self.sync),
            "upload_options": _options_dict(self.upload_options),
            "policy": _policy_dict(self.policy, self.follow_symlinks),
            "summary": self.counts(),
        }
        head = json.dumps(header, ensure_ascii=False, indent=1)[:-2]
        lines = ",\n  ".join(json.dumps(e.to_dict(), ensure_ascii=False) for e in self.entries)
        text = (
            f'{head},\n "items": [\n  {lines}\n ]\n}}\n'
            if lines
            else f'{head},\n "items": []\n}}\n'
        )
        write_output(self.path, text, "--plan-out")


def _options_dict(options: UploadOptions) -> dict[str, Any]:
    return {
        k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(options).items()
    }


def _policy_dict(policy: TypePolicy, follow_symlinks: bool) -> dict[str, Any]:
    """The type and size rules sync planned with, so ``apply`` holds every item to them."""
    return {
        "plan": policy.plan,
        "max_size": policy.max_size,
        "allow_ext": sorted(policy.extensions - ALLOWED_EXTENSIONS),
        "any_type": policy.any_type,
        "follow_symlinks": follow_symlinks,
    }


def _read_policy(path: Path, data: Any) -> tuple[TypePolicy, bool]:
    """The plan's ``policy``; a plan without one gets the default rules (no --any-type)."""
    if data is None:
        return TypePolicy(), False
    kinds: dict[str, type | tuple[type, ...]] = {
        "plan": str, "max_size": (int, type(None)), "allow_ext": list,
        "any_type": bool, "follow_symlinks": bool,
    }  # fmt: skip
    if not isinstance(data, dict) or set(data) != set(kinds):
        raise _malformed(path, "policy is not the set of sync's type and size rules")
    for key, kind in kinds.items():
        value = data[key]
        if not isinstance(value, kind) or (key == "max_size" and isinstance(value, bool)):
            raise _malformed(path, f"policy {key} is not valid")
    size, extra = data["max_size"], data["allow_ext"]
    if (size is not None and not 0 < size <= MAX_SIZE) or not all(
        isinstance(e, str) and e.isprintable() for e in extra
    ):
        raise _malformed(path, "policy max_size or allow_ext is not valid")
    try:
        policy = TypePolicy(data["plan"], size, frozenset(extra), data["any_type"])
    except UsageError:
        raise _malformed(path, "policy plan is not an ImageKit plan") from None
    return policy, data["follow_symlinks"]


def _load(path: Path) -> Any:
    """The plan file's JSON, or a UsageError naming the file."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"Cannot read plan {path}: {exc.strerror}.") from None
    except RecursionError:
        raise _malformed(path, "JSON nested too deep") from None
    except (ValueError, UnicodeDecodeError):  # also a number too long to convert
        raise _malformed(path, "not valid JSON") from None


def _check_version(path: Path, version: Any) -> None:
    if isinstance(version, int) and not isinstance(version, bool):
        if version != SCHEMA_VERSION:
            raise UsageError(
                f"Plan {path} has schema_version {_shown(version)}; this imagekit-cli reads "
                f"{SCHEMA_VERSION}.",
                hint="Write the plan again with this version's sync --plan-out.",
            )
        return
    raise _malformed(path, f"schema_version must be the number {SCHEMA_VERSION}")


def _shown(value: Any) -> str:
    """A value for a message, never hundreds of characters long."""
    text = repr(value) if not isinstance(value, int) or abs(value) < 10**12 else "too large"
    return printable(text if len(text) <= 40 else text[:37] + "...")


def _check_sync(path: Path, sync: dict[str, Any]) -> None:
    """The sync options a plan was made with: flags, and a limit that is None or ≥ 0."""
    limit = sync.get("max_delete")
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool)
                              or not 0 <= limit <= MAX_SIZE):  # fmt: skip
        raise _malformed(path, "sync max_delete must be empty or a number of files ≥ 0")
    if any(not isinstance(sync.get(k, False), bool) for k in ("delete", "checksum")):
        raise _malformed(path, "sync delete and checksum must be true or false")


def read_plan(path: Path) -> SyncPlan:
    """A plan written by ``sync --plan-out``; a UsageError naming the file if it is not one."""
    data = _load(path)
    if not isinstance(data, dict) or data.get("kind") != KIND:
        raise _malformed(path, "not a sync plan")
    _check_version(path, data.get("schema_version"))
    created = parse_stamp(data.get("created"))
    root, folder, sync = data.get("local_root"), data.get("remote_folder"), data.get("sync")
    items = data.get("items")
    if created is None or not isinstance(root, str) or not isinstance(folder, str):
        raise _malformed(path, "created, local_root or remote_folder is missing")
    if not isinstance(sync, dict) or not isinstance(items, list):
        raise _malformed(path, "sync or items is missing")
    _check_sync(path, sync)
    options = _read_options(path, data.get("upload_options"))
    policy, follow = _read_policy(path, data.get("policy"))
    if not root or not root.isprintable() or not folder.isprintable():
        raise _malformed(path, "local_root or remote_folder is empty or not printable")
    folder = folder_path(folder)
    entries = tuple(_read_entry(path, n, item) for n, item in enumerate(items, 1))
    for number, entry in enumerate(entries, 1):
        _check_bounds(path, number, entry, folder)
    return SyncPlan(created, root, folder, options, sync, entries, policy, follow)


def _check_bounds(path: Path, number: int, entry: PlanEntry, folder: str) -> None:
    """An entry (edited by hand, say) may not reach outside the plan's two folders."""
    local_parts = entry.local.replace("\\", "/").split("/")
    if os.path.isabs(entry.local) or ".." in local_parts:
        raise _malformed(path, f"item {number}: local path {entry.local!r} leaves local_root")
    if not (entry.local + entry.remote_path).isprintable():
        raise _malformed(path, f"item {number}: a path holds control characters")
    if entry.action == "upload" and {"", "."} & set(local_parts):
        raise _malformed(path, f"item {number}: upload names no local file")
    if not (0 <= entry.size <= MAX_SIZE and 0 <= entry.mtime_ns <= MAX_MTIME_NS) or (
        entry.action == "upload" and entry.size == 0
    ):
        raise _malformed(path, f"item {number}: size or mtime_ns is out of range")
    if not entry.remote_path.startswith(folder) or "/../" in entry.remote_path:
        raise _malformed(path, f"item {number}: {entry.remote_path!r} is outside {folder}")


def _read_options(path: Path, data: Any) -> UploadOptions:
    known = {f.name: f for f in dataclasses.fields(UploadOptions)}
    if not isinstance(data, dict) or not set(data) <= set(known):
        raise _malformed(path, "upload_options is not a set of upload options")
    values: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
    try:
        options = UploadOptions(**values)
        options.validate()
    except (TypeError, UsageError) as exc:
        raise _malformed(path, f"upload_options: {exc}") from None
    return options


def _read_entry(path: Path, number: int, item: Any) -> PlanEntry:
    action = item.get("action") if isinstance(item, dict) else None
    if action not in _FIELDS:
        raise _malformed(path, f"item {number} has no known action")
    for key, kind in _FIELDS[action].items():
        value = item.get(key)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise _malformed(path, f"item {number} ({action}) lacks a valid {key}")
    known = {f.name for f in dataclasses.fields(PlanEntry)}
    extra = set(item) - known
    if extra:
        raise _malformed(path, f"item {number} has unknown key {printable(sorted(extra)[0])}")
    for key, value in item.items():
        kind = int if key in ("size", "mtime_ns") else str
        if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
            raise _malformed(path, f"item {number} ({action}) has an invalid {key}")
    defaults = {"local": "", "size": 0}
    try:
        return PlanEntry(**{**defaults, **item})
    except TypeError as exc:
        raise _malformed(path, f"item {number}: {exc}") from None


def _malformed(path: Path, detail: str) -> UsageError:
    return UsageError(
        f"Plan {path} is malformed ({detail}).",
        hint="Write it again with imagekit sync LOCAL REMOTE --plan-out PLAN.",
    )


def parse_duration(text: str, flag: str = "--max-age") -> float:
    """``90s``, ``15m``, ``24h``, ``7d``, ``2w`` or plain seconds, as seconds; ``0`` is 0."""
    value = text.strip().lower()
    unit = value[-1:] if value[-1:] in _UNITS else "s"
    number = value[:-1] if value[-1:] in _UNITS else value
    try:
        seconds = float(number) * _UNITS[unit]
    except ValueError:
        seconds = -1.0
    if not number or seconds < 0 or seconds != seconds:
        raise UsageError(
            f"{flag} '{text}' is not a duration.", hint="Give e.g. 90m, 24h or 7d (0: no limit)."
        )
    return seconds


def check_age(plan: SyncPlan, path: Path, max_age: str, now: float | None = None) -> None:
    """Refuse a plan older than ``--max-age`` (0: no limit): the tree and the remote folder
    have likely moved on since it was reviewed."""
    limit = parse_duration(max_age)
    age = (time.time() if now is None else now) - plan.created
    if age < -FUTURE_SLACK_S:
        raise UsageError(
            f"Plan {path} is dated {utc_stamp(plan.created)}, in the future.",
            hint="Check this machine's clock, or plan again with sync --plan-out.",
        )
    if limit > 0 and age > limit:
        raise UsageError(
            f"Plan {path} was made {_span(age)} ago ({utc_stamp(plan.created)}), more than "
            f"--max-age {max_age}.",
            hint="Plan again with sync --plan-out, or apply it anyway with --max-age 0.",
        )


def _span(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.3g}{unit}"
    return f"{seconds:.0f}s"
