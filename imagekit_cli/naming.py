"""Remote names: ImageKit's character rules for file names and folders, in one place.

ImageKit keeps letters, marks, numbers, ``.``, ``_`` and ``-`` in a file name, and only
Unicode letters and digits, ``_``, ``-`` and ``/`` in a folder path
(https://imagekit.io/docs/api-reference/upload-file/upload-file). The CLI
sends folders already sanitised, so the path it predicts is the path ImageKit stores.
"""

from __future__ import annotations

import re
import unicodedata

from imagekit_cli.errors import UsageError

_SAFE_NAME = re.compile(r"[A-Za-z0-9._-]*\Z")
_SAFE_SEGMENT = re.compile(r"[A-Za-z0-9_-]*\Z")


def sanitise_name(name: str) -> str:
    """Predict ImageKit's rename: characters other than letters, marks, numbers, ``._-`` → ``_``."""
    if _SAFE_NAME.match(name):
        return name
    return "".join(
        ch if ch in "._-" or unicodedata.category(ch)[0] in "LMN" else "_" for ch in name
    )


def sanitise_segment(segment: str) -> str:
    """One folder name as ImageKit stores it: anything but letters, digits, ``_-`` → ``_``."""
    if _SAFE_SEGMENT.match(segment):
        return segment
    return "".join(
        ch if ch in "_-" or unicodedata.category(ch)[0] in "LN" else "_" for ch in segment
    )


def folder_path(folder: str) -> str:
    """A folder path in the one shape used everywhere: ``a//b`` → ``/a/b/``; root ``/``.

    Only the shape: paths ImageKit returns are used as they are, never re-sanitised.
    """
    return "/" + "".join(f"{s}/" for s in folder.split("/") if s)


def sanitise_folder(folder: str) -> str:
    """A folder path as ImageKit stores it: ``a//v1.2`` → ``/a/v1_2/``; the root is ``/``."""
    return folder_path("/".join(sanitise_segment(s) for s in folder.split("/") if s))


def normalise_folder(folder: str, flag: str = "--folder") -> str:
    """A user-given remote folder, checked and sanitised: ``rel//v2.0/`` → ``/rel/v2_0/``.

    Blank is refused, and so is anything else that means the root without saying ``/``
    (``.``): an unset variable must never widen a sync to the whole library. ``..`` (it would
    escape) and control characters are refused; ``\\`` separates like ``/``; ``.`` segments
    are dropped.
    """
    segments = [s for s in folder.replace("\\", "/").split("/") if s and s != "."]
    if not folder.strip() or (not segments and set(folder) - {"/"}):
        shown = f"'{folder}' names no folder" if folder.strip() else "is empty"
        raise UsageError(
            f"{flag} {shown}.",
            hint="Name the remote folder; write '/' to mean the root of the media library.",
        )
    if ".." in segments:
        raise UsageError(
            f"{flag} '{folder}' contains '..'.", hint="Give the remote folder as an absolute path."
        )
    if any(any(unicodedata.category(c) == "Cc" for c in s) for s in segments):
        raise UsageError(f"{flag} contains control characters.", hint="Remove them.")
    return sanitise_folder("/".join(segments))
