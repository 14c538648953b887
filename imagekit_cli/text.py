"""Making untrusted text (file names, server messages) safe to print.

File names and server answers are attacker-controlled in CI. ``printable`` is the one
escaping function every human-facing output goes through: plain progress lines, tables,
the live display, error lines, ``config show``, the GitHub step summary and JUnit XML.
It guarantees the text is a single line with no terminal control sequence, no character
XML 1.0 forbids, and no GitHub workflow command (``::name::`` or ``##[name]``) at its start.
Machine formats (JSON, JSON lines, CSV) keep the exact bytes and rely on their own quoting.
"""

from __future__ import annotations

import re
import unicodedata

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
# Bidirectional overrides and isolates reorder what a reader sees ("Trojan Source").
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
# Cc: C0, DEL, C1 controls; Cs: lone surrogates (undecodable bytes of a file name);
# Zl/Zp: line and paragraph separators, which some readers treat as line breaks.
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cs", "Zl", "Zp"})
_WORKFLOW_COMMAND = re.compile(r"^(\s*)(::|##\[)")


def _escape_char(char: str) -> str:
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def _unsafe(char: str) -> bool:
    return (
        unicodedata.category(char) in _UNSAFE_CATEGORIES or char in _BIDI or char in "\ufffe\uffff"
    )


def printable(text: str) -> str:
    """``text`` as one safe line: control characters shown escaped (``\\n``, ``\\x1b``),
    and a leading ``::`` or ``##[`` defused (``\\x3a:``) so CI runners see no command."""
    if text.isprintable() and not _WORKFLOW_COMMAND.match(text):
        return text  # the common case: nothing to do (isprintable is False for all unsafe)
    escaped = "".join(_escape_char(c) if _unsafe(c) else c for c in text)
    return _WORKFLOW_COMMAND.sub(
        lambda m: m.group(1) + _escape_char(m.group(2)[0]) + m.group(2)[1:], escaped
    )


URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@?#]+@")
QUERY_SECRET = re.compile(
    r"(?i)([?&;][\w.-]*(?:key|token|signature|sig|secret|passw(?:or)?d|pwd|auth|credential"
    r"|session)[\w.-]*=)[^&#\s'\"]+"
)


def shown_url(url: str) -> str:
    """A source URL as it may be shown and reported: userinfo and secret-named query
    values (``token=``, ``api_key=``, ``signature=``, ...) replaced by ``***``."""
    return QUERY_SECRET.sub(r"\1***", URL_USERINFO.sub(r"\1***@", url))


_MARKDOWN_SPECIAL = re.compile(r"([\\|`*\[\]<>])")


def markdown_cell(text: str) -> str:
    """``printable(text)`` for a GitHub-flavoured markdown table cell: ``|``, backticks,
    ``*``, link brackets and HTML are escaped, and a leading ``#`` cannot start a heading."""
    escaped = _MARKDOWN_SPECIAL.sub(r"\\\1", printable(text))
    return "\\" + escaped if escaped.lstrip().startswith("#") else escaped
