"""Writing files so that readers never see half of one."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from imagekit_cli.errors import ImageKitCLIError


def write_atomic(path: Path, text: str, mode: int = 0o644) -> None:
    """Replace ``path`` with ``text`` in one step, the new file having ``mode`` from its
    first byte (0600 for anything holding a key)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def unwritable_reason(path: Path) -> str | None:
    """Why a file cannot be written at ``path`` (checked by trying, so ACLs, read-only
    mounts and root all answer truly), or None when it can. Missing parent folders count
    as writable if the nearest existing one is."""
    if path.is_dir():
        return "it is a folder"
    if path.exists():
        try:
            with path.open("a", encoding="utf-8"):
                pass
        except OSError as exc:
            return str(exc.strerror or exc)
        return None
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        return f"{folder} is not a folder"
    try:
        fd, probe = tempfile.mkstemp(prefix=".imagekit-probe.", dir=folder)
    except OSError as exc:
        return str(exc.strerror or exc)
    os.close(fd)
    os.unlink(probe)
    return None


def write_output(path: Path, text: str, flag: str) -> None:
    """``write_atomic`` for a file the user asked for with ``flag``: a failure is one line
    naming the flag and the path."""
    try:
        write_atomic(path, text)
    except OSError as exc:
        raise ImageKitCLIError(
            f"Cannot write {flag} {path}: {exc.strerror}.",
            hint="Check the folder exists and is writable.",
        ) from None
