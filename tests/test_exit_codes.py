"""One test per exit code (httpie's tests/test_exit_status.py habit)."""

from __future__ import annotations

from pathlib import Path

from imagekit_cli.errors import (
    APIError,
    AuthenticationError,
    ConfigError,
    ExitCode,
    SigningError,
    UsageError,
    api_error_for_status,
)
from tests.conftest import CliRecorder, make_file
from tests.fake_imagekit import FakeState


def test_enum_values_are_the_contract() -> None:
    assert {c.name: int(c) for c in ExitCode} == {
        "OK": 0, "FAILED": 1, "USAGE": 2, "AUTH": 3, "INTERRUPTED": 130,
    }  # fmt: skip


def test_error_classes_map_to_codes() -> None:
    assert UsageError("x").exit_code == ExitCode.USAGE
    assert ConfigError("x").exit_code == ExitCode.AUTH
    assert SigningError("x").exit_code == ExitCode.AUTH
    assert APIError("x", status=500).exit_code == ExitCode.FAILED
    assert api_error_for_status(401) is AuthenticationError
    assert api_error_for_status(403) is AuthenticationError


def test_exit_0_when_only_skips(fake: FakeState, env, cli: CliRecorder, tmp_path: Path) -> None:
    make_file(tmp_path / "a.exe", 10)
    assert cli("upload", str(tmp_path / "a.exe"), env=env).exit_code == ExitCode.OK


def test_exit_1_when_a_file_fails(fake: FakeState, env, cli: CliRecorder, tmp_path) -> None:
    make_file(tmp_path / "a.jpg", 10)
    fake.faults.fail_names["a.jpg"] = (400, "no")
    assert cli("upload", str(tmp_path / "a.jpg"), env=env).exit_code == ExitCode.FAILED


def test_exit_2_on_usage_error(cli: CliRecorder) -> None:
    result = cli("upload", "--concurrency", "0", "x")
    assert result.exit_code == ExitCode.USAGE
    assert "Invalid value for '-j' / '--concurrency'" in result.stderr


def test_exit_3_on_missing_credentials(cli: CliRecorder, tmp_path: Path) -> None:
    make_file(tmp_path / "a.jpg", 10)
    assert cli("upload", str(tmp_path / "a.jpg")).exit_code == ExitCode.AUTH
