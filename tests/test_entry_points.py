"""The library entry points of the commands (``run_upload``, ``run_sync``) and the one route
for results and exit codes: whatever stops a run is recorded on the report, and
``RunReport.exit_code()`` is where every code comes from."""

from __future__ import annotations

import asyncio
from pathlib import Path

from imagekit_cli.config import Secret, Settings
from imagekit_cli.errors import CredentialsError, ExitCode
from imagekit_cli.events import NullReporter
from imagekit_cli.plan_guards import PERMISSION_DENIED
from imagekit_cli.planning import Planner, PlanOptions
from imagekit_cli.report import FileResult, RunReport, Status
from imagekit_cli.runner import EngineSettings, UploadOptions
from imagekit_cli.syncing import SyncConfig, run_sync
from imagekit_cli.uploading import UploadConfig, run_upload
from tests.conftest import PRIVATE_KEY, CliRecorder, make_file
from tests.fake_imagekit import FakeState

WRONG_KEY = "private_wrong_key_0123456789"
QUIET = EngineSettings(handle_signals=False)


def _settings(fake: FakeState, key: str) -> Settings:
    return Settings(
        private_key=Secret(key),
        base_url=fake.base_url,
        sources={"private_key": "IMAGEKIT_PRIVATE_KEY"},
    )


def test_run_upload_returns_the_report(fake: FakeState, tmp_path: Path) -> None:
    for i in range(3):
        make_file(tmp_path / "d" / f"{i}.jpg", 100, i)
    config = UploadConfig(Planner(PlanOptions(folder="/lib")), engine_settings=QUIET)
    report = asyncio.run(
        run_upload([str(tmp_path / "d")], config, _settings(fake, PRIVATE_KEY), NullReporter())
    )
    assert report.count(Status.UPLOADED) == 3
    assert report.fatal is None
    assert report.exit_code() == ExitCode.OK
    assert fake.stored_paths() == {"/lib/0.jpg", "/lib/1.jpg", "/lib/2.jpg"}


def test_run_upload_records_a_refused_key_on_the_report(fake: FakeState, tmp_path: Path) -> None:
    for i in range(5):
        make_file(tmp_path / "d" / f"{i}.jpg", 100, i)
    config = UploadConfig(Planner(PlanOptions()), engine_settings=QUIET)
    report = asyncio.run(
        run_upload([str(tmp_path / "d")], config, _settings(fake, WRONG_KEY), NullReporter())
    )
    assert isinstance(report.fatal, CredentialsError)
    assert "Check the key from IMAGEKIT_PRIVATE_KEY" in str(report.fatal.hint)
    assert report.exit_code() == ExitCode.AUTH
    assert report.summary()["total"] == 5
    assert fake.stored_paths() == set()


def _sync_config(tmp_path: Path, state_path: Path | None = None) -> SyncConfig:
    """A sync of ``tmp_path/d`` to ``/site``, quiet and quick."""
    return SyncConfig(Planner(PlanOptions(folder="/site")), str(tmp_path / "d"), UploadOptions(),
                      engine_settings=QUIET, state_path=state_path)  # fmt: skip


def test_run_sync_records_a_refused_key_on_the_report(fake: FakeState, tmp_path: Path) -> None:
    make_file(tmp_path / "d" / "a.jpg", 100)
    config = _sync_config(tmp_path)
    report = asyncio.run(
        run_sync(config, _settings(fake, WRONG_KEY), NullReporter(), lambda *_: False)
    )
    assert isinstance(report.fatal, CredentialsError)
    assert report.exit_code() == ExitCode.AUTH
    assert fake.stored_paths() == set()


def test_run_sync_uploads_then_finds_nothing_to_do(fake: FakeState, tmp_path: Path) -> None:
    make_file(tmp_path / "d" / "a.jpg", 100)
    config = _sync_config(tmp_path, state_path=tmp_path / "state.sqlite3")
    settings = _settings(fake, PRIVATE_KEY)
    first = asyncio.run(run_sync(config, settings, NullReporter(), lambda *_: False))
    assert first.count(Status.UPLOADED) == 1
    assert first.exit_code() == ExitCode.OK
    again = SyncConfig(Planner(PlanOptions(folder="/site")), config.local_dir, UploadOptions(),
                       engine_settings=QUIET, state_path=config.state_path)  # fmt: skip
    second = asyncio.run(run_sync(again, settings, NullReporter(), lambda *_: False))
    assert (second.count(Status.UPLOADED), second.count(Status.SKIPPED)) == (0, 1)


def test_exit_code_counts_error_skips_and_a_lost_report_file() -> None:
    chosen = RunReport("upload")
    chosen.add(FileResult("a.jpg", "/a.jpg", Status.SKIPPED, "excluded"))
    assert chosen.exit_code() == ExitCode.OK
    error = RunReport("upload")
    error.add(FileResult("b.jpg", "/b.jpg", Status.SKIPPED, f"{PERMISSION_DENIED}: b.jpg"))
    assert error.exit_code() == ExitCode.FAILED
    lost = RunReport("upload")
    lost.report_lost = True
    assert lost.exit_code() == ExitCode.FAILED
    lost.fatal = CredentialsError("refused")
    assert lost.exit_code() == ExitCode.AUTH


def test_refused_key_through_the_cli_exits_3_with_one_line(
    fake: FakeState, env: dict[str, str], cli: CliRecorder, tmp_path: Path
) -> None:
    make_file(tmp_path / "d" / "a.jpg", 100)
    env = {**env, "IMAGEKIT_PRIVATE_KEY": WRONG_KEY}
    for args in (("upload", str(tmp_path / "d")), ("sync", str(tmp_path / "d"), "/site")):
        result = cli(*args, "--progress", "none", env=env)
        assert result.exit_code == 3, result.stderr
        assert "ImageKit refused the credentials" in result.stderr
        assert "Traceback" not in result.stderr


def test_report_merge_exits_1_for_an_error_skip_as_the_run_did(
    fake: FakeState, env: dict[str, str], cli: CliRecorder, tmp_path: Path
) -> None:
    make_file(tmp_path / "d" / "ok.jpg", 10)
    (tmp_path / "d" / "dangling.jpg").symlink_to(tmp_path / "nowhere")
    journal = tmp_path / "run.jsonl"
    run = cli("upload", str(tmp_path / "d"), "--report", str(journal), env=env)
    assert run.exit_code == 1, run.stderr  # a dangling link is an error skip
    merged = cli("report", "merge", str(journal), "-o", "json")
    assert merged.exit_code == run.exit_code
