"""The per-invocation context object that every command finds on ``ctx.obj``."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from imagekit_cli.auth import Redactor
from imagekit_cli.config import EnvVars, Settings, default_config_path, resolve
from imagekit_cli.text import printable


@dataclass
class AppContext:
    """Consoles, global flags and the environment of one invocation."""

    out: Console
    err: Console
    verbose: int = 0
    quiet: bool = False
    debug: bool = False
    flags: dict[str, Any] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    _redactor: Redactor = field(default_factory=Redactor)

    @property
    def config_path(self) -> Path:
        """``$IMAGEKIT_CONFIG`` or ``config.toml`` in click's app dir."""
        explicit = self.env.get(EnvVars.CONFIG)
        return Path(explicit) if explicit else default_config_path(click.get_app_dir("imagekit"))

    @property
    def in_ci(self) -> bool:
        """Whether a CI system runs us (``CI`` set)."""
        return bool(self.env.get("CI")) or self.env.get("GITHUB_ACTIONS") == "true"

    def settings(self, **flags: Any) -> Settings:
        """Resolve Settings from the given flags, the environment and the profile."""
        given = {k: v for k, v in {**self.flags, **flags}.items() if v is not None}
        settings = resolve(given, self.env, self.config_path)
        self._redactor = Redactor.for_settings(settings)
        return settings

    @property
    def redactor(self) -> Redactor:
        """The redactor that knows every secret of the resolved settings."""
        return self._redactor

    def redact(self, text: str) -> str:
        """``text`` with every known secret removed."""
        return self._redactor(text)

    def show_trace(self, text: str, prefix: str = "") -> None:
        """Print debug text (a traceback, a trace line) redacted and escaped, line by line."""
        for line in self.redact(text).splitlines():
            self.err.print(printable(prefix + line), markup=False, highlight=False)

    def tracer(self) -> Callable[[str], None] | None:
        """With --debug, a callback that prints redacted HTTP trace lines to stderr."""
        if not self.debug:
            return None
        return lambda line: self.show_trace(line, "debug: ")
