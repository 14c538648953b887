"""Turn command-line sources into a stream of plan items, before any network call.

The plan is a generator: a huge tree starts uploading while it is still being walked, and
memory stays bounded. Each item says what will happen to one local file: upload it (to a
predicted remote path, after ImageKit's name sanitising), skip it (with a reason), or fail
it (a later file that would land on a remote path already planned; see plan_guards).
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pathspec

from imagekit_cli.errors import UsageError
from imagekit_cli.limits import TypePolicy
from imagekit_cli.naming import normalise_folder, sanitise_folder, sanitise_name
from imagekit_cli.plan_guards import (
    CANNOT_READ_FOLDER,
    CANNOT_STAT,
    DANGLING_LINK,
    NOT_UTF8,
    PERMISSION_DENIED,
    TOO_DEEP,
    PlannedPaths,
    link_reason,
    real_root,
)
from imagekit_cli.text import shown_url

IGNORE_FILE = ".imagekitignore"
MAX_FOLDER_DEPTH = 50


def shard_of(remote_path: str, count: int) -> int:
    """Stable shard index (0-based) of a file's remote path: files that would land on one
    remote path are in one shard, so the shard sees (and fails) the collision."""
    digest = hashlib.blake2b(remote_path.encode("utf-8", "surrogateescape"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % count


def parse_shard(text: str) -> tuple[int, int]:
    """``K/N`` → (K, N) with 1 <= K <= N."""
    k, sep, n = text.partition("/")
    if sep and k.isdigit() and n.isdigit() and 1 <= int(k) <= int(n):
        return int(k), int(n)
    raise UsageError(f"--shard '{text}' must be K/N with 1 <= K <= N, e.g. 2/4.")


LISTED_LINK = "symlink in a stdin list (list the files you mean to publish instead)"


def _through_link(path: str) -> bool:
    """Whether ``path``, as written, is a symlink or passes through a symlinked folder
    (``tree/linkdir/secret.png``): either way it may lead out of the tree."""
    parts = Path(path).parts
    return any(os.path.islink(os.path.join(*parts[: i + 1])) for i in range(len(parts)))


class ListedPath(str):
    """A path read from a stdin list: found by a program, not typed, so a symlink among
    them is skipped. Even with --follow-symlinks there is no tree to keep its target
    inside, so it is never followed."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class PlanItem:
    """What will happen to one source file or URL."""

    path: str  # as the user would name it: the source argument joined with the relative path
    rel_path: str  # relative to the walked root; the key for sharding and sync
    folder: str  # the folder field to send, e.g. "/site/2024/"
    file_name: str  # the fileName field to send (ImageKit sanitises it)
    remote_path: str  # predicted stored path
    local: str | None = None
    url: str | None = None
    size: int = 0
    mtime: float = 0.0
    action: str = "upload"  # upload | skip | fail
    reason: str | None = None


@dataclass(frozen=True)
class Selection:
    """Which walked files are candidates at all."""

    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    ignore_files: tuple[Path, ...] = ()
    use_ignore_files: bool = True
    hidden: bool = False
    follow_symlinks: bool = False

    def compiled(self) -> _Matchers:
        extra: list[str] = []
        for path in self.ignore_files:
            try:
                extra += path.read_text(encoding="utf-8").splitlines()
            except OSError as exc:
                raise UsageError(f"--ignore-file {path}: {exc.strerror}.") from None
        return _Matchers(
            include=pathspec.GitIgnoreSpec.from_lines(self.include) if self.include else None,
            exclude=pathspec.GitIgnoreSpec.from_lines(self.exclude),
            ignore=pathspec.GitIgnoreSpec.from_lines(extra),
            active=bool(self.include or self.exclude or extra),
        )


@dataclass(frozen=True)
class _Matchers:
    include: pathspec.GitIgnoreSpec | None
    exclude: pathspec.GitIgnoreSpec
    ignore: pathspec.GitIgnoreSpec
    active: bool


@dataclass(frozen=True)
class PlanOptions:
    """Everything planning needs: destination, selection, limits, sharding."""

    folder: str = "/"
    selection: Selection = field(default_factory=Selection)
    policy: TypePolicy = field(default_factory=TypePolicy)
    shard: tuple[int, int] | None = None
    name: str | None = None


def is_url(source: str) -> bool:
    """Whether a source is an http(s) URL for ImageKit to fetch."""
    return source.startswith(("http://", "https://"))


def check_sources(sources: Sequence[str], name: str | None) -> None:
    """Fail fast, before any request, on sources that do not exist."""
    if not sources:
        raise UsageError("No PATH given.", hint="Name files, folders, '-' or URLs to upload.")
    for source in sources:
        if not is_url(source) and not os.path.lexists(source):
            raise UsageError(f"Path '{source}' does not exist.", hint="Check the spelling.")
    if name is not None and len(sources) != 1:
        raise UsageError("--name needs exactly one source.")
    if name is not None and not name.strip():
        raise UsageError("--name is empty.", hint="Give a file name, e.g. --name logo.png.")
    if name is not None and not is_url(sources[0]) and os.path.isdir(sources[0]):
        raise UsageError(
            f"--name names one file, but '{sources[0]}' is a folder.",
            hint="Drop --name: each file keeps its own name.",
        )


class Planner:
    """Walks sources and yields PlanItems; one Planner per run."""

    def __init__(self, options: PlanOptions) -> None:
        self.options = options
        self.folder = normalise_folder(options.folder)
        self._matchers = options.selection.compiled()
        self._planned = PlannedPaths()
        self._checked: tuple[str, ...] | None = None

    def check(self, sources: Sequence[str]) -> None:
        """Fail fast on sources that do not exist (once per list of sources)."""
        if self._checked != tuple(sources):
            check_sources(sources, self.options.name)
            self._checked = tuple(sources)

    def is_excluded(self, rel_path: str) -> bool:
        """Whether the command-line filters exclude a relative path (used by sync deletes)."""
        m = self._matchers
        if not m.active:
            return False
        if m.exclude.match_file(rel_path) or m.ignore.match_file(rel_path):
            return True
        return m.include is not None and not m.include.match_file(rel_path)

    def iter_plan(self, sources: Sequence[str]) -> Iterator[PlanItem]:
        """Yield an item for every candidate file of every source, in a stable order."""
        self.check(sources)
        for source in sources:
            name = self.options.name or os.path.basename(source)
            if is_url(source):
                yield from self._keep(self._url_item(source))
            elif isinstance(source, ListedPath) and _through_link(source):
                reason = LISTED_LINK if os.path.exists(source) else DANGLING_LINK
                item = self._file_item(source, source, name, self.folder)
                yield from self._keep(_replace(item, "skip", reason))
            elif os.path.isdir(source):
                yield from self._walk(Path(source), source)
            else:
                yield from self._keep(self._file_item(source, source, name, self.folder))

    def plan_named(self, source: str, name: str, folder: str) -> Iterator[PlanItem]:
        """One file or URL stored as ``name`` in ``folder`` (a manifest row), checked,
        sharded and tested for collisions like every other item; rows may send one local
        file to several destinations on purpose."""
        if is_url(source):
            remote = sanitise_folder(folder) + sanitise_name(name)
            shown = shown_url(source)
            yield from self._keep(PlanItem(shown, shown, folder, name, remote, url=source))
        else:
            item = self._file_item(source, source, name, folder, source)
            yield from self._keep(item, once_per_file=False)

    def _keep(self, item: PlanItem, once_per_file: bool = True) -> Iterator[PlanItem]:
        shard = self.options.shard
        if shard is not None and shard_of(item.remote_path, shard[1]) != shard[0] - 1:
            return
        if item.action == "upload":
            real = os.path.abspath(item.local) if once_per_file and item.local else None
            verdict = self._planned.claim(item.remote_path, item.path, real)
            if verdict is not None:
                item = _replace(item, *verdict)
        yield item

    def _url_item(self, url: str) -> PlanItem:
        name = self.options.name or unquote(urlsplit(url).path.rstrip("/").rpartition("/")[2])
        if not name:
            raise UsageError(
                f"Cannot take a file name from URL '{shown_url(url)}'.", hint="Use --name."
            )
        remote = sanitise_folder(self.folder) + sanitise_name(name)
        return PlanItem(shown_url(url), name, self.folder, name, remote, url=url)

    def _file_item(
        self, path: str, shown: str, name: str, folder: str, rel: str = "", remote_dir: str = ""
    ) -> PlanItem:
        rel = rel or name
        remote = (remote_dir or sanitise_folder(folder)) + sanitise_name(name)
        base = PlanItem(shown, rel, folder, name, remote, local=path)
        if _has_surrogates(shown):
            return PlanItem(printable(shown), printable(rel), folder, printable(name),
                            printable(remote), path, action="skip",
                            reason=NOT_UTF8)  # fmt: skip
        try:
            st = os.stat(path)
        except PermissionError:
            return _replace(base, "skip", PERMISSION_DENIED)
        except OSError as exc:
            return _replace(base, "skip", f"{CANNOT_STAT}: {exc.strerror}")
        base = PlanItem(
            shown, rel, folder, name, remote, local=path, size=st.st_size, mtime=st.st_mtime
        )
        if not stat.S_ISREG(st.st_mode):
            return _replace(base, "skip", "not a regular file")
        if not os.access(path, os.R_OK):
            return _replace(base, "skip", PERMISSION_DENIED)
        if st.st_size == 0:
            return _replace(base, "skip", "empty file")
        rejection = self.options.policy.rejection(name, st.st_size)
        if rejection:
            return _replace(base, "skip", rejection)
        if remote.count("/") - 1 > MAX_FOLDER_DEPTH:
            return _replace(base, "skip", f"{TOO_DEEP} {MAX_FOLDER_DEPTH} levels")
        return base

    def _walk(self, root: Path, shown_root: str) -> Iterator[PlanItem]:
        selection = self.options.selection
        root_id = _dir_id(root)
        bound = (real_root(str(root)), shown_root)
        # (directory, relative parts, ignore specs with their base, ancestor dir ids)
        stack: list[
            tuple[
                Path,
                tuple[str, ...],
                tuple[tuple[str, pathspec.GitIgnoreSpec], ...],
                frozenset[tuple[int, int]],
            ]
        ] = [(root, (), (), frozenset({root_id}))]
        while stack:
            directory, parts, specs, ancestors = stack.pop()
            rel_dir = "".join(f"{p}/" for p in parts)
            try:
                entries = sorted(os.scandir(directory), key=lambda e: e.name)
            except OSError as exc:
                reason = (
                    PERMISSION_DENIED
                    if isinstance(exc, PermissionError)
                    else f"{CANNOT_READ_FOLDER}: {exc.strerror}"
                )
                yield from self._keep(self._dir_skip(shown_root, rel_dir, reason))
                continue
            if selection.use_ignore_files and any(e.name == IGNORE_FILE for e in entries):
                spec = _read_ignore(directory / IGNORE_FILE)
                specs = (*specs, (rel_dir, spec))
            remote_dir = sanitise_folder(self.folder + rel_dir)
            folder = remote_dir  # sent sanitised, so the stored path is the predicted one
            subdirs: list[tuple[Path, tuple[str, ...], frozenset[tuple[int, int]]]] = []
            for entry in entries:
                item, sub = self._entry(
                    entry, bound, parts, rel_dir, (folder, remote_dir), specs, ancestors
                )
                if item is not None:
                    yield from self._keep(item)
                if sub is not None:
                    subdirs.append(sub)
            for sub_path, sub_parts, sub_ancestors in reversed(subdirs):
                stack.append((sub_path, sub_parts, specs, sub_ancestors))

    def _entry(
        self,
        entry: os.DirEntry[str],
        bound: tuple[str, str],
        parts: tuple[str, ...],
        rel_dir: str,
        folders: tuple[str, str],
        specs: tuple[tuple[str, pathspec.GitIgnoreSpec], ...],
        ancestors: frozenset[tuple[int, int]],
    ) -> tuple[PlanItem | None, tuple[Path, tuple[str, ...], frozenset[tuple[int, int]]] | None]:
        selection = self.options.selection
        folder, remote_dir = folders
        shown_root = bound[1]
        name = entry.name
        rel = rel_dir + name
        if name == IGNORE_FILE and selection.use_ignore_files:
            return None, None
        try:
            is_dir = entry.is_dir()
        except OSError:
            is_dir = False
        if is_dir:
            reason = self._dir_reason(entry, rel, specs, ancestors, bound)
            if reason is not None:
                return self._dir_skip(shown_root, rel + "/", reason), None
            sub_ancestors = ancestors | {_dir_id(entry.path)}
            return None, (Path(entry.path), (*parts, name), sub_ancestors)
        shown = os.path.join(shown_root, rel)
        reason = None
        if _has_surrogates(name):
            return self._file_item(entry.path, shown, name, folder, rel, remote_dir), None
        if name.startswith(".") and not selection.hidden:
            reason = "hidden file (use --hidden)"
        elif self.is_excluded(rel) or (specs and _ignored(rel, specs)):
            reason = "excluded"
        elif entry.is_symlink():
            reason = link_reason(entry.path, *bound, selection.follow_symlinks)
        if reason is not None:
            remote = remote_dir + sanitise_name(name)
            return PlanItem(
                shown, rel, folder, name, remote, entry.path, action="skip", reason=reason
            ), None
        return self._file_item(entry.path, shown, name, folder, rel, remote_dir), None

    def _dir_reason(
        self,
        entry: os.DirEntry[str],
        rel: str,
        specs: tuple[tuple[str, pathspec.GitIgnoreSpec], ...],
        ancestors: frozenset[tuple[int, int]],
        bound: tuple[str, str],
    ) -> str | None:
        selection = self.options.selection
        if _has_surrogates(entry.name):
            return NOT_UTF8
        if entry.name.startswith(".") and not selection.hidden:
            return "hidden folder (use --hidden)"
        if entry.is_symlink():
            reason = link_reason(entry.path, *bound, selection.follow_symlinks)
            if reason is not None:
                return reason
            if _dir_id(entry.path) in ancestors:
                return "symlink loop"
        m = self._matchers
        if m.exclude.match_file(rel + "/") or m.ignore.match_file(rel + "/"):
            return "excluded"
        if _ignored(rel + "/", specs):
            return "excluded"
        return None

    def _dir_skip(self, shown_root: str, rel_dir: str, reason: str) -> PlanItem:
        folder = printable(sanitise_folder(self.folder + rel_dir))
        shown = printable(os.path.join(shown_root, rel_dir))
        return PlanItem(shown, printable(rel_dir), folder, "", folder, action="skip",
                        reason=reason)  # fmt: skip


def _replace(item: PlanItem, action: str, reason: str) -> PlanItem:
    return PlanItem(
        item.path,
        item.rel_path,
        item.folder,
        item.file_name,
        item.remote_path,
        item.local,
        item.url,
        item.size,
        item.mtime,
        action,
        reason,
    )


def printable(path: str) -> str:
    """A path safe to print and store in UTF-8 reports: undecodable bytes as ``\\xNN``."""
    if not _has_surrogates(path):
        return path
    return path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _has_surrogates(name: str) -> bool:
    """Whether the name holds bytes that are not UTF-8 (decoded as lone surrogates)."""
    if name.isascii():
        return False
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _dir_id(path: str | Path) -> tuple[int, int]:
    try:
        st = os.stat(path)
    except OSError:
        return (-1, -1)
    return (st.st_dev, st.st_ino)


def _read_ignore(path: Path) -> pathspec.GitIgnoreSpec:
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        lines = []
    return pathspec.GitIgnoreSpec.from_lines(lines)


def _ignored(rel: str, specs: tuple[tuple[str, pathspec.GitIgnoreSpec], ...]) -> bool:
    return any(rel.startswith(base) and spec.match_file(rel[len(base) :]) for base, spec in specs)
