"""The ``imagekit`` command group and its error boundary.

Domain code raises ImageKitCLIError subclasses; ``ImageKitGroup.invoke`` is the one place
that turns them into an ``Error: ...`` line on stderr and an exit code.
"""

from __future__ import annotations

import traceback
from typing import Any

import click

from imagekit_cli import __version__
from imagekit_cli.cli.completion import completion
from imagekit_cli.cli.config_cmd import config_group
from imagekit_cli.cli.context import AppContext
from imagekit_cli.cli.ls import ls
from imagekit_cli.cli.options import add_global_options
from imagekit_cli.cli.output import silence_stdout
from imagekit_cli.cli.pipeline import merge_url_maps_command
from imagekit_cli.cli.report_cmd import report_group
from imagekit_cli.cli.sync import sync
from imagekit_cli.cli.upload import upload
from imagekit_cli.errors import ExitCode, ImageKitCLIError
from imagekit_cli.ui import make_consoles, render_error


class ImageKitGroup(click.Group):
    """A click group whose ``invoke`` is the error boundary."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """``imagekit`` alone prints its help and exits 0, as ``gh`` and ``git`` do."""
        if not args and ctx.parent is None:
            click.echo(ctx.get_help())
            ctx.exit(0)
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; typed errors become one line and an exit code."""
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except ImageKitCLIError as exc:
            app = ctx.obj
            if isinstance(app, AppContext):
                if app.debug:
                    app.show_trace(traceback.format_exc())
                render_error(app.err, app.redact(str(exc)))
            ctx.exit(int(exc.exit_code))
        except BrokenPipeError:
            silence_stdout()  # the reader of stdout left (``| head``): end quietly
            ctx.exit(int(ExitCode.FAILED))
        except KeyboardInterrupt:
            if isinstance(ctx.obj, AppContext):
                render_error(ctx.obj.err, "interrupted.")
            ctx.exit(int(ExitCode.INTERRUPTED))
        except Exception as exc:
            app = ctx.obj
            if not isinstance(app, AppContext):
                raise
            if app.debug:
                app.show_trace(traceback.format_exc())
                hint = ""
            else:
                hint = " Run with --debug for a traceback."
            render_error(app.err, app.redact(f"unexpected {type(exc).__name__}: {exc}.{hint}"))
            ctx.exit(int(ExitCode.FAILED))


@click.group(cls=ImageKitGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="imagekit-cli", message="%(prog)s %(version)s")
@click.option("--profile", help="Config profile to use. Env: IMAGEKIT_PROFILE.")
@click.option(
    "--base-url",
    metavar="URL",
    help="One base URL for the upload and media APIs (a proxy or test server). "
    "Env: IMAGEKIT_BASE_URL.",
)
@click.option("-v", "--verbose", count=True, help="More output: skipped files, retries.")
@click.option("-q", "--quiet", is_flag=True, help="Only errors and the summary.")
@click.option("--debug", is_flag=True, help="Tracebacks and an HTTP trace (secrets redacted).")
@click.option(
    "--color/--no-color",
    default=None,
    help="Force colour on or off. Default: on a terminal, unless NO_COLOR is set.",
)
@click.pass_context
def cli(
    ctx: click.Context,
    profile: str | None,
    base_url: str | None,
    verbose: int,
    quiet: bool,
    debug: bool,
    color: bool | None,
) -> None:
    """Fast, safe bulk upload and folder sync for ImageKit.io.

    \b
    Examples:
      imagekit upload photos --dry-run
      imagekit upload photos --folder /site
      imagekit sync ./public /site --delete --yes
    """
    out, err = make_consoles(color)
    ctx.obj = AppContext(
        out=out,
        err=err,
        verbose=verbose,
        quiet=quiet,
        debug=debug,
        flags={"profile": profile, "base_url": base_url},
    )


cli.add_command(upload)
cli.add_command(sync)
cli.add_command(ls)
cli.add_command(config_group)
cli.add_command(completion)
cli.add_command(report_group)
report_group.add_command(merge_url_maps_command)


def _leaves(command: click.Command) -> list[click.Command]:
    if isinstance(command, click.Group):
        return [leaf for sub in command.commands.values() for leaf in _leaves(sub)]
    return [command]


for _command in _leaves(cli):
    add_global_options(_command)


def main() -> None:
    """Console entry point."""
    cli(prog_name="imagekit")
