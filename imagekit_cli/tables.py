"""What a run prints once it ends: the results table, the failures and the summary line.

The live display while files are in flight is ``ui.py``; report files are
``report_files.py``.
"""

from __future__ import annotations

from collections.abc import Iterable

from rich.console import Console
from rich.table import Table

from imagekit_cli.limits import format_size
from imagekit_cli.report import FileResult, RunReport
from imagekit_cli.text import printable


def size_text(result: FileResult) -> str:
    """The size, or ``-`` for a URL source ImageKit fetches (its size is not known here)."""
    if not result.size and result.path.startswith(("http://", "https://")):
        return "-"
    return format_size(result.size)


def summary_line(report: RunReport, *, rate: bool = True) -> str:
    """``Uploaded 3, skipped 1, failed 1 · 20.5 kB in 1.23s (2.4 files/s)``; no rate with
    ``rate=False`` (a merge of reports uploads nothing itself)."""
    s = report.summary()
    parts = []
    if report.dry_run:
        parts.append(f"Planned {s['planned']}")
    else:
        parts.append(f"Uploaded {s['uploaded']}")
    parts += [f"skipped {s['skipped']}", f"failed {s['failed']}"]
    if report.command in ("sync", "apply"):
        parts.append(f"deleted {s['deleted']}")
    duration = report.duration_s
    per_s = s["uploaded"] / duration if duration > 0 else 0.0
    text = ", ".join(parts) + f" · {format_size(s['bytes_uploaded'])} in {duration:.2f}s"
    if rate and not report.dry_run:
        text += f" ({per_s:.1f} files/s)"
    if report.interrupted:
        text += " · interrupted"
    return text


def print_summary(
    report: RunReport, err: Console, quiet: bool = False, *, rate: bool = True
) -> None:
    """The summary and, for a person, a table of failures with their reasons."""
    failures = report.failures
    if failures and err.is_terminal and not quiet:
        table = Table(title="Failed files", show_lines=False)
        for column in ("path", "remote path", "reason"):
            table.add_column(column, overflow="fold")
        for f in failures[:50]:
            table.add_row(printable(f.path), printable(f.remote_path), printable(f.reason or ""))
        err.print(table)
        if len(failures) > 50:
            err.print(f"… and {len(failures) - 50} more (see --report).")
    err.print(summary_line(report, rate=rate), markup=False)


def shorten_middle(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters with ``…`` in the middle, keeping most of its end."""
    if len(text) <= width:
        return text
    if width <= 1:
        return "…"[:width]
    tail = (width - 1) * 2 // 3
    return text[: width - 1 - tail] + "…" + (text[-tail:] if tail else "")


MIN_PATH_WIDTH = 12
GAP = 2  # spaces between two columns


def _fit_paths(rows: list[list[str]], headers: list[str], width: int) -> None:
    """Shorten the path columns (1 and 2) in the middle so the rows fit ``width``.

    When even that leaves too little room, the remote path column is dropped: an uploaded
    file's URL shows it, and the report keeps it.
    """
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]
    room = width - GAP * (len(headers) - 1) - widths[0] - widths[3] - widths[4]
    if widths[1] + widths[2] <= room:
        return
    if room < 2 * MIN_PATH_WIDTH + GAP:
        del headers[2]
        for row in rows:
            del row[2]
        room += GAP
        widths[1] = max(MIN_PATH_WIDTH, room)
    else:
        share = max(MIN_PATH_WIDTH, room * widths[1] // (widths[1] + widths[2]))
        widths[1:3] = [share, max(MIN_PATH_WIDTH, room - share)]
    for row in rows:
        row[1] = shorten_middle(row[1], widths[1])
        if len(headers) == 5:
            row[2] = shorten_middle(row[2], widths[2])


def print_table(results: Iterable[FileResult], out: Console) -> None:
    """The human results table on stdout: status, path, remote path, size, URL or reason.

    URLs are kept whole (they are meant to be copied); when the table is wider than the
    terminal, paths are shortened in the middle instead of wrapped mid-word.
    """
    headers = ["status", "path", "remote path", "size", "url / reason"]
    rows = [
        [
            f.status.value,
            printable(f.path),
            printable(f.remote_path),
            size_text(f),
            printable(f.url or f.reason or ""),
        ]
        for f in results
    ]
    _fit_paths(rows, headers, out.width)
    table = Table(show_edge=False, pad_edge=False, box=None)
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]
    for header, width in zip(headers, widths, strict=True):
        table.add_column(header, no_wrap=True, overflow="ignore", min_width=width)
    for row in rows:
        table.add_row(*row)
    # A URL longer than the terminal stays whole: the line wraps instead of the URL.
    total = max(out.width, sum(widths) + GAP * (len(widths) - 1))
    if out.is_terminal:
        out.print(table, crop=False, width=total)
        return
    with out.capture() as captured:
        out.print(table, crop=False, width=total)
    out.file.write("".join(line.rstrip() + "\n" for line in captured.get().splitlines()))
    out.file.flush()
