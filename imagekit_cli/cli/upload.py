"""``imagekit upload``: files, folders, stdin lists and URLs, in parallel."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from imagekit_cli.auth import parse_auth_headers
from imagekit_cli.cli.common import (
    build_planner,
    check_stdin_list,
    client_hooks,
    engine_settings,
    read_sources,
)
from imagekit_cli.cli.completion import complete_paths
from imagekit_cli.cli.context import AppContext
from imagekit_cli.cli.options import (
    PanelCommand,
    auth_options,
    engine_options,
    output_options,
    selection_options,
    type_options,
    verbosity_options,
)
from imagekit_cli.cli.output import exit_with, prepare_outputs, run_to_the_end
from imagekit_cli.cli.pipeline import manifest_option, url_map_option
from imagekit_cli.config import Settings
from imagekit_cli.interrupts import Interrupts
from imagekit_cli.json_shapes import check_extensions, check_transformation
from imagekit_cli.manifest import check_inputs
from imagekit_cli.report_files import check_report_path
from imagekit_cli.report_read import check_journal
from imagekit_cli.runner import UploadOptions, load_resume, parse_json_option
from imagekit_cli.ui import choose_progress, make_reporter
from imagekit_cli.uploading import UploadConfig, check_credentials, run_upload, upload_report
from imagekit_cli.url_map import listening, open_url_map


def upload_options(opts: dict[str, Any]) -> UploadOptions:
    """The API-field flags, parsed and validated (exit 2 naming the flag on bad input)."""
    options = UploadOptions(
        unique_names=opts["unique_names"],
        overwrite=opts["overwrite"],
        overwrite_tags=opts["overwrite_tags"],
        overwrite_ai_tags=opts["overwrite_ai_tags"],
        overwrite_custom_metadata=opts["overwrite_custom_metadata"],
        tags=tuple(t.strip() for t in (opts["tags"] or "").split(",") if t.strip()),
        private=opts["private"],
        draft=opts["draft"],
        custom_coordinates=opts["custom_coordinates"],
        custom_metadata=parse_json_option(opts["custom_metadata"], "--custom-metadata", dict),
        extensions=parse_json_option(opts["extensions"], "--extensions", list),
        transformation=parse_json_option(opts["transformation"], "--transformation", dict),
        webhook_url=opts["webhook_url"],
        checks=opts["checks"],
        description=opts["description"],
        response_fields=tuple(
            f.strip() for f in (opts["response_fields"] or "").split(",") if f.strip()
        ),
    )
    options.validate()
    check_extensions(options.extensions)
    check_transformation(options.transformation)
    return options


@click.command(cls=PanelCommand)
@click.argument("paths", nargs=-1, shell_complete=complete_paths)
@click.option("--folder", help="Remote folder to upload into. Default: /, or the profile's.")
@click.option("--name", help="Remote file name, for a single file or URL.")
@click.option("-0", "--null", "nul", is_flag=True, help="With '-': paths on stdin end with NUL.")
@click.option("--tags", help="Comma-separated tags. Example: --tags summer,beach.")
@click.option(
    "--unique-names/--no-unique-names",
    default=False,
    show_default=True,
    help="Let ImageKit add a random suffix (useUniqueFileName). Off: exact names, so "
    "re-runs and retries are idempotent.",
)
@click.option(
    "--overwrite/--no-overwrite",
    default=None,
    help="Replace an existing file at the same path with a new version (overwriteFile; "
    "ImageKit's default is on).",
)
@click.option("--overwrite-tags/--no-overwrite-tags", default=None, help="overwriteTags.")
@click.option("--overwrite-ai-tags/--no-overwrite-ai-tags", default=None, help="overwriteAITags.")
@click.option(
    "--overwrite-custom-metadata/--no-overwrite-custom-metadata",
    default=None,
    help="overwriteCustomMetadata.",
)
@click.option("--private", is_flag=True, help="Upload as private files (isPrivateFile).")
@click.option("--draft", is_flag=True, help="Upload unpublished (isPublished=false).")
@click.option("--custom-coordinates", metavar="X,Y,W,H", help="customCoordinates.")
@click.option(
    "--custom-metadata",
    metavar="JSON",
    help='customMetadata object. Example: --custom-metadata \'{"brand": "acme"}\'.',
)
@click.option(
    "--extensions",
    metavar="JSON",
    help='extensions array. Example: --extensions \'[{"name": "remove-bg"}]\'.',
)
@click.option(
    "--transformation",
    metavar="JSON",
    help='transformation object. Example: --transformation \'{"pre": "w-1000"}\'.',
)
@click.option("--webhook-url", metavar="URL", help="webhookUrl for extension results.")
@click.option("--checks", metavar="EXPR", help='Server-side checks, e.g. \'"file.size" < "1mb"\'.')
@click.option("--description", help="File description.")
@click.option(
    "--response-fields",
    metavar="LIST",
    help="Extra response fields, comma-separated, e.g. tags,customMetadata.",
)
@click.option(
    "--resume",
    "resume_path",
    type=click.Path(dir_okay=False, path_type=str),
    help="Skip files an earlier run's .jsonl report records as uploaded to the same remote "
    "path (same size and mtime).",
)
@manifest_option
@url_map_option
@selection_options
@type_options
@engine_options
@auth_options
@output_options
@verbosity_options
@click.pass_obj
def upload(app: AppContext, /, paths: tuple[str, ...], **opts: Any) -> None:
    """Upload files, folders, '-' (paths on stdin) or URLs.

    A folder is uploaded recursively; its contents land under --folder keeping their
    sub-folders. Names are kept exactly (no random suffix), so a re-run replaces files with
    new versions instead of making copies.

    \b
    Examples:
      imagekit upload photos --dry-run            # see the plan; no key needed
      imagekit upload logo.png --folder /brand
      imagekit upload photos --folder /site -j 16 --report run.jsonl
      find . -name '*.jpg' -print0 | imagekit upload - -0 --folder /jpgs
      imagekit upload --manifest products.csv --url-map urls.json
    """
    stdin_text = sys.stdin.read() if "-" in paths else None
    check_stdin_list(paths, stdin_text)
    sources = read_sources(paths, stdin_text, opts["nul"])
    settings = app.settings(
        auth_endpoint=opts["auth_endpoint"],
        plan=opts["plan"],
        concurrency=opts["concurrency"],
        folder=opts["folder"],
        auth_header=opts["auth_header"] or None,
    )
    interrupts = Interrupts()
    config = upload_config(settings, sources, opts, interrupts)
    url_map = open_url_map(opts["url_map"], sources, dry_run=config.dry_run)
    if opts["report_path"]:
        check_report_path(Path(opts["report_path"]))
    check_credentials(config, settings)
    mode = choose_progress(opts["progress"], app.err, app.quiet, app.in_ci)
    reporter = make_reporter(mode, app.err, app.verbose)
    outputs = prepare_outputs(app, opts["output"], opts["report_path"], interrupts.request_stop)
    report = upload_report(config, settings, keep_files=outputs.keep_files)
    listener = listening(outputs.reporter(reporter), url_map)
    run = run_upload(sources, config, settings, listener, report=report, hooks=client_hooks(app))
    after = (url_map.write,) if url_map is not None else ()
    run_to_the_end(app, report, outputs, interrupts, reporter, run, after=after)
    exit_with(report)


def upload_config(
    settings: Settings, sources: Sequence[str], opts: dict[str, Any], interrupts: Interrupts
) -> UploadConfig:
    """The typed config of one upload run, built once from the flags; exit 2 naming the
    flag on bad input."""
    planner = build_planner(settings, settings.folder, opts)
    manifest = check_inputs(opts["manifest"], sources, planner)
    options = upload_options(opts)
    resume = load_resume(check_journal(Path(opts["resume_path"]))) if opts["resume_path"] else None
    return UploadConfig(
        planner,
        options,
        engine_settings(settings, opts, interrupts),
        manifest=manifest,
        auth=opts["auth"],
        auth_headers=parse_auth_headers(settings.auth_headers),
        dry_run=opts["dry_run"],
        resume=resume,
    )
