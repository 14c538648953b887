"""Settings for one invocation: flag > environment > profile > default.

The config file is TOML (``[profiles.NAME]`` tables) in ``click.get_app_dir("imagekit")``
or ``$IMAGEKIT_CONFIG``; the CLI passes its path in, so this module reads no global state.
"""

from __future__ import annotations

import json
import stat
import tomllib
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from imagekit_cli.errors import ConfigError, CredentialsError, UsageError
from imagekit_cli.files import write_atomic

DEFAULT_PROFILE = "default"
AUTO: Literal["auto"] = "auto"
Concurrency = int | Literal["auto"]  # uploads in flight: a fixed number, or found while running
DEFAULT_CONCURRENCY: Concurrency = AUTO
MAX_CONCURRENCY = 256
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})
URL_KEYS = ("base_url", "auth_endpoint")
PROFILE_KEYS = (
    "private_key",
    "public_key",
    "url_endpoint",
    "base_url",
    "auth_endpoint",
    "plan",
    "concurrency",
    "folder",
)


class EnvVars:
    """Every environment variable the CLI reads, in one place."""

    PRIVATE_KEY = "IMAGEKIT_PRIVATE_KEY"
    PUBLIC_KEY = "IMAGEKIT_PUBLIC_KEY"
    URL_ENDPOINT = "IMAGEKIT_URL_ENDPOINT"
    BASE_URL = "IMAGEKIT_BASE_URL"
    BASE_URL_SDK = "IMAGE_KIT_BASE_URL"
    PROFILE = "IMAGEKIT_PROFILE"
    CONFIG = "IMAGEKIT_CONFIG"
    AUTH_ENDPOINT = "IMAGEKIT_AUTH_ENDPOINT"
    AUTH_HEADER = "IMAGEKIT_AUTH_HEADER"
    STATE_DIR = "IMAGEKIT_STATE_DIR"


class Secret:
    """A string that does not show itself: ``repr`` and ``str`` are ``'***'``."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The secret value; call only where it is sent or signed with."""
        return self._value

    def __repr__(self) -> str:
        return "'***'"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True)
class Settings:
    """Everything one run needs to know about the account and its defaults."""

    private_key: Secret | None = None
    public_key: str | None = None
    url_endpoint: str | None = None
    base_url: str | None = None
    auth_endpoint: str | None = None
    profile: str = DEFAULT_PROFILE
    plan: str = "free"
    concurrency: Concurrency = DEFAULT_CONCURRENCY
    folder: str = "/"
    auth_headers: tuple[Secret, ...] = ()
    sources: Mapping[str, str] = field(default_factory=dict)

    def source_of(self, key: str) -> str:
        """Where a setting came from, for messages: an env var, a profile or a flag."""
        return self.sources.get(key, "the defaults")

    def require_private_key(self) -> Secret:
        """The private key, or a CredentialsError that says how to provide one."""
        if self.private_key is None:
            raise CredentialsError(
                f"{EnvVars.PRIVATE_KEY} is not set.",
                hint="Export it, or run 'imagekit config init'.",
            )
        return self.private_key

    def require_public_key(self) -> str:
        """The public key, or a CredentialsError that says how to provide one."""
        if not self.public_key:
            raise CredentialsError(
                f"{EnvVars.PUBLIC_KEY} is not set (needed for --auth signature|jwt).",
                hint="Export it, or run 'imagekit config set public_key KEY'.",
            )
        return self.public_key


def parse_concurrency(value: object, source: str) -> Concurrency:
    """The one check of a concurrency setting (flag, profile or ``config set``):
    ``auto`` or a whole number from 1 to 256. ``source`` names where it came from."""
    text = str(value).strip().lower()
    if text == AUTO:
        return AUTO
    if isinstance(value, bool) or not text.isdigit() or not 1 <= int(text) <= MAX_CONCURRENCY:
        raise UsageError(
            f"{source} must be auto or a whole number from 1 to {MAX_CONCURRENCY}, not '{value}'.",
            hint=f"Use auto, or a whole number from 1 to {MAX_CONCURRENCY}.",
        )
    return int(text)


def default_config_path(app_dir: str) -> Path:
    """The config file inside click's per-user application directory."""
    return Path(app_dir) / "config.toml"


def read_config(path: Path) -> dict[str, dict[str, Any]]:
    """Read the profiles of a config file; a missing file has none.

    A file holding a private key must not be readable by group or others.
    """
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"Cannot read config file {path}: {exc.strerror}.") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"Config file {path} is not valid TOML: {exc}.",
            hint="Fix it, or move it away and run 'imagekit config init'.",
        ) from None
    profiles = data.get("profiles", {})
    if not isinstance(profiles, dict) or not all(isinstance(p, dict) for p in profiles.values()):
        raise ConfigError(f"Config file {path} must hold [profiles.NAME] tables.")
    if any("private_key" in p for p in profiles.values()):
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise CredentialsError(
                f"Config file {path} holds a private key but is readable by others "
                f"(mode {stat.S_IMODE(mode):04o}).",
                hint=f"Run 'chmod 600 {path}'.",
            )
    return profiles


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return json.dumps(str(value), ensure_ascii=False)


def write_config(path: Path, profiles: Mapping[str, Mapping[str, Any]]) -> None:
    """Write the profiles atomically, with mode 0600 from the first byte."""
    lines: list[str] = []
    for name in sorted(profiles):
        lines.append(f"[profiles.{json.dumps(name)}]")
        for key in PROFILE_KEYS:
            if key in profiles[name]:
                lines.append(f"{key} = {_toml_value(profiles[name][key])}")
        lines.append("")
    write_atomic(path, "\n".join(lines), mode=0o600)


def check_key_shapes(
    private_key: str | None, public_key: str | None, where: str | None = None
) -> None:
    """Refuse keys in the wrong place: a private key where the public one belongs. ``where``
    names a value typed for ``config set`` (a usage error), else the environment is named."""
    if public_key and public_key.startswith("private_"):
        error = UsageError if where else CredentialsError
        raise error(
            f"{where or EnvVars.PUBLIC_KEY} holds a private key (it starts with 'private_').",
            hint="Set it to the public key from the ImageKit dashboard; never share the "
            "private one.",
        )
    if private_key and private_key.startswith("public_"):
        error = UsageError if where else CredentialsError
        raise error(
            f"{where or EnvVars.PRIVATE_KEY} holds a public key (it starts with 'public_').",
            hint="Set it to the private key from the ImageKit dashboard.",
        )


def check_url(value: str, source: str, *, allow_query: bool = False) -> str:
    """``value`` without surrounding spaces, if it is a URL credentials may be sent to:
    https, or http on a loopback host. Anything else is a UsageError (exit 2)."""
    url = value.strip()
    try:
        parts = urllib.parse.urlsplit(url)
        host, _ = parts.hostname, parts.port  # .port raises ValueError for a bad port
    except ValueError:
        host = None
    if parts.scheme not in ("http", "https") or not host:
        raise UsageError(
            f"{source} is not a valid https:// URL.",
            hint="Give a full URL such as https://upload.example.com.",
        )
    if parts.scheme == "http" and host not in LOOPBACK_HOSTS:
        raise UsageError(
            f"{source} uses http://, which would send credentials in clear; https is required.",
            hint="Use https:// (plain http is allowed only for 127.0.0.1, ::1 and localhost).",
        )
    if (parts.query or parts.fragment) and not allow_query:
        raise UsageError(f"{source} must not hold a query or fragment (?... or #...).")
    return url


def public_url(url: str) -> str:
    """``url`` without userinfo, query or fragment: safe to show in a message."""
    parts = urllib.parse.urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urllib.parse.urlunsplit((parts.scheme, host, parts.path, "", ""))


def split_auth_header(line: str) -> tuple[str, str]:
    """``'Name: value'`` → ``(name, value)``; a UsageError that never echoes the value."""
    name, sep, content = line.partition(":")
    if not sep or not name.strip() or any(c.isspace() for c in name.strip()):
        raise UsageError(
            "An --auth-header (or a line of $IMAGEKIT_AUTH_HEADER) does not look like "
            "'Name: value'.",
            hint="Write the header name, a colon, then the value.",
        )
    return name.strip(), content.strip()


def _auth_header_lines(flags: Mapping[str, Any], env: Mapping[str, str]) -> tuple[str, list[str]]:
    """``--auth-header`` values, or else the lines of ``$IMAGEKIT_AUTH_HEADER``; checked."""
    if flags.get("auth_header"):
        source, lines = "--auth-header", [str(v) for v in flags["auth_header"]]
    else:
        text = env.get(EnvVars.AUTH_HEADER, "")
        source, lines = EnvVars.AUTH_HEADER, [line for line in text.splitlines() if line.strip()]
    for line in lines:
        split_auth_header(line)
    return source, lines


def _layered(
    flags: Mapping[str, Any], env: Mapping[str, str], profile: Mapping[str, Any], where: str
) -> tuple[dict[str, Any], dict[str, str]]:
    """Each profile key's value (flag > environment > profile, strings stripped, URLs
    checked) and where it came from."""
    env_names = {
        "private_key": (EnvVars.PRIVATE_KEY,),
        "public_key": (EnvVars.PUBLIC_KEY,),
        "url_endpoint": (EnvVars.URL_ENDPOINT,),
        "base_url": (EnvVars.BASE_URL, EnvVars.BASE_URL_SDK),
        "auth_endpoint": (EnvVars.AUTH_ENDPOINT,),
    }
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for key in PROFILE_KEYS:
        if flags.get(key) is not None:
            values[key], sources[key] = flags[key], f"--{key.replace('_', '-')}"
            continue
        for name in env_names.get(key, ()):
            if env.get(name, "").strip():
                values[key], sources[key] = env[name].strip(), name
                break
        else:
            if key in profile:
                value = profile[key]
                values[key] = value.strip() if isinstance(value, str) else value
                sources[key] = where
    for key in URL_KEYS:
        if values.get(key):
            source = sources[key]
            named = source if source.startswith("--") else f"{key} (from {source})"
            values[key] = check_url(str(values[key]), named, allow_query=key != "base_url")
    return values, sources


def resolve(
    flags: Mapping[str, Any],
    env: Mapping[str, str],
    config_path: Path,
) -> Settings:
    """Build Settings with precedence flag > environment > profile > default.

    ``flags`` holds only options the user actually gave (None values are ignored).
    """
    profile_name = flags.get("profile") or env.get(EnvVars.PROFILE) or DEFAULT_PROFILE
    profiles = read_config(config_path)
    explicit_profile = bool(flags.get("profile") or env.get(EnvVars.PROFILE))
    if explicit_profile and profile_name not in profiles and profile_name != DEFAULT_PROFILE:
        raise ConfigError(
            f"Profile '{profile_name}' is not in {config_path}.",
            hint=f"Create it with 'imagekit --profile {profile_name} config init'.",
        )
    profile = profiles.get(profile_name, {})
    values, sources = _layered(flags, env, profile, f"profile '{profile_name}' in {config_path}")
    header_source, header_lines = _auth_header_lines(flags, env)
    if header_lines:
        sources["auth_header"] = header_source
    check_key_shapes(values.get("private_key"), values.get("public_key"))
    concurrency = DEFAULT_CONCURRENCY
    if "concurrency" in values:
        where = f"concurrency (from {sources['concurrency']})"
        concurrency = parse_concurrency(values["concurrency"], where)
    base = Settings(profile=profile_name, sources=sources)
    return replace(
        base,
        private_key=Secret(values["private_key"]) if values.get("private_key") else None,
        public_key=values.get("public_key") or None,
        url_endpoint=values.get("url_endpoint") or None,
        base_url=(values.get("base_url") or "").rstrip("/") or None,
        auth_endpoint=values.get("auth_endpoint") or None,
        auth_headers=tuple(Secret(line) for line in header_lines),
        plan=str(values.get("plan", "free")),
        concurrency=concurrency,
        folder=str(values.get("folder", "/")),
    )
