"""``imagekit upload`` as one library call: ``run_upload(sources, UploadConfig, settings,
reporter) -> RunReport``.

The command layer parses flags into an ``UploadConfig`` once and calls ``run_upload``,
which builds the HTTP client, the signer and the engine, plans the sources (or a
``--manifest``) and uploads them. Whatever stops the run (a refused key) is recorded on
the report; ``RunReport.exit_code()`` turns it into the exit code (see ARCHITECTURE.md).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from imagekit_cli.auth import Signer, build_signer
from imagekit_cli.config import Settings
from imagekit_cli.errors import CredentialsError
from imagekit_cli.events import Reporter
from imagekit_cli.manifest import plan_source
from imagekit_cli.planning import PlanItem, Planner
from imagekit_cli.report import RunReport
from imagekit_cli.runner import (
    ClientHooks,
    EngineSettings,
    ResumeIndex,
    UploadOptions,
    credentials_refused,
    open_client,
    upload_items,
)


@dataclass(frozen=True)
class UploadConfig:
    """Everything one upload run needs from the command line, parsed and checked."""

    planner: Planner
    options: UploadOptions = field(default_factory=UploadOptions)
    engine_settings: EngineSettings = field(default_factory=EngineSettings)
    manifest: Path | None = None
    auth: str = "private-key"  # private-key | signature | jwt
    auth_headers: Mapping[str, str] = field(default_factory=dict)
    dry_run: bool = False
    resume: ResumeIndex | None = None


def check_credentials(config: UploadConfig, settings: Settings) -> None:
    """Before any work: the credentials ``--auth`` needs are there (none for a dry run)."""
    if config.dry_run:
        return
    if config.auth == "private-key":
        settings.require_private_key()
        return
    if settings.private_key is None and not settings.auth_endpoint:
        raise CredentialsError(
            f"--auth {config.auth} signs each upload with the private key or asks a signing "
            "backend, and neither is set.",
            hint="Export IMAGEKIT_PRIVATE_KEY, or give --auth-endpoint URL "
            "(or IMAGEKIT_AUTH_ENDPOINT).",
        )
    settings.require_public_key()


def upload_report(
    config: UploadConfig, settings: Settings, *, keep_files: bool = True
) -> RunReport:
    """The empty report of an upload run, naming where it goes."""
    target = {"folder": config.planner.folder, "base_url": settings.base_url}
    return RunReport("upload", dry_run=config.dry_run, target=target, keep_files=keep_files)


async def run_upload(
    sources: Sequence[str],
    config: UploadConfig,
    settings: Settings,
    reporter: Reporter,
    *,
    report: RunReport | None = None,
    plan: Iterable[PlanItem] | None = None,
    signer: Signer | None = None,
    hooks: ClientHooks | None = None,
) -> RunReport:
    """Upload ``sources`` (or the manifest, or an already made ``plan``) as ``config``
    says, into ``report`` (a new one if not given), and return the report.

    ``signer`` replaces the one ``config.auth`` names; ``hooks`` lend the client a debug
    tracer and the redactor.
    """
    report = report if report is not None else upload_report(config, settings)
    if plan is None:
        interrupts = config.engine_settings.interrupts
        stopped = (lambda: interrupts.count > 0) if interrupts is not None else bool
        items, options = plan_source(
            config.manifest, config.planner, sources, config.options, stopped
        )
    else:
        items, options = iter(plan), config.options
    async with contextlib.AsyncExitStack() as stack:
        client = None
        if not config.dry_run:
            client = await stack.enter_async_context(
                open_client(settings, config.engine_settings, hooks)
            )
            auth_headers = dict(config.auth_headers)
            signer = signer or build_signer(config.auth, settings, client, auth_headers)
        await upload_items(items, options, report, reporter, client=client, signer=signer,
                           engine_settings=config.engine_settings,
                           resume=config.resume)  # fmt: skip
    if report.fatal is not None:
        report.fatal = credentials_refused(report.fatal, settings)
    return report
