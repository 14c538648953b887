"""``imagekit config``: profiles in a TOML file written atomically with mode 0600."""

from __future__ import annotations

import sys
from typing import Any

import click

from imagekit_cli.cli.completion import complete_profile_keys
from imagekit_cli.cli.context import AppContext
from imagekit_cli.config import (
    DEFAULT_PROFILE,
    PROFILE_KEYS,
    URL_KEYS,
    EnvVars,
    check_key_shapes,
    check_url,
    parse_concurrency,
    read_config,
    split_auth_header,
    write_config,
)
from imagekit_cli.errors import UsageError
from imagekit_cli.limits import PLAN_LIMITS
from imagekit_cli.naming import normalise_folder
from imagekit_cli.text import printable

SECRET_KEYS = ("private_key",)


def _profile_name(app: AppContext) -> str:
    return app.flags.get("profile") or app.env.get(EnvVars.PROFILE) or DEFAULT_PROFILE


def _coerce(key: str, value: str) -> Any:
    """The value checked by the same functions as its flag: ``-j``, ``--plan`` (the same
    plan list), ``--folder``, ``--base-url`` and ``--auth-endpoint``."""
    if key not in PROFILE_KEYS:
        raise UsageError(f"Unknown setting '{key}'.", hint=f"Use one of {', '.join(PROFILE_KEYS)}.")
    if key == "concurrency":
        return parse_concurrency(value, key)
    if key == "plan" and value not in PLAN_LIMITS:
        raise UsageError(
            f"plan '{value}' is not a plan.", hint=f"Use one of {', '.join(PLAN_LIMITS)}."
        )
    if key == "folder":
        normalise_folder(value, key)
    if key in URL_KEYS:
        return check_url(value, key, allow_query=key != "base_url")
    return value


@click.group(name="config")
def config_group() -> None:
    """Manage profiles: keys and defaults (plan, concurrency, folder, base URL).

    \b
    Examples:
      imagekit config init
      imagekit --profile staging config set folder /staging
      imagekit config show
    """


@config_group.command()
@click.pass_obj
def init(app: AppContext, /) -> None:
    """Store keys in a profile; prompts without echo on a terminal, else reads stdin.

    Without a terminal, stdin holds the private key, the public key and (optionally) the
    URL endpoint, one per line.

    \b
    Example:
      imagekit config init
      printf '%s\\n%s\\n' "$PRIVATE" "$PUBLIC" | imagekit --profile ci config init
    """
    path = app.config_path
    profiles = read_config(path)
    name = _profile_name(app)
    profile = dict(profiles.get(name, {}))
    if sys.stdin.isatty():
        private = click.prompt("Private key", hide_input=True, err=True)
        public = click.prompt("Public key", err=True)
        endpoint = click.prompt("URL endpoint (optional)", default="", show_default=False, err=True)
    else:
        lines = [line.strip() for line in sys.stdin.read().splitlines()] + ["", "", ""]
        private, public, endpoint = lines[0], lines[1], lines[2]
    if not private:
        raise UsageError("No private key given.", hint="Type it at the prompt or pipe it in.")
    if private.startswith("public_") and public.startswith("private_"):
        raise UsageError(
            "The two keys look swapped: the private key came second, the public key first.",
            hint="Give the private key (private_...) first, then the public key (public_...).",
        )
    check_key_shapes(private, public or None)
    profile["private_key"] = private
    if public:
        profile["public_key"] = public
    if endpoint:
        profile["url_endpoint"] = endpoint
    profiles[name] = profile
    write_config(path, profiles)
    app.err.print(f"Saved profile '{name}' to {path} (mode 0600).", markup=False)


@config_group.command(name="set")
@click.argument("key", shell_complete=complete_profile_keys)
@click.argument("value")
@click.pass_obj
def set_value(app: AppContext, /, key: str, value: str) -> None:
    """Set one setting of the profile; VALUE '-' reads it from stdin.

    The private key is only taken from stdin, never as an argument (shell history).

    \b
    Examples:
      imagekit config set plan pro
      imagekit config set concurrency 16
      echo "$IMAGEKIT_PRIVATE_KEY" | imagekit config set private_key -
    """
    if value == "-":
        value = sys.stdin.readline().strip()
    elif key in SECRET_KEYS:
        raise UsageError(
            "The private key is not taken as an argument (it would land in shell history).",
            hint="Pipe it in: ... | imagekit config set private_key -",
        )
    coerced = _coerce(key, value)
    if key == "public_key":
        check_key_shapes(None, value, where="the public_key value")
    if key == "private_key":
        check_key_shapes(value, None, where="the private_key value")
    path = app.config_path
    profiles = read_config(path)
    name = _profile_name(app)
    profiles.setdefault(name, {})[key] = coerced
    write_config(path, profiles)
    shown = "***" if key in SECRET_KEYS else coerced
    app.err.print(f"Set {key} = {shown} in profile '{name}'.", markup=False)


@config_group.command()
@click.pass_obj
def show(app: AppContext, /) -> None:
    """Show the settings in effect and where each comes from (secrets as ***).

    \b
    Example:
      imagekit --profile staging config show
    """
    settings = app.settings()
    app.out.print(printable(f"profile = {settings.profile}"), markup=False)
    app.out.print(printable(f"config = {app.config_path}"), markup=False)
    for key in PROFILE_KEYS:
        value = getattr(settings, key)
        if key in SECRET_KEYS:
            value = "***" if value is not None else None
        if value is None:
            continue
        source = settings.source_of(key)
        shown = printable(app.redact(str(value)))
        app.out.print(f"{key} = {shown}  ({printable(source)})", markup=False)
    for line in settings.auth_headers:
        shown = printable(f"{split_auth_header(line.reveal())[0]}: ***")
        app.out.print(f"auth_header = {shown}  ({settings.source_of('auth_header')})", markup=False)


@config_group.command()
@click.pass_obj
def path(app: AppContext, /) -> None:
    """Print the config file's path.

    \b
    Example:
      imagekit config path
    """
    click.echo(str(app.config_path))
