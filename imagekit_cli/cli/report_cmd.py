"""``imagekit report merge``: combine the reports of several shards."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from imagekit_cli.cli.context import AppContext
from imagekit_cli.cli.options import PanelCommand, output_format_option
from imagekit_cli.cli.output import TABLE_ROWS
from imagekit_cli.report_files import check_report_path, render, write_report
from imagekit_cli.report_read import merge_reports
from imagekit_cli.tables import print_summary, print_table


@click.group(name="report")
def report_group() -> None:
    """Work with report files.

    \b
    Example:
      imagekit report merge shard-*.json --report all.json
    """


@report_group.command(cls=PanelCommand)
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@output_format_option
@click.option(
    "--report",
    "report_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the merged report to FILE (.json, .jsonl, .csv, .xml).",
)
@click.pass_obj
def merge(
    app: AppContext, /, files: tuple[Path, ...], output: str, report_path: Path | None
) -> None:
    """Combine reports (e.g. of N shards) into one; exit 1 if any file failed.

    Reads every format --report writes (.json, .jsonl, .csv, .xml JUnit), in any mix. A
    file found in several reports (a shard and its re-run) counts once: the result of
    the latest report wins.

    \b
    Example:
      imagekit report merge shard-1.json shard-2.json shard-3.json -o json > all.json
      imagekit report merge shard-*.xml --report all.xml
    """
    if report_path is not None:
        check_report_path(report_path)
    merged = merge_reports(files)
    if report_path is not None:
        write_report(merged, report_path)
    if output == "table":
        print_table(merged.files[:TABLE_ROWS], app.out)
        if len(merged.files) > TABLE_ROWS:
            more = len(merged.files) - TABLE_ROWS
            note = f"... and {more} more file(s), not shown; --report FILE or -o jsonl lists all."
            app.out.print(note, markup=False, highlight=False, soft_wrap=True)
    else:
        sys.stdout.write(render(merged, output))
    print_summary(merged, app.err, quiet=app.quiet, rate=False)
    click.get_current_context().exit(int(merged.exit_code()))
