"""``upload --manifest FILE``: a list of files and URLs, each row with its own options.

A ``.csv`` (with a header) or ``.jsonl`` file; the columns are ``COLUMNS``. A row's values
override the command-line flags for that file only. Rows are read one at a time as the
upload engine asks for more work, so a huge manifest starts uploading at once and memory
does not grow with it. A bad row (a missing file, invalid JSON, an unknown column) becomes
a failed item whose reason names the row; the other rows go on.

Rows are numbered as an editor numbers lines: in CSV the header is row 1.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import unquote, urlsplit

from imagekit_cli.errors import UsageError
from imagekit_cli.naming import normalise_folder, sanitise_folder, sanitise_name
from imagekit_cli.planning import (
    PlanItem,
    Planner,
    is_url,
    shard_of,
)
from imagekit_cli.runner import UploadOptions, parse_json_option

COLUMNS = ("path", "folder", "name", "tags", "custom_metadata", "description", "private", "draft")
SUFFIXES = (".csv", ".jsonl", ".ndjson")
TRUE = frozenset({"true", "1", "yes"})
FALSE = frozenset({"false", "0", "no"})
PLAN_FIELDS = tuple(f.name for f in dataclasses.fields(PlanItem))


class RowError(Exception):
    """One manifest row cannot be used; the message says why."""


@dataclass(frozen=True, slots=True)
class ManifestItem(PlanItem):
    """A plan item with the options of its manifest row."""

    options: UploadOptions = field(default_factory=UploadOptions)


@dataclass(frozen=True)
class ManifestOptions(UploadOptions):
    """The command-line options, except where a manifest row overrides them."""

    def fields_for(self, item: PlanItem) -> dict[str, str]:
        """The form fields of the item's row options, or of the command line's."""
        if isinstance(item, ManifestItem):
            return item.options.fields_for(item)
        return super().fields_for(item)


def check_inputs(path: str | None, sources: Sequence[str], planner: Planner) -> Path | None:
    """The manifest to read, or None after checking the command-line sources; refuses,
    before any upload, a manifest that cannot work as a whole."""
    name = planner.options.name
    if path is None:
        if not sources:
            raise UsageError(
                "No PATH given.", hint="Name files, folders, '-' or URLs, or --manifest FILE."
            )
        planner.check(sources)
        return None
    if sources:
        raise UsageError("Give PATH... or --manifest, not both.", hint="Add the paths as rows.")
    if name is not None:
        raise UsageError("--name does not go with --manifest.", hint="Use a 'name' column.")
    manifest = Path(path)
    if manifest.suffix.lower() not in SUFFIXES:
        raise UsageError(
            f"--manifest {path}: unknown format '{manifest.suffix}'.",
            hint="Use a .csv file with a header row, or .jsonl (one JSON object a line).",
        )
    if not manifest.is_file():
        raise UsageError(f"--manifest {path} does not exist or is not a file.")
    if manifest.suffix.lower() == ".csv":
        with _open(manifest) as handle:
            _csv_header(csv.reader(handle), manifest)
    return manifest


def read_rows(manifest: Path) -> Iterator[tuple[int, dict[str, Any] | RowError]]:
    """(row number, values or the reason the row is bad), one row at a time."""
    with _open(manifest) as handle:
        if manifest.suffix.lower() != ".csv":
            for number, line in enumerate(handle, 1):
                if line.strip():
                    yield number, _utf8(_json_values(line))
            return
        reader = csv.reader(handle)
        columns = _csv_header(reader, manifest)
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield reader.line_num, RowError(f"not valid CSV: {exc}")
                continue
            if any(c.strip() for c in cells):
                yield reader.line_num, _utf8(_csv_values(cells, columns))


def _utf8(values: dict[str, Any] | RowError) -> dict[str, Any] | RowError:
    """Bytes that are not UTF-8 (read as lone surrogates) make the row bad, not the run."""
    if isinstance(values, RowError):
        return values
    for value in values.values():
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        if not text.isascii() and not _encodable(text):
            return RowError("not valid UTF-8")
    return values


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _open(manifest: Path) -> TextIO:
    try:
        return manifest.open(encoding="utf-8-sig", errors="surrogateescape", newline="")
    except OSError as exc:
        raise UsageError(f"Cannot read --manifest {manifest}: {exc.strerror}.") from None


def _csv_header(reader: Iterator[list[str]], manifest: Path) -> list[str]:
    try:
        header = [c.strip() for c in next(reader, [])]
    except (csv.Error, UnicodeDecodeError) as exc:
        raise UsageError(f"--manifest {manifest}: the header row is unreadable ({exc}).") from None
    unknown = [c for c in header if c not in COLUMNS]
    if unknown or "path" not in header or len(set(header)) != len(header):
        problem = f"unknown column '{unknown[0]}'" if unknown else "no 'path' column"
        if not unknown and "path" in header:
            problem = "a column appears twice"
        raise UsageError(
            f"--manifest {manifest}: {problem} in the header row.",
            hint=f"Columns: {', '.join(COLUMNS)}.",
        )
    return header


def _csv_values(cells: list[str], columns: list[str]) -> dict[str, Any] | RowError:
    if len(cells) > len(columns):
        return RowError(f"{len(cells)} cells but the header names {len(columns)} columns")
    return {c: v for c, v in zip(columns, cells, strict=False) if v.strip()}


def _json_values(line: str) -> dict[str, Any] | RowError:
    try:
        value = json.loads(line.rstrip("\r\n"))
    except json.JSONDecodeError as exc:
        return RowError(f"not valid JSON: {exc.msg} at column {exc.colno}")
    if not isinstance(value, dict):
        return RowError("not a JSON object")
    unknown = [k for k in value if k not in COLUMNS]
    if unknown:
        return RowError(f"unknown column '{unknown[0]}' (columns: {', '.join(COLUMNS)})")
    return {k: v for k, v in value.items() if v is not None}


def _text(values: dict[str, Any], column: str) -> str | None:
    value = values.get(column)
    if value is None or isinstance(value, str):
        return value
    raise RowError(f"{column} must be text")


def _flag(values: dict[str, Any], column: str) -> bool | None:
    value = values.get(column)
    if value is None or isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in TRUE or text in FALSE:
        return text in TRUE
    raise RowError(f"{column} must be true or false, not '{value}'")


def _tags(values: dict[str, Any]) -> tuple[str, ...] | None:
    value = values.get("tags")
    if value is None:
        return None
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        raise RowError("tags must be a list of strings or comma-separated text")
    return tuple(t.strip() for t in value if t.strip())


def _metadata(values: dict[str, Any]) -> str | None:
    value = values.get("custom_metadata")
    if value is None:
        return None
    text = value if isinstance(value, str) else json.dumps(value)
    try:
        return parse_json_option(text, "custom_metadata", dict)
    except UsageError as exc:
        raise RowError(exc.message) from None


def row_options(values: dict[str, Any], base: UploadOptions) -> UploadOptions:
    """The command-line options with this row's values in their place, validated."""
    changes: dict[str, Any] = {
        "tags": _tags(values),
        "custom_metadata": _metadata(values),
        "description": _text(values, "description"),
        "private": _flag(values, "private"),
        "draft": _flag(values, "draft"),
    }
    changed = {k: v for k, v in changes.items() if v is not None}
    if not changed:
        return base  # already validated as the command line's
    options = dataclasses.replace(base, **changed)
    try:
        options.validate()
    except UsageError as exc:
        raise RowError(exc.message) from None
    return options


def _row_place(values: dict[str, Any], planner: Planner) -> tuple[str, str, str | None]:
    """The row's source, remote folder and name (None: the source's own)."""
    source = _text(values, "path")
    if not source:
        raise RowError("no path")
    folder_text = _text(values, "folder")
    try:
        folder = normalise_folder(folder_text, "folder") if folder_text else planner.folder
    except UsageError as exc:
        raise RowError(exc.message) from None
    return source, folder, _text(values, "name")


def _not_planned(
    values: dict[str, Any], planner: Planner, folders: dict[str | None, tuple[str, str]]
) -> Iterator[PlanItem]:
    """A row read after the run stopped, for its ``not started`` record: where it would
    have gone, without the stat, checks and collision tracking of a planned file.
    ``folders`` remembers each folder column's (folder, remote folder): rows repeat them."""
    text = _text(values, "folder")
    if text not in folders:
        folder = _row_place(values, planner)[1]
        folders[text] = (folder, sanitise_folder(folder))
    folder, remote_folder = folders[text]
    source, name = _text(values, "path"), _text(values, "name")
    if not source:
        raise RowError("no path")
    shard = planner.options.shard
    if shard is not None and shard_of(source, shard[1]) != shard[0] - 1:
        return
    url = is_url(source)
    name = name or (unquote(urlsplit(source).path.rstrip("/").rpartition("/")[2]) if url
                    else os.path.basename(source))  # fmt: skip
    remote = remote_folder + sanitise_name(name)
    yield PlanItem(source, source, folder, name, remote, local=None if url else source,
                   url=source if url else None)  # fmt: skip


def _row_items(values: dict[str, Any], planner: Planner, base: UploadOptions) -> list[PlanItem]:
    source, folder, name = _row_place(values, planner)
    options = row_options(values, base)
    if is_url(source):
        name = name or unquote(urlsplit(source).path.rstrip("/").rpartition("/")[2])
        if not name:
            raise RowError(f"cannot take a file name from URL '{source}'; add a name")
    elif not os.path.lexists(source):
        raise RowError(f"file '{source}' does not exist")
    elif os.path.isdir(source):
        raise RowError(f"'{source}' is a folder; list its files, or upload it without --manifest")
    items = planner.plan_named(source, name or os.path.basename(source), folder)
    return [_with_options(item, options) for item in items]


def _with_options(item: PlanItem, options: UploadOptions) -> PlanItem:
    if item.action != "upload":
        return item
    values = {name: getattr(item, name) for name in PLAN_FIELDS}
    return ManifestItem(**values, options=options)


def plan_manifest(
    manifest: Path, planner: Planner, base: UploadOptions, stopped: Callable[[], bool] = bool
) -> Iterator[PlanItem]:
    """The manifest's rows as plan items, streamed; bad rows become failed items. Once
    ``stopped()`` holds, rows are only placed (``_not_planned``): none will be sent."""
    shard = planner.options.shard
    folders: dict[str | None, tuple[str, str]] = {}
    for number, values in read_rows(manifest):
        try:
            if isinstance(values, RowError):
                raise values
            if stopped():
                yield from _not_planned(values, planner, folders)
            else:
                yield from _row_items(values, planner, base)
        except RowError as exc:
            shown = str(values.get("path") or "") if isinstance(values, dict) else ""
            shown = shown or f"{manifest}:{number}"
            if shard is None or shard_of(shown, shard[1]) == shard[0] - 1:
                reason = f"{manifest.name} row {number}: {exc}"
                yield PlanItem(shown, shown, "", "", "", action="fail", reason=reason)


def plan_source(
    manifest: Path | None,
    planner: Planner,
    sources: Sequence[str],
    options: UploadOptions,
    stopped: Callable[[], bool] = bool,
) -> tuple[Iterator[PlanItem], UploadOptions]:
    """The plan of a run and the options that turn its items into requests: the manifest's
    rows with theirs, or the command-line sources with the flags. ``stopped`` tells when
    the run will start no more files (a manifest's rows then skip their checks)."""
    if manifest is None:
        return planner.iter_plan(sources), options
    fields = {f.name: getattr(options, f.name) for f in dataclasses.fields(options)}
    return plan_manifest(manifest, planner, options, stopped), ManifestOptions(**fields)
