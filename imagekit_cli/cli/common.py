"""Helpers shared by the commands that upload: planner, engine settings, reporters."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from imagekit_cli.cli.context import AppContext
from imagekit_cli.client import ImageKitClient
from imagekit_cli.config import Settings
from imagekit_cli.errors import (
    AuthenticationError,
    CredentialsError,
    ImageKitCLIError,
    SigningError,
)
from imagekit_cli.limits import TypePolicy, parse_size
from imagekit_cli.planning import Planner, PlanOptions, Selection, parse_shard
from imagekit_cli.retry import RetryPolicy
from imagekit_cli.runner import EngineSettings


def build_planner(settings: Settings, folder: str | None, opts: dict[str, Any]) -> Planner:
    """A Planner from the selection and type options shared by upload and sync."""
    policy = TypePolicy(
        plan=opts["plan"] or settings.plan,
        max_size=parse_size(opts["max_size"]) if opts["max_size"] else None,
        extra_extensions=frozenset(opts["allow_ext"]),
        any_type=opts["any_type"],
    )
    selection = Selection(
        include=tuple(opts["include"]),
        exclude=tuple(opts["exclude"]),
        ignore_files=tuple(Path(p) for p in opts["ignore_files"]),
        use_ignore_files=not opts["no_ignore"],
        hidden=opts["hidden"],
        follow_symlinks=opts["follow_symlinks"],
    )
    shard = parse_shard(opts["shard"]) if opts["shard"] else None
    return Planner(
        PlanOptions(folder or settings.folder, selection, policy, shard, opts.get("name"))
    )


def engine_settings(settings: Settings, opts: dict[str, Any]) -> EngineSettings:
    """Workers, retries and timeouts from the engine options."""
    return EngineSettings(
        concurrency=opts["concurrency"] or settings.concurrency,
        policy=RetryPolicy(attempts=opts["retries"]),
        timeout=opts["timeout"],
        fail_fast=opts["fail_fast"],
    )


def credentials_refused(
    exc: AuthenticationError | SigningError, settings: Settings
) -> ImageKitCLIError:
    """One clear line for a refused key, naming where the key came from."""
    if isinstance(exc, SigningError):
        return exc
    source = settings.source_of("private_key")
    return CredentialsError(
        f"ImageKit refused the credentials ({exc.status} {exc.message}).",
        hint=f"Check the key from {source}; upload stopped, nothing else was sent.",
    )


def open_client(
    app: AppContext, settings: Settings, engine: EngineSettings | None = None
) -> ImageKitClient:
    """The HTTP client for a run: the account's base URL and key, sized to the engine."""
    engine = engine or EngineSettings()
    return ImageKitClient(
        settings.base_url,
        private_key=settings.private_key,
        concurrency=engine.concurrency,
        timeout=engine.timeout,
        trace=app.tracer(),
        redactor=app.redactor,
    )
