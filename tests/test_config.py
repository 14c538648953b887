"""Configuration: precedence, profiles, file permissions, and never showing the key."""

from __future__ import annotations

import itertools
import os
import stat
from pathlib import Path

import pytest

from imagekit_cli.config import Secret, Settings, read_config, resolve, write_config
from imagekit_cli.errors import CredentialsError
from tests.conftest import PRIVATE_KEY, CliRecorder, make_file
from tests.fake_imagekit import FakeState

SOURCES = ("flag", "env", "profile", "default")


@pytest.mark.parametrize("present", list(itertools.product([True, False], repeat=3)))
def test_precedence_matrix(tmp_path: Path, present: tuple[bool, bool, bool]) -> None:
    flag_on, env_on, profile_on = present
    config = tmp_path / "config.toml"
    profile = {"base_url": "https://profile.invalid", "plan": "lite", "concurrency": 3,
               "folder": "/p"} if profile_on else {}  # fmt: skip
    write_config(config, {"default": profile})
    flags = {"base_url": "https://flag.invalid", "plan": "pro", "concurrency": 5,
             "folder": "/f"} if flag_on else {}  # fmt: skip
    env = {"IMAGEKIT_BASE_URL": "https://env.invalid"} if env_on else {}
    settings = resolve(flags, env, config)
    expected_base = (
        "https://flag.invalid" if flag_on else "https://env.invalid" if env_on
        else "https://profile.invalid" if profile_on else None
    )  # fmt: skip
    assert settings.base_url == expected_base
    assert settings.plan == ("pro" if flag_on else "lite" if profile_on else "free")
    assert settings.concurrency == (5 if flag_on else 3 if profile_on else "auto")
    assert settings.folder == ("/f" if flag_on else "/p" if profile_on else "/")


def test_sdk_base_url_name_is_read(tmp_path: Path) -> None:
    settings = resolve({}, {"IMAGE_KIT_BASE_URL": "https://sdk.invalid/"}, tmp_path / "none")
    assert settings.base_url == "https://sdk.invalid"
    assert settings.source_of("base_url") == "IMAGE_KIT_BASE_URL"


def test_settings_repr_hides_private_key(tmp_path: Path) -> None:
    settings = resolve({}, {"IMAGEKIT_PRIVATE_KEY": PRIVATE_KEY}, tmp_path / "none")
    assert PRIVATE_KEY not in repr(settings)
    assert PRIVATE_KEY not in str(Settings(private_key=Secret(PRIVATE_KEY)))


def test_private_key_as_public_key_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CredentialsError, match="holds a private key"):
        resolve({}, {"IMAGEKIT_PUBLIC_KEY": "private_oops"}, tmp_path / "none")


def test_world_readable_key_file_is_refused(cli: CliRecorder, isolated_env: Path) -> None:
    config = isolated_env / "config.toml"
    write_config(config, {"default": {"private_key": PRIVATE_KEY}})
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    os.chmod(config, 0o644)
    with pytest.raises(CredentialsError, match="chmod 600"):
        read_config(config)
    result = cli("config", "show")
    assert result.exit_code == 3
    assert result.stderr.strip() == (
        f"Error: Config file {config} holds a private key but is readable by others "
        f"(mode 0644). Run 'chmod 600 {config}'."
    )


def test_init_set_show_path_and_profiles(
    fake: FakeState, cli: CliRecorder, isolated_env: Path, tmp_path: Path
) -> None:
    config = isolated_env / "config.toml"
    result = cli("config", "init", input=f"{PRIVATE_KEY}\npublic_fake_key_0123456789\n")
    assert result.exit_code == 0, result.stderr
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    base = fake.base_url
    assert cli("config", "set", "base_url", base).exit_code == 0
    assert cli("config", "set", "plan", "pro").exit_code == 0
    result = cli("config", "set", "private_key", PRIVATE_KEY)
    assert result.exit_code == 2
    assert "not taken as an argument" in result.stderr
    assert cli("config", "set", "concurrency", "many").exit_code == 2
    assert cli("--profile", "staging", "config", "set", "folder", "/staging").exit_code == 0

    shown = cli("config", "show")
    assert shown.exit_code == 0
    assert PRIVATE_KEY not in shown.stdout
    assert f"private_key = ***  (profile 'default' in {config})" in shown.stdout
    assert f"base_url = {base}  (profile 'default' in {config})" in shown.stdout
    assert "plan = pro" in shown.stdout
    assert cli("config", "path").stdout.strip() == str(config)

    # The profile's keys and base URL are enough to upload.
    make_file(tmp_path / "a.jpg", 10)
    result = cli("upload", str(tmp_path / "a.jpg"))
    assert result.exit_code == 0, result.stderr
    assert fake.stored_paths() == {"/a.jpg"}
    # A profile's folder default applies; IMAGEKIT_PROFILE selects it.
    result = cli("--profile", "staging", "config", "show")
    assert "folder = /staging" in result.stdout
    result = cli("upload", str(tmp_path / "a.jpg"), env={"IMAGEKIT_PROFILE": "staging",
                 "IMAGEKIT_PRIVATE_KEY": PRIVATE_KEY, "IMAGEKIT_BASE_URL": base})  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert "/staging/a.jpg" in fake.stored_paths()


def test_unknown_profile_is_an_error(cli: CliRecorder) -> None:
    result = cli("--profile", "nope", "config", "show")
    assert result.exit_code == 3
    assert "Profile 'nope' is not in" in result.stderr
