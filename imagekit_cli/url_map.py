"""``--url-map FILE``: a JSON object from each file's local path to its delivery URL.

A static-site build rewrites its references from one run's output. Keys are paths relative
to the folder a file was found in (for sync, LOCAL_DIR); a file or URL named directly keeps
the path as given. The map is a listener on the run's results: it holds only files that
ended uploaded, or unchanged with a known URL (sync), and is written atomically at the end
of the run, also after failures or an interruption, so it never lists a file that failed.

Shards of one job write one map each; ``merge_url_maps`` combines them, refusing a path
that two maps send to different URLs.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from imagekit_cli.errors import UsageError
from imagekit_cli.events import FanoutReporter, NullReporter, Reporter
from imagekit_cli.files import unwritable_reason, write_output
from imagekit_cli.planning import is_url
from imagekit_cli.report import FileResult, Status

CACHE_BUSTER = "updatedAt"


def delivery_url(url: str) -> str:
    """The URL without the list API's ``updatedAt`` cache-buster, so an unchanged file maps
    to the same URL its upload returned."""
    parts = urlsplit(url)
    if CACHE_BUSTER not in parts.query:
        return url
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != CACHE_BUSTER]
    return urlunsplit(parts._replace(query=urlencode(query)))


class UrlMap(NullReporter):
    """Collects local path -> URL from finished results; ``write`` saves it atomically."""

    def __init__(self, path: Path, sources: Sequence[str]) -> None:
        self.path = path
        roots = [s for s in sources if not is_url(s) and os.path.isdir(s)]
        # the longest root first, so nested sources give the shortest key
        self._prefixes = sorted((os.path.join(r, "") for r in roots), key=len, reverse=True)
        self.urls: dict[str, str] = {}

    def key(self, shown: str) -> str:
        """The map key of a result's path: relative to its source folder, else as given."""
        for prefix in self._prefixes:
            if shown.startswith(prefix):
                return shown[len(prefix) :]
        return shown

    def finished(self, result: FileResult) -> None:
        """Keep uploaded files, and unchanged files whose URL the remote listing gave."""
        if result.url and result.status in (Status.UPLOADED, Status.SKIPPED):
            self.urls[self.key(result.path)] = delivery_url(result.url)

    def write(self) -> None:
        """Replace the map file in one step."""
        write_url_map(self.path, self.urls)


def open_url_map(path: str | None, sources: Sequence[str], *, dry_run: bool) -> UrlMap | None:
    """The run's URL map, or None when not asked for or on a dry run (nothing gets a URL)."""
    if path is None:
        return None
    if os.path.isdir(path):
        raise UsageError(f"--url-map {path} is a folder.", hint="Give a file name, e.g. urls.json.")
    if dry_run:
        return None
    problem = unwritable_reason(Path(path))
    if problem:  # found now, not after every file was uploaded
        raise UsageError(
            f"--url-map {path}: cannot write there ({problem}).",
            hint="Give a path in a folder you can write to.",
        )
    return UrlMap(Path(path), sources)


def listening(reporter: Reporter, *listeners: Reporter | None) -> Reporter:
    """``reporter``, plus the URL map (and any other listener) when there is one."""
    present = [r for r in listeners if r is not None]
    return FanoutReporter(reporter, *present) if present else reporter


def render_url_map(urls: dict[str, str]) -> str:
    """``urls`` as a JSON object, one entry a line, keys sorted so maps diff well."""
    entries = ",\n".join(
        f"  {json.dumps(k, ensure_ascii=False)}: {json.dumps(urls[k], ensure_ascii=False)}"
        for k in sorted(urls)
    )
    return "{\n" + entries + "\n}\n" if entries else "{}\n"


def write_url_map(path: Path, urls: dict[str, str]) -> None:
    """Write ``urls`` to ``path`` atomically."""
    write_output(path, render_url_map(urls), "--url-map")


def read_url_map(path: Path) -> dict[str, str]:
    """A map written by ``--url-map``; a UsageError naming the file if it is not one."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"Cannot read URL map {path}: {exc.strerror}.") from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise UsageError(f"URL map {path} is not valid JSON.") from None
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise UsageError(
            f"URL map {path} is not a JSON object of path -> URL.",
            hint="Give files written by --url-map.",
        )
    return data


def merge_url_maps(paths: Iterable[Path]) -> dict[str, str]:
    """Combine the maps of several shards; a path with two different URLs is an error."""
    merged: dict[str, str] = {}
    origin: dict[str, Path] = {}
    for path in paths:
        for key, url in read_url_map(path).items():
            if key in merged and merged[key] != url:
                raise UsageError(
                    f"URL maps disagree on '{key}': {origin[key]} has {merged[key]}, "
                    f"{path} has {url}.",
                    hint="Merge only the maps of one run's shards.",
                )
            merged[key] = url
            origin.setdefault(key, path)
    return merged
