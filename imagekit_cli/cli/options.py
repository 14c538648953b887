"""Option bundles shared by several commands, so each flag is spelled once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from imagekit_cli.auth import AUTH_MODES
from imagekit_cli.cli.context import AppContext
from imagekit_cli.config import Concurrency, parse_concurrency
from imagekit_cli.errors import UsageError
from imagekit_cli.limits import PLAN_LIMITS
from imagekit_cli.report_files import OUTPUT_FORMATS
from imagekit_cli.retry import DEFAULT_MAX_WAIT_S
from imagekit_cli.ui import PROGRESS_MODES, make_consoles

F = TypeVar("F", bound=Callable[..., Any])


def _apply(options: list[Callable[[F], F]]) -> Callable[[F], F]:
    def decorator(func: F) -> F:
        for option in reversed(options):
            func = option(func)
        return func

    return decorator


def _concurrency(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> Concurrency | None:
    """``-j``: checked by the same function as ``config set concurrency`` and the profile."""
    if value is None:
        return None
    try:
        return parse_concurrency(value, "concurrency")
    except UsageError as exc:
        raise click.BadParameter(exc.message, ctx, param) from None


selection_options = _apply(
    [
        click.option(
            "--include",
            multiple=True,
            metavar="GLOB",
            help="Only files matching GLOB (gitignore syntax, relative to each folder "
            "given). Repeatable. Example: --include '*.jpg'.",
        ),
        click.option(
            "--exclude",
            multiple=True,
            metavar="GLOB",
            help="Skip files matching GLOB (gitignore syntax). Repeatable. "
            "Example: --exclude 'drafts/'.",
        ),
        click.option(
            "--ignore-file",
            "ignore_files",
            multiple=True,
            type=click.Path(dir_okay=False, path_type=str),
            help="Read more exclude patterns from FILE (gitignore syntax).",
        ),
        click.option("--no-ignore", is_flag=True, help="Do not read .imagekitignore files."),
        click.option("--hidden", is_flag=True, help="Include hidden files and folders (dotfiles)."),
        click.option(
            "--follow-symlinks",
            is_flag=True,
            help="Follow symlinked files and folders that stay inside the folder being "
            "uploaded (links pointing outside it and loops are skipped).",
        ),
    ]
)

type_options = _apply(
    [
        click.option(
            "--plan",
            type=click.Choice(list(PLAN_LIMITS)),
            default=None,
            help="Your ImageKit plan; sets per-file size limits. Default: free, or the "
            "profile's plan.",
        ),
        click.option(
            "--max-size",
            metavar="SIZE",
            help="Override the per-file size limit, e.g. 10MB or 1GiB.",
        ),
        click.option(
            "--allow-ext",
            multiple=True,
            metavar="EXT",
            help="Also allow this extension. Repeatable. Example: --allow-ext heic.",
        ),
        click.option("--any-type", is_flag=True, help="Do not filter by extension at all."),
    ]
)

engine_options = _apply(
    [
        click.option(
            "-j",
            "--concurrency",
            metavar="N|auto",
            callback=_concurrency,
            default=None,
            help="Uploads in flight at once: auto (start at 16, grow while throughput grows, "
            "up to 128) or a fixed N (1-256). Both back off on 429, 5xx and timeouts and "
            "stay within the open-file limit. Default: auto, or the profile's.",
        ),
        click.option(
            "--retries",
            type=click.IntRange(1, 50),
            default=5,
            show_default=True,
            help="Attempts per file in all (connection errors, timeouts, 408, 429 without "
            "a named wait, 5xx). A 429 that names its wait uses --max-wait instead.",
        ),
        click.option(
            "--max-wait",
            type=click.FloatRange(0, 86400),
            default=DEFAULT_MAX_WAIT_S,
            show_default=True,
            metavar="SECONDS",
            help="Per file: how long in all to wait out rate limits (429 with Retry-After "
            "or X-RateLimit-Reset) before the file fails.",
        ),
        click.option(
            "--timeout",
            type=click.FloatRange(1, 3600),
            default=60.0,
            show_default=True,
            help="Seconds without progress before a request is abandoned and retried.",
        ),
        click.option(
            "--fail-fast", is_flag=True, help="Stop starting files after the first failure."
        ),
        click.option(
            "--dry-run",
            is_flag=True,
            help="Show what would happen and change nothing. upload's needs no "
            "credentials; sync's lists the remote folder, so it needs the key.",
        ),
        click.option(
            "--shard",
            metavar="K/N|auto",
            help="Only the K-th of N stable shards of the files (split a job across "
            "N CI runners). auto: from GitLab, CircleCI or Buildkite's parallel job "
            "variables; auto/N: from JOB_COMPLETION_INDEX (Kubernetes Indexed Job). "
            "Example: --shard 2/4.",
        ),
    ]
)

output_format_option = click.option(
    "--output",
    "-o",
    "output",
    type=click.Choice(OUTPUT_FORMATS),
    default="table",
    show_default=True,
    help="Results format on stdout.",
)

output_options = _apply(
    [
        output_format_option,
        click.option(
            "--report",
            "report_path",
            type=click.Path(dir_okay=False, path_type=str),
            help="Also write the full report to FILE (.json, .jsonl journal, .csv or .xml "
            "JUnit), even after a failure or Ctrl-C.",
        ),
        click.option(
            "--progress",
            type=click.Choice(PROGRESS_MODES),
            default="auto",
            show_default=True,
            help="Live bars (rich), one line per file (plain), or none. auto: rich on a "
            "terminal, plain in CI and pipes.",
        ),
    ]
)

auth_options = _apply(
    [
        click.option(
            "--auth",
            type=click.Choice(AUTH_MODES),
            default="private-key",
            show_default=True,
            help="private-key: HTTP Basic (server side). signature: v1 token/expire/"
            "signature fields. jwt: v2 upload with a JWT. signature and jwt sign with "
            "the private key or, without one, ask --auth-endpoint.",
        ),
        click.option(
            "--auth-endpoint",
            metavar="URL",
            help="Signing backend for --auth signature|jwt, so only the public key is "
            "needed here. Env: IMAGEKIT_AUTH_ENDPOINT.",
        ),
        click.option(
            "--auth-header",
            multiple=True,
            metavar="'NAME: VALUE'",
            help="Header sent to --auth-endpoint (redacted everywhere). Repeatable. Env, to "
            "keep it out of process lists: IMAGEKIT_AUTH_HEADER, one header per line.",
        ),
    ]
)


def _set_flag(name: str) -> Callable[[click.Context, click.Parameter, Any], None]:
    def callback(ctx: click.Context, param: click.Parameter, value: Any) -> None:
        app = ctx.find_object(AppContext)
        if app is not None and value:
            setattr(app, name, max(getattr(app, name), value) if name == "verbose" else value)

    return callback


verbosity_options = _apply(
    [
        click.option("-v", "--verbose", count=True, expose_value=False,
                     callback=_set_flag("verbose"),
                     help="More output: skipped files, retries (also before the command)."),
        click.option("-q", "--quiet", is_flag=True, expose_value=False,
                     callback=_set_flag("quiet"),
                     help="Only errors and the summary (also before the command)."),
        click.option("--debug", is_flag=True, expose_value=False, callback=_set_flag("debug"),
                     help="Tracebacks and an HTTP trace, secrets redacted (also before the "
                          "command)."),
    ]
)  # fmt: skip


def _set_setting(ctx: click.Context, param: click.Parameter, value: Any) -> None:
    app = ctx.find_object(AppContext)
    if app is not None and value is not None and param.name:
        app.flags[param.name] = value


def _set_color(ctx: click.Context, param: click.Parameter, value: bool | None) -> None:
    app = ctx.find_object(AppContext)
    if app is not None and value is not None:
        app.out, app.err = make_consoles(value)


def global_options() -> list[click.Option]:
    """The root group's settings, accepted after any sub-command too (``upload --profile x``)."""
    return [
        click.Option(["--profile"], metavar="NAME", expose_value=False, callback=_set_setting,
                     help="Config profile to use (also before the command). "
                          "Env: IMAGEKIT_PROFILE."),
        click.Option(["--base-url"], metavar="URL", expose_value=False, callback=_set_setting,
                     help="One base URL for the upload and media APIs (a proxy or test "
                          "server; also before the command). Env: IMAGEKIT_BASE_URL."),
        click.Option(["--color/--no-color"], default=None, expose_value=False,
                     callback=_set_color,
                     help="Force colour on or off (also before the command). Default: on a "
                          "terminal, unless NO_COLOR is set."),
    ]  # fmt: skip


def add_global_options(command: click.Command) -> None:
    """Give ``command`` the global options, and -v/-q/--debug if it lacks them."""
    taken = {opt for param in command.params for opt in param.opts}
    command.params.extend(p for p in global_options() if not taken & set(p.opts))
    if "--verbose" not in taken:
        verbosity_options(command)  # click's option decorators also accept a Command


# Panels of ``--help``, by parameter name; anything not listed lands in "Options".
PANELS: dict[str, tuple[str, ...]] = {
    "What to upload": ("folder", "name", "nul", "resume_path", "dry_run", "shard"),
    "Sync": ("delete", "yes", "max_delete", "checksum", "plan_out", "max_age"),
    "ImageKit fields": (
        "tags", "unique_names", "overwrite", "overwrite_tags", "overwrite_ai_tags",
        "overwrite_custom_metadata", "private", "draft", "custom_coordinates",
        "custom_metadata", "extensions", "transformation", "webhook_url", "checks",
        "description", "response_fields",
    ),
    "Filters": (
        "include", "exclude", "ignore_files", "no_ignore", "hidden", "follow_symlinks",
        "plan", "max_size", "allow_ext", "any_type",
    ),
    "Speed and retries": ("concurrency", "retries", "max_wait", "timeout", "fail_fast"),
    "Authentication": ("auth", "auth_endpoint", "auth_header", "profile", "base_url"),
    "Output": ("output", "report_path", "progress", "verbose", "quiet", "debug", "color"),
}  # fmt: skip
_PANEL_OF = {name: panel for panel, names in PANELS.items() for name in names}


class PanelCommand(click.Command):
    """A command whose ``--help`` groups its options into titled panels."""

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """One definition list per panel, in the order of ``PANELS``."""
        panels: dict[str, list[tuple[str, str]]] = {}
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx) if isinstance(param, click.Option) else None
            if record is not None:
                panel = _PANEL_OF.get(param.name or "", "Options")
                panels.setdefault(panel, []).append(record)
        for title in [*PANELS, "Options"]:
            if title in panels:
                with formatter.section(title):
                    formatter.write_dl(panels[title])
