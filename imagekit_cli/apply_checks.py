"""What ``imagekit apply`` checks before trusting a plan: a plan is a file anyone may edit.

The plan's local root must lie inside the current folder; every upload must go where sync's
naming rules would send its local file, pass sync's type and size rules, and appear once;
and at apply time each planned file must still be the regular file inside the root that
was planned, not a symlink (or a folder) put in its place since.
"""

from __future__ import annotations

import os
import stat

from imagekit_cli.errors import UsageError
from imagekit_cli.naming import sanitise_folder, sanitise_name
from imagekit_cli.plan_guards import link_reason, real_root
from imagekit_cli.sync_plan import PlanEntry, SyncPlan

CHANGED = "changed since the plan"


def check_root(plan: SyncPlan, shown: str, cwd: str | None = None) -> None:
    """Refuse a plan whose ``local_root`` resolves outside the current folder."""
    here = real_root(os.getcwd() if cwd is None else cwd)
    root = real_root(plan.local_root)
    if root != here and not root.startswith(here.rstrip(os.sep) + os.sep):
        raise UsageError(
            f"Plan {shown}: its local folder '{plan.local_root}' is not inside the current "
            "folder; apply is run from the folder sync --plan-out was run from.",
            hint="cd to that folder, or plan again from here.",
        )


def expected_remote_path(remote_folder: str, local: str) -> str:
    """Where sync stores the file at ``local`` (relative to its root) under ``remote_folder``."""
    folder, _, name = local.rpartition("/")
    return sanitise_folder(remote_folder + folder) + sanitise_name(name)


def check_uploads(plan: SyncPlan, shown: str) -> None:
    """Refuse the plan (nothing sent) if an upload is not one sync would have planned."""
    seen_local: dict[str, int] = {}
    seen_remote: dict[str, int] = {}
    for number, entry in enumerate(plan.entries, 1):
        if entry.action != "upload":
            continue
        where = f"Plan {shown}, item {number} ({entry.local!r})"
        expected = expected_remote_path(plan.remote_folder, entry.local)
        if entry.remote_path != expected:
            raise _refused(f"{where} goes to {entry.remote_path!r}, but sync stores it at "
                           f"{expected!r}")  # fmt: skip
        rejection = plan.policy.rejection(entry.local.rpartition("/")[2], entry.size)
        if rejection is not None:
            raise _refused(f"{where} is not a file sync uploads ({rejection})")
        for seen, key in ((seen_local, entry.local), (seen_remote, entry.remote_path)):
            if key in seen:
                raise _refused(f"{where} repeats item {seen[key]} ({key!r})")
            seen[key] = number


def _refused(message: str) -> UsageError:
    return UsageError(
        f"{message}; nothing was sent.",
        hint="Write the plan again with imagekit sync LOCAL REMOTE --plan-out PLAN.",
    )


def file_change(plan: SyncPlan, entry: PlanEntry, path: str) -> tuple[str | None, float]:
    """Why the file at ``path`` is no longer what was planned (None if it is), and its mtime.

    ``lstat`` first: a symlink put in a planned file's place is not followed (unless the plan
    was made with ``--follow-symlinks``, and then never out of the root), and the real path
    must stay inside the root, so a swapped parent folder cannot lead outside it either.
    """
    try:
        st = os.lstat(path)
        if stat.S_ISLNK(st.st_mode):
            root = real_root(plan.local_root)
            link = link_reason(path, root, plan.local_root, plan.follow_symlinks)
            if link is not None:
                return f"{CHANGED}: now a symlink ({link})", 0.0
            st = os.stat(path)
    except FileNotFoundError:
        return f"{CHANGED}: deleted", 0.0
    except OSError as exc:
        return f"{CHANGED}: {exc.strerror}", 0.0
    if not stat.S_ISREG(st.st_mode):
        kind = "a folder" if stat.S_ISDIR(st.st_mode) else "not a regular file"
        return f"{CHANGED}: now {kind}", 0.0
    root = real_root(plan.local_root)
    if not real_root(path).startswith(root.rstrip(os.sep) + os.sep):
        return f"{CHANGED}: now outside {plan.local_root} (through a symlinked folder)", 0.0
    if st.st_size != entry.size:
        return f"{CHANGED}: size {entry.size} B, now {st.st_size} B", st.st_mtime
    if st.st_mtime_ns != entry.mtime_ns:
        return f"{CHANGED}: modified (mtime differs)", st.st_mtime
    return None, st.st_mtime
