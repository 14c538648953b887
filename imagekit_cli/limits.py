"""Allowed file types and per-plan upload size limits.

ImageKit's limits: https://imagekit.io/docs/api-reference/upload-file/upload-file
"""

from __future__ import annotations

import re

from imagekit_cli.errors import UsageError

MB = 1000 * 1000
GB = 1000 * MB

ALLOWED_EXTENSIONS = frozenset(
    [
        "jpg",
        "jpeg",
        "png",
        "webp",
        "gif",
        "svg",
        "pdf",
        "js",
        "css",
        "woff2",
        "woff",
        "ttf",
        "otf",
        "eot",
        "txt",
        "mp4",
        "webm",
        "mov",
        "swf",
        "ts",
        "m3u8",
        "json",
        "xml",
    ]
)
VIDEO_EXTENSIONS = frozenset(["mp4", "webm", "mov", "swf", "ts", "m3u8"])

# plan -> (images and other files, video); None means no client-side limit.
PLAN_LIMITS: dict[str, tuple[int | None, int | None]] = {
    "free": (25 * MB, 100 * MB),
    "lite": (40 * MB, 300 * MB),
    "pro": (50 * MB, 2 * GB),
    "enterprise": (None, None),
}

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?i?b?)?\s*$", re.IGNORECASE)
_UNITS = {
    "": 1,
    "b": 1,
    "k": 1000,
    "kb": 1000,
    "kib": 1024,
    "ki": 1024,
    "m": MB,
    "mb": MB,
    "mib": 1024**2,
    "mi": 1024**2,
    "g": GB,
    "gb": GB,
    "gib": 1024**3,
    "gi": 1024**3,
    "t": 1000 * GB,
    "tb": 1000 * GB,
    "tib": 1024**4,
    "ti": 1024**4,
}


def parse_size(text: str, flag: str = "--max-size") -> int:
    """Parse ``25MB``, ``1.5GiB`` or ``2048`` into bytes."""
    match = _SIZE.match(text)
    unit = (match.group(2) or "").lower() if match else ""
    if not match or unit not in _UNITS:
        raise UsageError(f"{flag} '{text}' is not a size.", hint="Use e.g. 25MB, 500KiB or 1GB.")
    return int(float(match.group(1)) * _UNITS[unit])


def format_size(size: float) -> str:
    """Human size in decimal units, as ImageKit's plan limits are stated."""
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    raise AssertionError("unreachable")


def extension_of(name: str) -> str:
    """The lowercase extension without the dot, or ''."""
    _, dot, ext = name.rpartition(".")
    return ext.lower() if dot and _ else ""


class TypePolicy:
    """Which files may be uploaded, by extension and by size."""

    def __init__(
        self,
        plan: str = "free",
        max_size: int | None = None,
        extra_extensions: frozenset[str] = frozenset(),
        any_type: bool = False,
        max_size_text: str | None = None,
    ) -> None:
        if plan not in PLAN_LIMITS:
            raise UsageError(
                f"--plan '{plan}' is not a plan.", hint=f"Use one of {', '.join(PLAN_LIMITS)}."
            )
        self.plan = plan
        self.max_size = max_size
        self.max_size_text = max_size_text  # as the user wrote it, for messages
        self.any_type = any_type
        self.extensions = ALLOWED_EXTENSIONS | {e.lower().lstrip(".") for e in extra_extensions}

    def limit_for(self, name: str) -> int | None:
        """The size limit in bytes for a file of this name, or None for no limit."""
        if self.max_size is not None:
            return self.max_size
        image_limit, video_limit = PLAN_LIMITS[self.plan]
        return video_limit if extension_of(name) in VIDEO_EXTENSIONS else image_limit

    def rejection(self, name: str, size: int) -> str | None:
        """Why a file may not be uploaded, or None when it may."""
        if not self.any_type and extension_of(name) not in self.extensions:
            return "type not allowed"
        limit = self.limit_for(name)
        if limit is not None and size > limit:
            which = "--max-size" if self.max_size is not None else f"{self.plan} plan limit"
            if self.max_size is not None and self.max_size_text:
                return f"exceeds --max-size {self.max_size_text.strip()}"
            return (
                f"exceeds {which} {limit // MB} MB"
                if limit % MB == 0
                else (f"exceeds {which} {format_size(limit)}")
            )
        return None
