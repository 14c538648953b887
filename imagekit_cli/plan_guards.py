"""What keeps a planned file from being sent, and which skips are errors.

Three guards the planner applies to every file: a symlink is not followed unless asked,
and never out of the tree being uploaded; two files never go to one remote path (the
first planned wins, every later one fails naming it, across all sources of the run);
and skips caused by an error (unreadable, vanished, dangling, over the plan's limit) are
told apart from skips by choice, so a run that lost files says so in its exit code.
"""

from __future__ import annotations

import os

PERMISSION_DENIED = "permission denied"
CANNOT_STAT = "cannot stat"
CANNOT_READ_FOLDER = "cannot read folder"
DANGLING_LINK = "dangling symlink"
NOT_UTF8 = "name is not valid UTF-8; rename it"
TOO_DEEP = "folder nested deeper than"
SYMLINKED_FILE = "symlinked file (use --follow-symlinks)"
SYMLINKED_FOLDER = "symlinked folder (use --follow-symlinks)"
LISTED_TWICE = "listed twice"

# Skips that mean a file the user wanted was not sent: exit 1, counted even with -q.
ERROR_SKIP_PREFIXES = (
    PERMISSION_DENIED,
    CANNOT_STAT,
    CANNOT_READ_FOLDER,
    DANGLING_LINK,
    NOT_UTF8,
    TOO_DEEP,
)


def is_error_skip(reason: str | None) -> bool:
    """Whether a skip reason is an error (the file could not be sent) rather than a choice
    (excluded, hidden, type filter, ``--max-size``, unchanged, empty)."""
    if not reason:
        return False
    if reason.startswith(ERROR_SKIP_PREFIXES):
        return True
    return reason.startswith("exceeds ") and " plan limit " in reason


def real_root(path: str) -> str:
    """The resolved path of a source folder, the bound no followed link may leave."""
    return os.path.realpath(path)


def link_reason(path: str, root: str | None, shown_root: str, follow: bool) -> str | None:
    """Why the symlink at ``path`` is not followed, or None to follow it.

    ``root`` is :func:`real_root` of the walked folder; a link whose target resolves
    outside it is never followed, so ``tree/key -> ~/.ssh/id_rsa`` is not published.
    None (a path from a stdin list) has no such bound: ``--follow-symlinks`` follows it.
    """
    if not os.path.exists(path):
        return DANGLING_LINK
    if not follow:
        return SYMLINKED_FOLDER if os.path.isdir(path) else SYMLINKED_FILE
    if root is None:
        return None
    target = os.path.realpath(path)
    if target != root and not target.startswith(root.rstrip(os.sep) + os.sep):
        return f"points outside {shown_root}"
    return None


class PlannedPaths:
    """Every remote path planned so far in this run, with the local path that claimed it.

    Kept for the whole run (all sources, stdin lists, manifest rows), not per folder,
    since the plan streams and a collision can come from anywhere in it.
    """

    def __init__(self) -> None:
        self._owners: dict[str, str] = {}
        self._files: dict[str, str] = {}  # a local path (absolute, links kept) -> where it goes

    def claim(
        self, remote_path: str, local_path: str, real_path: str | None = None
    ) -> tuple[str, str] | None:
        """Record ``local_path`` as going to ``remote_path``; if it was taken, the
        ``(action, reason)`` for this later file: a failure naming the first one. With
        ``real_path``, one local file reached twice (``upload d d/a.jpg``, or ``find d``
        listing folders and files) is sent once, to where it was first planned."""
        planned = self._files.get(real_path) if real_path is not None else None
        if planned is not None:  # the same file, however it was spelled
            return "skip", f"{LISTED_TWICE} (already planned for {planned})"
        first = self._owners.get(remote_path)
        if first is None:
            self._owners[remote_path] = local_path
            if real_path is not None:
                self._files[real_path] = remote_path
            return None
        if first == local_path:
            return "skip", f"{LISTED_TWICE} (already planned for {remote_path})"
        return "fail", (
            f"collides with {first}: both would be stored at {remote_path}; "
            "rename one, or send them to different folders"
        )
