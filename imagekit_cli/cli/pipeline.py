"""Options and the command of the pipeline features: ``--url-map``, ``--manifest``,
``--plan-out`` and ``imagekit report merge-url-maps``."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import click

from imagekit_cli.cli.context import AppContext
from imagekit_cli.errors import UsageError
from imagekit_cli.files import unwritable_reason
from imagekit_cli.report import RunReport
from imagekit_cli.sync_plan import PlanWriter
from imagekit_cli.syncing import SyncConfig
from imagekit_cli.text import printable
from imagekit_cli.url_map import merge_url_maps, render_url_map, write_url_map

url_map_option = click.option(
    "--url-map",
    "url_map",
    type=click.Path(dir_okay=False, path_type=str),
    help="Write a JSON object of local path (relative to its source folder) -> delivery "
    "URL for every file uploaded (and, for sync, unchanged), even after a failure. "
    "Not written by --dry-run.",
)

plan_out_option = click.option(
    "--plan-out",
    "plan_out",
    type=click.Path(dir_okay=False, path_type=str),
    help="Change nothing: write what sync would do (uploads with reasons, deletes, skips) "
    "to PLAN as JSON, for review; imagekit apply PLAN then does exactly that.",
)

manifest_option = click.option(
    "--manifest",
    type=click.Path(dir_okay=False, path_type=str),
    help="Upload the rows of a .csv (with a header) or .jsonl file instead of PATHs. "
    "Columns: path, folder, name, tags, custom_metadata, description, private, draft; a "
    "row's values override the flags for its file.",
)


def open_plan_out(path: str | None, config: SyncConfig) -> PlanWriter | None:
    """The plan ``sync --plan-out`` fills from its dry run, or None; an unwritable path is
    refused before anything is listed."""
    if path is None:
        return None
    problem = unwritable_reason(Path(path))
    if problem:
        raise UsageError(
            f"--plan-out {path}: cannot write there ({problem}).",
            hint="Give a path in a folder you can write to.",
        )
    options = config.planner.options
    return PlanWriter(Path(path), config.local_dir, config.planner.folder, config.options,
                      dataclasses.asdict(config.sync), policy=options.policy,
                      follow_symlinks=options.selection.follow_symlinks)  # fmt: skip


def plan_written(app: AppContext, plan: PlanWriter | None, report: RunReport) -> None:
    """Write the plan, dated when its run started (when the remote was listed), and say
    what it holds; a run that was interrupted or stopped by an error writes no plan."""
    if plan is None or report.fatal is not None or report.interrupted:
        return
    plan.write(report.started)
    counts = plan.counts()
    left = (
        f" ({plan.folders_left_out} emptied folder(s) are not in it; a later sync --delete "
        "removes them)"
        if plan.folders_left_out
        else ""
    )
    app.err.print(
        f"Plan written to {printable(str(plan.path))}: {counts['upload']} upload(s), "
        f"{counts['delete']} delete(s), {counts['skip']} skipped, {counts['fail']} failed{left}. "
        f"Apply it with: imagekit apply {printable(str(plan.path))}",
        markup=False, highlight=False, soft_wrap=True,
    )  # fmt: skip


@click.command(name="merge-url-maps")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--url-map",
    "url_map",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the merged map to FILE (atomically) instead of stdout.",
)
@click.pass_obj
def merge_url_maps_command(
    app: AppContext, /, files: tuple[Path, ...], url_map: Path | None
) -> None:
    """Combine the --url-map files of N shards into one; a path two maps send to
    different URLs is an error (exit 2).

    \b
    Example:
      imagekit report merge-url-maps urls-1.json urls-2.json --url-map urls.json
    """
    merged = merge_url_maps(files)
    if url_map is not None:
        write_url_map(url_map, merged)
    else:
        sys.stdout.write(render_url_map(merged))
    if not app.quiet:
        app.err.print(f"{len(merged)} paths from {len(files)} map(s).", markup=False)
