"""``imagekit ls``: list remote files."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import sys
from typing import Any

import click
from rich.table import Table

from imagekit_cli.cli.common import open_client
from imagekit_cli.cli.context import AppContext
from imagekit_cli.cli.options import PanelCommand, output_format_option, verbosity_options
from imagekit_cli.limits import format_size
from imagekit_cli.naming import normalise_folder
from imagekit_cli.remote import RemoteFile, list_folder
from imagekit_cli.report import SCHEMA_VERSION
from imagekit_cli.text import printable

COLUMNS = ("path", "name", "size", "updated_at", "url", "file_id")


def _record(file: RemoteFile) -> dict[str, Any]:
    return {
        "path": file.path,
        "name": file.name,
        "size": file.size,
        "updated_at": file.updated_at,
        "url": file.url,
        "file_id": file.file_id,
    }


@click.command(name="ls", cls=PanelCommand)
@click.argument("remote_folder", default="/")
@click.option("-r", "--recursive", is_flag=True, help="Include files in every sub-folder.")
@output_format_option
@verbosity_options
@click.pass_obj
def ls(app: AppContext, /, remote_folder: str, recursive: bool, output: str) -> None:
    """List the files in REMOTE_FOLDER (default /): name, size, updatedAt, URL.

    \b
    Examples:
      imagekit ls /site
      imagekit ls /site -r --output csv > files.csv
    """
    settings = app.settings()
    settings.require_private_key()
    root = normalise_folder(remote_folder, "REMOTE_FOLDER")

    async def go() -> tuple[list[RemoteFile], list[str]]:
        async with open_client(app, settings) as client:
            return await list_folder(client, root, recursive=recursive)

    files, folders = asyncio.run(go())
    _render(app, output, root, recursive, files, folders)


def _render(
    app: AppContext,
    output: str,
    root: str,
    recursive: bool,
    files: list[RemoteFile],
    folders: list[str],
) -> None:
    """The listing on stdout in the ``--output`` format; with a table, a count on stderr."""
    records = [_record(f) for f in files]
    if output == "json":
        body = {
            "schema_version": SCHEMA_VERSION,
            "command": "ls",
            "folder": root,
            "recursive": recursive,
            "folders": sorted(folders),
            "files": records,
        }
        sys.stdout.write(json.dumps(body, indent=2, ensure_ascii=False) + "\n")
    elif output == "jsonl":
        sys.stdout.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    elif output == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(records)
        sys.stdout.write(buffer.getvalue())
    else:
        _print_table(app, root, recursive, files, folders)
        app.err.print(
            f"{len(files)} file(s) in {root}" + (" and below" if recursive else ""), markup=False
        )


def _print_table(
    app: AppContext, root: str, recursive: bool, files: list[RemoteFile], folders: list[str]
) -> None:
    table = Table(show_edge=False, pad_edge=False, box=None)
    for column in ("name", "size", "updated"):
        table.add_column(column, overflow="fold")
    table.add_column("url", no_wrap=True, overflow="ignore")  # whole, to be copied
    if not recursive:
        for folder in sorted(folders):
            table.add_row(printable(folder[len(root) :]), "-", "", "")
    for f in files:
        name = f.path[len(root) :] if recursive else f.name
        table.add_row(*map(printable, (name, format_size(f.size), f.updated_at or "", f.url or "")))
    app.out.print(table)
