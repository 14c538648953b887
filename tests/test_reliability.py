"""Faults, interruptions and hostile input: nothing lost, nothing duplicated, no key leaked."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import ssl
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from imagekit_cli.client import ImageKitClient
from tests.conftest import PRIVATE_KEY, PUBLIC_KEY, CliRecorder, make_file
from tests.fake_imagekit import AppThread, FakeState

pytestmark = pytest.mark.usefixtures("quick_backoff")


def tree_of(root: Path, count: int = 300) -> dict[str, str]:
    """``count`` files in 10 folders; returns expected remote path -> sha256."""
    expected = {}
    for i in range(count):
        path = make_file(root / f"f{i % 10}" / f"file {i}.jpg", 1000 + (i * 37) % 2000, i)
        expected[f"/r/f{i % 10}/file_{i}.jpg"] = hashlib.sha256(path.read_bytes()).hexdigest()
    return expected


def assert_exactly_once(fake: FakeState, expected: dict[str, str], report: dict[str, Any]):
    """Every file stored once at its exact path with the right bytes; versions <= attempts."""
    assert fake.stored_paths() == set(expected)
    records = {f["remote_path"]: f for f in report["files"]}
    assert {r["status"] for r in records.values()} == {"uploaded"}
    for path, sha in expected.items():
        stored = fake.file_at(path)
        assert stored.current.sha256 == sha
        assert stored.current.size == records[path]["size"]
        assert 1 <= len(stored.versions) <= records[path]["attempts"]
    return records


def upload_tree(cli: CliRecorder, env: dict[str, str], root: Path, *extra: str):
    result = cli("upload", str(root), "--folder", "/r", "-j", "8", "-o", "json", *extra, env=env)
    return result, json.loads(result.stdout) if result.stdout.startswith("{") else {}


@pytest.mark.parametrize(
    "fault",
    ["500s", "drops", "drop_after_store", "storm", "stalls", "spikes"],
)
def test_fault_matrix(fake: FakeState, env, cli: CliRecorder, tmp_path: Path, fault: str):
    expected = tree_of(tmp_path / "t")
    extra: list[str] = []
    faults = fake.faults
    if fault == "500s":
        faults.error_rate, faults.error_status = 0.05, 500
    elif fault == "drops":
        faults.drop_rate = 0.03
    elif fault == "drop_after_store":
        faults.drop_after_store_rate = 0.03
    elif fault == "storm":
        faults.storm_until = time.monotonic() + 1.0
    elif fault == "stalls":
        faults.stall_rate, faults.stall_seconds = 0.03, 2.5
        extra = ["--timeout", "1"]
    elif fault == "spikes":
        faults.spike_rate, faults.spike_seconds = 0.1, 0.4
    result, report = upload_tree(cli, env, tmp_path / "t", *extra)
    assert result.exit_code == 0, result.stderr[-2000:]
    records = assert_exactly_once(fake, expected, report)
    retried = [r for r in records.values() if r["attempts"] > 1]
    if fault != "spikes":
        assert retried, "the fault never triggered a retry"
    if fault == "drop_after_store":  # looked up and adopted, never sent twice (#10)
        assert all(len(fake.file_at(p).versions) == 1 for p in expected)
        assert any(r["reason"] == "confirmed after a lost answer" for r in records.values())
    if fault == "storm":
        # The shared pause: after the first 429 every worker waits out the reset, so the
        # storm is met a handful of times, not once per file.
        storm_hits = sum(1 for r in fake.requests_of("upload") if r.status == 429)
        assert 1 <= storm_hits <= 8


@pytest.mark.slow
def test_journal_survives_sigkill_and_resume_sends_nothing_twice(
    fake: FakeState, env, tmp_path: Path
) -> None:
    root = tmp_path / "t"
    expected = tree_of(root, 500)
    journal = tmp_path / "run.jsonl"
    fake.faults.upload_latency = 0.02
    cmd = [sys.executable, "-m", "imagekit_cli", "upload", str(root), "--folder", "/r", "-j", "4",
           "--progress", "none", "-o", "json"]  # fmt: skip
    full_env = {**os.environ, **env}
    proc = subprocess.Popen([*cmd, "--report", str(journal)], env=full_env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 60
    while len(fake.uploads_ok()) < 200 and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    from imagekit_cli.report_read import read_records

    journaled = {r["remote_path"] for r in read_records(journal) if r["status"] == "uploaded"}
    assert len(journaled) >= 150, "the journal was not written as files finished"
    fake.faults.upload_latency = None
    fake.reset_log()
    done = subprocess.run([*cmd, "--report", str(journal), "--resume", str(journal)],
                          env=full_env, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    resent = {r.file_path for r in fake.uploads_ok()}
    assert not resent & journaled
    assert fake.stored_paths() == set(expected)
    assert len(resent) + len(journaled) >= 500
    report = json.loads(done.stdout)
    skipped = [f for f in report["files"] if f["reason"] == "already uploaded (--resume)"]
    assert len(skipped) >= len(journaled)
    # The rewritten journal still knows everything is uploaded: a third run sends nothing.
    fake.reset_log()
    again = subprocess.run([*cmd, "--resume", str(journal)], env=full_env, capture_output=True,
                           text=True, timeout=120)  # fmt: skip
    assert again.returncode == 0
    assert fake.requests_of("upload") == []


def test_resume_reuploads_a_changed_file(fake: FakeState, env, cli, tmp_path: Path) -> None:
    make_file(tmp_path / "t" / "a.jpg", 100)
    make_file(tmp_path / "t" / "b.jpg", 100, 1)
    journal = tmp_path / "run.jsonl"
    assert cli("upload", str(tmp_path / "t"), "--report", str(journal), env=env).exit_code == 0
    make_file(tmp_path / "t" / "b.jpg", 120, 2)
    fake.reset_log()
    result = cli("upload", str(tmp_path / "t"), "--resume", str(journal), env=env)
    assert result.exit_code == 0
    assert [r.fields["fileName"] for r in fake.uploads_ok()] == ["b.jpg"]


def test_file_changed_after_planning_fails_not_truncated(fake, tmp_path: Path) -> None:
    import asyncio

    from imagekit_cli.config import Secret, Settings
    from imagekit_cli.events import NullReporter
    from imagekit_cli.planning import Planner, PlanOptions
    from imagekit_cli.runner import EngineSettings
    from imagekit_cli.uploading import UploadConfig, run_upload

    make_file(tmp_path / "d" / "grows.jpg", 1000)
    make_file(tmp_path / "d" / "dir.jpg", 1000)
    make_file(tmp_path / "d" / "ok.jpg", 1000)
    planner = Planner(PlanOptions())
    items = list(planner.iter_plan([str(tmp_path / "d")]))
    with (tmp_path / "d" / "grows.jpg").open("ab") as handle:
        handle.write(b"more")
    (tmp_path / "d" / "dir.jpg").unlink()
    (tmp_path / "d" / "dir.jpg").mkdir()
    config = UploadConfig(planner, engine_settings=EngineSettings(handle_signals=False))
    settings = Settings(private_key=Secret(PRIVATE_KEY), base_url=fake.base_url)
    report = asyncio.run(run_upload([], config, settings, NullReporter(), plan=items))
    reasons = {Path(f.path).name: (f.status.value, f.reason) for f in report.files}
    assert reasons["grows.jpg"] == ("failed", "file changed since planning (size differs)")
    assert reasons["dir.jpg"][0] == "failed"
    assert "Is a directory" in str(reasons["dir.jpg"][1])
    assert fake.stored_paths() == {"/ok.jpg"}


def test_file_growing_mid_stream_is_not_sent_truncated(fake: FakeState, tmp_path: Path) -> None:
    import asyncio

    from imagekit_cli.auth import BasicAuthSigner
    from imagekit_cli.client import UploadRequest
    from imagekit_cli.config import Secret
    from imagekit_cli.errors import LocalFileError

    path = make_file(tmp_path / "big.jpg", 2 * 1024 * 1024)
    key = Secret(PRIVATE_KEY)

    def grow(_: int) -> None:
        with path.open("ab") as handle:
            handle.write(b"x" * 1000)

    async def go() -> None:
        creds = await BasicAuthSigner(key).sign({})
        request = UploadRequest({"fileName": "big.jpg"}, path, 2 * 1024 * 1024)
        async with ImageKitClient(fake.base_url, private_key=key) as client:
            await client.upload(request, creds, on_bytes=grow)

    with pytest.raises(LocalFileError, match="grew while uploading"):
        asyncio.run(go())
    assert fake.stored_paths() == set()


def test_special_and_unreadable_entries_are_skipped(
    fake: FakeState, env, cli: CliRecorder, tmp_path: Path, monkeypatch
) -> None:
    root = tmp_path / "t"
    make_file(root / "ok.jpg", 10)
    make_file(root / "locked" / "inner.jpg", 10)
    make_file(root / "secret.jpg", 10)
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(root / "sock.jpg"))
    os.mkfifo(root / "fifo.jpg")
    (root / "bad\udcffname.jpg").write_bytes(b"data")  # a non-UTF-8 name on disk
    if os.geteuid() != 0:
        os.chmod(root / "locked", 0)
        os.chmod(root / "secret.jpg", 0)
    else:  # root reads everything: make the OS answer EACCES at the same calls
        real_scandir, real_access = os.scandir, os.access

        def scandir(path: Any) -> Any:
            if str(path).endswith("locked"):
                raise PermissionError(13, "Permission denied")
            return real_scandir(path)

        def access(path: Any, mode: int) -> bool:
            return not str(path).endswith("secret.jpg") and real_access(path, mode)

        monkeypatch.setattr(os, "scandir", scandir)
        monkeypatch.setattr(os, "access", access)
    try:
        result = cli("upload", str(root), "-o", "json", "--report", str(tmp_path / "r.json"),
                     env=env)  # fmt: skip
    finally:
        sock.close()
        if os.geteuid() != 0:
            os.chmod(root / "locked", 0o755)
    assert result.exit_code == 1, result.stderr  # unreadable entries are error skips
    reasons = {f["path"][len(str(root)) + 1 :]: f["reason"]
               for f in json.loads(result.stdout)["files"]}  # fmt: skip
    assert reasons == {
        "ok.jpg": None,
        "locked/": "permission denied",
        "secret.jpg": "permission denied",
        "sock.jpg": "not a regular file",
        "fifo.jpg": "not a regular file",
        "bad\\xffname.jpg": "name is not valid UTF-8; rename it",
    }
    assert fake.stored_paths() == {"/ok.jpg"}
    json.loads((tmp_path / "r.json").read_text())


def test_redirects_are_not_followed_with_credentials(fake: FakeState, env, cli, tmp_path) -> None:
    stolen: list[dict[str, str]] = []

    async def thief(request: web.Request) -> web.Response:
        stolen.append(dict(request.headers))
        return web.json_response({})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", thief)
    other = AppThread(app).start()
    try:
        fake.faults.redirect_uploads_to = f"{other.base_url}/api/v1/files/upload"
        make_file(tmp_path / "a.jpg", 10)
        result = cli("upload", str(tmp_path / "a.jpg"), "-o", "json", env=env)
    finally:
        other.stop()
    assert stolen == []
    assert result.exit_code == 1
    record = json.loads(result.stdout)["files"][0]
    assert record["error"]["status"] == 307
    assert "not followed" in record["reason"]
    assert record["attempts"] == 1


@pytest.mark.parametrize("mode", ["private-key", "signature", "jwt"])
def test_debug_trace_redacts_secrets(fake: FakeState, env, cli, tmp_path: Path, mode) -> None:
    make_file(tmp_path / "a.jpg", 10)
    result = cli("--debug", "upload", str(tmp_path / "a.jpg"), "--auth", mode, env=env)
    assert result.exit_code == 0, result.stderr
    trace = result.stderr
    assert "debug: > POST" in trace
    assert PRIVATE_KEY not in trace
    basic = __import__("base64").b64encode(f"{PRIVATE_KEY}:".encode()).decode()
    assert basic not in trace
    if mode == "private-key":
        assert "authorization=Basic ***" in trace
    assert fake.secrets_seen or mode == "private-key"
    for secret in fake.secrets_seen:
        assert secret not in trace


def test_debug_traceback_is_redacted(fake, env, cli: CliRecorder, tmp_path: Path) -> None:
    make_file(tmp_path / "a.jpg", 10)
    env = {**env, "IMAGEKIT_PUBLIC_KEY": PRIVATE_KEY}
    result = cli("--debug", "upload", str(tmp_path / "a.jpg"), env=env)
    assert result.exit_code == 3
    assert "Traceback" in result.stderr
    assert PRIVATE_KEY not in result.stderr
    assert "Error: IMAGEKIT_PUBLIC_KEY holds a private key (it starts with 'private_')." in (
        result.stderr
    )


def test_private_key_in_public_slot_refused(cli: CliRecorder, tmp_path: Path) -> None:
    make_file(tmp_path / "a.jpg", 10)
    result = cli("upload", str(tmp_path / "a.jpg"), env={"IMAGEKIT_PUBLIC_KEY": PRIVATE_KEY})
    assert result.exit_code == 3
    assert result.stderr.startswith("Error: IMAGEKIT_PUBLIC_KEY holds a private key")
    assert "Traceback" not in result.stderr


def test_tls_verification_is_always_on() -> None:
    import asyncio

    async def context() -> ssl.SSLContext:
        client = ImageKitClient()
        try:
            pool = client._http._transport._pool  # type: ignore[attr-defined]
            assert pool._ssl_context is client._ssl_context
            context: ssl.SSLContext = client._ssl_context
            return context
        finally:
            await client.aclose()

    ctx = asyncio.run(context())
    assert ctx.verify_mode == ssl.CERT_REQUIRED
    assert ctx.check_hostname is True
    from imagekit_cli.cli import cli as root

    names = {opt for cmd in [root, *root.commands.values()] for p in cmd.params
             for opt in getattr(p, "opts", [])}  # fmt: skip
    assert not {n for n in names if "insecure" in n or "verify" in n or "tls" in n}


def test_state_and_config_files_are_0600(fake, env, cli, tmp_path: Path, isolated_env) -> None:
    make_file(tmp_path / "t" / "a.jpg", 10)
    assert cli("sync", str(tmp_path / "t"), "/s", env=env).exit_code == 0
    state = isolated_env / "state" / "sync-state.sqlite3"
    assert stat.S_IMODE(state.stat().st_mode) == 0o600
    result = cli("config", "init", input=f"{PRIVATE_KEY}\n{PUBLIC_KEY}\n")
    assert result.exit_code == 0
    assert stat.S_IMODE((isolated_env / "config.toml").stat().st_mode) == 0o600


def test_config_set_names_the_typed_value_not_the_environment(
    cli: CliRecorder, tmp_path: Path
) -> None:
    env = {"IMAGEKIT_CONFIG": str(tmp_path / "config.toml")}
    result = cli("config", "set", "public_key", "private_xyz0123456789", env=env)
    assert result.exit_code == 2
    assert "the public_key value holds a private key" in result.stderr
    assert "IMAGEKIT_PUBLIC_KEY" not in result.stderr
