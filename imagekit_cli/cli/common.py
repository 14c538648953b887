"""Helpers shared by the commands that upload: planner, engine settings, reporters."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from imagekit_cli import runner
from imagekit_cli.cli.context import AppContext
from imagekit_cli.client import ImageKitClient
from imagekit_cli.config import Settings
from imagekit_cli.errors import UsageError
from imagekit_cli.interrupts import Interrupts
from imagekit_cli.limits import TypePolicy, parse_size
from imagekit_cli.planning import ListedPath, Planner, PlanOptions, Selection, parse_shard
from imagekit_cli.retry import RetryPolicy
from imagekit_cli.runner import ClientHooks, EngineSettings, split_sources

# (index variable, total variable, base of the index, CI system), in the order they are tried.
CI_SHARD_VARIABLES = (
    ("CI_NODE_INDEX", "CI_NODE_TOTAL", 1, "GitLab CI"),
    ("CIRCLE_NODE_INDEX", "CIRCLE_NODE_TOTAL", 0, "CircleCI"),
    ("BUILDKITE_PARALLEL_JOB", "BUILDKITE_PARALLEL_JOB_COUNT", 0, "Buildkite"),
)
K8S_INDEX = "JOB_COMPLETION_INDEX"


def resolve_shard(text: str, env: Mapping[str, str]) -> tuple[int, int]:
    """``--shard K/N``, ``auto`` (the CI system's parallel index) or ``auto/N`` (Kubernetes)."""
    if text == "auto":
        for index_var, total_var, base, system in CI_SHARD_VARIABLES:
            if env.get(index_var, "").strip():
                index = _shard_int(env, index_var)
                return _shard(index - base + 1, _shard_int(env, total_var), f"{system} {index_var}")
        names = ", ".join(f"{i}/{t} ({s})" for i, t, _, s in CI_SHARD_VARIABLES)
        raise UsageError(
            f"--shard auto: no parallel job index in the environment (looked for {names}).",
            hint=f"Give --shard K/N, or --shard auto/N with {K8S_INDEX} (Kubernetes Indexed Job).",
        )
    prefix, sep, count = text.partition("/")
    if prefix == "auto" and sep:
        if not count.isdigit() or int(count) < 1:
            raise UsageError(f"--shard '{text}': N must be a whole number >= 1, e.g. auto/4.")
        return _shard(_shard_int(env, K8S_INDEX) + 1, int(count), K8S_INDEX)
    return parse_shard(text)


def _shard_int(env: Mapping[str, str], name: str) -> int:
    value = env.get(name, "").strip()
    if not value.isdigit():
        shown = f"'{value}'" if value else "not set"
        raise UsageError(f"--shard auto: {name} is {shown}; it must be a whole number.")
    return int(value)


def _shard(k: int, n: int, source: str) -> tuple[int, int]:
    if not 1 <= k <= n:
        raise UsageError(f"--shard auto: {source} gives shard {k} of {n}, which is out of range.")
    return k, n


def build_planner(
    settings: Settings,
    folder: str | None,
    opts: dict[str, Any],
    env: Mapping[str, str] | None = None,
) -> Planner:
    """A Planner from the selection and type options shared by upload and sync."""
    policy = TypePolicy(
        plan=settings.plan,  # the flag, already resolved into the settings
        max_size=parse_size(opts["max_size"]) if opts["max_size"] else None,
        extra_extensions=frozenset(opts["allow_ext"]),
        any_type=opts["any_type"],
        max_size_text=opts["max_size"],
    )
    selection = Selection(
        include=tuple(opts["include"]),
        exclude=tuple(opts["exclude"]),
        ignore_files=tuple(Path(p) for p in opts["ignore_files"]),
        use_ignore_files=not opts["no_ignore"],
        hidden=opts["hidden"],
        follow_symlinks=opts["follow_symlinks"],
    )
    environ = os.environ if env is None else env
    shard = resolve_shard(opts["shard"], environ) if opts["shard"] else None
    return Planner(
        PlanOptions(folder or settings.folder, selection, policy, shard, opts.get("name"))
    )


def check_stdin_list(paths: tuple[str, ...], stdin_text: str | None) -> None:
    """``-`` with nothing on stdin is a mistake worth naming, not "No PATH given"."""
    if "-" in paths and not (stdin_text or "").strip("\0\r\n\t "):
        raise UsageError(
            "'-' reads paths from stdin, but stdin held none.",
            hint="Pipe a list in, e.g. find photos -name '*.jpg' | imagekit upload -",
        )


def read_sources(paths: tuple[str, ...], stdin_text: str | None, nul: bool) -> list[str]:
    """The PATH arguments with ``-`` replaced by the paths on stdin, those marked as
    listed (a symlink among them is not followed unless --follow-symlinks)."""
    sources: list[str] = []
    for path in paths:
        if path == "-":
            sources += [ListedPath(p) for p in split_sources(["-"], stdin_text, nul)]
        else:
            sources.append(path)
    return sources


def engine_settings(
    settings: Settings, opts: dict[str, Any], interrupts: Interrupts | None = None
) -> EngineSettings:
    """Workers, retries and timeouts from the engine options."""
    return EngineSettings(
        concurrency=opts["concurrency"] or settings.concurrency,
        policy=RetryPolicy(attempts=opts["retries"], max_wait_s=opts["max_wait"]),
        timeout=opts["timeout"],
        fail_fast=opts["fail_fast"],
        interrupts=interrupts,
    )


def open_client(
    app: AppContext, settings: Settings, run_settings: EngineSettings | None = None
) -> ImageKitClient:
    """The HTTP client for a run, with this invocation's debug tracer and redactor."""
    return runner.open_client(settings, run_settings, client_hooks(app))


def client_hooks(app: AppContext) -> ClientHooks:
    """What this invocation lends the HTTP client: the --debug tracer and the redactor."""
    return ClientHooks(app.tracer(), app.redactor)
