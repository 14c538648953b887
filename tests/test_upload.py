"""`imagekit upload` end to end against the fake server."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PRIVATE_KEY, CliRecorder, make_file
from tests.fake_imagekit import FakeState

ANSI = "\x1b["


def build_tree(root: Path) -> dict[str, tuple[str, str | None]]:
    """A tree with every kind of case; returns path -> (status, reason or remote path)."""
    make_file(root / "a.jpg", 2048, 1)
    make_file(root / "2024" / "summer" / "beach.png", 4096, 2)
    make_file(root / "2024" / "my photo.webp", 1000, 3)
    make_file(root / "2024" / "ünï cödé.gif", 1500, 4)
    make_file(root / "docs" / "readme.txt", 10, 5)
    make_file(root / "docs" / "tool.exe", 10, 6)
    make_file(root / "docs" / "empty.jpg", 0)
    make_file(root / ".secret.jpg", 10, 7)
    make_file(root / ".cache" / "x.jpg", 10, 8)
    make_file(root / "drafts" / "wip.jpg", 10, 9)
    make_file(root / "drafts" / "keep.png", 10, 10)
    (root / "drafts" / ".imagekitignore").write_text("*.jpg\n")
    big = root / "huge.jpg"
    with big.open("wb") as out:
        out.truncate(25 * 1000 * 1000 + 1)
    return {
        "photos/a.jpg": ("uploaded", "/site/a.jpg"),
        "photos/2024/summer/beach.png": ("uploaded", "/site/2024/summer/beach.png"),
        "photos/2024/my photo.webp": ("uploaded", "/site/2024/my_photo.webp"),
        "photos/2024/ünï cödé.gif": ("uploaded", "/site/2024/ünï_cödé.gif"),
        "photos/docs/readme.txt": ("uploaded", "/site/docs/readme.txt"),
        "photos/docs/tool.exe": ("skipped", "type not allowed"),
        "photos/docs/empty.jpg": ("skipped", "empty file"),
        "photos/.secret.jpg": ("skipped", "hidden file (use --hidden)"),
        "photos/.cache/": ("skipped", "hidden folder (use --hidden)"),
        "photos/drafts/wip.jpg": ("skipped", "excluded"),
        "photos/drafts/keep.png": ("uploaded", "/site/drafts/keep.png"),
        "photos/huge.jpg": ("skipped", "exceeds free plan limit 25 MB"),
    }


def _report(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def _expected_remote(expected: dict[str, tuple[str, str | None]]) -> set[str]:
    return {v for s, v in expected.values() if s == "uploaded" and v}


def test_tree_upload_exact_paths_and_reasons(
    fake: FakeState, env: dict[str, str], cli: CliRecorder, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    expected = build_tree(tmp_path / "photos")
    report_path = tmp_path / "report.json"
    result = cli("upload", "photos", "--folder", "/site", "-j", "4", "--report",
                 str(report_path), env=env)  # fmt: skip
    assert result.exit_code == 1, result.stderr  # huge.jpg: over the plan's limit is an error
    assert "Not uploaded because of errors: 1 file(s) (1 exceeds free plan limit" in result.stderr
    assert fake.stored_paths() == _expected_remote(expected)
    report = _report(report_path)
    got = {
        f["path"]: (f["status"], f["remote_path"] if f["status"] == "uploaded" else f["reason"])
        for f in report["files"]
    }
    assert got == expected
    assert report["summary"] == {"total": 12, "uploaded": 6, "skipped": 6, "failed": 0,
                                 "deleted": 0, "bytes_uploaded": 2048 + 4096 + 1000 + 1500 + 10
                                 + 10}  # fmt: skip
    for record in report["files"]:
        if record["status"] == "uploaded":
            stored = fake.file_at(record["remote_path"])
            assert record["file_id"] == stored.file_id
            assert record["url"].endswith(record["remote_path"])
            assert record["attempts"] == 1
            local = Path(tmp_path / record["path"]).read_bytes()
            assert stored.current.size == len(local)


@pytest.mark.parametrize("mode", ["private-key", "signature", "jwt"])
def test_each_auth_mode_uploads_tree(
    fake: FakeState, env: dict[str, str], cli: CliRecorder, tmp_path: Path, monkeypatch, mode
) -> None:
    monkeypatch.chdir(tmp_path)
    expected = build_tree(tmp_path / "photos")
    result = cli("upload", "photos", "--folder", "/site", "--auth", mode, "-j", "4", env=env)
    assert result.exit_code == 1, result.stderr  # huge.jpg is over the plan's limit
    assert fake.stored_paths() == _expected_remote(expected)
    uploads = fake.requests_of("upload")
    assert all(r.status == 200 for r in uploads)
    if mode != "private-key":
        assert len(fake.used_tokens) == len(uploads) == 6
    expected_path = "/api/v2/files/upload" if mode == "jwt" else "/api/v1/files/upload"
    assert {r.path for r in uploads} == {expected_path}


def test_concurrency_is_exact(fake: FakeState, env, cli: CliRecorder, tmp_path: Path) -> None:
    for i in range(20):
        make_file(tmp_path / "d" / f"{i}.jpg", 100, i)
    fake.faults.latency = 0.1
    result = cli("upload", str(tmp_path / "d"), "-j", "5", env=env)
    assert result.exit_code == 0, result.stderr
    assert len(fake.stored_paths()) == 20
    assert fake.peak_in_flight == 5


@pytest.mark.usefixtures("quick_backoff")
def test_retries_429_and_503_then_success(fake, env, cli: CliRecorder, tmp_path: Path) -> None:
    make_file(tmp_path / "d" / "a.jpg", 100)
    make_file(tmp_path / "d" / "b.jpg", 100, 1)
    reset = {"X-RateLimit-Reset": "50", "X-RateLimit-Limit": "10", "X-RateLimit-Interval": "1000"}
    fake.script("upload", (429, reset), (429, reset), (429, reset), (503, {}))
    report_path = tmp_path / "r.json"
    args = ["-j", "1", "-v", "--report", str(report_path)]
    result = cli("upload", str(tmp_path / "d"), *args, env=env)
    assert result.exit_code == 0, result.stderr
    files = {f["path"]: f for f in _report(report_path)["files"]}
    assert files[str(tmp_path / "d" / "a.jpg")]["attempts"] == 5
    assert files[str(tmp_path / "d" / "b.jpg")]["attempts"] == 1
    assert fake.stored_paths() == {"/a.jpg", "/b.jpg"}
    assert "retry" in result.stderr  # with -v, a line per retry


def test_400_is_not_retried_and_others_still_upload(
    fake: FakeState, env, cli: CliRecorder, tmp_path: Path
) -> None:
    for name in ("a.jpg", "bad.jpg", "c.jpg"):
        make_file(tmp_path / "d" / name, 100)
    fake.faults.fail_names["bad.jpg"] = (400, "Your request failed 'checks' validation.")
    report_path = tmp_path / "r.json"
    result = cli("upload", str(tmp_path / "d"), "--report", str(report_path), env=env)
    assert result.exit_code == 1
    assert fake.stored_paths() == {"/a.jpg", "/c.jpg"}
    bad = [f for f in _report(report_path)["files"] if f["status"] == "failed"]
    assert len(bad) == 1
    assert bad[0]["attempts"] == 1
    (refused,) = [r for r in fake.requests_of("upload") if r.status == 400]
    assert bad[0]["error"] == {"status": 400, "message": "Your request failed 'checks' validation.",
                               "request_id": refused.request_id}  # fmt: skip
    assert len([r for r in fake.requests_of("upload") if r.fields["fileName"] == "bad.jpg"]) == 1


@pytest.mark.usefixtures("quick_backoff")
def test_permanent_5xx_fails_after_all_attempts(fake, env, cli, tmp_path: Path) -> None:
    make_file(tmp_path / "d" / "a.jpg", 100)
    fake.script("upload", *[(500, {})] * 3)
    result = cli("upload", str(tmp_path / "d"), "--retries", "3", "-o", "json", env=env)
    assert result.exit_code == 1
    record = json.loads(result.stdout)["files"][0]
    assert record["status"] == "failed"
    assert record["attempts"] == 3
    assert record["error"]["status"] == 500


def test_rejected_key_exit_3_one_line(fake: FakeState, env, cli: CliRecorder, tmp_path) -> None:
    for i in range(10):
        make_file(tmp_path / "d" / f"{i}.jpg", 100, i)
    env = {**env, "IMAGEKIT_PRIVATE_KEY": "private_wrong_key"}
    result = cli("upload", str(tmp_path / "d"), "-j", "2", "--progress", "none", env=env)
    assert result.exit_code == 3
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert errors == [
        "Error: ImageKit refused the credentials (403 Your account cannot be authenticated.). "
        "Check the key from IMAGEKIT_PRIVATE_KEY; upload stopped, nothing else was sent."
    ]
    assert "Traceback" not in result.stderr
    assert len(fake.requests_of("upload")) <= 2
    assert "private_wrong_key" not in result.stderr + result.stdout


def test_missing_private_key_exit_3(fake, cli: CliRecorder, tmp_path) -> None:
    make_file(tmp_path / "a.jpg", 10)
    result = cli("upload", str(tmp_path / "a.jpg"))
    assert result.exit_code == 3
    assert result.stderr.strip() == (
        "Error: IMAGEKIT_PRIVATE_KEY is not set. Export it, or run 'imagekit config init'."
    )


def test_collision_pair_first_wins(fake: FakeState, env, cli: CliRecorder, tmp_path) -> None:
    make_file(tmp_path / "d" / "a b.jpg", 100, 1)
    make_file(tmp_path / "d" / "a_b.jpg", 100, 2)
    make_file(tmp_path / "d" / "ok.jpg", 100, 3)
    result = cli("upload", str(tmp_path / "d"), "-o", "json", env=env)
    assert result.exit_code == 1
    files = {Path(f["path"]).name: f for f in json.loads(result.stdout)["files"]}
    assert files["a b.jpg"]["status"] == "uploaded"  # first in plan order (sorted by name)
    assert files["a_b.jpg"]["status"] == "failed"
    assert files["a_b.jpg"]["reason"] == (
        f"collides with {tmp_path / 'd' / 'a b.jpg'}: both would be stored at /a_b.jpg; "
        "rename one, or send them to different folders"
    )
    assert fake.stored_paths() == {"/ok.jpg", "/a_b.jpg"}
    assert len(fake.file_at("/a_b.jpg").versions) == 1


def test_dry_run_sends_nothing_and_needs_no_key(fake: FakeState, cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    build_tree(tmp_path / "photos")
    env = {"IMAGEKIT_BASE_URL": fake.base_url}
    result = cli("upload", "photos", "--folder", "/site", "--dry-run", "-o", "jsonl", env=env)
    assert result.exit_code == 1, result.stderr  # huge.jpg would be skipped: over the limit
    records = [json.loads(line) for line in result.stdout.splitlines()]
    planned = {r["path"]: r["remote_path"] for r in records if r["status"] == "planned"}
    assert planned["photos/2024/my photo.webp"] == "/site/2024/my_photo.webp"
    assert len(planned) == 6
    assert fake.requests == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing-dir"], "Error: Path 'missing-dir' does not exist. Check the spelling."),
        (["ok.jpg", "--custom-metadata", "{bad"], "Error: --custom-metadata is not valid JSON"),
        (["ok.jpg", "--extensions", "{}"], "Error: --extensions must be a JSON array"),
        (["ok.jpg", "--plan", "gold"], "Invalid value for '--plan'"),
        (["ok.jpg", "--folder", "/a/../b"], "Error: --folder '/a/../b' contains '..'."),
        (["ok.jpg", "--shard", "3/2"], "Error: --shard '3/2' must be K/N"),
        (["ok.jpg", "--max-size", "lots"], "Error: --max-size 'lots' is not a size."),
        (["ok.jpg", "--report", "r.txt"], "Error: --report r.txt: unknown format '.txt'."),
    ],
)
def test_bad_input_exits_2_before_any_request(
    fake: FakeState, env, cli: CliRecorder, tmp_path, monkeypatch, args, message
) -> None:
    monkeypatch.chdir(tmp_path)
    make_file(tmp_path / "ok.jpg", 10)
    result = cli("upload", *args, env=env)
    assert result.exit_code == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert fake.requests == []


def test_file_deleted_after_planning_fails_rest_upload(fake: FakeState, tmp_path: Path) -> None:
    import asyncio

    from imagekit_cli.config import Secret, Settings
    from imagekit_cli.events import NullReporter
    from imagekit_cli.planning import Planner, PlanOptions
    from imagekit_cli.runner import EngineSettings
    from imagekit_cli.uploading import UploadConfig, run_upload

    for name in ("a.jpg", "gone.jpg", "c.jpg"):
        make_file(tmp_path / "d" / name, 100)
    planner = Planner(PlanOptions())
    items = list(planner.iter_plan([str(tmp_path / "d")]))
    (tmp_path / "d" / "gone.jpg").unlink()
    config = UploadConfig(planner, engine_settings=EngineSettings(handle_signals=False))
    settings = Settings(private_key=Secret(PRIVATE_KEY), base_url=fake.base_url)
    report = asyncio.run(run_upload([], config, settings, NullReporter(), plan=items))
    by_name = {Path(f.path).name: f for f in report.files}
    assert by_name["gone.jpg"].status == "failed"
    assert by_name["gone.jpg"].reason is not None
    assert "No such file" in by_name["gone.jpg"].reason
    assert by_name["gone.jpg"].attempts == 1
    assert fake.stored_paths() == {"/a.jpg", "/c.jpg"}


def test_special_files_skipped_with_reasons(fake, env, cli: CliRecorder, tmp_path) -> None:
    make_file(tmp_path / "d" / "ok.jpg", 10)
    os.mkfifo(tmp_path / "d" / "pipe.jpg")
    (tmp_path / "d" / "dangling.jpg").symlink_to(tmp_path / "nowhere")
    result = cli("upload", str(tmp_path / "d"), "-o", "json", env=env)
    assert result.exit_code == 1, result.stderr  # a dangling link is an error skip
    reasons = {Path(f["path"]).name: f["reason"] for f in json.loads(result.stdout)["files"]}
    assert reasons == {
        "ok.jpg": None,
        "pipe.jpg": "not a regular file",
        "dangling.jpg": "dangling symlink",
    }


def test_non_tty_output_has_no_ansi_and_json_is_clean(fake, env, cli, tmp_path) -> None:
    for i in range(3):
        make_file(tmp_path / "d" / f"{i}.jpg", 100, i)
    result = cli("upload", str(tmp_path / "d"), "-o", "json", env=env)
    assert result.exit_code == 0
    assert ANSI not in result.stdout + result.stderr
    data = json.loads(result.stdout)
    assert data["summary"]["uploaded"] == 3
    assert "uploaded  " in result.stderr
    assert result.stderr.splitlines()[-1].startswith("Uploaded 3, skipped 0, failed 0")


def test_plain_lines_format(fake, env, cli, tmp_path) -> None:
    make_file(tmp_path / "a.jpg", 2000)
    result = cli("upload", str(tmp_path / "a.jpg"), "--folder", "/x", "-o", "table", env=env)
    line = result.stderr.splitlines()[0]
    assert line.startswith(f"uploaded  {tmp_path / 'a.jpg'} -> /x/a.jpg  2.0 kB  ")
    assert "/x/a.jpg" in result.stdout


def test_stdin_sources_and_url(fake: FakeState, env, cli: CliRecorder, tmp_path) -> None:
    a = make_file(tmp_path / "a.jpg", 10)
    b = make_file(tmp_path / "b c.png", 10, 1)
    result = cli("upload", "-", "-0", "--folder", "/in", env=env, input=f"{a}\0{b}\0")
    assert result.exit_code == 0, result.stderr
    result = cli("upload", "https://example.invalid/img/cat%20one.jpg", "--folder", "/u", env=env)
    assert result.exit_code == 0, result.stderr
    assert fake.stored_paths() == {"/in/a.jpg", "/in/b_c.png", "/u/cat_one.jpg"}
    url_upload = fake.requests_of("upload")[-1]
    assert url_upload.fields["fileName"] == "cat one.jpg"


def test_url_credentials_never_reach_output_or_reports(
    fake: FakeState, env, cli: CliRecorder, tmp_path
) -> None:
    report = tmp_path / "run.json"
    result = cli("upload", "https://example.invalid/a.jpg?token=SECRET123&w=2",
                 "https://bob:PASSWORD9@example.invalid/b.jpg", "--folder", "/u",
                 "--report", str(report), "-o", "json", env=env)  # fmt: skip
    assert result.exit_code == 0, result.stderr
    shown = result.stdout + result.stderr + report.read_text()
    assert "SECRET123" not in shown
    assert "PASSWORD9" not in shown
    assert "https://example.invalid/a.jpg?token=***&w=2" in shown
    assert fake.stored_paths() == {"/u/a.jpg", "/u/b.jpg"}


def test_fail_fast_stops_starting_files(fake: FakeState, env, cli, tmp_path) -> None:
    for i in range(10):
        make_file(tmp_path / "d" / f"{i:02}.jpg", 10, i)
    fake.faults.fail_names["00.jpg"] = (400, "nope")
    result = cli("upload", str(tmp_path / "d"), "-j", "1", "--fail-fast", "-o", "json", env=env)
    assert result.exit_code == 1
    statuses = [f["status"] for f in json.loads(result.stdout)["files"]]
    assert statuses[0] == "failed"
    assert "uploaded" not in statuses[3:]
    assert len(fake.stored_paths()) <= 2


def test_sigint_exits_130_with_report(fake: FakeState, env, tmp_path: Path) -> None:
    for i in range(12):
        make_file(tmp_path / "d" / f"{i:02}.jpg", 100, i)
    fake.faults.latency = 0.4
    report_path = tmp_path / "r.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "imagekit_cli", "upload", str(tmp_path / "d"), "-j", "2",
         "--report", str(report_path), "--progress", "plain"],
        env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 20
    while len(fake.uploads_ok()) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "Interrupted" in err
    report = _report(report_path)
    assert report["interrupted"] is True
    uploaded = {f["remote_path"] for f in report["files"] if f["status"] == "uploaded"}
    assert uploaded == fake.stored_paths()
    assert 2 <= len(uploaded) < 12
    assert PRIVATE_KEY not in out + err


def test_quiet_and_debug_work_after_the_subcommand(fake, env, cli: CliRecorder, tmp_path) -> None:
    make_file(tmp_path / "a.jpg", 10)
    quiet = cli("upload", str(tmp_path / "a.jpg"), "-q", env=env)
    assert quiet.exit_code == 0
    assert quiet.stdout == ""
    assert quiet.stderr.startswith("Uploaded 1, skipped 0, failed 0")
    debug = cli("upload", str(tmp_path / "a.jpg"), "--debug", env=env)
    assert "debug: > POST" in debug.stderr
