"""``imagekit apply PLAN``: carry out a plan written by ``sync --plan-out``, and nothing else."""

from __future__ import annotations

import functools
import os
import sys
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

import click

from imagekit_cli.apply_checks import check_root, check_uploads
from imagekit_cli.applying import dry_run_apply, run_apply
from imagekit_cli.auth import BasicAuthSigner
from imagekit_cli.cli.common import engine_settings, open_client
from imagekit_cli.cli.context import AppContext
from imagekit_cli.cli.options import PanelCommand, engine_options, output_options
from imagekit_cli.cli.output import RunOutputs, exit_with, prepare_outputs, run_to_the_end
from imagekit_cli.cli.pipeline import url_map_option
from imagekit_cli.cli.sync import STATE_FILE, _confirmer
from imagekit_cli.config import Secret, Settings
from imagekit_cli.errors import AuthenticationError, DeleteLimitError, ImageKitCLIError, UsageError
from imagekit_cli.events import Reporter
from imagekit_cli.interrupts import Interrupts
from imagekit_cli.report import RunReport
from imagekit_cli.report_files import check_report_path
from imagekit_cli.runner import EngineSettings, credentials_refused
from imagekit_cli.sync_plan import SyncPlan, check_age, parse_duration, read_plan
from imagekit_cli.sync_state import SyncState, default_state_dir
from imagekit_cli.ui import choose_progress, make_reporter
from imagekit_cli.url_map import UrlMap, listening, open_url_map


@click.command(cls=PanelCommand)
@click.argument("plan_path", metavar="PLAN", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "-y", "--yes", is_flag=True,
    help="Do not ask before deleting; required for a plan with deletes outside a terminal.",
)  # fmt: skip
@click.option(
    "--max-delete", type=click.IntRange(0), metavar="N",
    help="Refuse the plan, sending nothing, if it deletes more than N files. "
    "Default: the limit the plan was made with.",
)  # fmt: skip
@click.option(
    "--max-age", default="24h", show_default=True, metavar="DURATION",
    help="Refuse a plan older than this (e.g. 90m, 24h, 7d; 0: no limit).",
)  # fmt: skip
@url_map_option
@engine_options
@output_options
@click.pass_obj
def apply(app: AppContext, /, plan_path: Path, **opts: Any) -> None:
    """Carry out PLAN, written by sync --plan-out: its uploads and deletes, nothing else.

    A file added to the tree since planning is not uploaded; a planned file whose size or
    mtime changed since fails ("changed since the plan", exit 1); only the planned fileIds
    are deleted. Run it from the folder sync was run from.

    \b
    Examples:
      imagekit sync ./public /site --delete --plan-out plan.json
      imagekit apply plan.json --yes
    """
    plan = _checked_plan(app, plan_path, opts)
    run = _ApplyRun.prepare(app, plan_path, plan, opts)
    after = (run.url_map.write,) if run.url_map is not None else ()
    run_to_the_end(app, run.report, run.outputs, run.engine_settings.interrupts or Interrupts(),
                   run.display, run.main(), before=(run.state.close,), after=after)  # fmt: skip
    if run.fatal is not None:
        raise run.fatal
    exit_with(run.report)


# A plan is sharded when it is made (sync --shard K/N --plan-out plan-K.json), not applied.
apply.params = [p for p in apply.params if p.name != "shard"]


class _Display(Protocol):
    """The UI reporter seen as a display: a context around the run that can pause for a
    prompt (as a listener it is a plain ``Reporter``)."""

    def __enter__(self) -> object: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    def paused(self) -> AbstractContextManager[None]: ...


@dataclass
class _ApplyRun:
    """One apply run: the plan, where results go, and how to reach ImageKit."""

    app: AppContext
    plan: SyncPlan
    opts: dict[str, Any]
    settings: Settings
    engine_settings: EngineSettings
    report: RunReport
    state: SyncState
    reporter: Reporter
    display: _Display
    outputs: RunOutputs
    url_map: UrlMap | None
    fatal: ImageKitCLIError | None = None

    @classmethod
    def prepare(
        cls, app: AppContext, plan_path: Path, plan: SyncPlan, opts: dict[str, Any]
    ) -> _ApplyRun:
        """Settings, report, sync state and outputs, checked before anything is sent."""
        settings = app.settings(concurrency=opts["concurrency"])
        if not opts["dry_run"]:
            settings.require_private_key()  # before any work, as sync does
        target = {"plan": str(plan_path), "folder": plan.remote_folder,
                  "local": plan.local_root, "base_url": settings.base_url}  # fmt: skip
        report = RunReport("apply", dry_run=opts["dry_run"], target=target)
        base = settings.base_url or "https://api.imagekit.io"
        state = SyncState.open(default_state_dir(app.env) / STATE_FILE, base, plan.remote_folder)
        mode = choose_progress(opts["progress"], app.err, app.quiet, app.in_ci)
        outputs = prepare_outputs(app, opts["output"], opts["report_path"])
        report.keep_files = outputs.keep_files
        url_map = open_url_map(opts["url_map"], [plan.local_root], dry_run=opts["dry_run"])
        ui = make_reporter(mode, app.err, app.verbose)
        run_settings = engine_settings(settings, opts, Interrupts())
        return cls(app, plan, opts, settings, run_settings, report, state, ui, ui, outputs, url_map)

    @functools.cached_property
    def listener(self) -> Reporter:
        """Everything that hears each result: the UI, the output writers, the URL map."""
        return listening(self.outputs.reporter(self.reporter), self.url_map)

    async def main(self) -> None:
        """Run (or dry-run) the plan; ``fatal`` is the error that stopped it, if any."""
        if self.opts["dry_run"]:
            dry_run_apply(self.plan, self.report, self.listener)
        else:
            self.fatal = await self._apply(self.settings.require_private_key())

    async def _apply(self, key: Secret) -> ImageKitCLIError | None:
        confirm = _confirmer(self.app, self.display.paused, self.opts["yes"])
        async with open_client(self.app, self.settings, self.engine_settings) as client:
            try:
                engine = await run_apply(
                    self.plan, self.report, self.listener, client=client,
                    signer=BasicAuthSigner(key), engine_settings=self.engine_settings,
                    state=self.state, confirm=confirm,
                    max_delete=_max_delete(self.plan, self.opts),
                )  # fmt: skip
            except AuthenticationError as exc:
                return credentials_refused(exc, self.settings)
            except ImageKitCLIError as exc:
                return exc
        if isinstance(engine.control.fatal, AuthenticationError):
            return credentials_refused(engine.control.fatal, self.settings)
        return None


def _checked_plan(app: AppContext, plan_path: Path, opts: dict[str, Any]) -> SyncPlan:
    """The plan, refused (exit 2, nothing sent) if unreadable, stale, or not runnable here."""
    parse_duration(opts["max_age"])  # a bad flag is named before the file is read
    plan = read_plan(plan_path)
    check_age(plan, plan_path, opts["max_age"])
    check_root(plan, str(plan_path))
    check_uploads(plan, str(plan_path))
    if not os.path.isdir(plan.local_root):
        raise UsageError(
            f"Plan {plan_path}: its local folder '{plan.local_root}' is not a folder here.",
            hint="Run apply from the folder sync --plan-out was run from.",
        )
    deletes = len(plan.of("delete"))
    limit = _max_delete(plan, opts)
    if limit is not None and deletes > limit:
        raise DeleteLimitError(
            f"Plan {plan_path} deletes {deletes} remote files, more than --max-delete "
            f"{limit}; nothing was sent.",
            hint="Review the plan, or raise --max-delete.",
        )
    interactive = sys.stdin.isatty() and app.err.is_terminal
    if deletes and not opts["yes"] and not interactive and not opts["dry_run"]:
        raise UsageError(
            f"Plan {plan_path} deletes {deletes} remote file(s): that needs --yes when not "
            "run from a terminal.",
            hint="Add --yes (and consider --max-delete N).",
        )
    if opts["report_path"]:
        check_report_path(Path(opts["report_path"]))
    return plan


def _max_delete(plan: SyncPlan, opts: dict[str, Any]) -> int | None:
    """``--max-delete``, else the limit the plan was made with."""
    if opts["max_delete"] is not None:
        return int(opts["max_delete"])
    planned = plan.sync.get("max_delete")
    return planned if isinstance(planned, int) and not isinstance(planned, bool) else None
