"""``imagekit sync``: make a remote folder match a local tree; safe to re-run."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import click

from imagekit_cli.cli.common import build_planner, client_hooks, engine_settings
from imagekit_cli.cli.context import AppContext
from imagekit_cli.cli.options import (
    PanelCommand,
    engine_options,
    output_options,
    selection_options,
    type_options,
    verbosity_options,
)
from imagekit_cli.cli.output import exit_with, prepare_outputs, run_to_the_end
from imagekit_cli.cli.pipeline import open_plan_out, plan_out_option, plan_written, url_map_option
from imagekit_cli.errors import UsageError
from imagekit_cli.interrupts import Interrupts
from imagekit_cli.naming import normalise_folder
from imagekit_cli.remote import RemoteFile
from imagekit_cli.report_files import check_report_path
from imagekit_cli.runner import UploadOptions
from imagekit_cli.sync_delete import ConfirmDeletes
from imagekit_cli.sync_state import default_state_dir
from imagekit_cli.syncing import SyncConfig, SyncOptions, run_sync, sync_report, sync_upload_options
from imagekit_cli.text import printable
from imagekit_cli.ui import choose_progress, make_reporter
from imagekit_cli.url_map import listening, open_url_map

STATE_FILE = "sync-state.sqlite3"
SHOWN_DELETES = 10


@click.command(cls=PanelCommand)
@click.argument("local_dir", type=click.Path(path_type=str))
@click.argument("remote_folder")
@click.option(
    "--delete",
    is_flag=True,
    help="Delete remote files that have no local counterpart (never ones your "
    "filters exclude, never after a failed upload).",
)
@click.option(
    "-y",
    "--yes",
    is_flag=True,
    help="Do not ask before deleting; required with --delete outside a terminal.",
)
@click.option(
    "--max-delete",
    type=click.IntRange(0),
    metavar="N",
    help="Abort the delete phase, deleting nothing, if more than N would go.",
)
@click.option(
    "--checksum", is_flag=True, help="Hash every same-size file instead of trusting size and mtime."
)
@click.option(
    "--tags",
    help="Set these comma-separated tags on the files sync uploads ('' clears them). "
    "Default: a replaced file keeps its tags.",
)
@click.option(
    "--custom-metadata",
    metavar="JSON",
    help="Set this customMetadata object on the files sync uploads. Default: a replaced "
    "file keeps its custom metadata.",
)
@url_map_option
@plan_out_option
@selection_options
@type_options
@engine_options
@output_options
@verbosity_options
@click.pass_obj
def sync(app: AppContext, /, local_dir: str, remote_folder: str, **opts: Any) -> None:
    """Make REMOTE_FOLDER match LOCAL_DIR: upload what is new or changed.

    Unchanged files (same size, and the same content per the local sync state) are
    skipped, so re-running after any interruption finishes the job without re-uploading.
    With --delete, remote files that no longer exist locally are removed, and then the
    remote folders left empty that have no local folder.

    \b
    Examples:
      imagekit sync ./public /site --dry-run
      imagekit sync ./public /site
      imagekit sync ./public /site --delete --yes --max-delete 50
      imagekit sync ./public /site --delete --plan-out plan.json
    """
    opts["dry_run"] = opts["dry_run"] or bool(opts["plan_out"])  # a plan is a dry run, kept
    options = _check_arguments(app, local_dir, remote_folder, opts)
    settings = app.settings(plan=opts["plan"], concurrency=opts["concurrency"])
    settings.require_private_key()
    interrupts = Interrupts()
    config = SyncConfig(
        build_planner(settings, remote_folder, opts),
        local_dir,
        options,
        SyncOptions(opts["delete"], opts["max_delete"], opts["checksum"]),
        engine_settings(settings, opts, interrupts),
        dry_run=opts["dry_run"],
        state_path=default_state_dir(app.env) / STATE_FILE,
    )
    url_map = open_url_map(opts["url_map"], [local_dir], dry_run=config.dry_run)
    plan_out = open_plan_out(opts["plan_out"], config)
    mode = choose_progress(opts["progress"], app.err, app.quiet, app.in_ci)
    reporter = make_reporter(mode, app.err, app.verbose)
    outputs = prepare_outputs(app, opts["output"], opts["report_path"], interrupts.request_stop)
    report = sync_report(config, settings, keep_files=outputs.keep_files)
    confirm = _confirmer(app, reporter.paused, opts["yes"])
    listener = listening(outputs.reporter(reporter), url_map, plan_out)
    run = run_sync(config, settings, listener, confirm, report=report, hooks=client_hooks(app))
    after = (url_map.write,) if url_map is not None else ()
    run_to_the_end(app, report, outputs, interrupts, reporter, run, after=after)
    plan_written(app, plan_out, report)
    exit_with(report)


def _list_deletes(app: AppContext, what: str, paths: Sequence[str]) -> None:
    """Show what a delete would remove, the first few by name."""
    if not paths:
        return
    app.err.print(f"{len(paths)} {what}", markup=False)
    for path in paths[:SHOWN_DELETES]:
        app.err.print(f"  {printable(path)}", markup=False)
    if len(paths) > SHOWN_DELETES:
        app.err.print(f"  … and {len(paths) - SHOWN_DELETES} more", markup=False)


def _check_arguments(
    app: AppContext, local_dir: str, remote_folder: str, opts: dict[str, Any]
) -> UploadOptions:
    """Every check that needs no request; returns the upload fields of the sync."""
    if not os.path.isdir(local_dir):
        raise UsageError(f"LOCAL_DIR '{local_dir}' is not a folder.", hint="Check the path.")
    normalise_folder(remote_folder, flag="REMOTE_FOLDER")  # names the argument, not --folder
    if opts["delete"] and opts["shard"]:
        raise UsageError(
            "--delete cannot be combined with --shard: each shard would delete the others' files.",
            hint="Run --delete in one unsharded job.",
        )
    interactive = sys.stdin.isatty() and app.err.is_terminal
    if opts["delete"] and not opts["yes"] and not interactive and not opts["dry_run"]:
        raise UsageError(
            "--delete needs --yes when not run from a terminal.",
            hint="Add --yes (and consider --max-delete N).",
        )
    if opts["report_path"]:
        check_report_path(Path(opts["report_path"]))
    return sync_upload_options(opts["tags"], opts["custom_metadata"])


def _confirmer(
    app: AppContext, paused: Callable[[], AbstractContextManager[None]], yes: bool
) -> ConfirmDeletes:
    """Asks before deleting (unless --yes), listing the first few files and folders."""

    def confirm(gone: Sequence[RemoteFile], folders: Sequence[str]) -> bool:
        if yes:
            return True
        with paused():
            _list_deletes(app, "remote file(s) have no local counterpart:", [f.path for f in gone])
            _list_deletes(app, "remote folder(s) would be empty, with no local counterpart:",
                          folders)  # fmt: skip
            return click.confirm("Delete them?", default=False, err=True)

    return confirm
