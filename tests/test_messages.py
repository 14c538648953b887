"""Errors that name the real cause: one line, the flag or argument, and the fix."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import PUBLIC_KEY, CliRecorder, make_file
from tests.fake_imagekit import FakeState


def test_ls_of_a_missing_folder_says_so(fake: FakeState, env, cli: CliRecorder, tmp_path) -> None:
    make_file(tmp_path / "d" / "sub" / "a.jpg", 10)
    assert cli("upload", str(tmp_path / "d"), "--folder", "/site", env=env).exit_code == 0
    assert cli("ls", "/site/sub", env=env).exit_code == 0
    for missing in ("/nope", "/site/nope", "/site/sub/deeper"):
        result = cli("ls", missing, env=env)
        assert result.exit_code == 2, (missing, result.stderr)
        assert f"Error: Remote folder {missing}/ does not exist." in result.stderr
        assert "file(s)" not in result.stderr


def test_jwt_without_key_or_endpoint_names_both_ways_to_sign(
    fake: FakeState, cli: CliRecorder, tmp_path: Path
) -> None:
    make_file(tmp_path / "a.jpg", 10)
    env = {"IMAGEKIT_PUBLIC_KEY": PUBLIC_KEY, "IMAGEKIT_BASE_URL": fake.base_url}
    result = cli("upload", str(tmp_path / "a.jpg"), "--auth", "jwt", env=env)
    assert result.exit_code == 3
    assert "--auth jwt signs each upload with the private key or asks a signing backend" in (
        result.stderr
    )
    assert "--auth-endpoint" in result.stderr
    assert "Uploaded 0" not in result.stderr  # refused before any work
    assert fake.requests_of("upload") == []


def test_sync_with_dotdot_blames_remote_folder(fake, env, cli: CliRecorder, tmp_path: Path) -> None:
    make_file(tmp_path / "d" / "a.jpg", 10)
    result = cli("sync", str(tmp_path / "d"), "../x", env=env)
    assert result.exit_code == 2
    assert "Error: REMOTE_FOLDER '../x' contains '..'" in result.stderr
    assert "--folder" not in result.stderr


def test_empty_stdin_with_dash_says_stdin_was_empty(cli: CliRecorder) -> None:
    result = cli("upload", "-", "--dry-run", input="")
    assert result.exit_code == 2
    assert "'-' reads paths from stdin, but stdin held none" in result.stderr


def test_json_option_message_reads_as_english(cli: CliRecorder, tmp_path: Path) -> None:
    make_file(tmp_path / "a.jpg", 10)
    result = cli("upload", str(tmp_path / "a.jpg"), "--custom-metadata", "[1]", "--dry-run")
    assert result.exit_code == 2
    assert "Error: --custom-metadata must be a JSON object {...}." in result.stderr


def test_config_init_with_swapped_keys_says_they_are_swapped(
    cli: CliRecorder, tmp_path: Path
) -> None:
    config = tmp_path / "config.toml"
    result = cli("config", "init", env={"IMAGEKIT_CONFIG": str(config)},
                 input="public_abc123\nprivate_abc123\n")  # fmt: skip
    assert result.exit_code == 2
    assert "The two keys look swapped" in result.stderr
    assert not config.exists()
